// Approval counting (SPEC "Decisions"): which reviews count, and whether steps and CODEOWNERS are met.
import { onCallAt } from '../oncall/schedule.js';
import type {
  ApprovalReport,
  ApprovalStepSpec,
  OnCallFill,
  PullFacts,
  Review,
  Schedule,
  StepReport,
} from './model.js';

const WRITE = new Set(['admin', 'maintain', 'write']);

export const lower = (login: string) => login.toLowerCase();

export function isBot(review: Pick<Review, 'login' | 'bot'>): boolean {
  return review.bot === true || /\[bot\]$/i.test(review.login);
}

export interface CountedApprovals {
  /** Logins (as GitHub spells them) whose approval counts. */
  valid: string[];
  ignored: { login: string; reason: string }[];
}

/**
 * The latest state-changing review of each person (GitHub's rule: a COMMENTED or PENDING review neither
 * gives nor takes away approval), kept only when it approves the head commit and the person may approve.
 * `exclude` holds the people whose approval never counts for this request (the requester).
 */
const latestCache = new WeakMap<PullFacts, Map<string, Review>>();

/** The latest state-changing review per person (computed once per set of facts). */
function latestReviews(pull: PullFacts): Map<string, Review> {
  const cached = latestCache.get(pull);
  if (cached) return cached;
  const latest = new Map<string, Review>();
  const ordered = pull.reviews
    .map((r, i) => ({ r, i, t: Date.parse(r.submittedAt) }))
    .sort((a, b) => a.t - b.t || a.i - b.i);
  for (const { r } of ordered) {
    if (r.state === 'COMMENTED' || r.state === 'PENDING') continue;
    latest.set(lower(r.login), r);
  }
  latestCache.set(pull, latest);
  return latest;
}

export function countApprovals(pull: PullFacts, exclude: readonly string[]): CountedApprovals {
  const latest = latestReviews(pull);
  const excluded = new Set(exclude.map(lower));
  const pushers = new Set(pull.pushers.map(lower));
  const valid: string[] = [];
  const ignored: { login: string; reason: string }[] = [];
  for (const [key, r] of latest) {
    if (r.state !== 'APPROVED') continue;
    let reason: string | null = null;
    if (excluded.has(key)) reason = 'cannot approve their own request';
    else if (isBot(r)) reason = 'is a bot';
    else if (pushers.has(key)) reason = 'pushed to this pull request or is named in one of its commits';
    else if (pull.pushersUnknown !== undefined)
      reason = 'cannot count while who pushed to this pull request is unknown';
    else if (r.commitId !== pull.headSha)
      reason = 'approved an older commit; a new approval of the head commit is needed';
    else if (!WRITE.has(pull.permissions[key] ?? 'none')) reason = 'has no write access to the repository';
    if (reason) ignored.push({ login: r.login, reason });
    else valid.push(r.login);
  }
  return { valid, ignored };
}

/** Expand logins, `@org/team` and `*` into a membership test and the known members. */
export function principalSet(from: readonly string[], teams: PullFacts['teams']) {
  const logins = new Set<string>();
  let anyone = false;
  for (const p of from) {
    if (p === '*') anyone = true;
    else if (p.startsWith('@') && p.includes('/'))
      for (const m of teams[lower(p)] ?? []) logins.add(lower(m));
    else logins.add(lower(p.replace(/^@/, '')));
  }
  return {
    has: (login: string) => anyone || logins.has(lower(login)),
    members: [...logins],
  };
}

/**
 * Assign valid approvers to steps so that each person fills at most one step (bipartite matching with
 * `count` slots per step). Returns the approvers assigned to each step in a maximum assignment.
 */
function assignSteps(
  steps: readonly ApprovalStepSpec[],
  approvers: readonly string[],
  teams: PullFacts['teams'],
): string[][] {
  const sets = steps.map((s) => principalSet(s.from, teams));
  const slots: number[] = [];
  steps.forEach((s, i) => {
    for (let k = 0; k < s.count; k++) slots.push(i);
  });
  const slotOwner: (number | null)[] = slots.map(() => null);
  const eligible = approvers.map((a) => slots.flatMap((step, slot) => (sets[step]?.has(a) ? [slot] : [])));
  const tryAssign = (person: number, seen: Set<number>): boolean => {
    for (const slot of eligible[person] ?? []) {
      if (seen.has(slot)) continue;
      seen.add(slot);
      const owner = slotOwner[slot];
      if (owner === null || owner === undefined || tryAssign(owner, seen)) {
        slotOwner[slot] = person;
        return true;
      }
    }
    return false;
  };
  for (let person = 0; person < approvers.length; person++) tryAssign(person, new Set());
  const result: string[][] = steps.map(() => []);
  slotOwner.forEach((person, slot) => {
    if (person !== null && person !== undefined)
      result[slots[slot] as number]?.push(approvers[person] as string);
  });
  return result;
}

/**
 * `filled[i]`: step i is met without a human (its `on_call` schedule has the requester on call). Such a step
 * takes nobody's approval, so every approver stays free for the other steps.
 */
export function approvalReport(
  steps: readonly ApprovalStepSpec[],
  owners: readonly string[],
  counted: CountedApprovals,
  teams: PullFacts['teams'],
  exclude: readonly string[],
  filled: readonly (OnCallFill | undefined)[] = [],
): ApprovalReport {
  const open = steps.map((s, i) => (filled[i] ? { ...s, count: 0 } : s));
  const assigned = assignSteps(open, counted.valid, teams);
  const excluded = new Set(exclude.map(lower));
  const stepReports: StepReport[] = steps.map((s, i) => {
    const fill = filled[i];
    return {
      from: [...s.from],
      count: s.count,
      approvers: assigned[i] ?? [],
      candidates: principalSet(s.from, teams).members.filter((m) => !excluded.has(m)),
      ...(s.onCall === undefined ? {} : { on_call: s.onCall }),
      ...(fill ? { filled: fill } : {}),
    };
  });
  const stepsOk = stepReports.every((s) => s.filled !== undefined || s.approvers.length >= s.count);
  const ownerSet = principalSet(
    owners.filter((o) => o.startsWith('@')),
    teams,
  );
  const ownersOk = owners.length === 0 || counted.valid.some((a) => ownerSet.has(a));
  return {
    satisfied: stepsOk && ownersOk,
    steps: stepReports,
    codeowners: { owners: [...owners], satisfied: ownersOk },
    ignored: counted.ignored,
  };
}

/**
 * Which steps the requester's being on call fills at `at`: a step whose `on_call` schedule has the requester
 * on call then (the person GitHub knows them as, compared case-insensitively). A schedule missing from
 * `schedules` fills nothing: policy loading already refused the step, and the decision fails closed.
 */
export function onCallFills(
  steps: readonly ApprovalStepSpec[],
  schedules: ReadonlyMap<string, Schedule> | undefined,
  requester: string,
  at: Date,
): (OnCallFill | undefined)[] {
  return steps.map((step) => {
    const schedule = step.onCall === undefined ? undefined : schedules?.get(step.onCall);
    if (!schedule || step.onCall === undefined) return undefined;
    const now = onCallAt(schedule, at);
    if (!now || lower(now.login) !== lower(requester)) return undefined;
    return {
      reason: 'on_call',
      schedule: step.onCall,
      login: now.login,
      layer: now.layer,
      from: stamp(now.shift.start),
      to: stamp(now.shift.end),
    };
  });
}

/** Whole seconds, as decisions show times. */
const stamp = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
