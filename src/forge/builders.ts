// Builders for GitHub REST objects with every field the OpenAPI response schemas require.
export const API_URL = 'https://api.github.com';
export const WEB_URL = 'https://github.com';
export const FIXED_TIME = '2024-01-01T00:00:00Z';

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

export interface PullParts {
  id: number;
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  draft: boolean;
  user: JsonObject;
  repo: JsonObject;
  headRef: string;
  headSha: string;
  baseRef: string;
  baseSha: string;
  authorAssociation: string;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  mergedAt: string | null;
  mergeCommitSha: string | null;
  mergedBy: JsonObject | null;
  /** The counts and merge state of `GET /pulls/{n}`; absent in list items (`pull-request-simple`). */
  detail?: {
    commits: number;
    changedFiles: number;
    additions: number;
    deletions: number;
    mergeable: boolean | null;
    mergeableState: string;
    comments: number;
  };
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
  const pull: JsonObject = {
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
    created_at: p.createdAt,
    updated_at: p.updatedAt,
    closed_at: p.closedAt,
    merged_at: p.mergedAt,
    merge_commit_sha: p.mergeCommitSha,
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
    author_association: p.authorAssociation,
    auto_merge: null,
    draft: p.draft,
  };
  if (!p.detail) return pull;
  return {
    ...pull,
    merged: p.mergedAt !== null,
    mergeable: p.detail.mergeable,
    rebaseable: p.detail.mergeable,
    mergeable_state: p.detail.mergeableState,
    merged_by: p.mergedBy,
    comments: p.detail.comments,
    review_comments: 0,
    maintainer_can_modify: false,
    commits: p.detail.commits,
    additions: p.detail.additions,
    deletions: p.detail.deletions,
    changed_files: p.detail.changedFiles,
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

export interface GitPerson {
  name: string;
  email: string;
  date: string;
}

export interface CommitParts {
  sha: string;
  tree: string;
  parents: string[];
  author: GitPerson;
  committer: GitPerson;
  message: string;
  /** The forge's own (web-flow) signature, when it signed the commit. */
  signature?: { signature: string; payload: string } | undefined;
}

const UNSIGNED = { verified: false, reason: 'unsigned', signature: null, payload: null, verified_at: null };

/** `verification`: commits GitHub signed with its web-flow key are `valid`; the forge checks no other key. */
function verificationOf(c: CommitParts): JsonObject {
  if (!c.signature) return UNSIGNED;
  return {
    verified: true,
    reason: 'valid',
    signature: c.signature.signature,
    payload: c.signature.payload,
    verified_at: c.committer.date,
  };
}

/** A `commit` (pulls/list-commits items): git data plus the GitHub users linked to its e-mails. */
export function buildCommit(
  fullName: string,
  c: CommitParts,
  author: JsonObject | null,
  committer: JsonObject | null,
): JsonObject {
  const api = `${API_URL}/repos/${fullName}`;
  return {
    url: `${api}/commits/${c.sha}`,
    sha: c.sha,
    node_id: nodeId('C', c.sha),
    html_url: `${WEB_URL}/${fullName}/commit/${c.sha}`,
    comments_url: `${api}/commits/${c.sha}/comments`,
    commit: {
      url: `${api}/git/commits/${c.sha}`,
      author: c.author,
      committer: c.committer,
      message: c.message,
      comment_count: 0,
      tree: { sha: c.tree, url: `${api}/git/trees/${c.tree}` },
      verification: verificationOf(c),
    },
    author,
    committer,
    parents: c.parents.map((sha) => ({
      sha,
      url: `${api}/commits/${sha}`,
      html_url: `${WEB_URL}/${fullName}/commit/${sha}`,
    })),
  };
}

/** A `git-commit` (`GET /git/commits/{sha}`). */
export function buildGitCommit(fullName: string, c: CommitParts): JsonObject {
  const api = `${API_URL}/repos/${fullName}`;
  return {
    sha: c.sha,
    node_id: nodeId('C', c.sha),
    url: `${api}/git/commits/${c.sha}`,
    html_url: `${WEB_URL}/${fullName}/commit/${c.sha}`,
    author: c.author,
    committer: c.committer,
    tree: { sha: c.tree, url: `${api}/git/trees/${c.tree}` },
    message: c.message,
    parents: c.parents.map((sha) => ({
      sha,
      url: `${api}/git/commits/${sha}`,
      html_url: `${WEB_URL}/${fullName}/commit/${sha}`,
    })),
    verification: verificationOf(c),
  };
}

export interface DiffParts {
  status: 'added' | 'removed' | 'modified' | 'renamed' | 'copied' | 'changed';
  filename: string;
  previousFilename?: string;
  sha: string;
  additions: number;
  deletions: number;
  patch?: string;
}

/** A `diff-entry` (pulls/list-files items). URLs name the head commit, as GitHub's do. */
export function buildDiffEntry(fullName: string, headSha: string, d: DiffParts): JsonObject {
  const path = encodePath(d.filename);
  const file: JsonObject = {
    sha: d.sha,
    filename: d.filename,
    status: d.status,
    additions: d.additions,
    deletions: d.deletions,
    changes: d.additions + d.deletions,
    blob_url: `${WEB_URL}/${fullName}/blob/${headSha}/${path}`,
    raw_url: `${WEB_URL}/${fullName}/raw/${headSha}/${path}`,
    contents_url: `${API_URL}/repos/${fullName}/contents/${path}?ref=${headSha}`,
  };
  if (d.patch !== undefined) file.patch = d.patch;
  if (d.previousFilename !== undefined) file.previous_filename = d.previousFilename;
  return file;
}

export interface ContentParts {
  type: 'file' | 'dir' | 'symlink' | 'submodule';
  path: string;
  sha: string;
  size: number;
  ref: string;
}

/** An item of the contents API; files fetched directly also carry `content` and `encoding`. */
export function buildContent(fullName: string, c: ContentParts, content?: Uint8Array): JsonObject {
  const api = `${API_URL}/repos/${fullName}`;
  const path = encodePath(c.path);
  const self = `${api}/contents/${path}?ref=${encodeURIComponent(c.ref)}`;
  const git = `${api}/git/${c.type === 'dir' ? 'trees' : 'blobs'}/${c.sha}`;
  const html = `${WEB_URL}/${fullName}/${c.type === 'dir' ? 'tree' : 'blob'}/${c.ref}/${path}`;
  const item: JsonObject = {
    type: c.type,
    ...(content ? { encoding: 'base64' } : {}),
    size: c.size,
    name: c.path.split('/').pop() ?? c.path,
    path: c.path,
    ...(content ? { content: base64Lines(content) } : {}),
    sha: c.sha,
    url: self,
    git_url: git,
    html_url: html,
    download_url: c.type === 'file' ? `https://raw.githubusercontent.com/${fullName}/${c.ref}/${path}` : null,
    _links: { self, git, html },
  };
  return item;
}

export function buildLabel(
  fullName: string,
  id: number,
  name: string,
  color: string,
  description: string | null,
) {
  return {
    id,
    node_id: nodeId('LA', id),
    url: `${API_URL}/repos/${fullName}/labels/${encodeURIComponent(name)}`,
    name,
    description,
    color,
    default: false,
  };
}

export interface IssueParts {
  id: number;
  number: number;
  title: string;
  body: string | null;
  user: JsonObject;
  labels: JsonObject[];
  state: 'open' | 'closed';
  stateReason: string | null;
  comments: number;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  closedBy: JsonObject | null;
  authorAssociation: string;
  app: JsonObject | null;
  /** For a pull request seen through the issues API. */
  pull?: { mergedAt: string | null; draft: boolean };
}

/** An `issue` (issues API), also the issue side of a pull request (with `pull_request`). */
export function buildIssue(fullName: string, p: IssueParts): JsonObject {
  const api = `${API_URL}/repos/${fullName}`;
  const url = `${api}/issues/${p.number}`;
  const html = `${WEB_URL}/${fullName}/${p.pull ? 'pull' : 'issues'}/${p.number}`;
  const issue: JsonObject = {
    url,
    repository_url: api,
    labels_url: `${url}/labels{/name}`,
    comments_url: `${url}/comments`,
    events_url: `${url}/events`,
    html_url: html,
    id: p.id,
    node_id: nodeId(p.pull ? 'PR' : 'I', p.id),
    number: p.number,
    title: p.title,
    user: p.user,
    labels: p.labels,
    state: p.state,
    locked: false,
    assignee: null,
    assignees: [],
    milestone: null,
    comments: p.comments,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
    closed_at: p.closedAt,
    author_association: p.authorAssociation,
    active_lock_reason: null,
    body: p.body,
    closed_by: p.closedBy,
    timeline_url: `${url}/timeline`,
    performed_via_github_app: p.app,
    state_reason: p.stateReason,
  };
  if (p.pull) {
    issue.draft = p.pull.draft;
    issue.pull_request = {
      url: `${api}/pulls/${p.number}`,
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      merged_at: p.pull.mergedAt,
    };
  }
  return issue;
}

/** A `git-ref` (`GET /git/ref/{ref}`): `ref` is the full name, `refs/heads/main`. */
export function buildGitRef(fullName: string, ref: string, sha: string, type: string): JsonObject {
  const api = `${API_URL}/repos/${fullName}`;
  return {
    ref,
    node_id: nodeId('REF', `${fullName}:${ref}`),
    url: `${api}/git/${ref}`,
    object: { type, sha, url: `${api}/git/${type === 'tag' ? 'tags' : 'commits'}/${sha}` },
  };
}
