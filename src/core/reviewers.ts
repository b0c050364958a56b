// Review requests (SPEC "Notifications and on-call"): a pending request PR asks for reviews from exactly the
// people and teams who can fill its next unmet step (and from the file's code owners while their approval is
// missing), so that GitHub notifies them. Pure: decisions and pull facts in, wanted requests out; the engine
// (src/engine/reviewers.ts) compares them with the requests on the pull request and asks the forge for the
// difference. docs/decisions.md, "Review requests", explains the choices.
import { countApprovals, isBot, lower } from './approvals.js';
import type { Decision, PullFacts, StepReport } from './model.js';

const WRITE = new Set(['admin', 'maintain', 'write']);

/** Review requests: user logins, and team slugs of the repository's organization. */
export interface ReviewerSet {
  users: string[];
  teams: string[];
}

export interface WantedReviewers extends ReviewerSet {
  /**
   * The requests Timebox answers for on this pull request: the people and teams its policies and code owners
   * name (anyone else's request, made by a person, is left alone), less those who already reviewed the head
   * commit (GitHub dropped their request when they did; whether to ask them again is theirs to say).
   */
  managed: ReviewerSet;
  /**
   * Each asked team's members who could count (the author aside): who to ask one by one if the forge refuses
   * the team (GitHub does for a team without access to the repository).
   */
  teamFallback: Record<string, string[]>;
}

export interface ReviewerInput {
  decisions: readonly Decision[];
  /** The facts the decisions were made on; `permissions` must hold each login `reviewersToRead` names. */
  pull: PullFacts;
  /** The repository's owner: only its teams can be asked (`team_reviewers` are slugs of that organization). */
  org: string;
  /**
   * After a break-glass merge: ask who can fill the next unmet step of each break-glass decision's
   * `ratification` instead (the keeper's ratification pass on the merged pull request). Default: pending
   * decisions before the merge.
   */
  ratify?: boolean;
}

const isTeam = (p: string) => p.startsWith('@') && p.includes('/');
/** `@acme/qa-leads` → `{ org: 'acme', slug: 'qa-leads' }`. */
const teamParts = (p: string) => {
  const [org = '', slug = ''] = p.slice(1).split('/');
  return { org: lower(org), slug: lower(slug) };
};

/** The first step, in policy order, that is neither filled by on-call nor has its approvals. */
export function nextUnmetStep(steps: readonly StepReport[]): StepReport | undefined {
  return steps.find((s) => s.filled === undefined && s.approvers.length < s.count);
}

/**
 * Who could move a pending decision forward now: the principals (`login`, `@org/team`, `*`) of its next unmet
 * step, and its file's code owners while no code owner has approved. Nothing for any other decision: an
 * approved one (break-glass included: its ratification follows the merge) needs nobody before the merge.
 * With `ratify`: the same of an approved break-glass decision's `ratification`, and nothing for the others.
 */
export function askablePrincipals(decision: Decision, ratify = false): string[] {
  const glass = decision.status === 'approved' ? decision.break_glass : undefined;
  const a = ratify ? glass?.ratification : decision.approvals;
  if (!a || (!ratify && (decision.status !== 'pending' || decision.break_glass))) return [];
  const out = [...(nextUnmetStep(a.steps)?.from ?? [])];
  if (!a.codeowners.satisfied) out.push(...a.codeowners.owners.filter((o) => o.startsWith('@')));
  return out;
}

/** Every principal a decision's rule and code owners name: what Timebox may have asked for it. */
function namedPrincipals(decision: Decision): string[] {
  const reports = [decision.approvals, decision.break_glass?.ratification];
  return reports.flatMap((a) =>
    a ? [...a.steps.flatMap((s) => s.from), ...a.codeowners.owners.filter((o) => o.startsWith('@'))] : [],
  );
}

function members(principal: string, teams: PullFacts['teams']): string[] {
  if (principal === '*') return [];
  if (isTeam(principal)) return teams[lower(principal)] ?? [];
  return [principal.replace(/^@/, '')];
}

/** Whether review requests are wanted at all: every decision approved or pending, at least one pending. */
function asking(input: ReviewerInput): boolean {
  const { decisions, pull } = input;
  if (pull.pushersUnknown !== undefined) return false;
  if (decisions.some((d) => d.status === 'denied' || d.status === 'invalid')) return false;
  return decisions.some((d) => askablePrincipals(d, input.ratify).length > 0);
}

/**
 * The logins whose live permission decides whether they may be asked (people and members of the principals
 * `askablePrincipals` gives) and which `input.pull.permissions` does not hold yet. Empty when nobody is asked.
 */
