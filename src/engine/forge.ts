// What the engine needs from a forge (GitHub today; GitLab or a test double tomorrow), for one repository.
// The engine (src/engine) decides and orchestrates; a forge only reads and writes. Shapes follow GitHub's
// REST names where the engine already used them, so that an implementation is a translation, not a redesign.
// To add a forge: implement this interface in its own folder (src/github/forge.ts is the reference,
// test/examples/memory-forge.ts the smallest) and hand it to the engine's flows.
import type { Permission } from '../core/model.js';
import type { RepoSource } from '../repo/source.js';
import type { Annotation, CheckConclusion } from '../report/pull-request.js';
import type { ApiCommit, KnownPush, PushersResult } from './facts.js';

/** A repository on the forge: `owner/name`. */
export interface RepoRef {
  owner: string;
  repo: string;
}

export interface PullRef extends RepoRef {
  number: number;
}

export interface ForgeUser {
  login: string;
  /** The forge's account id: a login can be renamed and taken, an id cannot. */
  id?: number;
  /** `Bot` for apps and bots, `User` otherwise. */
  type?: string;
}

/** A pull (merge) request. */
export interface ForgePull {
  number: number;
  state: string;
  title: string;
  draft?: boolean;
  merged?: boolean | null;
  user: ForgeUser | null;
  /** `repo` is the repository the branch lives in (a fork's, or null when the fork is gone). */
  head: { sha: string; ref: string; repo?: { full_name: string } | null };
  base: { sha: string; ref: string };
  created_at?: string;
  merged_at?: string | null;
  closed_at?: string | null;
  merge_commit_sha?: string | null;
  /** Counts the forge reports; the lists it serves may stop short of them. */
  commits?: number;
  changed_files?: number;
  /** Whose review is requested now (GitHub drops a request once its reviewer reviews). */
  requested_reviewers?: { login: string }[];
  /** Teams (of the repository's organization) whose review is requested now. */
  requested_teams?: { slug: string }[];
}

/** Review requests on a pull request: user logins, and team slugs of the repository's organization. */
export interface ReviewRequests {
  users: string[];
  teams: string[];
}

/** A changed file of a pull request or a comparison. */
export interface ForgeFile {
  filename: string;
  status: 'added' | 'removed' | 'modified' | 'renamed' | 'copied' | 'changed' | 'unchanged';
  previous_filename?: string;
  /** The blob of the new side (none for removals). */
  sha?: string | null;
}

export interface ForgeReview {
  user: ForgeUser | null;
  state: string;
  commit_id: string | null;
  submitted_at?: string | null;
}

export interface ForgeComment {
  id: number;
  body: string;
  user: ForgeUser | null;
  created_at?: string;
}

export interface CheckRunInput {
  name: string;
  headSha: string;
  conclusion: CheckConclusion;
  title: string;
  summary: string;
  /** Machine-readable text (provenance verdict markers). */
  text?: string;
  /** Batches of at most 50 (GitHub's limit per request); the first goes with the run. */
  annotations?: Annotation[][];
  externalId?: string;
  startedAt?: string;
  completedAt: string;
}

/** A check run as read back: who wrote it counts (provenance records are trusted by their writer). */
export interface ForgeCheckRun {
  id: number;
  name: string;
  head_sha: string;
  external_id: string | null;
  app: { slug?: string; id?: number } | null;
  text: string | null;
}

export type MergeOutcome = { merged: string } | { refused: string; status: number };

/** An issue as the engine reads it (alarm issues): who opened it tells Timebox's own. */
export interface ForgeIssue {
  number: number;
  title: string;
  state: 'open' | 'closed';
  user: ForgeUser | null;
}

export interface Forge {
  readonly repo: RepoRef;

