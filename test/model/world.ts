// The model-based access test's world: a real access repo in a temporary git repository (each change a
// commit on main, as a squash merge lands), applied after each step by what `timebox apply` runs
// (src/cli/apply.ts in-process, offline, with a keys file and the model's clock as --at) against real
// PostgreSQL and Redis servers (servers.ts); and the observations that check, after every step, that the
// principals able to log in are exactly those the ledger says are active.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { createClient } from 'redis';
import { runApply, type Sealer } from '../../src/cli/apply.js';
import { type Io, loadLedger } from '../../src/cli/context.js';
import { keysSealer } from '../../src/cli/keys.js';
import { systemClock } from '../../src/core/clock.js';
import { activeAt, type Grant } from '../../src/core/ledger.js';
import type { Policies } from '../../src/core/model.js';
import { loadPolicies } from '../../src/core/policy.js';
import { openWith } from '../../src/creds/seal.js';
import { grantName } from '../../src/providers/common.js';
import { reconcileTargets, Targets } from '../../src/providers/reconcile.js';
import { providerDefinitions } from '../../src/providers/registry.js';
import { rootCommit } from '../../src/repo/history.js';
import { type ModelPostgres, type ModelRedis, startPostgres, startRedis } from './servers.js';

export const PG = 'orders-db';
export const REDIS = 'orders-cache';
export type ResourceId = typeof PG | typeof REDIS;
export const PROVIDER: Record<ResourceId, 'postgres' | 'redis'> = { [PG]: 'postgres', [REDIS]: 'redis' };

/** Request paths the histories use (two in a subfolder: a rename can move a request between folders). */
export const SLOTS = ['requests/a.yaml', 'requests/b.yaml', 'requests/ops/c.yaml', 'requests/ops/d.yaml'];
/** `Alice` is `alice` (GitHub logins are case-insensitive): re-casing a requester is not re-assigning. */
export const REQUESTERS = ['alice', 'bob', 'carol', 'Alice'];
export const DURATIONS = ['30m', '1h', '2h', '1d'];
const DURATION_MS: Record<string, number> = {
  '30m': 1_800_000,
  '1h': 3_600_000,
  '2h': 7_200_000,
  '1d': 86_400_000,
};
/** The Redis tag hash (src/providers/redis): a grantee whose key patterns reach it can erase its own tag. */
const TAGS_KEY = 'timebox:acl';

/** Reading and writing keys, without the commands that act on the whole dataset. */
const WRITE = ['+@read', '+@write', '-@admin', '-flushall', '-flushdb', '-swapdb'];

/**
 * Redis roles whose rights reach Timebox's bookkeeping (the tag hash, ACL users, the whole dataset). The
 * policy loader must refuse them (issue 13, 2); the model offers the grantee only those it accepts, so a
 * role the loader lets through is one a grantee then uses against `timebox:acl` in the tamper steps.
 */
export const REACHING = ['all-keys', 'tag-keys', 'glob-keys', 'class-keys', 'acl-rights'];
const REACHING_ROLES = (prefix: string): Record<string, object> => ({
  'all-keys': { keys: ['*'], commands: WRITE },
  'tag-keys': { keys: ['timebox:*'], commands: WRITE },
  'glob-keys': { keys: ['t?mebox:ac[l]'], commands: ['+@hash'] },
  'class-keys': { keys: ['[s-u]imebox:acl'], commands: ['+hdel', '+hset', '+hget', '+hgetall'] },
  'acl-rights': { keys: [`${prefix}:*`], commands: ['+@read', '+acl'] },
  // Not reaching by its keys; every command but @dangerous ones: whatever else it allows, a grantee tries.
  'all-commands': { keys: [`${prefix}:*`], commands: ['+@all', '-@dangerous'] },
});

export interface ModelPolicy {
  text: string;
  policies: Policies;
  /** The roles each resource offers (what the histories may ask for). */
  roles: Record<ResourceId, string[]>;
  /** Every role name of either resource, so that a history can ask a resource for a role it lacks. */
  allRoles: string[];
  /** Roles left out because the policy loader refused them, with its message. */
  refused: { role: string; message: string }[];
}