export function reviewersToRead(input: ReviewerInput): string[] {
  if (!asking(input)) return [];
  const known = new Set(Object.keys(input.pull.permissions).map(lower));
  const out = new Map<string, string>();
  for (const d of input.decisions)
    for (const p of askablePrincipals(d, input.ratify))
      for (const m of members(p, input.pull.teams))
        if (!known.has(lower(m)) && !isBot({ login: m })) out.set(lower(m), m);
  return [...out.values()].sort();
}

/** Logins (lower-case) whose latest review of the head commit is not PENDING or DISMISSED. */
function reviewedHead(pull: PullFacts): Set<string> {
  const out = new Set<string>();
  for (const r of pull.reviews)
    if (r.commitId === pull.headSha && r.state !== 'PENDING' && r.state !== 'DISMISSED')
      out.add(lower(r.login));
  return out;
}

/**
 * The review requests a pull request should carry now. A login is asked only when its approval would count
 * (not the requester or the pull request's author, no bot, nobody who pushed, write access) and is still
 * missing (it has not approved, nor reviewed the head commit). A team of the repository's organization is asked
 * as a team only when everyone in it but the author could be asked; otherwise its members who could are asked
 * one by one, and nobody who could not is ever asked.
 */
export function wantedReviewers(input: ReviewerInput): WantedReviewers {
  const { pull, decisions } = input;
  const org = lower(input.org);
  const reviewed = reviewedHead(pull);
  const users = new Map<string, string>();
  const teams = new Set<string>();
  const teamMembers = new Set<string>();
  const teamFallback: Record<string, string[]> = {};
  if (asking(input)) {
    const author = lower(pull.author ?? '');
    const pushers = new Set(pull.pushers.map(lower));
    for (const d of decisions) {
      const requester = d.request?.requester ?? pull.author ?? '';
      const approved = new Set(countApprovals(pull, [requester]).valid.map(lower));
      const askable = (login: string) => {
        const key = lower(login);
        return (
          key !== lower(requester) &&
          key !== author &&
          !isBot({ login }) &&
          !pushers.has(key) &&
          WRITE.has(pull.permissions[key] ?? pull.permissions[login] ?? 'none') &&
          !approved.has(key) &&
          !reviewed.has(key)
        );
      };
      for (const p of askablePrincipals(d, input.ratify)) {
        const people = members(p, pull.teams);
        const team = isTeam(p) ? teamParts(p) : undefined;
        const whole =
          team !== undefined &&
          team.org === org &&
          people.length > 0 &&
          people.every((m) => lower(m) === author || askable(m));
        if (whole) {
          teams.add(team.slug);
          for (const m of people) teamMembers.add(lower(m));
          teamFallback[team.slug] = people.filter((m) => lower(m) !== author).sort();
        } else for (const m of people) if (askable(m)) users.set(lower(m), m);
      }
    }
  }
  const managedUsers = new Map<string, string>();
  const managedTeams = new Set<string>();
  for (const d of decisions)
    for (const p of namedPrincipals(d)) {
      const team = isTeam(p) ? teamParts(p) : undefined;
      if (team && team.org === org) managedTeams.add(team.slug);
      for (const m of members(p, pull.teams)) if (!reviewed.has(lower(m))) managedUsers.set(lower(m), m);
    }
  for (const [key, login] of users) if (!managedUsers.has(key)) managedUsers.set(key, login);
  return {
    users: [...users]
      .filter(([key]) => !teamMembers.has(key))
      .map(([, login]) => login)
      .sort(),
    teams: [...teams].sort(),
    managed: { users: [...managedUsers.values()].sort(), teams: [...managedTeams].sort() },
    teamFallback,
  };
}

/**
 * What to ask and what to withdraw so that `current` becomes what is wanted: ask whoever is wanted and not
 * asked yet; withdraw a managed request that is not wanted (a member of a wanted team counts as wanted). Applying the result and computing again gives
 * nothing to do, so a redelivered event changes nothing.
 */
export function reviewRequestChanges(
  wanted: WantedReviewers,
  current: ReviewerSet,
): { add: ReviewerSet; remove: ReviewerSet } {
  const missing = (want: string[], have: string[]) => {
    const set = new Set(have.map(lower));
    return want.filter((x) => !set.has(lower(x)));
  };
  const unwanted = (have: string[], want: string[], managed: string[]) => {
    const keep = new Set(want.map(lower));
    const ours = new Set(managed.map(lower));
    return have.filter((x) => ours.has(lower(x)) && !keep.has(lower(x)));
  };
  return {
    add: { users: missing(wanted.users, current.users), teams: missing(wanted.teams, current.teams) },
    remove: {
      // A member of a wanted team asked on their own (the team was refused) is wanted too.
      users: unwanted(
        current.users,
        [...wanted.users, ...Object.values(wanted.teamFallback).flat()],
        wanted.managed.users,
      ),
      teams: unwanted(current.teams, wanted.teams, wanted.managed.teams),
    },
  };
}
