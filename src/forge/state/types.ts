// The forge double's records (repositories, pull requests, issues, pushes) and the inputs that make them.
import type { JsonObject } from '../builders.js';
import type { FileChanges, GitRepo } from '../git-store.js';

/** GitHub's committer of merges and web edits (the `web-flow` account). */
export const GITHUB_COMMITTER = { name: 'GitHub', email: 'noreply@github.com' } as const;

export type RepoPermission = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

/** A GitHub login, or a raw git identity (an e-mail GitHub may not link to any account). */
export type Author = string | { name: string; email: string };

export interface CreateRepoInput {
  files?: FileChanges;
  /** Author and committer of the initial commit (default: the owner). */
  author?: Author;
  message?: string;
  /** Type of the owning account when it does not exist yet (default Organization). */
  ownerType?: 'Organization' | 'User';
  defaultBranch?: string;
}

export interface CommitInput {
  branch: string;
  /** Branch (or sha) to start `branch` from when it does not exist yet; default: the default branch. */
  from?: string;
  files: FileChanges;
  author: Author;
  /** Default: the author. */
  committer?: Author;
  message?: string;
  date?: Date;
  /** Login recorded as the push's pusher (default: the author's login, else the committer's, else the owner). */
  pusher?: string;
}

export interface OpenPullInput {
  /** `owner/name` */
  repo: string;
  head: string;
  base?: string;
  user: string;
  title?: string;
  body?: string | null;
  draft?: boolean;
}

export type ReviewState = 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'PENDING';

export interface ReviewInput {
  repo: string;
  pull: number;
  user: string;
  state: ReviewState;
  body?: string;
  /** Default: the pull request's current head sha. */
  commitId?: string;
}

/** A ref update of a branch, as a `push` webhook reports it. */
export interface Push {
  branch: string;
  /** Undefined: the push created the branch. */
  before: string | undefined;
  /** Undefined: the push deleted the branch. */
  after: string | undefined;
  /** Login of whoever pushed (a `[bot]` login for an app). */
  pusher: string;
  /** Not a fast-forward. */
  forced: boolean;
  /** Tips of the other branches right after the push: their commits had been pushed before (not `distinct`). */
  otherTips: string[];
  /** When it happened (the forge's clock, as GitHub's activity log gives it). */
  at: string;
  /** A pull request's merge (`pr_merge` in the activity log) rather than a push. */
  merge?: boolean;
}

export type MergeMethod = 'merge' | 'squash' | 'rebase';

export interface MergeOptions {
  method?: MergeMethod;
  /** Default: `Merge pull request #n from owner/branch`; squash: the title (one commit: its subject) + ` (#n)`. */
  title?: string;
  /** Default: the pull request's title; squash: the commits' messages. Appended after a blank line, verbatim. */
  message?: string;
  /** Refuse (409) unless the head is still this commit. */
  sha?: string;
}

/** A merge GitHub refuses: `status` and `githubMessage` are what the REST API answers. */
export class MergeRefused extends Error {
  constructor(
    readonly status: 405 | 409,
    readonly githubMessage: string,
    detail: string,
  ) {
    super(detail);
  }
}

/** Why GitHub refuses to open a pull request (422 Validation Failed, one item of `errors`). */
export interface PullRefusal {
  resource: 'PullRequest';
  code: 'invalid' | 'custom';
  field?: string;
  message?: string;
}

export interface IssueState {
  number: number;
  id: number;
  user: string;
  title: string;
  body: string | null;
  /** Label names, as given (the repository's labels hold their details). */
  labels: string[];
  state: 'open' | 'closed';
  stateReason: 'completed' | 'not_planned' | 'reopened' | null;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  closedBy: string | null;
  /** The app that opened it (`performed_via_github_app`). */
  app: JsonObject | null;
}

export interface OpenIssueInput {
  /** `owner/name` */
  repo: string;
  user: string;
  title: string;
  body?: string | null;
  labels?: string[];
  app?: JsonObject | null;
}

export interface RepoState {
  fullName: string;
  json: JsonObject;
  owner: JsonObject;
  git: GitRepo;
  pulls: Map<number, PullState>;
  /** Issues proper; pull requests share their number sequence (`nextNumber`). */
  issues: Map<number, IssueState>;
  /** Lower-case name → label object. */
  labels: Map<string, JsonObject>;
  nextNumber: number;
  pushes: Push[];
}

/**
 * A review request: whose (a login, a team slug), and how many reviews the pull request had when it was made.
 * GitHub drops it once answered: by a review of that user, or for a team by one of its members.
 */
export interface ReviewRequest {
  name: string;
  after: number;
}

export interface PullState {
  repo: RepoState;
  number: number;
  id: number;
  user: string;
  head: string;
  base: string;
  title: string;
  body: string | null;
  draft: boolean;
  state: 'open' | 'closed';
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  mergedAt: string | null;
  mergeCommitSha: string | null;
  mergedBy: string | null;
  /** Last known tips: live while open, frozen once closed. */
  headSha: string;
  baseSha: string;
  reviews: JsonObject[];
  /** Review requests of users (logins) and teams (slugs of the repository's organization), as made. */
  requestedUsers: ReviewRequest[];
  requestedTeams: ReviewRequest[];
  /** `changes` of the last edit, for `pull_request.edited` payloads. */
  changes: JsonObject | undefined;
}
