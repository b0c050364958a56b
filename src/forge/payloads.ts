// Webhook payloads built from the fake's current state, in the shape GitHub sends them to an App.
import type { AppRegistry } from './auth.js';
import { buildOrganization, installationNodeId, type JsonObject, WEB_URL } from './builders.js';
import { ZERO_SHA } from './git-store.js';
import type { GitHubState, Push, RepoState } from './state.js';

export type PullRequestAction =
  | 'opened'
  | 'synchronize'
  | 'reopened'
  | 'ready_for_review'
  | 'converted_to_draft'
  | 'edited'
  | 'closed';

export type PullRequestReviewAction = 'submitted' | 'edited' | 'dismissed';

export interface PayloadOptions {
  /** `owner/name` */
  repo: string;
  pull: number;
  /** Login of whoever caused the event; for `synchronize`, the pusher of the last push to the head branch. */
  sender: string;
  /** pull_request_review events: the review (id or the object `fake.review` returned). */
  review?: number | JsonObject;
  /** `edited` events: what changed (default: the last edit the fake recorded). */
  changes?: JsonObject;
  /**
   * `synchronize`: head before the push (default: the `before` of the last push to the head branch). Given, the
   * push is one the fake did not record (a ref moved behind its back), and `sender` is taken as its pusher.
   */
  before?: string;
}

export interface PushPayloadOptions {
  /** `owner/name` */
  repo: string;
  /**
   * The push: an index into `fake.pushes(repo)` (negative counts from the end), or one of its items. Default:
   * the last push to `branch` when given, else the repository's last push.
   */
  push?: number | Push;
  branch?: string;
  /** Default: the pusher. */
  sender?: string;
}

/** Envelope shared by every event: repository, sender, and installation/organization when they apply. */
function envelope(
  state: GitHubState,
  apps: AppRegistry,
  { repo }: { repo: RepoState },
  sender: string,
): JsonObject {
  const installation = apps.installationFor(repo.fullName);
  return {
    repository: repo.json,
    sender: state.user(sender),
    // Actions event payloads (GITHUB_EVENT_PATH) have the same shape without `installation`.
    ...(installation
      ? { installation: { id: installation.id, node_id: installationNodeId(installation.id) } }
      : {}),
    ...(repo.owner.type === 'Organization' ? { organization: buildOrganization(repo.owner) } : {}),
  };
}

export async function pullRequestPayload(
  state: GitHubState,
  apps: AppRegistry,
  action: PullRequestAction,
  options: PayloadOptions,
): Promise<JsonObject> {
  const pull = state.mustPull(options.repo, options.pull);
  const pullRequest = await state.pullJson(pull);
  const payload: JsonObject = {
    action,
    number: pull.number,
    pull_request: pullRequest,
  };
  if (action === 'synchronize') {
    const push = state.lastPush(pull.repo, pull.head);
    const before = options.before ?? push?.before;
    if (!before) {
      throw new Error(
        `synchronize: the last push to ${pull.head} created it; commit again or pass options.before`,
      );
    }
    // GitHub's sender of a synchronize is whoever pushed: a test cannot make it claim someone else.
    if (options.before === undefined && push && push.pusher.toLowerCase() !== options.sender.toLowerCase()) {
      throw new Error(
        `synchronize: ${push.pusher} pushed ${pull.head} last, so GitHub sends them as the sender, not ${options.sender}`,
      );
    }
    payload.before = before;
    payload.after = pull.headSha;
  }
  if (action === 'edited') payload.changes = options.changes ?? pull.changes ?? {};
  return { ...payload, ...envelope(state, apps, pull, options.sender) };
}

export async function pullRequestReviewPayload(
  state: GitHubState,
  apps: AppRegistry,
  action: PullRequestReviewAction,
  options: PayloadOptions,
): Promise<JsonObject> {
  const pull = state.mustPull(options.repo, options.pull);
  if (options.review === undefined) throw new Error('pull_request_review payloads need options.review');
  const reviewId = typeof options.review === 'number' ? options.review : Number(options.review.id);
  const review = state.findReview(pull, reviewId);
  // Webhooks spell review states in lower case (`approved`), unlike the REST API (`APPROVED`).
  const webhookReview: JsonObject = {
    ...review,
    state: String(review.state).toLowerCase(),
    submitted_at: review.submitted_at ?? null,
    updated_at: review.submitted_at ?? null,
  };
  const payload: JsonObject = {
    action,
    review: webhookReview,
    pull_request: await state.pullJson(pull, false),
  };
  if (action === 'edited') payload.changes = options.changes ?? state.reviewChanges.get(reviewId) ?? {};
  return { ...payload, ...envelope(state, apps, pull, options.sender) };
}

