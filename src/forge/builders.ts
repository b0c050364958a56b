// Builders for GitHub REST objects with every field the OpenAPI response schemas require: here the shared
// helpers and accounts, repositories and apps; builders/git.ts (commits, diffs, contents, refs) and
// builders/issues.ts (pull requests, issues, labels).
export const API_URL = 'https://api.github.com';
export const WEB_URL = 'https://github.com';
const FIXED_TIME = '2024-01-01T00:00:00Z';

export interface JsonObject {
  [key: string]: unknown;
}

export function nodeId(prefix: string, id: number | string): string {
  return `${prefix}_${Buffer.from(String(id)).toString('base64url')}`;
}

/** An installation's global node id, as GitHub encodes it (`023:IntegrationInstallation<id>`). */
export function installationNodeId(id: number): string {
  return Buffer.from(`023:IntegrationInstallation${id}`).toString('base64');
}

export type AccountType = 'User' | 'Bot' | 'Organization';

/** A time as GitHub writes timestamps (`2024-01-01T00:00:00Z`, no milliseconds). */
export function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Base64 as GitHub's blob and contents APIs return it (Ruby's encode64): a newline after every 60 chars. */
export function base64Lines(content: Uint8Array): string {
  const flat = Buffer.from(content).toString('base64');
  return flat.replace(/.{1,60}/g, '$&\n');
}

/** `a/b c.yaml` → `a/b%20c.yaml`: each path segment percent-encoded, slashes kept. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

export function buildUser(login: string, id: number, type: AccountType = 'User'): JsonObject {
  // Bot logins such as `timebox[bot]` are percent-encoded in URLs (`[` is not a valid URI character).
  const api = `${API_URL}/users/${encodeURIComponent(login)}`;
  const html = type === 'Bot' ? `${WEB_URL}/apps/${login.replace(/\[bot\]$/, '')}` : `${WEB_URL}/${login}`;
  return {
    login,
    id,
    node_id: nodeId('U', id),
    avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
    gravatar_id: '',
    url: api,
    html_url: html,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type,
    user_view_type: 'public',
    site_admin: false,
  };
}

/** `GET /users/{username}` and `GET /user/{account_id}`: the public profile (a public-user). */
export function buildPublicUser(user: JsonObject, createdAt: string): JsonObject {
  return {
    ...user,
    name: null,
    company: null,
    blog: '',
    location: null,
    email: null,
    hireable: null,
    bio: null,
    twitter_username: null,
    public_repos: 0,
    public_gists: 0,
    followers: 0,
    following: 0,
    created_at: createdAt,
    updated_at: createdAt,
  };
}

export function buildRepository(owner: JsonObject, name: string, id: number): JsonObject {
  const fullName = `${String(owner.login)}/${name}`;
  const api = `${API_URL}/repos/${fullName}`;
  return {
    id,
    node_id: nodeId('R', id),
    name,
    full_name: fullName,
    owner,
    private: true,
    html_url: `${WEB_URL}/${fullName}`,
    description: null,
    fork: false,
    url: api,
    archive_url: `${api}/{archive_format}{/ref}`,
    assignees_url: `${api}/assignees{/user}`,
    blobs_url: `${api}/git/blobs{/sha}`,
    branches_url: `${api}/branches{/branch}`,
    collaborators_url: `${api}/collaborators{/collaborator}`,
    comments_url: `${api}/comments{/number}`,
    commits_url: `${api}/commits{/sha}`,
    compare_url: `${api}/compare/{base}...{head}`,
    contents_url: `${api}/contents/{+path}`,
    contributors_url: `${api}/contributors`,
    deployments_url: `${api}/deployments`,
    downloads_url: `${api}/downloads`,
    events_url: `${api}/events`,
    forks_url: `${api}/forks`,
    git_commits_url: `${api}/git/commits{/sha}`,
    git_refs_url: `${api}/git/refs{/sha}`,
    git_tags_url: `${api}/git/tags{/sha}`,
    git_url: `git://github.com/${fullName}.git`,
    hooks_url: `${api}/hooks`,
    issue_comment_url: `${api}/issues/comments{/number}`,
    issue_events_url: `${api}/issues/events{/number}`,
    issues_url: `${api}/issues{/number}`,
    keys_url: `${api}/keys{/key_id}`,
    labels_url: `${api}/labels{/name}`,
    languages_url: `${api}/languages`,
    merges_url: `${api}/merges`,
    milestones_url: `${api}/milestones{/number}`,
    notifications_url: `${api}/notifications{?since,all,participating}`,
    pulls_url: `${api}/pulls{/number}`,
    releases_url: `${api}/releases{/id}`,
    ssh_url: `git@github.com:${fullName}.git`,
    stargazers_url: `${api}/stargazers`,
    statuses_url: `${api}/statuses/{sha}`,
    subscribers_url: `${api}/subscribers`,
    subscription_url: `${api}/subscription`,
    tags_url: `${api}/tags`,
    teams_url: `${api}/teams`,
    trees_url: `${api}/git/trees{/sha}`,
    clone_url: `${WEB_URL}/${fullName}.git`,
    mirror_url: null,
    svn_url: `${WEB_URL}/${fullName}`,
    homepage: null,
    language: null,
    forks_count: 0,
    forks: 0,
    stargazers_count: 0,
    watchers_count: 0,
    watchers: 0,
    size: 0,
    default_branch: 'main',
    open_issues_count: 0,
    open_issues: 0,
    is_template: false,
    topics: [],
    has_issues: true,
    has_projects: false,
    has_wiki: false,
    has_pages: false,
    has_downloads: true,
    has_discussions: false,
    archived: false,
    disabled: false,
    visibility: 'private',
    pushed_at: FIXED_TIME,
    created_at: FIXED_TIME,
    updated_at: FIXED_TIME,
    license: null,
    allow_forking: false,
    web_commit_signoff_required: false,
  };
}

