// Applying a reconciliation plan (src/core/reconcile.ts) to the providers: connect each target once, list
// what Timebox made there, revoke what git no longer wants and grant what is missing, sealing each new
// secret to its requester. `timebox apply` (offline, keys file) and `timebox serve` (GitHub keys) share it.
import { type Clock, systemClock } from '../core/clock.js';
import type { Grant } from '../core/ledger.js';
import type { Policies, Resource } from '../core/model.js';
import { type ActualAccess, type GrantAction, type Plan, planReconcile } from '../core/reconcile.js';
import { connectionEnv, settle } from './common.js';
import { providerDefinitions } from './registry.js';
import type {
  Activity,
  GrantOutcome,
  GrantSpec,
  ManagedAccess,
  ProviderEntry,
  ProviderTarget,
  RevokeOutcome,
  Settled,
} from './types.js';
import { withUsage } from './usage.js';

/** Seals a secret to a requester (age, to their SSH keys). */
export interface Sealer {
  /** Checked before granting, so that nothing is granted that cannot be delivered: null, or why not. */
  canSeal(login: string): string | null | Promise<string | null>;
  seal(login: string, secret: string): Promise<string>;
  /** The requester's SSH public keys (`TYPE BASE64`), for providers that sign them. */
  publicKeys?(login: string): Promise<string[]>;
}

export interface Granted {
  file: string;
  grantId: string;
  requester: string;
  provider: string;
  principal: string;
  expires_at: string;
  /** The secret sealed to the requester (ASCII-armored age). */
  credentials: string;
}

export interface Revoked {
  file: string;
  grantId: string;
  provider: string;
  principal: string;
  reason: string;
  sessions_ended: number;
  activity: Activity | null;
}

export interface Failure {
  file: string;
  /** Set for grant and revoke failures: the ledger's grant id. */
  grantId?: string;
  provider: string;
  action: 'grant' | 'revoke' | 'list';
  message: string;
  /** A grant refused because the requester has no key to seal to (not a target failure). */
  noKeys?: boolean;
  /** A configuration error (exit 2): the environment variable to set. */
  config?: string;
}

export interface ApplyResult {
  plan: Plan;
  /** What the targets held before the plan was applied (this repo's and others'). */
  actual: ActualAccess[];
  granted: Granted[];
  revoked: Revoked[];
  failures: Failure[];
}

interface Connected {
  provider: ProviderEntry;
  target: ProviderTarget;
  /** A resource served by this target: where an untagged principal (no tag, no resource) is revoked. */
  resourceId: string;
}

export interface TargetsOptions {
  /** The entry point's clock (revocation times, retry pauses); the system clock by default. */
  clock?: Clock;
  /** The providers to connect with (src/providers/registry.ts by default; tests add their own). */
  registry?: ReadonlyMap<string, ProviderEntry>;
}

/** Open connections to every target the policies name (one per target key), and what is on them. */
export class Targets {
  readonly #targets = new Map<string, Connected>();
  readonly #policies: Policies;
  readonly #registry: ReadonlyMap<string, ProviderEntry>;
  readonly clock: Clock;
  /** Connection failures, as `list` failures naming the target. */
  readonly failures: Failure[] = [];

  private constructor(policies: Policies, options: TargetsOptions) {
    this.#policies = policies;
    this.#registry = options.registry ?? providerDefinitions;
    this.clock = options.clock ?? systemClock;
  }

