// What every provider plugin declares. Granting and revoking are added by the providers themselves;
// the pure core only needs the schemas that check a provider's settings in policy files.
import type { ActualAccess } from '../core/reconcile.js';

export interface ProviderDefinition {
  /** The `provider:` value in policies. */
  id: string;
  /** One line for `--help` and docs. */
  summary: string;
  /** JSON Schema (draft-07) for the provider's own keys on a resource (besides provider, description, roles). */
  resourceSchema: object;
  /** JSON Schema (draft-07) for one role's settings. */
  roleSchema: object;
  /**
   * What a schema cannot say about a role whose settings passed `roleSchema` (a key pattern that would
   * reach Timebox's own bookkeeping, an object in a system schema): each problem is located at `path`
   * inside the role's settings (`['keys', 2]`), so `timebox check` reports it at file:line. Pure: no I/O.
   */
  checkRole?(role: Record<string, unknown>, resource: Record<string, unknown>): RoleProblem[];
}

/** A reason to refuse a role, at a path inside its settings. */
export interface RoleProblem {
  path: (string | number)[];
  message: string;
}

/** One grant as the ledger says it should exist: what a provider is asked to create. */
export interface GrantSpec {
  /**
   * The access repo this grant comes from (its root commit). Tags carry it, so that several access repos
   * can share one target without revoking each other's grants.
   */
  owner: string;
  /** The request path: every object a provider creates is tagged with it. */
  file: string;
  /** `file@commit` of the grant (the ledger's id). */
  grantId: string;
  requester: string;
  resourceId: string;
  /** Provider-specific resource settings (postgres `connection`, ssh `ca`, …). */
  resource: Record<string, unknown>;
  role: string;
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
}

export interface RevokeOutcome {
  principal: string;
  /** Sessions that were ended. */
  sessionsEnded: number;
  activity: Activity | null;
}

/** A live connection to one target (one resource's connection), opened by `connect`. */
export interface ProviderTarget {
  /** Everything Timebox manages on this target. */
  list(): Promise<ManagedAccess[]>;
  /** Create the access, or bring an existing one in line (idempotent). */
  grant(spec: GrantSpec): Promise<GrantOutcome>;
  /** Remove the access and end its sessions; verifies nothing is left (idempotent). */
  revoke(access: ManagedAccess): Promise<RevokeOutcome>;
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

export interface Provider extends ProviderDefinition {
  /** A stable key for the target a resource lives on (grants on one target share a connection). */
  targetKey(resource: Record<string, unknown>): string;
  connect(resource: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<ProviderTarget>;
  preview(spec: GrantSpec): PermissionPreview;
  /** Grants need `publicKeys` (the ssh provider signs each of the requester's keys). */
  needsPublicKeys?: boolean;
}
