// `timebox status` and `timebox audit`: the ledger, read from git history.
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { renderCsv } from '../audit/csv.js';
import { type AuditFilter, EVENT_TYPES, filterLedger } from '../audit/filter.js';
import { renderHtml } from '../audit/html.js';
import { rebuildCommand, renderReview } from '../audit/review.js';
import { formatUsage, usageSummary } from '../audit/summary.js';
import { webUrlFromEnv, webUrlOf } from '../audit/web-url.js';
import { type EventType, type Ledger, type LedgerEvent, statusAt } from '../core/ledger.js';
import { colors, type Io, type LedgerOptions, loadLedger, loadTeams, parseAt, repoRoot } from './context.js';
import { EXIT, UsageError } from './errors.js';

export async function runStatus(
  io: Io,
  opts: LedgerOptions & { at?: string; json?: boolean },
): Promise<number> {
  const now = io.clock.now();
  const at = parseAt(opts.at, () => now);
  const ledger = await loadLedger(io, opts, now.getTime() > at.getTime() ? now : at, { events: false });
  const grants = statusAt(ledger, at);
  if (opts.json) {
    io.stdout(`${JSON.stringify({ at: at.toISOString(), grants }, null, 2)}\n`);
    return EXIT.ok;
  }
  if (grants.length === 0) {
    io.stdout(`no access is granted at ${at.toISOString()}\n`);
    return EXIT.ok;
  }
  const c = colors(io);
  // ENDED only when history after --at ended a grant early: the expiry column is what was known at --at.
  const ended = grants.some((g) => g.ended_at);
  const rows = [
    ['FILE', 'REQUESTER', 'RESOURCE', 'ROLE', 'STARTS', 'EXPIRES', ...(ended ? ['ENDED'] : [])],
    ...grants.map((g) => [
      g.file,
      g.requester,
      g.resource,
      g.role,
      g.starts_at,
      g.expires_at,
      ...(ended ? [g.ended_at ? `${g.ended_at} (${g.end_reason})` : ''] : []),
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  const line = (r: string[]) =>
    r
      .map((x, i) => x.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  io.stdout(
    `${[c.bold(line(rows[0] as string[])), ...rows.slice(1).map(line)].join('\n')}\n\n${grants.length} active at ${at.toISOString()}\n`,
  );
  return EXIT.ok;
}

export interface AuditOptions extends LedgerOptions {
  since?: string;
  until?: string;
  format?: string;
  out?: string;
  json?: boolean;
  who?: string[];
  team?: string[];
  teams?: string;
  resource?: string[];
  role?: string[];
  type?: string[];
  search?: string;
  summary?: boolean;
}

const FORMATS = ['json', 'csv', 'html', 'review'];

export async function runAudit(io: Io, opts: AuditOptions): Promise<number> {
  const format = opts.json ? 'json' : (opts.format ?? 'json');
  if (!FORMATS.includes(format))
    throw new UsageError(`--format must be ${FORMATS.join(', ')} (got ${format})`);
  const types = opts.type ?? [];
  const unknown = types.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
  if (unknown.length > 0)
    throw new UsageError(`--type ${unknown.join(', ')}: not an event type (${EVENT_TYPES.join(', ')})`);
  if (opts.team?.length && !opts.teams)
    throw new UsageError('--team needs --teams FILE (who is in which team)');
  const now = io.clock.now();
  const since = opts.since ? parseAt(opts.since, undefined, '--since') : null;
  const until = opts.until ? parseAt(opts.until, undefined, '--until') : null;
  const teams = opts.team?.length ? await loadTeams(io, opts.teams) : {};
  const ledger = await loadLedger(io, opts, now);
  const filter: AuditFilter = {
    since,
    until,
    who: opts.who ?? [],
    teams: opts.team ?? [],
    resources: opts.resource ?? [],
    roles: opts.role ?? [],
    types: types as EventType[],
    ...(opts.search ? { search: opts.search } : {}),
  };
  let picked: ReturnType<typeof filterLedger>;
  try {
    picked = filterLedger(ledger, filter, teams);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { events } = picked;
  if (opts.summary) {
    const rows = usageSummary(picked.grants);
    if (format !== 'json')
      throw new UsageError('--summary prints a table, or JSON with --json (not --format)');
    io.stdout(opts.json ? `${JSON.stringify({ usage: rows }, null, 2)}\n` : formatUsage(rows));
    return EXIT.ok;
  }
  let text: string | Iterable<string>;
  if (format === 'csv') text = renderCsv(events);
  else if (format === 'html') {
    const repoUrl = webUrlFromEnv(io.env) ?? remoteWebUrl(repoRoot(io, opts.repo));
    text = renderHtml(
      { grants: picked.grants, events, notes: ledger.notes },
      { generatedAt: now, ...(repoUrl ? { repoUrl } : {}) },
    );
  } else if (format === 'review') {
    const root = repoRoot(io, opts.repo);
    const ref = opts.ref ?? 'HEAD';
    const sha = execFileSync('git', ['rev-parse', '--verify', `${ref}^{commit}`], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    const who = [
      ...(filter.who ?? []),
      ...Object.entries(teams)
        .filter(([t]) => filter.teams?.includes(t))
        .flatMap(([, m]) => m),
    ];
    const command = rebuildCommand({ sha, since, until: until ?? now, who, resources: opts.resource ?? [] });
    text = `${renderReview(ledger, {
      since,
      until: until ?? now,
      head: { sha, ref },
      generatedAt: now,
      who,
      resources: filter.resources ?? [],
      command,
    })}\n`;
  } else text = auditJson(events, ledger.notes);
  if (opts.out) {
    await writeFile(resolve(io.cwd, opts.out), text);
    io.stderr(`wrote ${events.length} events to ${opts.out}\n`);
  } else if (typeof text === 'string') io.stdout(text);
  else for (const piece of text) io.stdout(piece);
  return EXIT.ok;
}

/** The web address of the `origin` remote (for pull request links in the HTML audit), or null. */
function remoteWebUrl(root: string): string | null {
  try {
    const url = execFileSync('git', ['remote', 'get-url', 'origin'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return webUrlOf(url);
  } catch {
    return null; // no origin: the page shows pull request numbers without links
  }
}

/** What `audit --format json` writes at a time: the document is never one string (87,000 events: 32 MiB). */
const CHUNK = 1 << 20;

/**
 * `{"events":[…],"notes":[…]}` with one event per line: compact for large histories, still greppable.
 * In pieces of about CHUNK characters, which joined are the whole document.
 */
export function* auditJson(events: readonly LedgerEvent[], notes: Ledger['notes']): Generator<string> {
  let chunk = '';
  function* lines(items: readonly unknown[]): Generator<string> {
    if (items.length === 0) {
      chunk += '[]';
      return;
    }
    chunk += '[\n';
    for (let i = 0; i < items.length; i++) {
      chunk += `${i === 0 ? '' : ',\n'}${JSON.stringify(items[i])}`;
      if (chunk.length >= CHUNK) {
        yield chunk;
        chunk = '';
      }
    }
    chunk += '\n]';
  }
  chunk += '{"events":';
  yield* lines(events);
  chunk += ',\n"notes":';
  yield* lines(notes);
  yield `${chunk}}\n`;
}