  static async connect(
    policies: Policies,
    env: NodeJS.ProcessEnv,
    options: TargetsOptions = {},
  ): Promise<Targets> {
    const t = new Targets(policies, options);
    const failed = new Set<string>();
    for (const resource of policies.resources.values()) {
      const provider = t.#registry.get(resource.provider);
      if (!provider) continue;
      const key = provider.targetKey(resource.settings);
      if (t.#targets.has(key) || failed.has(key)) continue;
      try {
        // The driver loads here, when a target is used (never for `check` or a preview).
        const driver = await provider.load();
        t.#targets.set(key, {
          provider,
          target: await driver.connect(resource.settings, env, { clock: t.clock }),
          resourceId: resource.id,
        });
      } catch (err) {
        failed.add(key);
        const missing = missingConnection(provider.id, resource.settings, env, policies);
        t.failures.push({
          file: '',
          provider: provider.id,
          action: 'list',
          message: missing?.message ?? `${key}: ${(err as Error).message}`,
          ...(missing ? { config: missing.variable } : {}),
        });
      }
    }
    return t;
  }

  /** The connection serving a resource, or undefined when its target could not be reached. */
  /** Whether `role` of `resourceId` may write, as its provider reads the role's settings (null: cannot tell). */
  mayWrite(resourceId: string, role: string): boolean | null {
    const resource = this.#policies.resources.get(resourceId);
    const settings = resource?.roles[role];
    const provider = resource && this.#registry.get(resource.provider);
    return settings && provider?.mayWrite ? provider.mayWrite(settings) : null;
  }

  for(resourceId: string): Connected | undefined {
    const resource = this.#policies.resources.get(resourceId);
    const provider = resource && this.#registry.get(resource.provider);
    return resource && provider ? this.#targets.get(provider.targetKey(resource.settings)) : undefined;
  }

  /** Everything Timebox manages on the reachable targets; unreachable ones are added to `failures`. */
  async list(failures: Failure[] = this.failures): Promise<ManagedAccess[]> {
    const actual: ManagedAccess[] = [];
    const seen = new Set<string>();
    for (const [key, t] of this.#targets) {
      try {
        for (const a of await t.target.list()) {
          const id = `${key}\u0000${a.principal}`;
          if (!seen.has(id)) {
            seen.add(id);
            // An untagged principal names no resource: any resource on its target reaches it.
            actual.push(a.untagged && !a.resourceId ? { ...a, resourceId: t.resourceId } : a);
          }
        }
      } catch (err) {
        failures.push({
          file: '',
          provider: t.provider.id,
          action: 'list',
          message: `${key}: ${(err as Error).message}`,
        });
      }
    }
    return actual;
  }

  async close(): Promise<void> {
    for (const t of this.#targets.values()) await t.target.close().catch(() => {});
    this.#targets.clear();
  }
}

/**
 * A resource's `connection` whose admin URL variable is not set: a configuration error, said with what to
 * set and which resources need it. Null when the variable is set (the failure is something else).
 */
function missingConnection(
  provider: string,
  settings: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  policies: Policies,
): { variable: string; message: string } | null {
  if (typeof settings.connection !== 'string') return null;
  const variable = connectionEnv(provider, settings.connection);
  if (env[variable]) return null;
  const users = [...policies.resources.values()]
    .filter((r) => r.provider === provider && r.settings.connection === settings.connection)
    .map((r) => r.id);
  return {
    variable,
    message: `${variable} is not set: set it to the admin URL of ${provider} connection \`${settings.connection}\` (used by ${users.join(', ')}), e.g. ${variable}=${EXAMPLE_URL[provider] ?? '<url>'}`,
  };
}

const EXAMPLE_URL: Record<string, string> = {
  postgres: 'postgres://timebox_admin:…@db.internal:5432/postgres',
  mysql: 'mysql://timebox_admin:…@db.internal:3306/',
  redis: 'redis://timebox_admin:…@cache.internal:6379',
};

/**
 * `timebox plan` is `apply`'s preflight: what granting the plan would fail on — a requester without keys to
 * seal to, a target's own refusal (`ProviderTarget.check`: group roles missing, …) — found without changing
 * anything. Unreachable targets are already reported by `Targets.connect`.
 */
export async function preflight(targets: Targets, plan: Plan, input: ReconcileInput): Promise<Failure[]> {
  const out: Failure[] = [];
  for (const g of plan.grant) {
    const resource = input.policies.resources.get(g.resourceId);
    const t = targets.for(g.resourceId);
    if (!resource || !t) continue;
    const fail = (message: string, noKeys = false) =>
      out.push({
        file: g.file,
        grantId: g.grantId,
        provider: g.provider,
        action: 'grant',
        message,
        ...(noKeys ? { noKeys } : {}),
      });
    try {
      const refusal = await input.sealer.canSeal(g.requester);
      if (refusal) fail(refusal, true);
    } catch (err) {
      fail(`cannot read the SSH keys of ${g.requester}: ${(err as Error).message}`);
    }
    if (!t.target.check) continue;
    try {
      const problems = await t.target.check(grantSpec(g, resource, input.accessRepoId));
      for (const p of problems) fail(p);
    } catch (err) {
      fail(`cannot check the target: ${(err as Error).message}`);
    }
  }
  return out;
}