  // ---- pull requests and their facts
  pull(number: number): Promise<ForgePull>;
  /** Open pull requests (into `base`, when given). */
  openPulls(base?: string): Promise<ForgePull[]>;
  pullFiles(number: number): Promise<ForgeFile[]>;
  reviews(number: number): Promise<ForgeReview[]>;
  commits(number: number): Promise<ApiCommit[]>;
  /** Who pushed to the pull request's branch (never from what commits claim); unknown says why not. */
  pushers(pull: ForgePull, opts: { latestPush?: KnownPush; ownBot?: string }): Promise<PushersResult>;
  /** A login's live permission on the repository (`none` when not a collaborator). */
  permission(login: string): Promise<Permission>;
  /** Members of `@org/team`; null when no such team is visible. */
  teamMembers(team: string): Promise<string[] | null>;
  /** The merged pull requests associated with a commit (the engine checks which merged it). */
  pullsOfCommit(
    commit: string,
  ): Promise<{ number: number; merged_at: string | null; merge_commit_sha: string | null }[]>;
  /** Merge exactly `sha` (refused, with the status, when the head moved or the forge will not). */
  merge(number: number, sha: string, message: { title: string; body: string }): Promise<MergeOutcome>;
  closePull(number: number): Promise<void>;
  createPull(input: { title: string; head: string; base: string; body: string }): Promise<number>;
  /** Whose review is requested on the pull request now. */
  requestedReviewers(number: number): Promise<ReviewRequests>;
  /** Requests reviews (the forge notifies them); asking someone already asked changes nothing. */
  requestReviewers(number: number, add: ReviewRequests): Promise<void>;
  /** Withdraws review requests. */
  removeReviewRequests(number: number, remove: ReviewRequests): Promise<void>;

  // ---- content
  /** The tree of a commit as a RepoSource (policies, CODEOWNERS, timebox.yaml). */
  source(commit: string, label?: string): RepoSource;
  readBlob(sha: string, path: string): Promise<string>;
  /** The blob of `path` at `ref`, or null when it is not there. */
  blobAt(path: string, ref: string): Promise<string | null>;
  /** Every file of a commit's tree → its blob. */
  treeBlobs(commit: string): Promise<Map<string, string>>;
  /** What `head` changes against `base` (refs or shas). */
  compare(base: string, head: string): Promise<ForgeFile[]>;
  /** The access repo's root commit (tags and role names carry it). */
  rootCommit(ref: string): Promise<string>;
  /** A commit on `branch`'s tip that removes `path`; returns its sha. */
  removalCommit(branch: string, path: string, message: string): Promise<string>;
  /** Creates `branch` at `sha`; false when the name is taken (or a branch is in its way). */
  createBranch(branch: string, sha: string): Promise<boolean>;
  deleteBranch(branch: string): Promise<void>;

  // ---- checks
  createCheckRun(run: CheckRunInput): Promise<number>;
  /** Every run named `name` on `commit` (by the app `appId`, when given). */
  checkRuns(commit: string, name: string, appId?: number): Promise<ForgeCheckRun[]>;

  // ---- conversation
  comments(number: number): Promise<ForgeComment[]>;
  createComment(number: number, body: string): Promise<number>;
  updateComment(id: number, body: string): Promise<void>;
  openIssues(label: string): Promise<{ number: number; title: string }[]>;
  createIssue(input: { title: string; body: string; labels: string[] }): Promise<number>;
  closeIssue(number: number): Promise<void>;
  /** Issues labelled `label`, open and closed. */
  labelledIssues(label: string): Promise<ForgeIssue[]>;
  /** Who closed issue `number` (null while it is open, or when the forge does not say). */
  issueCloser(number: number): Promise<ForgeUser | null>;

  // ---- people
  /** The account a login names now, or null when none does. */
  account(login: string): Promise<{ id: number; login: string } | null>;
  /** The login of an account id now, or null when it no longer exists. */
  loginOf(id: number): Promise<string | null>;
  /** A user's public SSH keys, as published (`ssh-ed25519 AAAA…`). */
  publicKeys(login: string): Promise<string[]>;
}
