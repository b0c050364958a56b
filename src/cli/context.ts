// The one module commands share (commands never import each other): output streams and the clock (io.ts),
// repo root, times, the teams file, colours, the access repo, offline pull request facts and the ledger.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import pc from 'picocolors';
import type { FoldedLedger, Ledger } from '../core/ledger.js';
import type { PullFacts } from '../core/model.js';
import { compileSchema, validateAgainst } from '../core/schemas.js';
import { checkTimestamp } from '../core/time.js';
import { loadYaml } from '../core/yaml-loader.js';
import { type AccessRepo, loadAccessRepo, loadConfig } from '../repo/access-repo.js';
import { type RepoSource, workingTree } from '../repo/source.js';
import { ConfigError, formatProblem, readProblem, UsageError } from './errors.js';
import { type Io, repoRoot } from './io.js';

/** What `apply` seals credentials with (`--keys`, or the requesters' keys on GitHub). */
export type { Sealer } from '../providers/reconcile.js';
export { type Io, repoRoot } from './io.js';

export function colors(io: Pick<Io, 'color'>) {
  return pc.createColors(io.color);
}

/**
 * `--at`, `--since`, `--until`: the same rule as times in request files (src/core/time.ts). Without a value
 * it is `now()`, which callers take from `io.clock` (once per command, so that every use agrees).
 */
export function parseAt(value: string, now?: () => Date, flag?: string): Date;
export function parseAt(value: string | undefined, now: () => Date, flag?: string): Date;
export function parseAt(value: string | undefined, now?: () => Date, flag = '--at'): Date {
  if (value === undefined) {
    if (!now) throw new TypeError('parseAt: no value and no clock');
    return now();
  }
  const c = checkTimestamp(value);
  if (!c.ok) {
    throw new UsageError(
      `${flag} must be an RFC 3339 time with a time zone, such as 2026-12-01T09:00:00Z (got ${value}${c.problem ? `: ${c.problem}` : ''})`,
    );
  }
  return new Date(c.ms);
}

export function parseList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim().replace(/^@(?!.*\/)/, ''))
    .filter(Boolean);
}

/** Compiled on first use: most runs have no --teams file. */
let teamsSchema: ReturnType<typeof compileSchema> | undefined;
const teamsValidator = () =>
  (teamsSchema ??= compileSchema({
    type: 'object',
    propertyNames: {
      pattern: '^@[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9][A-Za-z0-9._-]*$',
    },
    additionalProperties: {
      type: 'array',
      items: { type: 'string', pattern: '^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$' },
    },
  }));

/** `--teams FILE`: `"@acme/qa": [alice, bob]`. Keys are lower-cased for lookups. */
export function parseTeams(text: string, file: string): Record<string, string[]> {
  const loaded = loadYaml(text, { scalars: 'strings', maxBytes: 1024 * 1024 });
  const errors =
    loaded.errors.length > 0 ? loaded.errors : validateAgainst(teamsValidator(), loaded.value, loaded);
  if (errors.length > 0) {
    throw new ConfigError(
      `${file} is not a valid teams file (a YAML map of "@org/team" to lists of logins)`,
      errors.map((e) => ({
        file,
        ...e,
        message: e.message.replace('is not a valid name here', 'must be written @org/team'),
      })),
    );
  }
  const teams: Record<string, string[]> = {};
  for (const [k, v] of Object.entries((loaded.value ?? {}) as Record<string, string[]>))
    teams[k.toLowerCase()] = v;
  return teams;
}

export async function loadTeams(io: Io, file: string | undefined): Promise<Record<string, string[]>> {
  if (!file) return {};
  let text: string;
  try {
    text = await readFile(resolve(io.cwd, file), 'utf8');
  } catch (err) {
    throw new UsageError(
      `cannot read --teams file ${resolve(io.cwd, file)}: ${readProblem(err)}; give a YAML map of "@org/team" to member logins (see teams.example.yaml), or leave out --teams`,
    );
  }
  return parseTeams(text, file);
}

/** The access repo from `source`, its warnings on stderr; a broken configuration is a ConfigError (exit 2). */
export async function loadRepoOrFail(io: Io, source: RepoSource): Promise<AccessRepo> {
  const repo = await loadAccessRepo(source);
  for (const w of repo.warnings) io.stderr(`warning: ${formatProblem(w)}\n`);
  if (repo.errors.length > 0) {
    throw new ConfigError(`the access repo's configuration is invalid (${source.label})`, repo.errors);
  }
  return repo;
}