export interface ReconcileInput {
  grants: readonly Grant[];
  policies: Policies;
  /** This access repo (its root commit): access tagged by another one is left alone. */
  accessRepoId: string;
  at: Date;
  sealer: Sealer;
  /** `revoke`: only revoke (scheduled expiry, `timebox expire`). */
  only?: 'revoke';
  dryRun?: boolean;
  /** Attempts per revocation before it is reported as failed (default 3). */
  retries?: number;
  /** Grants to make again although they exist (their credentials were never delivered). */
  regrant?: ReadonlySet<string>;
}

/** Plan against what the targets hold, then apply the plan (unless `dryRun`). */
export async function reconcileTargets(targets: Targets, input: ReconcileInput): Promise<ApplyResult> {
  const failures: Failure[] = [...targets.failures];
  const actual: ActualAccess[] = await targets.list(failures);
  const plan = planReconcile(
    input.grants,
    actual,
    input.policies,
    input.at,
    input.accessRepoId,
    input.only === 'revoke' ? {} : { regrant: input.regrant },
  );
  if (input.only === 'revoke') plan.grant = [];
  if (input.dryRun) {
    failures.push(...(await preflight(targets, plan, input)));
    return { plan, actual, granted: [], revoked: [], failures };
  }

  const revoked = await revokePlanned(targets, plan.revoke, input, failures);
  const granted = await grantPlanned(targets, plan.grant, input, failures);
  return { plan, actual, granted, revoked, failures };
}

/**
 * Revokes what the plan revokes, a target's revocations together (`revokeMany`, fewer round trips) where
 * its provider can; one that fails there is tried again alone, up to `input.retries` attempts in all.
 * Results and failures in plan order.
 */
async function revokePlanned(
  targets: Targets,
  planned: Plan['revoke'],
  input: ReconcileInput,
  failures: Failure[],
): Promise<Revoked[]> {
  const attempts = input.retries ?? 3;
  const accessOf = (r: Plan['revoke'][number]): ManagedAccess => ({
    ...r,
    accessRepoId: input.accessRepoId,
    expiresAt: null,
    requester: null,
    role: null,
  });
  const outcomes: (Settled<RevokeOutcome> | undefined)[] = [];
  for (const [t, indexes] of byTarget(targets, planned)) {
    if (!t.target.revokeMany) continue;
    const batch = await settleAll(indexes.length, () =>
      (t.target.revokeMany as NonNullable<ProviderTarget['revokeMany']>)(
        indexes.map((i) => accessOf(planned[i] as Plan['revoke'][number])),
      ),
    );
    indexes.forEach((i, k) => {
      outcomes[i] = batch[k];
    });
  }
  const revoked: Revoked[] = [];
  const roles = new Map(input.grants.map((g) => [g.id, g.role]));
  for (const [i, r] of planned.entries()) {
    const t = targets.for(r.resourceId);
    const fail = (message: string) =>
      failures.push({ file: r.file, grantId: r.grantId, provider: r.provider, action: 'revoke', message });
    if (!t) {
      fail(`no connection to the target of ${r.resourceId}`);
      continue;
    }
    try {
      const first = outcomes[i];
      const out = first?.ok
        ? first.value
        : await withRetries(targets.clock, attempts, () => t.target.revoke(accessOf(r)), first);
      // Used versus granted: the grant's role as the policies say it now.
      const role = roles.get(r.grantId);
      revoked.push({
        file: r.file,
        grantId: r.grantId,
        provider: r.provider,
        principal: out.principal,
        reason: r.reason,
        sessions_ended: out.sessionsEnded,
        activity: withUsage(role ? targets.mayWrite(r.resourceId, role) : null, out.activity),
      });
    } catch (err) {
      fail((err as Error).message);
    }
  }
  return revoked;
}

