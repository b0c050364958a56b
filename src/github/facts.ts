// From GitHub's REST shapes to the core's PullFacts. Pure: the App's handlers fetch the pages
// (reviews, commits, collaborator permissions, team members) and hand them here.
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

/** Everyone who authored or committed a commit of the PR (their approvals never count). */
export function pushersFrom(commits: readonly ApiCommit[]): string[] {
  const out = new Set<string>();
  for (const c of commits) {
    for (const who of [c.author, c.committer]) {
      if (who && !SYSTEM_COMMITTERS.has(who.login.toLowerCase())) out.add(who.login);
    }
  }
  return [...out];
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
    pushers: pushersFrom(input.commits),
    permissions,
    teams,
  };
}