/** What every history of one test file shares: the servers, the requesters' key, the policy. */
export interface Setup {
  postgres: ModelPostgres;
  redisServer: ModelRedis;
  /** Admin connections to the resource's database, for observations and clean-up. */
  admin: pg.Pool;
  /** The admin connection to Redis the observations use. */
  redis: RedisClient;
  /** A directory for this file's runs (removed by `close`). */
  base: string;
  keysFile: string;
  privateKey: string;
  prefix: string;
  policy: ModelPolicy;
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

function yamlRoles(roles: Record<string, object>): string {
  return Object.entries(roles)
    .map(([name, settings]) => `      ${name}: ${JSON.stringify(settings)}\n`)
    .join('');
}

function policyText(
  db: Pick<ModelPostgres, 'readRole' | 'writeRole'>,
  redisRoles: Record<string, object>,
): string {
  return `resources:
  ${PG}:
    provider: postgres
    connection: model
    roles:
      read: { grant: [${db.readRole}], read_only: true }
      write: { grant: [${db.writeRole}] }
      report: { grant: [${db.readRole}], read_only: true, statement_timeout: 5s }
  ${REDIS}:
    provider: redis
    connection: model
    roles:
${yamlRoles(redisRoles)}rules:
  - { name: all, resources: ["*"] }
`;
}

function load(text: string) {
  return loadPolicies([{ path: 'policies/model.yaml', text }], providerDefinitions);
}

/** The policy: the safe roles, and each reaching role the loader accepts (each one tried on its own). */
export function modelPolicy(db: Pick<ModelPostgres, 'readRole' | 'writeRole'>, prefix: string): ModelPolicy {
  const safe = {
    read: { keys: [`${prefix}:*`], commands: ['+@read'] },
    write: { keys: [`${prefix}:*`], commands: WRITE },
    lists: { keys: [`${prefix}:list:*`], commands: ['+@list'] },
  };
  const base = load(policyText(db, safe));
  if (base.errors.length > 0)
    throw new Error(`the model's base policy is refused: ${JSON.stringify(base.errors)}`);
  const accepted: Record<string, object> = { ...safe };
  const refused: ModelPolicy['refused'] = [];
  for (const [role, settings] of Object.entries(REACHING_ROLES(prefix))) {
    const tried = load(policyText(db, { ...safe, [role]: settings }));
    if (tried.errors.length === 0) accepted[role] = settings;
    else refused.push({ role, message: tried.errors.map((e) => `${e.line}: ${e.message}`).join('; ') });
  }
  const text = policyText(db, accepted);
  const loaded = load(text);
  if (loaded.errors.length > 0)
    throw new Error(`the model's policy is refused: ${JSON.stringify(loaded.errors)}`);
  // Some role names only one resource has: a request moved to the other one asks for a role it lacks.
  const roles = { [PG]: ['read', 'write', 'report'], [REDIS]: Object.keys(accepted) };
  return {
    text,
    policies: loaded.policies,
    roles,
    allRoles: [...new Set([...roles[PG], ...roles[REDIS]])],
    refused,
  };
}

export async function createSetup(): Promise<Setup> {
  const [postgres, redisServer] = await Promise.all([startPostgres(), startRedis()]);
  const admin = new pg.Pool({ connectionString: postgres.superUrl, max: 2, connectionTimeoutMillis: 5000 });
  admin.on('error', () => {});
  const redis = createClient({
    url: redisServer.superUrl,
    socket: { connectTimeout: 5000, reconnectStrategy: false },
  });
  redis.on('error', () => {});
  await redis.connect();
  const base = mkdtempSync(join(tmpdir(), 'timebox-model-'));
  const key = join(base, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'model', '-f', key]);
  const pub = readFileSync(`${key}.pub`, 'utf8').trim();
  const keysFile = join(base, 'keys.yaml');
  // One key for every requester: the test opens every credential it delivers.
  const logins = [...new Set(REQUESTERS.map((r) => r.toLowerCase()))];
  writeFileSync(keysFile, logins.map((l) => `${l}:\n  - ${pub}\n`).join(''));
  const prefix = 'orders';
  return {
    postgres,
    redisServer,
    admin,
    redis,
    base,
    keysFile,
    privateKey: readFileSync(key, 'utf8'),
    prefix,
    policy: modelPolicy(postgres, prefix),
    env: { TIMEBOX_POSTGRES_MODEL_URL: postgres.url, TIMEBOX_REDIS_MODEL_URL: redisServer.url },
    async close() {
      if (redis.isOpen) redis.destroy();
      await admin.end().catch(() => {});
      postgres.stop();
      redisServer.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** One request file's content. `start` and `until` are absolute (RFC 3339 times), as people write them. */
export interface Req {
  requester: string;
  resource: ResourceId;
  role: string;
  /** One of `duration` and `until`. */
  duration?: string;
  until?: string;
  start?: string;
  /** Not a valid request (a field the schema does not know): no access. */
  invalid?: boolean;
}

/** The model: the clock, the request files on main (with when their content landed), removed ones. */
export interface Model {
  at: number;
  files: Map<string, Req & { committedAt: number }>;
  removed: Map<string, Req>;
}

export const iso = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');

export function requestText(r: Req): string {
  return [
    `requester: ${r.requester}`,
    `resource: ${r.resource}`,
    `role: ${r.role}`,
    ...(r.until ? [`until: "${r.until}"`] : [`duration: ${r.duration}`]),
    ...(r.start ? [`start: "${r.start}"`] : []),
    ...(r.invalid ? ['approved: yes'] : []),
    'reason: Model-based history of an access repo (issue 13)',
    '',
  ].join('\n');
}

/**
 * The window the ledger gives a file's current content: from when it landed (or its later `start`) for its
 * duration or until its `until`; empty (no access) when that is not later, or when the file is invalid.
 */
export function windowOf(f: Req & { committedAt: number }): { starts: number; ends: number } {
  const starts = Math.max(f.committedAt, f.start ? Date.parse(f.start) : f.committedAt);
  const ends = f.until ? Date.parse(f.until) : starts + (DURATION_MS[f.duration ?? ''] ?? 0);
  return f.invalid || ends <= starts ? { starts, ends: starts } : { starts, ends };
}

/** A principal on a target: `postgres tb_alice_0123456789`. */
export type Principal = string;
const key = (provider: string, name: string): Principal => `${provider} ${name}`;

export interface Credential {
  provider: 'postgres' | 'redis';
  principal: string;
  /** The request file it was delivered for. */
  file: string;
  url: string;
  step: number;
}

interface StepLog {
  step: number;
  at: string;
  what: string;
  notes: string[];
}

/** Invariant violations of one step, each naming its invariant. */
export class InvariantError extends Error {
  override name = 'InvariantError';
}

const sorted = (s: Iterable<string>) => [...s].sort();
const minus = (a: Set<string>, b: Set<string>) => sorted([...a].filter((x) => !b.has(x)));

/** One history: its repo (a new root commit: a new owner), its clock, what it delivered and observed. */
export class World {
  readonly dir: string;
  readonly owner: string;
  readonly runId: string;
  readonly #setup: Setup;
  readonly #sealer: Sealer;
  /** Every credential delivered, oldest first. */
  readonly credentials: Credential[] = [];
  /** Principals a grantee created for itself (tamper steps that succeeded). */
  readonly made = new Set<Principal>();
  readonly log: StepLog[] = [];
  #step = 0;
  /** What the last apply left active. */
  #lastApplied = new Set<Principal>();
  /** Sessions grantees keep open. */
  readonly #held: (Held & { principal: Principal; step: number })[] = [];

  private constructor(setup: Setup, dir: string, owner: string, runId: string, sealer: Sealer) {
    this.#setup = setup;
    this.dir = dir;
    this.owner = owner;
    this.runId = runId;
    this.#sealer = sealer;
  }

  static async create(setup: Setup, at: number): Promise<World> {
    const runId = randomBytes(4).toString('hex');
    const dir = join(setup.base, `run-${runId}`);
    mkdirSync(join(dir, 'policies'), { recursive: true });
    writeFileSync(join(dir, 'policies/model.yaml'), setup.policy.text);
    gitAt(dir, at, 'init', '-q', '-b', 'main');
    gitAt(dir, at, 'add', 'policies');
    // The run id in the message: two runs in the same second must not share a root commit (an owner).
    gitAt(dir, at, 'commit', '-q', '-m', `access repo (model run ${runId})`);
    const owner = await rootCommit(dir, 'HEAD');
    const sealer = await keysSealer(quietIo(dir, setup.env).io, setup.keysFile);
    return new World(setup, dir, owner, runId, sealer);
  }

  get step(): number {
    return this.#step;
  }

  /** The names a grant of this repo can have: every requester on every slot (and whatever was delivered). */
  names(): Set<string> {
    const out = new Set<string>();
    for (const r of REQUESTERS)
      for (const file of SLOTS) out.add(grantName({ requester: r, file, accessRepoId: this.owner }));
    for (const c of this.credentials) out.add(c.principal);
    return out;
  }

  /** Commit a change to the requests folder at the model's clock (on main: as a merge lands there). */
  commit(m: Model, what: string, change: (dir: string) => void): void {
    change(this.dir);
    gitAt(this.dir, m.at, 'add', '-A', 'requests');
    gitAt(this.dir, m.at, 'commit', '-q', '-m', what);
  }

  writeRequest(file: string, r: Req): void {
    mkdirSync(dirname(join(this.dir, file)), { recursive: true });
    writeFileSync(join(this.dir, file), requestText(r));
  }

  removeRequest(file: string): void {
    rmSync(join(this.dir, file));
  }

  renameRequest(from: string, to: string): void {
    mkdirSync(dirname(join(this.dir, to)), { recursive: true });
    renameSync(join(this.dir, from), join(this.dir, to));
  }

  begin(m: Model, what: string): StepLog {
    const entry = { step: ++this.#step, at: iso(m.at), what, notes: [] };
    this.log.push(entry);
    return entry;
  }

  /**
   * `timebox apply --offline --keys FILE --at T --json` (or `timebox expire …`: revocations only, as the
   * scheduled workflow runs it), in-process, then the checks: the principals able to log in are exactly
   * those the ledger says are active (after expire: none beyond them), and the model agrees with the
   * ledger; no session outlives its grant; a second run would change nothing; it reported no failure.
   */
  async applyAndCheck(m: Model, entry: StepLog, how: 'apply' | 'expire' = 'apply'): Promise<void> {
    const problems: string[] = [];
    const applied = await this.#apply(m, how);
    if (applied.code !== 0 || applied.errors.length > 0)
      problems.push(
        `[${how} reports no failure] exit ${applied.code}: ${JSON.stringify(applied.errors)}${applied.stderr ? ` ${applied.stderr.trim()}` : ''}`,
      );
    if (how === 'expire' && applied.granted.length > 0)
      problems.push(`[expire only revokes] it granted ${applied.granted.map((g) => g.principal).join(', ')}`);
    for (const g of applied.granted) {
      const url = (await openWith(g.credentials, this.#setup.privateKey)).trim();
      this.credentials.push({
        provider: g.provider as Credential['provider'],
        principal: g.principal,
        file: g.file,
        url,
        step: entry.step,
      });
    }
    entry.notes.push(
      ...applied.granted.map((g) => `granted ${g.provider} ${g.principal} (${g.file})`),
      ...applied.revoked.map((r) => `revoked ${r.provider} ${r.principal} (${r.file}, ${r.reason})`),
    );

    const { grants, active: ledger } = await this.ledger(m);
    const model = this.modelActive(m);
    if (sorted(ledger).join() !== sorted(model).join())
      problems.push(
        `[the ledger agrees with the model] ledger says active ${JSON.stringify(sorted(ledger))}, the model ${JSON.stringify(sorted(model))}`,
      );
    problems.push(...(await this.#checkLogins(m, ledger, how === 'apply' ? 'full' : 'no-gain')));
    problems.push(...(await this.#checkSessions(ledger)));
    this.#lastApplied =
      how === 'apply' ? ledger : new Set([...this.#lastApplied].filter((p) => ledger.has(p)));

    // What `timebox plan` would now say, from the same ledger: nothing to grant, nothing of ours to revoke.
    // (When the run itself did nothing and reported nothing, its plan was empty and nothing changed since.)
    if (applied.granted.length + applied.revoked.length + applied.errors.length === 0 && applied.code === 0) {
      if (problems.length > 0) this.#fail(entry, problems);
      return;
    }
    const { policies } = this.#setup.policy;
    const targets = await Targets.connect(policies, this.#setup.env);
    try {
      const { plan, failures } = await reconcileTargets(targets, {
        grants,
        policies,
        accessRepoId: this.owner,
        at: new Date(m.at),
        sealer: this.#sealer,
        dryRun: true,
        ...(how === 'expire' ? { only: 'revoke' as const } : {}),
      });
      const names = this.names();
      const revokes = plan.revoke.filter((r) => names.has(r.principal));
      if (plan.grant.length + revokes.length + failures.length > 0)
        problems.push(
          `[a second ${how} changes nothing] the plan after it: ${JSON.stringify({
            grant: plan.grant.map(
              (g) => `${g.file} ${g.requester} ${g.role}${g.replaces ? ' (update)' : ''}`,
            ),
            revoke: revokes.map((r) => `${r.principal} ${r.reason}`),
            failures: failures.map((f) => f.message),
          })}`,
        );
    } finally {
      await targets.close();
    }
    if (problems.length > 0) this.#fail(entry, problems);
  }

  /**
   * After a grantee's tamper step (no apply since the last one): it may have lost access, never gained any
   * beyond what the last apply left (the clock may have moved on since: between applies only PostgreSQL's
   * VALID UNTIL ends access, and it runs on the server's own clock, not the model's).
   */
  async checkAfterTamper(m: Model, entry: StepLog): Promise<void> {
    const problems = await this.#checkLogins(m, this.#lastApplied, 'no-gain');
    if (problems.length > 0) this.#fail(entry, problems);
  }

  #fail(entry: StepLog, problems: string[]): never {
    const history = this.log
      .map(
        (s) =>
          `  ${s.step}. ${s.at} ${s.what}${s.notes.length > 0 ? `\n       ${s.notes.join('\n       ')}` : ''}`,
      )
      .join('\n');
    throw new InvariantError(
      `step ${entry.step} (${entry.what}) broke:\n  ${problems.join('\n  ')}\nhistory (owner ${this.owner.slice(0, 12)}):\n${history}`,
    );
  }

  /** What the model says is active, as principals. */
  modelActive(m: Model): Set<Principal> {
    const out = new Set<Principal>();
    const { policies } = this.#setup.policy;
    for (const [file, f] of m.files) {
      const { starts, ends } = windowOf(f);
      if (!(starts <= m.at && m.at < ends)) continue;
      const resource = policies.resources.get(f.resource);
      if (!resource || !Object.hasOwn(resource.roles, f.role)) continue;
      out.add(
        key(PROVIDER[f.resource], grantName({ requester: f.requester, file, accessRepoId: this.owner })),
      );
    }
    return out;
  }

  /** The ledger (folded from main's first-parent history, as apply reads it) and what it says is active. */
  async ledger(m: Model): Promise<{ grants: Grant[]; active: Set<Principal> }> {
    const { io } = quietIo(this.dir, this.#setup.env);
    const ledger = await loadLedger(io, { repo: this.dir }, new Date(Math.max(m.at, Date.now())), {
      events: false,
    });
    const out = new Set<Principal>();
    const { policies } = this.#setup.policy;
    for (const g of activeAt(ledger, new Date(m.at))) {
      const resource = policies.resources.get(g.resource);
      // A grant whose role the resource lacks is a plan problem: nothing can be provisioned for it.
      if (!resource || !Object.hasOwn(resource.roles, g.role)) continue;
      const provider = resource.provider;
      out.add(key(provider, grantName({ requester: g.requester, file: g.file, accessRepoId: this.owner })));
    }
    return { grants: ledger.grants, active: out };
  }

  async #apply(m: Model, how: 'apply' | 'expire') {
    const { io, out } = quietIo(this.dir, this.#setup.env);
    let code: number;
    try {
      code = await runApply(
        io,
        {
          repo: this.dir,
          at: new Date(m.at).toISOString(),
          offline: true,
          json: true,
          keys: this.#setup.keysFile,
          ...(how === 'expire' ? { only: 'revoke' as const } : {}),
        },
        this.#sealer,
        this.#setup.env,
      );
    } catch (err) {
      return {
        code: -1,
        stderr: `${out.stderr}${(err as Error).stack}`,
        granted: [],
        revoked: [],
        errors: [],
      };
    }
    const parsed = JSON.parse(out.stdout || '{}') as {
      granted?: { file: string; provider: string; principal: string; credentials: string }[];
      revoked?: { file: string; provider: string; principal: string; reason: string }[];
      errors?: unknown[];
    };
    return {
      code,
      stderr: out.stderr,
      granted: parsed.granted ?? [],
      revoked: parsed.revoked ?? [],
      errors: parsed.errors ?? [],
    };
  }

  /**
   * Who can log in, read two ways. The targets' own catalogues: PostgreSQL roles with LOGIN and a validity
   * past the clock, Redis ACL users that are `on` — among every name this repo's grants can have, every
   * principal tagged with this repo, and whatever a grantee made. And logging in with the credentials
   * delivered (the private servers check passwords, and PostgreSQL VALID UNTIL). `full` (after apply):
   * exactly the active ones, each with its latest credentials. `no-gain` (after a tamper step): none
   * outside the active ones.
   */
  async #checkLogins(m: Model, active: Set<Principal>, mode: 'full' | 'no-gain'): Promise<string[]> {
    const problems: string[] = [];
    const { loginable: catalogue, present } = await this.catalogue(m);
    const extra = minus(catalogue, active);
    if (extra.length > 0)
      problems.push(`[no login beyond the active grants] the targets let in ${JSON.stringify(extra)}`);
    if (mode === 'full') {
      const missing = minus(active, catalogue);
      if (missing.length > 0)
        problems.push(`[every active grant can log in] the targets do not let in ${JSON.stringify(missing)}`);
    }
    const latest = new Map<Principal, Credential>();
    for (const c of this.credentials) latest.set(key(c.provider, c.principal), c);
    const tried = new Set<string>();
    for (const c of [...this.credentials].reverse()) {
      const p = key(c.provider, c.principal);
      if (tried.has(`${p} ${c.url}`)) continue;
      tried.add(`${p} ${c.url}`);
      // A PostgreSQL login costs a backend and a SCRAM exchange: only the latest password of each role
      // (each grant sets a new one; a grantee's own change is recorded as its latest). Redis's AUTH is cheap.
      if (c.provider === 'postgres' && latest.get(p) !== c) continue;
      // A role that is gone lets nobody in: no need to knock.
      if (c.provider === 'postgres' && !present.has(p)) {
        if (mode === 'full' && active.has(p))
          problems.push(`[every active grant can log in] ${p} does not exist`);
        continue;
      }
      if (!active.has(p)) {
        if (await this.canLogIn(c))
          problems.push(
            `[no login beyond the active grants] ${p} logs in with the credentials delivered at step ${c.step}`,
          );
      } else if (mode === 'full' && latest.get(p) === c && !(await this.canLogIn(c))) {
        problems.push(
          `[every active grant can log in] ${p} cannot log in with its latest credentials (step ${c.step})`,
        );
      }
    }
    if (mode === 'full')
      for (const p of active)
        if (!latest.has(p))
          problems.push(`[every active grant can log in] no credentials were delivered for ${p}`);
    return problems;
  }

  /**
   * Principals the targets' catalogues say can log in (see #checkLogins), and the PostgreSQL roles that
   * exist at all.
   */
  async catalogue(m: Model): Promise<{ loginable: Set<Principal>; present: Set<Principal> }> {
    const out = new Set<Principal>();
    const present = new Set<Principal>();
    const names = this.names();
    const made = [...this.made].map((p) => p.split(' ')[1] as string);
    const { rows } = await this.#setup.admin.query<{ rolname: string; can: boolean }>(
      `SELECT rolname, rolcanlogin AND (rolvaliduntil IS NULL OR rolvaliduntil > $3::timestamptz) AS can
         FROM pg_roles WHERE rolname = ANY($1) OR shobj_description(oid, 'pg_authid') LIKE $2`,
      [[...names, ...made], `%${this.owner}%`, new Date(m.at).toISOString()],
    );
    for (const r of rows) {
      present.add(key('postgres', r.rolname));
      if (r.can) out.add(key('postgres', r.rolname));
    }

    const c = this.#setup.redis;
    const tags = (await c.hGetAll(TAGS_KEY)) as Record<string, string>;
    const mine = new Set([...names, ...made]);
    for (const [user, raw] of Object.entries(tags)) if (raw.includes(this.owner)) mine.add(user);
    const acl = (await c.sendCommand(['ACL', 'LIST'])) as string[];
    for (const line of acl) {
      const [, user, ...flags] = line.split(' ');
      if (user && mine.has(user) && flags.includes('on')) out.add(key('redis', user));
    }
    return { loginable: out, present };
  }

  /** Whether a credential opens a session now. */
  async canLogIn(c: Credential): Promise<boolean> {
    if (c.provider === 'redis') return redisAuth(c.url);
    // With a session kept open the role's one connection is taken: that session is the proof.
    const held = this.#held.find((h) => h.principal === key('postgres', c.principal) && !h.dead);
    if (held && (await held.alive())) return true;
    return this.#pgSession(c.url, c.principal, async (client) => {
      await client.query('SELECT 1');
    })
      .then(() => true)
      .catch(() => false);
  }

  /** A session as a grantee; once it is closed, waits until its backend is gone (CONNECTION LIMIT 1). */
  async #pgSession<T>(url: string, user: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    client.on('error', () => {});
    try {
      await client.connect();
      return await fn(client);
    } finally {
      await client.end().catch(() => {});
      const kept = this.#held.flatMap((h) => (h.pid !== undefined && !h.dead ? [h.pid] : []));
      await waitFor(
        async () =>
          (
            await this.#setup.admin.query<{ n: number }>(
              'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND NOT pid = ANY($2)',
              [user, kept],
            )
          ).rows[0]?.n === 0,
        `the session of ${user} to end`,
      );
    }
  }

  /**
   * A grantee's credentials, picked by index: among the latest credentials of the active grants when there
   * are any (a grantee with access is the one with something to keep), else among all ever delivered.
   */
  grantee(m: Model, pick: number): Credential | undefined {
    const active = this.modelActive(m);
    const latest = new Map<Principal, Credential>();
    for (const c of this.credentials) latest.set(key(c.provider, c.principal), c);
    const live = [...latest].filter(([p]) => active.has(p)).map(([, c]) => c);
    const from = live.length > 0 ? live : this.credentials;
    return from[pick % from.length];
  }

  /** When the access of a grantee's file ends, per the model (undefined when it is not active). */
  endOf(m: Model, c: Credential): number | undefined {
    const f = m.files.get(c.file);
    if (!f || !this.modelActive(m).has(key(c.provider, c.principal))) return undefined;
    return windowOf(f).ends;
  }

  /**
   * A grantee uses the credentials it was given against whatever its rights reach (on the session it keeps
   * open, if it keeps one). Returns what it tried and what the target said.
   */
  async tamper(m: Model, c: Credential, action: number): Promise<string> {
    const who = `${c.provider} ${c.principal} (credentials of step ${c.step})`;
    const p = key(c.provider, c.principal);
    if (c.provider === 'redis') {
      const name = REDIS_TAMPER[action % REDIS_TAMPER.length] as (typeof REDIS_TAMPER)[number];
      if (name === 'hold-session') return `${who}: ${name}: ${await this.#hold(p, c)}`;
      try {
        const said = await withRedis(c.url, (client) => this.#redisTamper(m, client, c, name));
        return `${who}: ${name}: ${said}`;
      } catch (err) {
        return `${who}: ${name}: refused (${(err as Error).message})`;
      }
    }
    const name = PG_TAMPER[action % PG_TAMPER.length] as (typeof PG_TAMPER)[number];
    if (name === 'hold-session') return `${who}: ${name}: ${await this.#hold(p, c)}`;
    try {
      const said = await this.#pgAs(c.url, c.principal, (client) =>
        this.#pgTamper(client, c.principal, name),
      );
      if (name === 'change-password' && said.endsWith('done')) {
        // The grantee now knows its own password: that is its latest credential.
        const url = new URL(c.url);
        url.password = 'tampered';
        this.credentials.push({ ...c, url: url.href, step: this.#step });
      }
      return `${who}: ${name}: ${said}`;
    } catch (err) {
      return `${who}: ${name}: cannot log in (${(err as Error).message})`;
    }
  }

  async #redisTamper(
    m: Model,
    c: RedisClient,
    cred: Credential,
    action: (typeof REDIS_TAMPER)[number],
  ): Promise<string> {
    const self = cred.principal;
    const attempt = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
        return `${what}: done`;
      } catch (err) {
        return `${what}: refused (${(err as Error).message})`;
      }
    };
    const forge = async (change: (tag: Record<string, unknown>) => void) => {
      const raw = await c.hGet(TAGS_KEY, self);
      if (!raw) return 'no tag to forge';
      const tag = JSON.parse(raw) as Record<string, unknown>;
      change(tag);
      await c.hSet(TAGS_KEY, self, JSON.stringify(tag));
      return `tag now ${JSON.stringify(tag)}`;
    };
    switch (action) {
      case 'erase-own-tag':
        return attempt(`HDEL ${TAGS_KEY} ${self}`, () => c.hDel(TAGS_KEY, self));
      case 'erase-all-tags':
        return attempt(`DEL ${TAGS_KEY}`, () => c.del(TAGS_KEY));
      case 'forge-tag-owner':
        return attempt('HSET its tag with another owner', () =>
          forge((t) => {
            t.owner = 'f'.repeat(40);
          }),
        );
      case 'forge-tag-file': {
        // Claim another request of the same requester on Redis (Timebox keeps one principal per file and
        // keeps whatever matches a wanted grant), else a file nobody has.
        const login = self.slice(3, -11);
        const other =
          [...m.files.entries()].find(
            ([f, r]) => f !== cred.file && r.resource === REDIS && r.requester.toLowerCase() === login,
          )?.[0] ?? 'requests/zz.yaml';
        return attempt(`HSET its tag naming ${other}`, () =>
          forge((t) => {
            t.file = other;
          }),
        );
      }
      case 'create-user': {
        const user = `tbm_${this.runId}_${this.made.size}`;
        const out = await attempt(`ACL SETUSER ${user}`, () =>
          c.sendCommand(['ACL', 'SETUSER', user, 'on', '>tampered', '~*', '+@all']),
        );
        if (out.endsWith('done')) this.made.add(key('redis', user));
        return out;
      }
      case 'delete-keys':
        return attempt(`DEL ${this.#setup.prefix}:k`, () => c.del(`${this.#setup.prefix}:k`));
      case 'hold-session':
        return 'held elsewhere';
    }
  }

  async #pgTamper(c: pg.Client, self: string, action: (typeof PG_TAMPER)[number]): Promise<string> {
    const attempt = async (sql: string) => {
      try {
        await c.query(sql);
        return `${sql}: done`;
      } catch (err) {
        return `${sql}: refused (${(err as Error).message})`;
      }
    };
    const me = `"${self}"`;
    switch (action) {
      case 'change-password':
        return attempt(`ALTER ROLE ${me} PASSWORD 'tampered'`);
      case 'erase-tag':
        return attempt(`COMMENT ON ROLE ${me} IS NULL`);
      case 'extend-validity':
        return attempt(`ALTER ROLE ${me} VALID UNTIL 'infinity'`);
      case 'lift-read-only':
        return attempt(`ALTER ROLE ${me} SET default_transaction_read_only = off`);
      case 'own-object':
        return attempt(`CREATE TABLE public.tbm_${this.runId}_t (x int)`);
      case 'create-login': {
        const user = `tbm_${this.runId}_${this.made.size}`;
        const out = await attempt(`CREATE ROLE ${user} LOGIN`);
        if (out.endsWith('done')) this.made.add(key('postgres', user));
        return out;
      }
      case 'hold-session':
        return 'held elsewhere';
    }
  }

  /** The grantee opens a session and keeps it (a session outlives a password: revoking must end it). */
  async #hold(p: Principal, c: Credential): Promise<string> {
    if (this.#held.some((h) => h.principal === p && !h.dead)) return 'it already keeps one open';
    try {
      const held = c.provider === 'redis' ? await holdRedis(c.url) : await holdPostgres(c.url);
      this.#held.push({ ...held, principal: p, step: this.#step });
      return 'a session is open';
    } catch (err) {
      return `cannot log in (${(err as Error).message})`;
    }
  }

  /** A session as the grantee: the one it keeps open if any (CONNECTION LIMIT 1), else a new one. */
  async #pgAs<T>(url: string, user: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const held = this.#held.find((h) => h.principal === key('postgres', user) && h.pg && !h.dead);
    if (held?.pg && (await held.alive())) return fn(held.pg);
    return this.#pgSession(url, user, fn);
  }

  /**
   * Sessions grantees kept open: none may outlive its grant. Checked after an apply; the ones found closed
   * are forgotten.
   */
  async #checkSessions(active: Set<Principal>): Promise<string[]> {
    const problems: string[] = [];
    for (const h of this.#held) {
      if (h.dead || active.has(h.principal)) continue;
      if (await h.alive())
        problems.push(
          `[no session beyond the active grants] the session ${h.principal} opened at step ${h.step} is still open`,
        );
    }
    return problems;
  }

  /**
   * Drop everything this history made, on both (private) targets, and its repo: every role and user named
   * as Timebox or a tampering grantee names them, and every key.
   */
  async cleanup(): Promise<void> {
    for (const h of this.#held) h.close();
    const { rows } = await this.#setup.admin.query<{ rolname: string }>(
      `SELECT rolname FROM pg_roles WHERE rolname ~ '^tbm?_'`,
    );
    for (const { rolname } of rows) {
      await this.#setup.admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1',
        [rolname],
      );
      await this.#setup.admin.query(`DROP OWNED BY "${rolname}" CASCADE`);
      await this.#setup.admin.query(`DROP ROLE "${rolname}"`);
    }
    const c = this.#setup.redis;
    const users = ((await c.sendCommand(['ACL', 'USERS'])) as string[]).filter(
      (u) => u !== 'default' && u !== 'timebox_admin',
    );
    if (users.length > 0) await c.sendCommand(['ACL', 'DELUSER', ...users]);
    await c.flushAll();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const REDIS_TAMPER = [
  'erase-own-tag',
  'erase-all-tags',
  'forge-tag-owner',
  'forge-tag-file',
  'create-user',
  'delete-keys',
  'hold-session',
] as const;
export const PG_TAMPER = [
  'change-password',
  'erase-tag',
  'extend-validity',
  'lift-read-only',
  'own-object',
  'create-login',
  'hold-session',
] as const;

type RedisClient = ReturnType<typeof createClient>;

async function withRedis<T>(url: string, fn: (c: RedisClient) => Promise<T>): Promise<T> {
  const client = createClient({
    url,
    socket: { connectTimeout: 5000, reconnectStrategy: false },
    disableOfflineQueue: true,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    if (client.isOpen) client.destroy();
  }
}

/** A session a grantee keeps open. */
interface Held {
  /** Whether the server still serves it (a reply to a command: an error reply counts, a closed socket not). */
  alive(): Promise<boolean>;
  close(): void;
  /** Set once the session is known to be closed. */
  dead: boolean;
  /** PostgreSQL: its backend and client. */
  pid?: number;
  pg?: pg.Client;
}

async function holdPostgres(url: string): Promise<Held> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  const held: Held = {
    dead: false,
    pg: client,
    async alive() {
      if (held.dead) return false;
      try {
        await client.query('SELECT 1');
        return true;
      } catch {
        held.dead = true;
        return false;
      }
    },
    close() {
      held.dead = true;
      client.end().catch(() => {});
    },
  };
  client.on('error', () => {
    held.dead = true;
  });
  client.on('end', () => {
    held.dead = true;
  });
  await client.connect();
  held.pid = Number((await client.query('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);
  return held;
}

/** An authenticated Redis connection kept open, spoken to in RESP by hand. */
function holdRedis(url: string): Promise<Held> {
  const u = new URL(url);
  const arg = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname, port: Number(u.port || 6379) });
    let waiting: ((line: string | null) => void) | null = null;
    let buffer = '';
    const held: Held = {
      dead: false,
      alive() {
        if (held.dead) return Promise.resolve(false);
        return new Promise((done) => {
          waiting = (line) => done(line !== null);
          socket.write(`*1\r\n${arg('PING')}`);
        });
      },
      close() {
        held.dead = true;
        socket.destroy();
      },
    };
    socket.on('error', () => {});
    socket.on('close', () => {
      held.dead = true;
      const w = waiting;
      waiting = null;
      w?.(null);
      reject(new Error('closed'));
    });
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      const end = buffer.indexOf('\r\n');
      if (end < 0) return;
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const w = waiting;
      waiting = null;
      w?.(line);
    });
    socket.on('connect', () => {
      waiting = (line) => {
        if (line?.startsWith('+OK')) resolve(held);
        else {
          socket.destroy();
          reject(new Error(line ?? 'closed'));
        }
      };
      socket.write(
        `*3\r\n${arg('AUTH')}${arg(decodeURIComponent(u.username))}${arg(decodeURIComponent(u.password))}`,
      );
    });
  });
}

/**
 * `AUTH user password` on a fresh connection, in RESP by hand (a client library's handshake costs tens of
 * milliseconds): whether Redis lets this credential in.
 */
function redisAuth(url: string): Promise<boolean> {
  const u = new URL(url);
  const arg = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname, port: Number(u.port || 6379) });
    let reply = '';
    socket.setTimeout(5000, () => socket.destroy(new Error(`no answer from ${u.host}`)));
    socket.on('error', reject);
    socket.on('connect', () => socket.write(`*3\r\n${arg('AUTH')}${arg(user)}${arg(password)}`));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (!reply.includes('\r\n')) return;
      socket.destroy();
      if (reply.startsWith('+OK')) resolve(true);
      else if (/^-(WRONGPASS|ERR)/.test(reply)) resolve(false);
      else reject(new Error(`unexpected AUTH reply ${JSON.stringify(reply)}`));
    });
  });
}

async function waitFor(cond: () => Promise<boolean>, what: string, attempts = 200): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, Math.min(50, 2 ** i)));
  }
  throw new Error(`gave up waiting for ${what}`);
}

function gitAt(dir: string, at: number, ...args: string[]): string {
  const date = `${Math.floor(at / 1000)} +0000`;
  return execFileSync('git', ['-c', 'commit.gpgsign=false', ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'Model',
      GIT_AUTHOR_EMAIL: 'model@example.com',
      GIT_COMMITTER_NAME: 'Model',
      GIT_COMMITTER_EMAIL: 'model@example.com',
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_DATE: date,
    },
  });
}

function quietIo(cwd: string, env: NodeJS.ProcessEnv): { io: Io; out: { stdout: string; stderr: string } } {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      stdout: (t) => {
        out.stdout += t;
      },
      stderr: (t) => {
        out.stderr += t;
      },
      color: false,
      isTTY: false,
      cwd,
      env,
      clock: systemClock,
    },
  };
}
