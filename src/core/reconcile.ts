// Reconciliation: desired access (what the ledger says is active) against actual access (what the
// providers list). The plan is the difference; applying it is the only way Timebox changes a target.
import { type Grant, isActiveAt } from './ledger.js';
import type { Policies } from './model.js';

/** What a provider lists (providers call it ManagedAccess); defined here so the core imports no provider. */
export interface ActualAccess {
  /**
   * The access repo that made it (its root commit; `owner` in the tags on the wire); null for objects tagged
   * by an older version.
   */
  accessRepoId: string | null;
  provider: string;
  resourceId: string;
  /** The request path the object is tagged with. */
  file: string;
  grantId: string;
  /** Who it was granted to, from its tag (null: an old or damaged tag). */
  requester: string | null;
  /** The policy role it was granted as, from its tag (null: a tag written before roles were recorded). */
  role: string | null;
  /** The target's own name for it (postgres role name, redis user, certificate serial, …). */
  principal: string;
  expiresAt: string | null;
  /**
   * A principal named as Timebox names its grants whose tag is gone (a grantee erased it, or it was never
   * written): nothing in git can explain it, so it is always revoked, whichever access repo made it.
   */
  untagged?: boolean;
}

export interface GrantAction {
  action: 'grant';
  file: string;
  grantId: string;
  provider: string;
  resourceId: string;
  requester: string;
  role: string;
  starts_at: string;
  expires_at: string;
  /** Set when this replaces what an earlier version of the same file granted. */
  replaces?: string;
}

export interface RevokeAction {
  action: 'revoke';
  file: string;
  grantId: string;
  provider: string;
  resourceId: string;
  principal: string;
  reason: 'expired' | 'removed' | 'replaced' | 'not in git' | 'untagged';
}

export interface PlanProblem {
  file: string;
  message: string;
}

export interface Plan {
  at: string;
  grant: GrantAction[];
  revoke: RevokeAction[];
  /** Grants git wants that cannot be provisioned (unknown resource, role gone from the policy). */
  problems: PlanProblem[];
  unchanged: number;
  /** Access on the same targets made by other access repos (or older untagged versions): left alone. */
  foreign: number;
}

/**
 * Whether existing access is the access a grant wants: the same file, requester, resource and role (the
 * target follows from the resource). Only then is it kept or updated in place (an extension); a request
 * re-assigned to someone else, moved to another resource or given another role replaces it: the old
 * principal is revoked and the new one granted. A tag without a role (written before roles were recorded)
 * matches on the rest.
 */
export function sameIdentity(want: Grant, a: ActualAccess): boolean {
  return (
    want.file === a.file &&
    want.resource === a.resourceId &&
    a.requester !== null &&
    want.requester.toLowerCase() === a.requester.toLowerCase() &&
    (a.role === null || want.role === a.role)
  );
}

export interface PlanOptions {
  /**
   * Grants to make again although their access exists (a principal whose credentials were never delivered
   * must be re-created): each active one still provisionable is planned as a grant replacing itself.
   */
  regrant?: ReadonlySet<string>;
}

/**
 * `accessRepoId` identifies this access repo (its root commit): access tagged by another access repo shares
 * the target but is none of this repo's business, so it is neither revoked nor counted.
 */
export function planReconcile(
  grants: readonly Grant[],
  actualOnTargets: readonly ActualAccess[],
  policies: Policies,
  at: Date,
  accessRepoId: string,
  options: PlanOptions = {},
): Plan {
  // Untagged Timebox-named principals are everyone's business: no tag, no access repo, no grant explains them.
  const actual = actualOnTargets.filter((a) => a.accessRepoId === accessRepoId || a.untagged);
  const t = at.getTime();
  const desired = new Map<string, Grant>();
  const problems: PlanProblem[] = [];
  for (const g of grants) {
    if (!isActiveAt(g, at)) continue;
    const resource = policies.resources.get(g.resource);
    if (!resource) {
      problems.push({
        file: g.file,
        message: `resource \`${g.resource}\` is not in the policies any more; nothing granted`,
      });
      continue;
    }
    if (!Object.hasOwn(resource.roles, g.role)) {
      problems.push({
        file: g.file,
        message: `resource \`${g.resource}\` has no role \`${g.role}\` any more; nothing granted`,
      });
      continue;
    }
    desired.set(g.file, g);
  }
  const latestByFile = new Map<string, Grant>();
  for (const g of grants) latestByFile.set(g.file, g);

  const plan: Plan = {
    at: at.toISOString(),
    grant: [],
    revoke: [],
    problems,
    unchanged: 0,
    foreign: actualOnTargets.length - actual.length,
  };
  const present = new Set<string>();
  const updates = new Map<string, string>();
  for (const a of actual) {
    const want = a.untagged ? undefined : desired.get(a.file);
    if (want && sameIdentity(want, a)) {
      if (want.id === a.grantId) plan.unchanged++;
      // An edited request (an extension) updates the access in place: no gap, sessions stay.
      else updates.set(a.file, a.grantId);
      present.add(a.file);
      continue;
    }
    const last = latestByFile.get(a.file);
    const reason: RevokeAction['reason'] = a.untagged
      ? 'untagged'
      : want
        ? 'replaced'
        : !last
          ? 'not in git'
          : last.state === 'revoked' && Date.parse(last.ends_at) <= t
            ? 'removed'
            : 'expired';
    plan.revoke.push({
      action: 'revoke',
      file: a.file,
      grantId: a.grantId,
      provider: a.provider,
      resourceId: a.resourceId,
      principal: a.principal,
      reason,
    });
  }
  for (const [file, g] of desired) {
    const replaces = updates.get(file);
    if (present.has(file) && !replaces) continue;
    const resource = policies.resources.get(g.resource);
    plan.grant.push({
      action: 'grant',
      file,
      grantId: g.id,
      provider: resource?.provider ?? 'unknown',
      resourceId: g.resource,
      requester: g.requester,
      role: g.role,
      starts_at: g.starts_at,
      expires_at: g.ends_at,
      ...(replaces ? { replaces } : {}),
    });
  }
  const byFile = (a: { file: string }, b: { file: string }) =>
    a.file < b.file ? -1 : a.file > b.file ? 1 : 0;
  plan.grant.sort(byFile);
  plan.revoke.sort(byFile);
  if (options.regrant?.size) regrants(plan, grants, policies, at, options.regrant);
  return plan;
}

/** Adds the grants to make again (`PlanOptions.regrant`) that the plan does not grant already. */
function regrants(
  plan: Plan,
  grants: readonly Grant[],
  policies: Policies,
  at: Date,
  regrant: ReadonlySet<string>,
): void {
  const planned = new Set(plan.grant.map((g) => g.grantId));
  for (const g of grants) {
    if (!regrant.has(g.id) || planned.has(g.id) || !isActiveAt(g, at)) continue;
    const resource = policies.resources.get(g.resource);
    if (!resource || !Object.hasOwn(resource.roles, g.role)) continue;
    plan.grant.push({
      action: 'grant',
      file: g.file,
      grantId: g.id,
      provider: resource.provider,
      resourceId: g.resource,
      requester: g.requester,
      role: g.role,
      starts_at: g.starts_at,
      expires_at: g.ends_at,
      replaces: g.id,
    });
    // It was counted as unchanged: its access is there, with this very grant id.
    plan.unchanged = Math.max(0, plan.unchanged - 1);
  }
}