/** Seconds since the epoch: push payloads give a repository's `created_at` and `pushed_at` as numbers. */
function epoch(time: unknown): number {
  return Math.floor(Date.parse(String(time)) / 1000);
}

/**
 * A `push` payload for a recorded push (a `fake.commit`, a merge, a ref created, moved or deleted through the
 * git data API): every commit new to the branch oldest first (at most 2048; `distinct` when no other branch had
 * it), each with the paths it added, removed and modified against its first parent.
 */
export async function pushPayload(
  state: GitHubState,
  apps: AppRegistry,
  options: PushPayloadOptions,
): Promise<JsonObject> {
  const repo = state.mustRepo(options.repo);
  let push: Push | undefined;
  if (typeof options.push === 'object') push = options.push;
  else if (typeof options.push === 'number') push = repo.pushes.at(options.push);
  else push = options.branch ? state.lastPush(repo, options.branch) : repo.pushes.at(-1);
  if (!push)
    throw new Error(`push payload: ${repo.fullName} has no such push (${repo.pushes.length} recorded)`);
  const { git } = repo;
  const { before, after } = push;
  const known = [...(before ? [before] : []), ...push.otherTips];
  const [listed, fresh] = after
    ? await Promise.all([git.revList(after, before ? [before] : push.otherTips), git.revList(after, known)])
    : [[], []];
  const distinct = new Set(fresh);
  const person = (p: { name: string; email: string }): JsonObject => {
    const account = state.userForEmail(p.email);
    return { name: p.name, email: p.email, ...(account ? { username: account.login } : {}) };
  };
  const commit = async (sha: string): Promise<JsonObject> => {
    const [info, changed] = await Promise.all([git.commitInfo(sha), git.changedPaths(sha)]);
    if (!info) throw new Error(`push payload: no commit ${sha}`);
    return {
      id: sha,
      tree_id: info.tree,
      distinct: distinct.has(sha),
      message: info.message,
      timestamp: info.committer.date,
      url: `${WEB_URL}/${repo.fullName}/commit/${sha}`,
      author: person(info.author),
      committer: person(info.committer),
      added: changed.added.slice(0, 3000),
      removed: changed.removed.slice(0, 3000),
      modified: changed.modified.slice(0, 3000),
    };
  };
  const short = (sha: string | undefined): string => (sha ?? ZERO_SHA).slice(0, 12);
  const web = `${WEB_URL}/${repo.fullName}`;
  const compare = before
    ? `${web}/compare/${short(before)}...${short(after)}`
    : `${web}/compare/${String(repo.json.default_branch)}...${push.branch}`;
  const pusher = state.identity(push.pusher);
  const owner = repo.owner;
  const payload: JsonObject = {
    ref: `refs/heads/${push.branch}`,
    before: before ?? ZERO_SHA,
    after: after ?? ZERO_SHA,
    created: before === undefined,
    deleted: after === undefined,
    forced: push.forced,
    base_ref: null,
    compare,
    commits: await Promise.all(listed.slice(-2048).map(commit)),
    head_commit: after ? await commit(after) : null,
    pusher: { name: pusher.name, email: pusher.email },
  };
  const env = envelope(state, apps, { repo }, options.sender ?? push.pusher);
  // Push payloads describe the repository with timestamps as numbers, the owner with name and email.
  env.repository = {
    ...repo.json,
    owner: { ...owner, name: owner.login, email: null },
    created_at: epoch(repo.json.created_at),
    pushed_at: epoch(repo.json.pushed_at),
    stargazers: repo.json.stargazers_count,
    master_branch: repo.json.default_branch,
    ...(owner.type === 'Organization' ? { organization: owner.login } : {}),
  };
  return { ...payload, ...env };
}
