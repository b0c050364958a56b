// The permission preview of each request that could be granted: exactly what its provider would do.
import type { Decision, Policies } from '../core/model.js';
import { providerDefinitions } from '../providers/registry.js';
import type { PermissionPreview } from '../providers/types.js';

/**
 * Previews for approved and pending requests, by file; `accessRepoId` labels the tags (the repo's root
 * commit). From the providers' registry entries: no database driver is loaded.
 */
export function previewsOf(
  decisions: readonly Decision[],
  policies: Policies,
  accessRepoId: string,
  commit: string,
): Map<string, PermissionPreview> {
  const out = new Map<string, PermissionPreview>();
  for (const d of decisions) {
    const r = d.request;
    if (!r || !d.window || d.change === 'removed') continue;
    if (d.status !== 'approved' && d.status !== 'pending') continue;
    const resource = policies.resources.get(r.resource);
    const provider = resource && providerDefinitions.get(resource.provider);
    if (!resource || !provider) continue;
    out.set(
      d.file,
      provider.preview({
        accessRepoId,
        file: d.file,
        grantId: `${d.file}@${commit}`,
        requester: r.requester,
        resourceId: r.resource,
        resource: resource.settings,
        role: r.role,
        roleSettings: resource.roles[r.role] ?? {},
        startsAt: new Date(d.window.starts_at),
        expiresAt: new Date(d.window.expires_at),
      }),
    );
  }
  return out;
}