/** Offline PR facts: `--approved-by` people approved the head commit and have write access. */
export function offlinePull(
  author: string | undefined,
  approvedBy: string[],
  teams: PullFacts['teams'],
  at: Date,
): PullFacts {
  return {
    ...(author ? { author } : {}),
    headSha: 'HEAD',
    reviews: approvedBy.map((login) => ({
      login,
      state: 'APPROVED',
      commitId: 'HEAD',
      submittedAt: at.toISOString(),
    })),
    pushers: [],
    permissions: Object.fromEntries(approvedBy.map((l) => [l.toLowerCase(), 'write'])),
    teams,
  };
}

/**
 * Bump when the fold's meaning changes, so that cached folds from older versions are not used. 6: NDJSON;
 * 7: grants carry break-glass and on-call marks, events break_glass/ratified/unratified.
 */
const FOLD_CACHE_VERSION = 7;

/** The first line of the fold cache; the grants, the notes, then the commit times follow, one per line. */
interface FoldHeader {
  version: number;
  tip: string;
  requestsDir: string;
  /** Whom and which keys the fold trusted (audit.timebox, audit.signing_keys' key states). */
  trust: string;
  grants: number;
  notes: number;
  count: number;
}

/** Where the ledger is read: the access repo, the branch whose history it is, and whether to cache. */
export interface LedgerOptions {
  repo?: string;
  ref?: string;
  cache?: boolean;
}

/**
 * The ledger of `opts.ref`'s history as of `now`. Its modules are loaded here, not with this file, so that
 * `check`, `verify` and `new` (which share this module) load no git history reader.
 */
export async function loadLedger(
  io: Io,
  opts: LedgerOptions,
  now: Date,
  want: { events?: boolean } = {},
): Promise<Ledger> {
  const [{ finalizeLedger, foldLedger, prepareChange }, history, { loadSigningKeys }] = await Promise.all([
    import('../core/ledger.js'),
    import('../repo/history.js'),
    import('../repo/signing-keys.js'),
  ]);
  const root = repoRoot(io, opts.repo);
  const source = workingTree(root);
  const { config, errors } = await loadConfig(source);
  if (errors.length > 0) throw new ConfigError('timebox.yaml is invalid', errors);
  const signing = await loadSigningKeys(source, config);
  if (signing.errors.length > 0) throw new ConfigError('audit.signing_keys is invalid', signing.errors);
  const trust = JSON.stringify([config.audit?.timebox ?? [], signing.keys.map((k) => k.state).sort()]);
  const ref = opts.ref ?? 'HEAD';
  const dir = config.paths.requests;
  const useCache = opts.cache !== false;
  const resolved = await history.resolveRef(root, ref);
  // Two caches: the folded ledger for this exact tip (a warm run reads nothing else), and the parsed
  // history per commit (a run after new commits reads only those from git).
  const name = `fold-${Buffer.from(dir).toString('hex')}`;
  // The header says where the grants end and the notes, then the commit times, begin.
  let split = { grants: 0, notes: 0 };
  let folded: FoldedLedger = { version: 1, grants: [], notes: [], commitTimes: [] };
  const cached = useCache
    ? await history.readCacheLines<FoldHeader>(
        resolved.gitDir,
        name,
        (h) => {
          split = { grants: h.grants, notes: h.grants + h.notes };
          return (
            h.version === FOLD_CACHE_VERSION &&
            h.tip === resolved.tip &&
            h.requestsDir === dir &&
            h.trust === trust
          );
        },
        (item, i) => {
          if (i < split.grants) folded.grants.push(item as FoldedLedger['grants'][number]);
          else if (i < split.notes) folded.notes.push(item as FoldedLedger['notes'][number]);
          else folded.commitTimes.push(item as FoldedLedger['commitTimes'][number]);
        },
      )
    : null;
  if (!cached) {
    const { commits } = await history.cachedHistory(root, ref, dir, {
      cache: useCache,
      resolved,
      prepare: prepareChange(config),
      keys: signing.keys,
    });
    folded = foldLedger(commits, config);
    if (useCache) {
      const header: FoldHeader = {
        version: FOLD_CACHE_VERSION,
        tip: resolved.tip,
        requestsDir: dir,
        trust,
        grants: folded.grants.length,
        notes: folded.notes.length,
        count: folded.grants.length + folded.notes.length + folded.commitTimes.length,
      };
      const { grants, notes, commitTimes } = folded;
      await history.writeCacheLines(resolved.gitDir, name, header, [grants, notes, commitTimes].flat());
    }
  }
  const ledger = finalizeLedger(folded, now, want);
  for (const n of ledger.notes)
    io.stderr(`note: ${n.commit.slice(0, 12)}${n.file ? ` ${n.file}` : ''}: ${n.message}\n`);
  return ledger;
}
