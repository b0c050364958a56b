// Webhook payloads built from the fake's current state, in the shape GitHub sends them to an App.
import type { AppRegistry } from './auth.js';
import { buildOrganization, installationNodeId, type JsonObject } from './builders.js';
import type { GitHubState, PullState } from './state.js';

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
  /** Login of whoever caused the event. */
  sender: string;
  /** pull_request_review events: the review (id or the object `fake.review` returned). */
  review?: number | JsonObject;
  /** `edited` events: what changed (default: the last edit the fake recorded). */
  changes?: JsonObject;
  /** `synchronize`: head before the push (default: the `before` of the last push to the head branch). */
  before?: string;
}

/** Envelope shared by every event: repository, sender, and installation/organization when they apply. */
function envelope(state: GitHubState, apps: AppRegistry, pull: PullState, sender: string): JsonObject {
  const { repo } = pull;
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
    const before = options.before ?? state.lastPush(pull.repo, pull.head)?.before;
    if (!before) {
      throw new Error(
        `synchronize: the last push to ${pull.head} created it; commit again or pass options.before`,
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
