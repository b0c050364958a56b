// Who a pending request PR asks for a review (src/core/reviewers.ts): exactly the people and teams who can fill
// its next unmet step, never the requester, a pusher, a bot or anyone without write access; a filled step's
// people are dropped; a redelivery finds nothing to change.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { approvalReport, countApprovals } from '../../src/core/approvals.js';
import type {
  ApprovalStepSpec,
  Decision,
  OnCallFill,
  Permission,
  PullFacts,
  Review,
} from '../../src/core/model.js';
import {
  nextUnmetStep,
  type ReviewerSet,
  reviewersToRead,
  reviewRequestChanges,
  wantedReviewers,
} from '../../src/core/reviewers.js';

const HEAD = 'h'.repeat(40);
const REQUESTER = 'ann';
const WRITE = new Set(['admin', 'maintain', 'write']);
const FILL: OnCallFill = {
  reason: 'on_call',
  schedule: 'schedules/primary.yaml',
  login: REQUESTER,
  layer: 'weekly',
  from: '2026-01-05T09:00:00Z',
  to: '2026-01-12T09:00:00Z',
};

interface Case {
  steps: ApprovalStepSpec[];
  owners: string[];
  filled: (OnCallFill | undefined)[];
  pull: PullFacts;
  emergency?: boolean;
}

/** A decision as decide.ts makes it for one request by ann: approved when its approvals are met, else pending. */
function decisionOf(c: Case): Decision {
  const report = approvalReport(
    c.steps,
    c.owners,
    countApprovals(c.pull, [REQUESTER]),
    c.pull.teams,
    [REQUESTER],
    c.filled,
  );
  return {
    file: 'requests/ann.yaml',
    status: report.satisfied ? 'approved' : 'pending',
    change: 'added',
    request: { requester: REQUESTER, resource: 'orders-db', role: 'read-only', duration: '1h', reason: 'r' },
    rule: 'qa-read',
    errors: [],
    reasons: [],
    approvals: report,
    window: null,
  };
}

function facts(partial: Partial<PullFacts>): PullFacts {
  return {
    author: REQUESTER,
    headSha: HEAD,
    reviews: [],
    pushers: [REQUESTER],
    permissions: {},
    teams: {},
    ...partial,
  };
}

const review = (login: string, state: Review['state'] = 'APPROVED', commitId = HEAD): Review => ({
  login,
  state,
  commitId,
  submittedAt: '2026-01-07T10:00:00Z',
});

