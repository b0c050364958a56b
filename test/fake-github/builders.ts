// Builders for GitHub REST objects with every field the OpenAPI response schemas require.
export const API_URL = 'https://api.github.com';
export const WEB_URL = 'https://github.com';
export const FIXED_TIME = '2024-01-01T00:00:00Z';

export interface JsonObject {
  [key: string]: unknown;
}

export function nodeId(prefix: string, id: number): string {
  return `${prefix}_${Buffer.from(String(id)).toString('base64url')}`;
}

export function buildUser(login: string, id: number, type: 'User' | 'Bot' = 'User'): JsonObject {
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

export interface PullParts {
  id: number;
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  user: JsonObject;
  repo: JsonObject;
  headRef: string;
  headSha: string;
  baseRef: string;
  baseSha: string;
  commits: number;
  changedFiles: number;
  additions: number;
  deletions: number;
}

export function buildPull(p: PullParts): JsonObject {
  const fullName = String(p.repo.full_name);
  const api = `${API_URL}/repos/${fullName}`;
  const url = `${api}/pulls/${p.number}`;
  const html = `${WEB_URL}/${fullName}/pull/${p.number}`;
  const owner = p.repo.owner as JsonObject;
  const branch = (ref: string, sha: string): JsonObject => ({
    label: `${String(owner.login)}:${ref}`,
    ref,
    sha,
    user: owner,
    repo: p.repo,
  });
  return {
    url,
    id: p.id,
    node_id: nodeId('PR', p.id),
    html_url: html,
    diff_url: `${html}.diff`,
    patch_url: `${html}.patch`,
    issue_url: `${api}/issues/${p.number}`,
    commits_url: `${url}/commits`,
    review_comments_url: `${url}/comments`,
    review_comment_url: `${api}/pulls/comments{/number}`,
    comments_url: `${api}/issues/${p.number}/comments`,
    statuses_url: `${api}/statuses/${p.headSha}`,
    number: p.number,
    state: p.state,
    locked: false,
    title: p.title,
    user: p.user,
    body: p.body,
    labels: [],
    milestone: null,
    active_lock_reason: null,
    created_at: FIXED_TIME,
    updated_at: FIXED_TIME,
    closed_at: null,
    merged_at: null,
    merge_commit_sha: null,
    assignee: null,
    assignees: [],
    requested_reviewers: [],
    requested_teams: [],
    head: branch(p.headRef, p.headSha),
    base: branch(p.baseRef, p.baseSha),
    _links: {
      self: { href: url },
      html: { href: html },
      issue: { href: `${api}/issues/${p.number}` },
      comments: { href: `${api}/issues/${p.number}/comments` },
      review_comments: { href: `${url}/comments` },
      review_comment: { href: `${api}/pulls/comments{/number}` },
      commits: { href: `${url}/commits` },
      statuses: { href: `${api}/statuses/${p.headSha}` },
    },
    author_association: 'CONTRIBUTOR',
    auto_merge: null,
    draft: false,
    merged: false,
    mergeable: true,
    rebaseable: true,
    mergeable_state: 'clean',
    merged_by: null,
    comments: 0,
    review_comments: 0,
    maintainer_can_modify: false,
    commits: p.commits,
    additions: p.additions,
    deletions: p.deletions,
    changed_files: p.changedFiles,
  };
}

export function buildApp(id: number, owner: JsonObject): JsonObject {
  return {
    id,
    slug: 'timebox',
    node_id: nodeId('A', id),
    client_id: `Iv1.${id.toString(16).padStart(16, '0')}`,
    owner,
    name: 'Timebox',
    description: 'Temporary production access via pull requests',
    external_url: 'https://example.com/timebox',
    html_url: `${WEB_URL}/apps/timebox`,
    created_at: FIXED_TIME,
    updated_at: FIXED_TIME,
    permissions: { checks: 'write', issues: 'write', pull_requests: 'read', members: 'read' },
    events: ['pull_request', 'pull_request_review'],
  };
}
