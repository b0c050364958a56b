// What every provider plugin declares. The core owns the part it needs (`ProviderDefinition`: schemas for
// policy checks, in src/core/model.ts) and the shape of what providers list (`ActualAccess`); everything
// here builds on those, so providers import the core and never the other way round.
import type { Clock } from '../core/clock.js';
import type { ProviderDefinition } from '../core/model.js';
import type { ActualAccess } from '../core/reconcile.js';

export type { ProviderDefinition, RoleProblem } from '../core/model.js';

/** One grant as the ledger says it should exist: what a provider is asked to create. */
export interface GrantSpec {
  /**
   * The access repo this grant comes from (its root commit). Tags carry it, so that several access repos
   * can share one target without revoking each other's grants.
   */
  accessRepoId: string;
  /** The request path: every object a provider creates is tagged with it. */
  file: string;
  /** `file@commit` of the grant (the ledger's id). */
  grantId: string;
  requester: string;
  resourceId: string;
  /** Provider-specific resource settings (postgres `connection`, ssh `ca`, …). */
  resource: Record<string, unknown>;
  role: string;
  /** Checked against the provider's `roleSchema` when the policy was loaded; read it with `roleSettingsOf`. */
  roleSettings: Record<string, unknown>;
  startsAt: Date;
  expiresAt: Date;
  /** The requester's SSH public keys (`TYPE BASE64`), for providers that issue per-key credentials. */
  publicKeys?: string[];
}

/**
 * Something a provider manages, found by listing the target (tags make it findable after a restart):
 * the core's `ActualAccess`, which reconciliation compares with what git says.
 */
export type ManagedAccess = ActualAccess;

export interface GrantOutcome {
  principal: string;
  expiresAt: string;
  /** The secret to deliver to the requester (sealed with age before it leaves the process). */
  secret: string;
}

export interface Activity {
  /** One line for a git trailer: `12 statements, 340 rows`. */
  summary: string;
  statements: { query: string; calls: number; rows: number }[];
  /**
   * How many of the statements changed data (insert, update, delete, DDL …), where the provider can tell
   * them apart; absent where it cannot (Redis keeps no per-user command counts).
   */
  writes?: number;
}

export interface RevokeOutcome {
  principal: string;
  /** Sessions that were ended. */
  sessionsEnded: number;
  activity: Activity | null;
}

/** One outcome of a batch: what it gave, or why that one failed. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: Error };

/** A live connection to one target (one resource's connection), opened by `connect`. */
export interface ProviderTarget {
  /** Everything Timebox manages on this target. */
  list(): Promise<ManagedAccess[]>;
  /** Create the access, or bring an existing one in line (idempotent). */
  grant(spec: GrantSpec): Promise<GrantOutcome>;
  /** Remove the access and end its sessions; verifies nothing is left (idempotent). */
  revoke(access: ManagedAccess): Promise<RevokeOutcome>;
  /**
   * Optional: `grant` for many specs at once, in fewer round trips (postgres: one transaction per batch).
   * One outcome per spec, in order; a spec that fails is reported alone and leaves the others granted
   * (how the batch isolates it is the provider's: postgres falls back to one grant at a time).
   */
  grantMany?(specs: readonly GrantSpec[]): Promise<Settled<GrantOutcome>[]>;
  /** Optional: `revoke` for many at once; one outcome per access, in order, each failure alone. */
  revokeMany?(accesses: readonly ManagedAccess[]): Promise<Settled<RevokeOutcome>[]>;
  /**
   * Optional preflight for `timebox plan`: what `grant(spec)` would fail on (a group role missing in the
   * target, one Timebox refuses to grant), found without changing anything. Empty: nothing known to stop it.
   */
  check?(spec: GrantSpec): Promise<string[]>;
  close(): Promise<void>;
}

/** Shown on the pull request before anything is granted: exactly what would be done. */
export interface PermissionPreview {
  summary: string;
  statements: string[];
}

/** What a target needs from the process that opens it. */
export interface TargetContext {
  /** Revocation times, retry pauses and lock timers (the entry point's clock). */
  clock: Clock;
}

/** The implementation of a provider: loaded, with its database driver, only when a target is used. */
export interface ProviderDriver {
  /** `context` defaults to the system clock. */
  connect(
    resource: Record<string, unknown>,
    env: NodeJS.ProcessEnv,
    context?: TargetContext,
  ): Promise<ProviderTarget>;
}

/**
 * One registry entry (src/providers/registry.ts): what `check`, the report and the core need — schemas,
 * the target a resource lives on, the preview — without loading a driver, and `load` for the rest.
 */
export interface ProviderEntry extends ProviderDefinition {
  /** A stable key for the target a resource lives on (grants on one target share a connection). */
  targetKey(resource: Record<string, unknown>): string;
  /** Pure: what granting `spec` would do, for the pull request. */
  preview(spec: GrantSpec): PermissionPreview;
  /** Grants need `publicKeys` (the ssh provider signs each of the requester's keys). */
  needsPublicKeys?: boolean;
  /** The implementation (a dynamic import of the provider's index.ts). */
  load(): Promise<ProviderDriver>;
}

/** A loaded provider: its entry and its driver (what each provider's index.ts exports). */
export type Provider = ProviderEntry & ProviderDriver;