/** A planned grant on its way: refused before granting, or its spec and then its outcome. */
interface Pending {
  g: GrantAction;
  t?: Connected;
  spec?: GrantSpec;
  refused?: { message: string; noKeys?: boolean };
  outcome?: Settled<GrantOutcome>;
  /** The granted secret, sealed to the requester. */
  sealed?: Settled<string>;
}

/**
 * Grants what the plan grants: each requester's keys checked first (nothing is granted that cannot be
 * sealed), then a target's grants together (`grantMany`) where its provider can, one by one elsewhere;
 * then every secret sealed. Results and failures in plan order.
 */
async function grantPlanned(
  targets: Targets,
  planned: Plan['grant'],
  input: ReconcileInput,
  failures: Failure[],
): Promise<Granted[]> {
  const pending: Pending[] = [];
  for (const g of planned) pending.push(await prepareGrant(targets, g, input));
  const ready = pending.filter((p) => p.spec && p.t);
  for (const [t, indexes] of byTarget(
    targets,
    ready.map((p) => p.g),
  )) {
    const group = indexes.map((i) => ready[i] as Pending);
    if (t.target.grantMany) await grantInBatches(t.target, group, input.sealer);
    else {
      for (const p of group) {
        p.outcome = await settle(() => t.target.grant(p.spec as GrantSpec));
        await sealOne(p, input.sealer);
      }
    }
  }
  const granted: Granted[] = [];
  for (const p of pending) {
    const g = p.g;
    const fail = (message: string, noKeys = false) =>
      failures.push({
        file: g.file,
        grantId: g.grantId,
        provider: g.provider,
        action: 'grant',
        message,
        ...(noKeys ? { noKeys } : {}),
      });
    if (p.refused) {
      fail(p.refused.message, p.refused.noKeys);
      continue;
    }
    const out = p.outcome;
    if (!out) continue;
    if (!out.ok) {
      fail(out.error.message);
      continue;
    }
    if (!p.sealed?.ok) {
      fail(p.sealed?.error.message ?? 'not sealed');
      continue;
    }
    granted.push({
      file: g.file,
      grantId: g.grantId,
      requester: g.requester,
      provider: g.provider,
      principal: out.value.principal,
      expires_at: out.value.expiresAt,
      credentials: p.sealed.value,
    });
  }
  return granted;
}

/** Grants handed to `grantMany` at a time: the next batch is granted while this one's secrets are sealed. */
const GRANT_CHUNK = 100;

/**
 * A target's grants through `grantMany`, a chunk at a time, pipelined: while the server makes one chunk's
 * roles, this process seals the chunk before it (sealing is CPU here, granting is waiting on the server).
 */
async function grantInBatches(target: ProviderTarget, group: Pending[], sealer: Sealer): Promise<void> {
  const grantMany = target.grantMany as NonNullable<ProviderTarget['grantMany']>;
  const chunks: Pending[][] = [];
  for (let i = 0; i < group.length; i += GRANT_CHUNK) chunks.push(group.slice(i, i + GRANT_CHUNK));
  const start = (chunk: Pending[]) =>
    settleAll(chunk.length, () => grantMany(chunk.map((p) => p.spec as GrantSpec)));
  let next = chunks[0] ? start(chunks[0]) : null;
  for (const [c, chunk] of chunks.entries()) {
    const outcomes = await (next as Promise<Settled<GrantOutcome>[]>);
    const following = chunks[c + 1];
    next = following ? start(following) : null;
    for (const [k, p] of chunk.entries()) {
      p.outcome = outcomes[k];
      await sealOne(p, sealer);
    }
  }
}

/** Seals a granted secret to its requester (nothing when the grant failed). */
async function sealOne(p: Pending, sealer: Sealer): Promise<void> {
  const out = p.outcome;
  if (out?.ok) p.sealed = await settle(() => sealer.seal(p.g.requester, out.value.secret));
}