describe('wantedReviewers, by example', () => {
  const teams = { '@acme/qa-leads': ['carol', 'erin'], '@acme/dba': ['dave'] };
  const permissions: Record<string, Permission> = { carol: 'write', erin: 'write', dave: 'admin' };
  const steps: ApprovalStepSpec[] = [
    { from: ['@acme/qa-leads'], count: 1 },
    { from: ['@acme/dba'], count: 1 },
  ];
  const pending = (pull: PullFacts, filled: (OnCallFill | undefined)[] = []) =>
    wantedReviewers({ decisions: [decisionOf({ steps, owners: [], filled, pull })], pull, org: 'acme' });

  it('asks a mixed team’s countable members one by one, never the team, the requester, a reader or a bot', () => {
    // The App test's team: the requester, a lead with write access, one with read access only, a bot.
    const pull = facts({
      author: 'alice',
      teams: { ...teams, '@acme/qa-leads': ['carol', 'alice', 'mallory', 'ci-helper[bot]'] },
      permissions: { ...permissions, alice: 'write', mallory: 'read', 'ci-helper[bot]': 'write' },
      pushers: ['alice'],
    });
    const d = decisionOf({ steps, owners: [], filled: [], pull });
    const w = wantedReviewers({
      decisions: [
        { ...d, request: { ...(d.request as NonNullable<Decision['request']>), requester: 'alice' } },
      ],
      pull,
      org: 'acme',
    });
    expect(w).toMatchObject({ users: ['carol'], teams: [] });
  });

  it('asks a team as a team when everyone in it but the author could count', () => {
    const pull = facts({ teams, permissions });
    expect(pending(pull)).toMatchObject({ users: [], teams: ['qa-leads'] });
    // …and not a team of another organization: its members are asked one by one.
    const other = facts({ teams: { '@other/leads': ['dave'] }, permissions });
    const d = decisionOf({
      steps: [{ from: ['@other/leads'], count: 1 }],
      owners: [],
      filled: [],
      pull: other,
    });
    expect(wantedReviewers({ decisions: [d], pull: other, org: 'acme' })).toMatchObject({
      users: ['dave'],
      teams: [],
    });
  });

  it('a pusher in the team: the team is not asked, and neither is the pusher', () => {
    const pull = facts({
      teams: { ...teams, '@acme/qa-leads': ['carol', 'erin'] },
      permissions: { ...permissions, erin: 'write' },
      pushers: ['ann', 'erin'],
    });
    expect(pending(pull)).toMatchObject({ users: ['carol'], teams: [] });
  });

  it('once the first step is filled, its people are dropped and the next step’s are asked', () => {
    const pull = facts({ teams, permissions, reviews: [review('carol')] });
    const w = pending(pull);
    expect(w).toMatchObject({ users: [], teams: ['dba'] });
    expect(reviewRequestChanges(w, { users: [], teams: ['qa-leads'] })).toEqual({
      add: { users: [], teams: ['dba'] },
      remove: { users: [], teams: ['qa-leads'] },
    });
  });

  it('an on-call step filled automatically asks nobody; the next step is asked', () => {
    const pull = facts({ teams, permissions });
    expect(pending(pull, [FILL])).toMatchObject({ users: [], teams: ['dba'] });
  });

  it('approved, break-glass, denied, or who pushed unknown: nobody is asked, and what Timebox asked is withdrawn', () => {
    const pull = facts({ teams, permissions, reviews: [review('carol'), review('dave')] });
    const approved = decisionOf({ steps, owners: [], filled: [], pull });
    expect(approved.status).toBe('approved');
    const w = wantedReviewers({ decisions: [approved], pull, org: 'acme' });
    expect(w).toMatchObject({ users: [], teams: [] });
    expect(reviewRequestChanges(w, { users: ['bob'], teams: ['qa-leads'] }).remove).toEqual({
      users: [],
      teams: ['qa-leads'],
    });

    const open = facts({ teams, permissions });
    const d = decisionOf({ steps, owners: [], filled: [], pull: open });
    const glass = {
      ...d,
      status: 'approved' as const,
      break_glass: {
        rule: 'qa-read',
        max_duration: '1h',
        ratify_within: '4h',
        ratify_by: '2026-01-07T14:00:00Z',
        ratification: d.approvals as NonNullable<Decision['approvals']>,
      },
    };
    expect(wantedReviewers({ decisions: [glass], pull: open, org: 'acme' })).toMatchObject({
      users: [],
      teams: [],
    });
    // After the merge, the keeper's ratification pass asks who can fill the ratification's next step; a
    // pending decision asks nobody then.
    expect(wantedReviewers({ decisions: [glass], pull: open, org: 'acme', ratify: true })).toMatchObject({
      users: [],
      teams: ['qa-leads'],
    });
    expect(wantedReviewers({ decisions: [d], pull: open, org: 'acme', ratify: true })).toMatchObject({
      users: [],
      teams: [],
    });
    const denied = { ...d, status: 'denied' as const };
    expect(wantedReviewers({ decisions: [d, denied], pull: open, org: 'acme' })).toMatchObject({
      users: [],
      teams: [],
    });
    const unknown = { ...open, pushersUnknown: 'the log is gone' };
    expect(
      wantedReviewers({
        decisions: [decisionOf({ steps, owners: [], filled: [], pull: unknown })],
        pull: unknown,
        org: 'acme',
      }),
    ).toMatchObject({ users: [], teams: [] });
  });

  it('code owners are asked while no code owner has approved; someone who reviewed the head is not asked again', () => {
    const pull = facts({
      teams: { ...teams, '@acme/security': ['sam', 'sue'] },
      permissions: { ...permissions, sam: 'write', sue: 'write' },
      reviews: [review('sue', 'COMMENTED')],
    });
    const d = decisionOf({ steps, owners: ['@acme/security'], filled: [], pull });
    const w = wantedReviewers({ decisions: [d], pull, org: 'acme' });
    expect(w).toMatchObject({ users: ['sam'], teams: ['qa-leads'] });
    // sue's request is hers to renew: never withdrawn, never re-made.
    expect(reviewRequestChanges(w, { users: ['sue'], teams: [] }).remove.users).toEqual([]);
  });

  it('reads the permission of exactly the people who might be asked and are not known yet', () => {
    const pull = facts({ teams, permissions: { carol: 'write' } });
    const d = decisionOf({ steps, owners: [], filled: [], pull });
    expect(reviewersToRead({ decisions: [d], pull, org: 'acme' })).toEqual(['erin']);
  });

  it('requests made by people for someone the policies do not name are left alone', () => {
    const pull = facts({ teams, permissions });
    const w = pending(pull);
    expect(reviewRequestChanges(w, { users: ['zoe'], teams: ['qa-leads', 'design'] })).toEqual({
      add: { users: [], teams: [] },
      remove: { users: [], teams: [] },
    });
  });
});

