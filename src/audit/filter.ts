// What an auditor narrows the ledger to: a period, people, teams, resources, roles, event types and free
// text. One pure filter for `timebox audit --format json|csv|html|review` (docs/audit.md).
import { minimatch } from 'minimatch';
import type { EventType, Grant, Ledger, LedgerEvent } from '../core/ledger.js';

export interface AuditFilter {
  since?: Date | null;
  until?: Date | null;
  /** Logins: an event is theirs when they requested the access or acted (approved, merged, revoked). */
  who?: string[];
  /** Team names, resolved through `teams` to their members, who then count as `who`. */
  teams?: string[];
  /** Resource globs (`billing-*`). */
  resources?: string[];
  roles?: string[];
  types?: EventType[];
  /** Case-insensitive text in the file, ticket, reason, activity, resource, role, requester or actor. */
  search?: string;
}

/** Every event type, for `--type` and the page's filter. */
export const EVENT_TYPES = [
  'requested',
  'approved',
  'granted',
  'extended',
  'revoked',
  'expired',
  'break_glass',
  'ratified',
  'unratified',
] as const satisfies readonly EventType[];
// A type the list lacks fails to compile here.
const _all: Exclude<EventType, (typeof EVENT_TYPES)[number]> extends never ? true : never = true;
void _all;

const lower = (s: string) => s.toLowerCase();

/** Whether any criterion beyond the period is set. */
export function narrows(f: AuditFilter): boolean {
  return Boolean(
    f.who?.length || f.teams?.length || f.resources?.length || f.roles?.length || f.types?.length || f.search,
  );
}

/**
 * The events of `ledger` that `f` keeps, in ledger order, and the grants they belong to. `teams` maps team
 * names to logins (the `--teams` file); a team it does not know is an error, never an empty match.
 */
export function filterLedger(
  ledger: Pick<Ledger, 'events' | 'grants'>,
  f: AuditFilter,
  teams: Record<string, string[]> = {},
): { events: LedgerEvent[]; grants: Grant[] } {
  const people = new Set((f.who ?? []).map(lower));
  for (const team of f.teams ?? []) {
    const members = teams[team] ?? teams[team.replace(/^@[^/]+\//, '')];
    if (!members) throw new Error(`team ${team} is not in the teams file`);
    for (const m of members) people.add(lower(m));
  }
  const byPerson = people.size > 0;
  const types = new Set(f.types ?? []);
  const roles = new Set(f.roles ?? []);
  const globs = f.resources ?? [];
  const text = f.search ? lower(f.search) : null;
  const since = f.since?.getTime() ?? Number.NEGATIVE_INFINITY;
  const until = f.until?.getTime() ?? Number.POSITIVE_INFINITY;
  const keep = (e: LedgerEvent) => {
    const t = Date.parse(e.time);
    if (t < since || t > until) return false;
    if (types.size > 0 && !types.has(e.type)) return false;
    if (roles.size > 0 && !roles.has(e.role)) return false;
    if (globs.length > 0 && !globs.some((g) => minimatch(e.resource, g))) return false;
    if (byPerson && !people.has(lower(e.requester)) && !(e.actor && people.has(lower(e.actor)))) return false;
    if (text) {
      const hay = [e.file, e.ticket, e.reason, e.activity, e.resource, e.role, e.requester, e.actor]
        .filter((x): x is string => typeof x === 'string')
        .map(lower);
      if (!hay.some((h) => h.includes(text))) return false;
    }
    return true;
  };
  const events = f.since || f.until || narrows(f) ? ledger.events.filter(keep) : [...ledger.events];
  const ids = new Set(events.map((e) => e.grant));
  return { events, grants: ledger.grants.filter((g) => ids.has(g.id)) };
}
