// Review requests on a decided pull request (SPEC "Notifications and on-call"): what src/core/reviewers.ts
// wants, compared with what the pull request carries, and only the difference asked of the forge. A redelivered
// event finds nothing to change.
import type { Decision, Permission, PullFacts } from '../core/model.js';
import {
  type ReviewerSet,
  reviewersToRead,
  reviewRequestChanges,
  wantedReviewers,
} from '../core/reviewers.js';
import type { Forge, ForgePull } from './forge.js';

export interface ReviewRequestResult {
  /** What the pull request should carry now (users and team slugs). */
  wanted: ReviewerSet;
  added: ReviewerSet;
  removed: ReviewerSet;
}

const none = (s: ReviewerSet) => s.users.length === 0 && s.teams.length === 0;

/** The requests on the pull request: from the pull request as read, or asked when the forge gave none there. */
async function currentRequests(forge: Forge, pull: ForgePull): Promise<ReviewerSet> {
  if (pull.requested_reviewers && pull.requested_teams) {
    return {
      users: pull.requested_reviewers.map((u) => u.login),
      teams: pull.requested_teams.map((t) => t.slug),
    };
  }
  return forge.requestedReviewers(pull.number);
}

/**
 * Brings the pull request's review requests to what its decisions want: reads the live permission of whoever
 * might be asked, withdraws the requests Timebox answers for that are no longer wanted, asks the missing ones.
 * A forge refusing a batch (GitHub's 422 for someone without access) is retried one by one; what still fails is
 * told to `warn`, never thrown: review requests are a courtesy, the check run is the decision.
 */
export async function syncReviewRequests(
  forge: Forge,
  pull: ForgePull,
  decisions: readonly Decision[],
  facts: PullFacts,
  warn: (message: string) => void = () => undefined,
  /** The keeper's pass over a merged break-glass pull request: ask who must ratify it (core/reviewers.ts). */
  options: { ratify?: boolean } = {},
): Promise<ReviewRequestResult> {
  const input = {
    decisions,
    pull: facts,
    org: forge.repo.owner,
    ...(options.ratify ? { ratify: true } : {}),
  };
  const permissions: Record<string, Permission> = { ...facts.permissions };
  await Promise.all(
    reviewersToRead(input).map(async (login) => {
      try {
        permissions[login.toLowerCase()] = await forge.permission(login);
      } catch (err) {
        permissions[login.toLowerCase()] = 'none';
        warn(`review requests: could not read ${login}'s permission (${(err as Error).message})`);
      }
    }),
  );
  const wanted = wantedReviewers({ ...input, pull: { ...facts, permissions } });
  const current = await currentRequests(forge, pull);
  const { add, remove } = reviewRequestChanges(wanted, current);
  const removed = none(remove)
    ? remove
    : await apply(remove, (s) => forge.removeReviewRequests(pull.number, s), 'withdraw', warn);
  const added = none(add)
    ? add
    : await apply(add, (s) => forge.requestReviewers(pull.number, s), 'ask', warn);
  // A team the forge refused (no access to the repository): its members who could count, one by one.
  const asked = new Set([...current.users, ...added.users].map((u) => u.toLowerCase()));
  const instead = add.teams
    .filter((t) => !added.teams.includes(t))
    .flatMap((t) => wanted.teamFallback[t] ?? [])
    .filter((u) => !asked.has(u.toLowerCase()));
  if (instead.length > 0) {
    const more = await apply(
      { users: [...new Set(instead)], teams: [] },
      (s) => forge.requestReviewers(pull.number, s),
      'ask',
      warn,
    );
    added.users.push(...more.users);
  }
  return { wanted: { users: wanted.users, teams: wanted.teams }, added, removed };
}

/** `call` with the whole set; if refused, with each login and team alone. Returns what went through. */
async function apply(
  set: ReviewerSet,
  call: (s: ReviewerSet) => Promise<void>,
  verb: string,
  warn: (message: string) => void,
): Promise<ReviewerSet> {
  try {
    await call(set);
    return set;
  } catch {
    const done: ReviewerSet = { users: [], teams: [] };
    const one = async (s: ReviewerSet, name: string, into: string[]) => {
      try {
        await call(s);
        into.push(name);
      } catch (err) {
        warn(`review requests: could not ${verb} ${name} (${(err as Error).message})`);
      }
    };
    for (const u of set.users) await one({ users: [u], teams: [] }, u, done.users);
    for (const t of set.teams) await one({ users: [], teams: [t] }, t, done.teams);
    return done;
  }
}