// ---- properties ------------------------------------------------------------------------------------------

const PEOPLE = ['ann', 'ben', 'cat', 'dan', 'eve', 'fay', 'ci[bot]'];
const TEAMS = ['@acme/t1', '@acme/t2', '@other/t3'];
const subset = <T>(xs: readonly T[]) => fc.subarray([...xs]);

const arbCase: fc.Arbitrary<Case> = fc
  .record({
    teams: fc.record({ '@acme/t1': subset(PEOPLE), '@acme/t2': subset(PEOPLE), '@other/t3': subset(PEOPLE) }),
    steps: fc.array(
      fc.record({
        from: fc.subarray([...PEOPLE.filter((p) => !p.endsWith(']')), ...TEAMS, '*'], { minLength: 1 }),
        count: fc.integer({ min: 1, max: 2 }),
      }),
      { minLength: 1, maxLength: 3 },
    ),
    filled: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    owners: subset(['@ben', '@acme/t2']),
    reviews: fc.array(
      fc.record({
        login: fc.constantFrom(...PEOPLE),
        state: fc.constantFrom<Review['state']>('APPROVED', 'COMMENTED', 'CHANGES_REQUESTED', 'DISMISSED'),
        head: fc.boolean(),
      }),
      { maxLength: 6 },
    ),
    pushers: subset(PEOPLE),
    permissions: fc.array(fc.constantFrom<Permission>('admin', 'write', 'read', 'none'), {
      minLength: PEOPLE.length,
      maxLength: PEOPLE.length,
    }),
  })
  .map((r) => ({
    steps: r.steps,
    owners: r.owners,
    filled: r.filled.map((f) => (f ? FILL : undefined)),
    pull: facts({
      teams: r.teams,
      pushers: [REQUESTER, ...r.pushers],
      permissions: Object.fromEntries(PEOPLE.map((p, i) => [p, r.permissions[i] as Permission])),
      reviews: r.reviews.map((x, i) => ({
        ...review(x.login, x.state, x.head ? HEAD : 'o'.repeat(40)),
        submittedAt: new Date(Date.UTC(2026, 0, 7, 10, i)).toISOString(),
      })),
    }),
  }));

/** Everyone a principal names (team members expanded). */
const membersOf = (p: string, teams: PullFacts['teams']) =>
  p === '*' ? [] : p.startsWith('@') && p.includes('/') ? (teams[p] ?? []) : [p.replace(/^@/, '')];

