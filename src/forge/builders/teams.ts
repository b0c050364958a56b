// Builder for a team of an organization, as pull requests list it in `requested_teams`.
import { createHash } from 'node:crypto';
import { API_URL, type JsonObject, nodeId, WEB_URL } from '../builders.js';

/** A team object (`team` of GitHub's description); its id follows from `org/slug`, so it never changes. */
export function buildTeam(org: JsonObject, slug: string): JsonObject {
  const login = String(org.login);
  const id = Number.parseInt(
    createHash('sha1').update(`${login}/${slug}`.toLowerCase()).digest('hex').slice(0, 8),
    16,
  );
  const api = `${API_URL}/organizations/${String(org.id)}/team/${id}`;
  return {
    id,
    node_id: nodeId('T', id),
    url: api,
    html_url: `${WEB_URL}/orgs/${login}/teams/${slug}`,
    name: slug,
    slug,
    description: null,
    privacy: 'closed',
    notification_setting: 'notifications_enabled',
    permission: 'pull',
    members_url: `${api}/members{/member}`,
    repositories_url: `${api}/repos`,
    parent: null,
    type: 'organization',
    organization_id: Number(org.id),
  };
}
