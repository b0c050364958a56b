// `timebox audit --format review`: an access review for a period, in Markdown — each person's grants that
// were active in it, with approvers, hours, activity captured, and the exceptions an auditor must look at
// (no recorded approval, break-glass, unratified, alarms, revocations late by more than a minute), and the
// commit it was built from, so that anyone can rebuild the same review from the same history.
import { minimatch } from 'minimatch';
import type { Grant, Ledger } from '../core/ledger.js';

export interface ReviewOptions {
  since: Date | null;
  until: Date | null;
  /** The commit the ledger was read at (`git rev-parse <ref>`) and the ref asked for. */
  head: { sha: string; ref: string };
  generatedAt: Date;
  /** People (requesters, case-insensitive) and resource globs to keep; empty: everyone, everything. */
  who?: string[];
  resources?: string[];
  /** The command that rebuilds this review, as the reader should run it. */
  command: string;
}

/** A revocation later than this after the expiry is an exception. */
const LATE_MS = 60_000;

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** Markdown cell text: no pipe or newline can break the table, no HTML is live. */
function cell(s: string | null | undefined): string {
  return (s ?? '')
    .replaceAll('\\', '\\\\')
    .replaceAll('|', '\\|')
    .replace(/[\r\n]+/g, ' ')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replace(/[`*_[\]]/g, (c) => `\\${c}`);
}

/** A Markdown code span: its text is literal, so only a backtick or a line break could break it. */
const code = (s: string) => `\`${s.replace(/`/g, "'").replace(/[\r\n]+/g, ' ')}\``;

/**
 * A Markdown fenced code block holding `s` to the letter (line breaks and backticks included): its fence is
 * longer than any run of backticks in `s`, so no line of `s` can close it.
 */
function fenced(s: string, info: string): string {
  const longest = Math.max(0, ...(s.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${s}\n${fence}`;
}

/**
 * One word for a POSIX shell, which the shell gives the command back unchanged: bare when it holds nothing
 * the shell reads, else in single quotes, where nothing is special but the quote itself, written `'\''`
 * (close, an escaped quote, open again).
 */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** What the review was built from, for the command that rebuilds it. */
export interface RebuildArgs {
  sha: string;
  since: Date | null;
  until: Date;
  who: readonly string[];
  resources: readonly string[];
}

/**
 * The `timebox audit --format review` command that rebuilds a review, every value quoted for a POSIX shell
 * and given as `--option=value`, so that one starting with a dash is still a value.
 */
export function rebuildCommand(a: RebuildArgs): string {
  const opt = (name: string, value: string) => shellQuote(`--${name}=${value}`);
  return [
    'timebox audit --format review',
    opt('ref', a.sha),
    ...(a.since ? [opt('since', a.since.toISOString())] : []),
    opt('until', a.until.toISOString()),
    ...a.who.map((w) => opt('who', w)),
    ...a.resources.map((r) => opt('resource', r)),
  ].join(' ');
}

interface Row {
  grant: Grant;
  /** Milliseconds of access inside the period. */
  inPeriod: number;
  exceptions: string[];
}

function exceptionsOf(g: Grant): string[] {
  const out: string[] = [];
  if (g.approvers.length === 0 && !g.break_glass)
    out.push('no approval recorded (not through an approved pull request)');
  if (g.break_glass) {
    const glass = g.break_glass;
    out.push(`break-glass (rule ${glass.rule})`);
    if (glass.unratified) out.push('unratified: revoked, alarm raised');
    else if (!glass.ratified) out.push(`ratification due by ${glass.ratify_by}`);
  }
  if (g.ignored_trailers?.length) out.push(`ignored trailers: ${g.ignored_trailers.join(', ')}`);
  if (g.state === 'expired' && g.reverted) {
    const late = Date.parse(g.reverted.at) - Date.parse(g.ends_at);
    if (late > LATE_MS) out.push(`revert merged ${Math.round(late / 60_000)} min after expiry`);
  }
  return out;
}

export function renderReview(ledger: Pick<Ledger, 'grants' | 'notes'>, o: ReviewOptions): string {
  const from = o.since?.getTime() ?? Number.NEGATIVE_INFINITY;
  const to = (o.until ?? o.generatedAt).getTime();
  const who = new Set((o.who ?? []).map((w) => w.toLowerCase()));
  const rows: Row[] = [];
  for (const g of ledger.grants) {
    if (who.size > 0 && !who.has(g.requester.toLowerCase())) continue;
    if (o.resources?.length && !o.resources.some((r) => minimatch(g.resource, r))) continue;
    const start = Math.max(from, Date.parse(g.starts_at));
    const end = Math.min(to, Date.parse(g.ends_at));
    if (end <= start) continue;
    rows.push({ grant: g, inPeriod: end - start, exceptions: exceptionsOf(g) });
  }
  const period = `${o.since ? iso(o.since.getTime()) : 'the beginning of the history'} to ${o.until ? iso(o.until.getTime()) : iso(o.generatedAt.getTime())}`;
  const out: string[] = [
    `# Access review: ${period}`,
    '',
    `Built from ${code(o.head.ref)} at commit ${code(o.head.sha)} on ${iso(o.generatedAt.getTime())}: ${rows.length} grant${rows.length === 1 ? '' : 's'} active in the period.`,
    'Anyone can rebuild it from the same history:',
    '',
    fenced(o.command, 'sh'),
    '',
  ];
  const people = new Map<string, Row[]>();
  for (const r of rows) people.set(r.grant.requester, [...(people.get(r.grant.requester) ?? []), r]);
  const names = [...people.keys()].sort((a, b) => a.localeCompare(b));
  out.push('## Summary', '');
  if (names.length === 0) out.push('No access was active in this period.', '');
  else {
    out.push(
      '| Person | Grants | Hours | Resources | Approved by | Exceptions |',
      '|---|---:|---:|---|---|---:|',
    );
    for (const name of names) {
      const rs = people.get(name) ?? [];
      const hours = rs.reduce((n, r) => n + r.inPeriod, 0) / HOUR;
      const resources = [...new Set(rs.map((r) => r.grant.resource))].sort();
      const approvers = [...new Set(rs.flatMap((r) => r.grant.approvers))].sort();
      const exceptions = rs.reduce((n, r) => n + r.exceptions.length, 0);
      out.push(
        `| ${cell(name)} | ${rs.length} | ${hours.toFixed(1)} | ${cell(resources.join(', '))} | ${cell(approvers.join(', ') || '—')} | ${exceptions} |`,
      );
    }
    out.push('');
  }
  for (const name of names) {
    out.push(`## ${cell(name)}`, '');
    out.push(
      '| Resource | Role | From (UTC) | Until (UTC) | Hours in period | Approved by | Pull request | Ticket | Reason | Activity | Ended |',
      '|---|---|---|---|---:|---|---|---|---|---|---|',
    );
    const rs = (people.get(name) ?? []).sort((a, b) => a.grant.starts_at.localeCompare(b.grant.starts_at));
    for (const r of rs) {
      const g = r.grant;
      const ended =
        g.state === 'active'
          ? 'active'
          : `${g.state}${g.revocation_reason ? ` (${g.revocation_reason})` : ''}`;
      out.push(
        `| ${cell(g.resource)} | ${cell(g.role)} | ${g.starts_at} | ${g.ends_at} | ${(r.inPeriod / HOUR).toFixed(1)} | ${cell(g.approvers.join(', ') || '—')} | ${g.pull_request ? `#${g.pull_request}` : '—'} | ${cell(g.ticket ?? '—')} | ${cell(g.reason)} | ${cell(g.activity ?? 'not captured')} | ${cell(ended)} |`,
      );
    }
    out.push('');
  }
  out.push('## Exceptions', '');
  const flagged = rows.filter((r) => r.exceptions.length > 0);
  if (flagged.length === 0) out.push('None.', '');
  for (const r of flagged) {
    out.push(
      `- ${code(r.grant.file)} (${cell(r.grant.requester)}, ${cell(r.grant.role)} on ${cell(r.grant.resource)}, commit ${code(r.grant.commit.slice(0, 12))}): ${cell(r.exceptions.join('; '))}`,
    );
  }
  if (flagged.length > 0) out.push('');
  const files = new Set(rows.map((r) => r.grant.file));
  const notes = ledger.notes.filter((n) => !n.file || files.has(n.file));
  if (notes.length > 0) {
    out.push('## Notes from the history', '');
    for (const n of notes)
      out.push(
        `- commit ${code(n.commit.slice(0, 12))}${n.file ? ` ${code(n.file)}` : ''}: ${cell(n.message)}`,
      );
    out.push('');
  }
  return `${out.join('\n')}`;
}