/** A planned grant's spec, or why it is not granted (no target, no key to seal to). */
async function prepareGrant(targets: Targets, g: GrantAction, input: ReconcileInput): Promise<Pending> {
  const resource = input.policies.resources.get(g.resourceId);
  const t = targets.for(g.resourceId);
  if (!resource || !t) return { g, refused: { message: `no connection to the target of ${g.resourceId}` } };
  let refusal: string | null;
  try {
    refusal = await input.sealer.canSeal(g.requester);
  } catch (err) {
    return {
      g,
      refused: {
        message: `cannot read the SSH keys of ${g.requester}: ${(err as Error).message}; nothing granted`,
      },
    };
  }
  if (refusal) return { g, refused: { message: `${refusal}; nothing granted`, noKeys: true } };
  try {
    const publicKeys = t.provider.needsPublicKeys
      ? ((await input.sealer.publicKeys?.(g.requester)) ?? [])
      : undefined;
    return {
      g,
      t,
      spec: { ...grantSpec(g, resource, input.accessRepoId), ...(publicKeys ? { publicKeys } : {}) },
    };
  } catch (err) {
    return { g, refused: { message: (err as Error).message } };
  }
}

/** The indexes of `actions` by the connection serving each (those without one are left out). */
function byTarget(targets: Targets, actions: readonly { resourceId: string }[]): Map<Connected, number[]> {
  const out = new Map<Connected, number[]>();
  for (const [i, a] of actions.entries()) {
    const t = targets.for(a.resourceId);
    if (!t) continue;
    const list = out.get(t) ?? [];
    list.push(i);
    out.set(t, list);
  }
  return out;
}

/** A batch's outcomes; a batch that throws as a whole, or answers for too few, fails each of its items. */
async function settleAll<T>(n: number, fn: () => Promise<Settled<T>[]>): Promise<Settled<T>[]> {
  const all = await settle(fn);
  if (all.ok && all.value.length === n) return all.value;
  const error = all.ok ? new Error(`a batch of ${n} answered for ${all.value.length}`) : all.error;
  return Array.from({ length: n }, () => ({ ok: false, error }));
}

/** Revoke one grant's access wherever the targets hold it (the precise expiry path). */
export async function revokeGrant(
  targets: Targets,
  grant: { id: string; file: string; resource: string },
  accessRepoId: string,
  reason: Revoked['reason'],
): Promise<Revoked[]> {
  const t = targets.for(grant.resource);
  if (!t) throw new Error(`no connection to the target of ${grant.resource}`);
  const held = (await t.target.list()).filter(
    (a) => a.accessRepoId === accessRepoId && a.grantId === grant.id,
  );
  const out: Revoked[] = [];
  for (const a of held) {
    const r = await t.target.revoke(a);
    out.push({
      file: a.file,
      grantId: a.grantId,
      provider: a.provider,
      principal: r.principal,
      reason,
      sessions_ended: r.sessionsEnded,
      activity: r.activity,
    });
  }
  return out;
}

/** What a provider is asked to create for a planned grant. */
function grantSpec(g: GrantAction, resource: Resource, accessRepoId: string): GrantSpec {
  return {
    accessRepoId,
    file: g.file,
    grantId: g.grantId,
    requester: g.requester,
    resourceId: g.resourceId,
    resource: resource.settings,
    role: g.role,
    roleSettings: resource.roles[g.role] ?? {},
    startsAt: new Date(g.starts_at),
    expiresAt: new Date(g.expires_at),
  };
}

/** `fn` until it succeeds, `attempts` in all, pausing longer each time; `first`: an attempt already failed. */
async function withRetries<T>(
  clock: Clock,
  attempts: number,
  fn: () => Promise<T>,
  first?: Settled<T>,
): Promise<T> {
  let last: unknown = first && !first.ok ? first.error : undefined;
  for (let i = first ? 1 : 0; i < attempts; i++) {
    if (i > 0) await clock.sleep(200 * 2 ** (i - 1));
    try {
      return await fn();
    } catch (err) {
      last = err;
    }
  }
  throw last;
}
