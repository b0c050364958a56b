// Builders for pull requests, issues and labels.
import { API_URL, type JsonObject, nodeId, WEB_URL } from '../builders.js';

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
