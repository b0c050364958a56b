// `timebox audit --summary`: per resource and role, how often the access was used as granted — how many
// grants captured activity, and how many of those had write rights and wrote nothing (the revocation's
// note, src/providers/usage.ts). Policy owners read it to tighten roles: a read-write role whose grantees
// mostly only read could be read-only by default.
import type { Grant } from '../core/ledger.js';
import { UNUSED_WRITE } from '../providers/usage.js';

export interface UsageRow {
  resource: string;
  role: string;
  grants: number;
  /** Hours of access granted (window lengths, early ends included). */
  hours: number;
  /** Grants whose revocation captured activity. */
  with_activity: number;
  /** Of those, grants whose role could write and that wrote nothing. */
  writes_unused: number;
}

export function usageSummary(grants: readonly Grant[]): UsageRow[] {
  const rows = new Map<string, UsageRow>();
  for (const g of grants) {
    const key = `${g.resource}\u0000${g.role}`;
    const row = rows.get(key) ?? {
      resource: g.resource,
      role: g.role,
      grants: 0,
      hours: 0,
      with_activity: 0,
      writes_unused: 0,
    };
    row.grants += 1;
    row.hours += Math.max(0, Date.parse(g.ends_at) - Date.parse(g.starts_at)) / 3_600_000;
    if (g.activity) row.with_activity += 1;
    if (g.activity?.includes(UNUSED_WRITE)) row.writes_unused += 1;
    rows.set(key, row);
  }
  return [...rows.values()]
    .map((r) => ({ ...r, hours: Math.round(r.hours * 10) / 10 }))
    .sort((a, b) => a.resource.localeCompare(b.resource) || a.role.localeCompare(b.role));
}

/** The summary as a table, with a hint where most grants with activity left their write rights unused. */
export function formatUsage(rows: readonly UsageRow[]): string {
  if (rows.length === 0) return 'no grants in this selection\n';
  const head = ['RESOURCE', 'ROLE', 'GRANTS', 'HOURS', 'WITH ACTIVITY', 'WRITES UNUSED'];
  const body = rows.map((r) => [
    r.resource,
    r.role,
    String(r.grants),
    r.hours.toFixed(1),
    String(r.with_activity),
    r.with_activity > 0
      ? `${r.writes_unused} (${Math.round((100 * r.writes_unused) / r.with_activity)}%)`
      : '—',
  ]);
  const widths = head.map((_, i) => Math.max(...[head, ...body].map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) =>
    row
      .map((x, i) => x.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const hints = rows
    .filter((r) => r.with_activity >= 3 && r.writes_unused * 2 > r.with_activity)
    .map(
      (r) =>
        `${r.resource} ${r.role}: ${r.writes_unused} of ${r.with_activity} grants with activity wrote nothing; a read-only role would have done for them`,
    );
  return `${[line(head), ...body.map(line)].join('\n')}\n${hints.length > 0 ? `\n${hints.join('\n')}\n` : ''}`;
}
