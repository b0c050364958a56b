// From a forge's review, commit and branch-activity shapes (GitHub's REST names) to the core's PullFacts.
// Pure: the forge reads the pages (src/engine/forge.ts) and src/engine/gather.ts hands them here.
import type { Permission, PullFacts, Review, ReviewState } from '../core/model.js';

/** The fields of `GET /repos/{owner}/{repo}/pulls/{n}/reviews` items that count. */
export interface ApiReview {
  user: { login: string; type?: string } | null;
  state: string;
  commit_id: string | null;
  submitted_at?: string | null;
}

/** The fields of `GET /repos/{owner}/{repo}/pulls/{n}/commits` items that count. */
export interface ApiCommit {
  /** The commit (a pull request's list ends at its head). */
  sha?: string;
  author: { login: string; type?: string } | null;
  committer: { login: string; type?: string } | null;
}

/** GitHub's own committer for web edits and merges: not a person who pushed. */
const SYSTEM_COMMITTERS = new Set(['web-flow', 'github']);

const STATES = new Set<ReviewState>(['APPROVED', 'CHANGES_REQUESTED', 'COMMENTED', 'DISMISSED', 'PENDING']);

export function reviewsFrom(items: readonly ApiReview[]): Review[] {
  const out: Review[] = [];
  for (const r of items) {
    // A review by a deleted account (user: null) or without a commit cannot approve anything.
    if (!r.user || !r.commit_id || !STATES.has(r.state as ReviewState)) continue;
    out.push({
      login: r.user.login,
      state: r.state as ReviewState,
      commitId: r.commit_id,
      submittedAt: r.submitted_at ?? '1970-01-01T00:00:00Z',
      ...(r.user.type === 'Bot' ? { bot: true } : {}),
    });
  }
  return out;
}

/**
 * Everyone a commit of the PR names as its author or committer. Anyone can write any identity into a commit, so
 * this never decides who pushed (see `pushersFromActivity`); it only adds people whose approval does not count:
 * excluding more people is safe, never fewer.
 */
export function pushersFrom(commits: readonly ApiCommit[]): string[] {
  const out = new Set<string>();
  for (const c of commits) {
    for (const who of [c.author, c.committer]) {
      if (who && !SYSTEM_COMMITTERS.has(who.login.toLowerCase())) out.add(who.login);
    }
  }
  return [...out];
}

/** The fields of `GET /repos/{owner}/{repo}/activity` items that count: GitHub's log of a branch's updates. */
export interface ApiActivity {
  /** `refs/heads/<branch>`. */
  ref?: string;
  /** The branch's head before the update (40 zeros: the update created the branch). */
  before: string;
  /** Its head after the update (40 zeros: the update deleted it). */
  after: string;
  timestamp: string;
  activity_type?: string;
  /** Who made the update; null when no account did (a deploy key). */
  actor: { login: string; type?: string } | null;
}

/** A push GitHub reported in a signed delivery (`synchronize`: `before`, `after`, `sender`). */
export interface KnownPush {
  before: string;
  after: string;
  actor: { login: string; type?: string } | null;
}

export interface PushersInput {
  /** The pull request's head commit. */
  head: string;
  /** `refs/heads/<branch>`: updates of other refs are ignored (whatever the log returns). */
  ref: string;
  /** The branch's activity log, as GitHub lists it (newest first). */
  activity: readonly ApiActivity[];
  /** The push of the delivery being handled: used only while the log does not show the head yet. */
  latest?: KnownPush;
  /** Updates after this time (the merge or close of the pull request) were not pushes to it. */
  until?: string | null;
  /** Timebox's own App login: its pushes (revert branches) are its own, not a hidden person's. Never github-actions[bot]. */
  ownBot?: string;
}

export interface PushersResult {
  /** Everyone whose push led to the head commit, as GitHub spells them. */
  pushers: string[];
  /** Why who pushed is not (fully) known, or null. When set, no approval counts. */
  unknown: string | null;
}

const ZERO_SHA = /^0{40}$/;
const ACTIONS_BOT = 'github-actions[bot]';

