// Applying a reconciliation plan (src/core/reconcile.ts) to the providers: connect each target once, list
// what Timebox made there, revoke what git no longer wants and grant what is missing, sealing each new
// secret to its requester. `timebox apply` (offline, keys file) and `timebox serve` (GitHub keys) share it.
import { type Clock, systemClock } from '../core/clock.js';
import type { Grant } from '../core/ledger.js';
import type { Policies, Resource } from '../core/model.js';
import { type ActualAccess, type GrantAction, type Plan, planReconcile } from '../core/reconcile.js';
import { connectionEnv } from './common.js';
import { providerDefinitions } from './registry.js';
import type { Activity, GrantSpec, ManagedAccess, ProviderEntry, ProviderTarget } from './types.js';

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

  const revoked: Revoked[] = [];
  for (const r of plan.revoke) {
    const t = targets.for(r.resourceId);
    if (!t) {
      failures.push({
        file: r.file,
        grantId: r.grantId,
        provider: r.provider,
        action: 'revoke',
        message: `no connection to the target of ${r.resourceId}`,
      });
      continue;
    }
    try {
      const out = await withRetries(targets.clock, input.retries ?? 3, () =>
        t.target.revoke({
          ...r,
          accessRepoId: input.accessRepoId,
          expiresAt: null,
          requester: null,
          role: null,
        }),
      );
      revoked.push({
        file: r.file,
        grantId: r.grantId,
        provider: r.provider,
        principal: out.principal,
        reason: r.reason,
        sessions_ended: out.sessionsEnded,
        activity: out.activity,
      });
    } catch (err) {
      failures.push({
        file: r.file,
        grantId: r.grantId,
        provider: r.provider,
        action: 'revoke',
        message: (err as Error).message,
      });
    }
  }

  const granted: Granted[] = [];
  for (const g of plan.grant) {
    const resource = input.policies.resources.get(g.resourceId);
    const t = targets.for(g.resourceId);
    const fail = (message: string, noKeys = false) =>
      failures.push({
        file: g.file,
        grantId: g.grantId,
        provider: g.provider,
        action: 'grant',
        message,
        ...(noKeys ? { noKeys } : {}),
      });
    if (!resource || !t) {
      fail(`no connection to the target of ${g.resourceId}`);
      continue;
    }
    let refusal: string | null;
    try {
      refusal = await input.sealer.canSeal(g.requester);
    } catch (err) {
      fail(`cannot read the SSH keys of ${g.requester}: ${(err as Error).message}; nothing granted`);
      continue;
    }
    if (refusal) {
      fail(`${refusal}; nothing granted`, true);
      continue;
    }
    try {
      const publicKeys = t.provider.needsPublicKeys
        ? ((await input.sealer.publicKeys?.(g.requester)) ?? [])
        : undefined;
      const out = await t.target.grant({
        ...grantSpec(g, resource, input.accessRepoId),
        ...(publicKeys ? { publicKeys } : {}),
      });
      granted.push({
        file: g.file,
        grantId: g.grantId,
        requester: g.requester,
        provider: g.provider,
        principal: out.principal,
        expires_at: out.expiresAt,
        credentials: await input.sealer.seal(g.requester, out.secret),
      });
    } catch (err) {
      fail((err as Error).message);
    }
  }
  return { plan, actual, granted, revoked, failures };
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

async function withRetries<T>(clock: Clock, attempts: number, fn: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      if (i + 1 < attempts) await clock.sleep(200 * 2 ** i);
    }
  }
  throw last;
}