export interface AppParts {
  id: number;
  slug: string;
  name: string;
  owner: JsonObject;
  permissions: Record<string, string>;
  events: string[];
}

/** The `integration` object: `GET /app`, and the `app` of check runs. */
export function buildIntegration(app: AppParts): JsonObject {
  return {
    id: app.id,
    slug: app.slug,
    node_id: nodeId('A', app.id),
    client_id: `Iv1.${app.id.toString(16).padStart(16, '0')}`,
    owner: app.owner,
    name: app.name,
    description: null,
    external_url: `https://example.com/${app.slug}`,
    html_url: `${WEB_URL}/apps/${app.slug}`,
    created_at: FIXED_TIME,
    updated_at: FIXED_TIME,
    permissions: app.permissions,
    events: app.events,
  };
}

export interface InstallationParts {
  id: number;
  appId: number;
  appSlug: string;
  account: JsonObject;
  permissions: Record<string, string>;
  events: string[];
}

export function buildInstallation(i: InstallationParts): JsonObject {
  const login = String(i.account.login);
  const html =
    i.account.type === 'Organization'
      ? `${WEB_URL}/organizations/${login}/settings/installations/${i.id}`
      : `${WEB_URL}/settings/installations/${i.id}`;
  return {
    id: i.id,
    // The list endpoint's description (GET /app/installations) inlines `account` as allOf simple-user AND
    // enterprise, so the enterprise fields must be present too for the response to validate.
    account: { name: login, slug: login, created_at: FIXED_TIME, updated_at: FIXED_TIME, ...i.account },
    repository_selection: 'selected',
    access_tokens_url: `${API_URL}/app/installations/${i.id}/access_tokens`,
    repositories_url: `${API_URL}/installation/repositories`,
    html_url: html,
    app_id: i.appId,
    app_slug: i.appSlug,
    client_id: `Iv1.${i.appId.toString(16).padStart(16, '0')}`,
    target_id: i.account.id,
    target_type: i.account.type === 'Organization' ? 'Organization' : 'User',
    permissions: i.permissions,
    events: i.events,
    created_at: FIXED_TIME,
    updated_at: FIXED_TIME,
    single_file_name: null,
    has_multiple_single_files: false,
    single_file_paths: [],
    suspended_by: null,
    suspended_at: null,
  };
}

/** `organization` of webhook payloads (organization-simple). */
export function buildOrganization(account: JsonObject): JsonObject {
  const login = String(account.login);
  const api = `${API_URL}/orgs/${login}`;
  return {
    login,
    id: account.id,
    node_id: account.node_id,
    url: api,
    repos_url: `${api}/repos`,
    events_url: `${api}/events`,
    hooks_url: `${api}/hooks`,
    issues_url: `${api}/issues`,
    members_url: `${api}/members{/member}`,
    public_members_url: `${api}/public_members{/member}`,
    avatar_url: account.avatar_url,
    description: null,
  };
}