/**
 * Who pushed to a pull request, judged by GitHub's own log of its branch, never by the identities commits claim.
 * The walk starts at the head commit and follows the updates that made it, newest first and each strictly older
 * than the last (`after` is the head at that moment, `before` the one it replaced) back to the branch's creation;
 * after a creation it keeps looking for an older update that had made the same commit (a branch deleted and
 * restored). Every actor on the way pushed. Who pushed is unknown, and the walk says why, when an update on the
 * way is missing from the log (a push that cannot be attributed), or was made by no person (a deploy key) or by
 * a bot other than Timebox (another App's or a workflow's token: the person behind it is hidden).
 */
export function pushersFromActivity(input: PushersInput): PushersResult {
  const until = input.until ? Date.parse(input.until) : Number.POSITIVE_INFINITY;
  // GitHub lists newest first; a stable sort keeps its order between updates of the same second.
  const log = input.activity
    .filter((a) => a.ref === undefined || a.ref === input.ref)
    .map((a, i) => ({ a, i, t: Date.parse(a.timestamp) }))
    .filter((x) => !(x.t > until))
    .sort((x, y) => y.t - x.t || x.i - y.i)
    .map((x) => x.a);
  const { latest } = input;
  if (latest && latest.after === input.head && !log.some((a) => a.after === input.head)) {
    log.unshift({ ...latest, timestamp: '' });
  }
  const short = (sha: string) => sha.slice(0, 7);
  // Every workflow of a repository pushes as github-actions[bot]: that is nobody's own identity.
  const own = input.ownBot?.toLowerCase() === ACTIONS_BOT ? undefined : input.ownBot?.toLowerCase();
  const pushers = new Map<string, string>();
  let cur = input.head;
  let created = false;
  let from = 0;
  for (;;) {
    const at = log.findIndex((a, i) => i >= from && a.after === cur);
    if (at < 0) break;
    const update = log[at] as ApiActivity;
    from = at + 1;
    const who = update.actor;
    if (!who) {
      return {
        pushers: [...pushers.values()],
        unknown: `${short(update.after)} was pushed to ${input.ref} by no GitHub account (a deploy key?), so the person is unknown`,
      };
    }
    const login = who.login.toLowerCase();
    if ((who.type === 'Bot' || /\[bot\]$/i.test(who.login)) && login !== own) {
      return {
        pushers: [...pushers.values()],
        unknown: `${short(update.after)} was pushed to ${input.ref} by ${who.login}, a bot acting for someone Timebox cannot name`,
      };
    }
    pushers.set(login, who.login);
    created = ZERO_SHA.test(update.before);
    if (!created) cur = update.before;
  }
  if (created) return { pushers: [...pushers.values()], unknown: null };
  return {
    pushers: [...pushers.values()],
    unknown:
      cur === input.head
        ? `GitHub's activity log of ${input.ref} has no push of the head commit ${short(cur)}`
        : `GitHub's activity log of ${input.ref} does not show who pushed ${short(cur)}, which a later push replaced`,
  };
}

/** `GET /repos/{owner}/{repo}/collaborators/{login}/permission` → `permission` (admin|write|read|none; role_name may say maintain/triage). */
export function permissionFrom(body: { permission?: string; role_name?: string } | null): Permission {
  const role = body?.role_name;
  if (role === 'maintain' || role === 'triage') return role;
  const p = body?.permission;
  return p === 'admin' || p === 'write' || p === 'read' ? p : 'none';
}

export interface FactsInput {
  author: string;
  headSha: string;
  reviews: readonly ApiReview[];
  commits: readonly ApiCommit[];
  /** Who pushed (`pushersFromActivity`); commit identities are added to its pushers. */
  pushed: PushersResult;
  /** Live permission per reviewer login. */
  permissions: Readonly<Record<string, Permission>>;
  /** Members per `@org/team`; teams that do not exist are simply absent. */
  teams: Readonly<Record<string, readonly string[]>>;
}

export function pullFacts(input: FactsInput): PullFacts {
  const permissions: Record<string, Permission> = {};
  for (const [login, p] of Object.entries(input.permissions)) permissions[login.toLowerCase()] = p;
  const teams: Record<string, string[]> = {};
  for (const [team, members] of Object.entries(input.teams)) teams[team.toLowerCase()] = [...members];
  return {
    author: input.author,
    headSha: input.headSha,
    reviews: reviewsFrom(input.reviews),
    pushers: [...new Set([...input.pushed.pushers, ...pushersFrom(input.commits)])],
    ...(input.pushed.unknown ? { pushersUnknown: input.pushed.unknown } : {}),
    permissions,
    teams,
  };
}