/** Whose approval would count now and is still missing, as the counting rules (approvals.ts) say. */
function countable(c: Case, login: string): boolean {
  const approved = countApprovals(c.pull, [REQUESTER]).valid;
  const reviewedHead = c.pull.reviews.some(
    (r) => r.login === login && r.commitId === HEAD && r.state !== 'DISMISSED' && r.state !== 'PENDING',
  );
  return (
    login !== REQUESTER &&
    !login.endsWith('[bot]') &&
    !c.pull.pushers.includes(login) &&
    WRITE.has(c.pull.permissions[login] ?? 'none') &&
    !approved.includes(login) &&
    !reviewedHead
  );
}

/** The principals whose people can move the decision forward: the next unmet step, and unmet code owners. */
function askable(c: Case, d: Decision): string[] {
  if (d.status !== 'pending' || !d.approvals) return [];
  const next = nextUnmetStep(d.approvals.steps);
  return [...(next?.from ?? []), ...(d.approvals.codeowners.satisfied ? [] : c.owners)];
}

describe('wantedReviewers, properties', () => {
  it('asks only people whose approval would count and could fill the next unmet step (or the missing code owners), and all of them', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const d = decisionOf(c);
        const w = wantedReviewers({ decisions: [d], pull: c.pull, org: 'acme' });
        const principals = askable(c, d);
        const reachable = new Set(principals.flatMap((p) => membersOf(p, c.pull.teams)));
        for (const u of w.users) {
          expect(u).not.toBe(REQUESTER);
          expect(c.pull.pushers).not.toContain(u);
          expect(countable(c, u), u).toBe(true);
          expect(reachable.has(u), u).toBe(true);
        }
        const viaTeams = new Set<string>();
        for (const slug of w.teams) {
          const team = `@acme/${slug}`;
          expect(principals).toContain(team);
          // Everyone the team notifies but the author (GitHub skips the author) could count.
          for (const m of c.pull.teams[team] ?? []) {
            viaTeams.add(m);
            if (m !== REQUESTER) expect(countable(c, m), `${team}: ${m}`).toBe(true);
          }
        }
        // Nobody who could count and fill the step is left out.
        for (const m of reachable)
          if (countable(c, m)) expect(w.users.includes(m) || viaTeams.has(m), m).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('a filled step’s people are dropped: whoever no unmet step or missing code owner names is not asked', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const d = decisionOf(c);
        const w = wantedReviewers({ decisions: [d], pull: c.pull, org: 'acme' });
        const steps = d.approvals?.steps ?? [];
        const next = nextUnmetStep(steps);
        for (const s of steps) {
          if (s === next || !(s.filled || s.approvers.length >= s.count)) continue;
          const stillNeeded = new Set(askable(c, d).flatMap((p) => membersOf(p, c.pull.teams)));
          for (const m of s.from.flatMap((p) => membersOf(p, c.pull.teams)))
            if (!stillNeeded.has(m)) expect(w.users).not.toContain(m);
        }
        if (d.status === 'approved') expect([...w.users, ...w.teams]).toEqual([]);
      }),
      { numRuns: 400 },
    );
  });

  it('applying the changes and deciding again changes nothing (a redelivered event makes no request)', () => {
    const arbCurrent = fc.record({
      users: subset([...PEOPLE, 'zoe']),
      teams: subset(['t1', 't2', 't3', 'design']),
    });
    fc.assert(
      fc.property(arbCase, arbCurrent, (c, current: ReviewerSet) => {
        const w = wantedReviewers({ decisions: [decisionOf(c)], pull: c.pull, org: 'acme' });
        const { add, remove } = reviewRequestChanges(w, current);
        const gone = (xs: string[], drop: string[]) => xs.filter((x) => !drop.includes(x));
        const after = {
          users: [...gone(current.users, remove.users), ...add.users],
          teams: [...gone(current.teams, remove.teams), ...add.teams],
        };
        expect(reviewRequestChanges(w, after)).toEqual({
          add: { users: [], teams: [] },
          remove: { users: [], teams: [] },
        });
        // What nobody at Timebox's policies names is never withdrawn.
        expect(remove.users).not.toContain('zoe');
        expect(remove.teams).not.toContain('design');
      }),
      { numRuns: 300 },
    );
  });
});
