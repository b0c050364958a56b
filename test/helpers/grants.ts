// What a provider test grants: one request of alice's, named after the test run so that runs sharing a
// server never touch each other's users and roles.
import type { GrantSpec } from '../../src/providers/types.js';

/**
 * Alice's `role` on `resourceId` (reached through `connection`), from now for an hour, in the access repo
 * `owner-<run>`; the request file is `requests/alice/<name>.yaml` (`name` defaults to the run) and the grant
 * `<file>@<commit>`.
 */
export function grantSpec(
  run: string,
  o: {
    resourceId: string;
    connection: string;
    role: string;
    roleSettings: Record<string, unknown>;
    name?: string;
    commit?: string;
  },
): GrantSpec {
  const file = `requests/alice/${o.name ?? run}.yaml`;
  return {
    accessRepoId: `owner-${run}`,
    file,
    grantId: `${file}@${o.commit ?? 'abc'}`,
    requester: 'alice',
    resourceId: o.resourceId,
    resource: { connection: o.connection },
    role: o.role,
    roleSettings: o.roleSettings,
    startsAt: new Date(),
    expiresAt: new Date(Date.now() + 3_600_000),
  };
}
