// Issue 17.4: an approval step with `on_call: schedules/….yaml` is filled while the requester is on call.
import { describe, expect, it } from 'vitest';
import { decideAll, decideRequest } from '../../src/core/decide.js';
import type { Policies } from '../../src/core/model.js';
import { loadPolicies } from '../../src/core/policy.js';
import { providerDefinitions } from '../../src/providers/registry.js';
import { loadAccessRepo } from '../../src/repo/access-repo.js';
import type { RepoSource } from '../../src/repo/source.js';
import { approve, input, pull, requestText } from '../helpers/core.js';
import { ORDERS_DB } from '../helpers/policies.js';
import { git, run, write } from '../helpers/repo.js';

// alice holds the first weekly turn (Mon 5 Jan 09:00 UTC to Mon 12 Jan 09:00 UTC), then bob.
const SCHEDULE = `tz: UTC
layers:
  - name: weekly
    rotation: [alice, bob]
    turn: weekly
    handoff: "09:00"
    handoff_day: mon
    start: 2026-01-05T09:00:00Z
`;

const POLICY = `${ORDERS_DB}rules:
  - name: sre-read
    requesters: [alice, bob, mallory]
    resources: [orders-db]
    roles: [read-only]
    approvals:
      - { from: ["@acme/qa-leads"], count: 1, on_call: schedules/primary.yaml }
  - name: sre-write
    requesters: [alice, bob]
    resources: [orders-db]
    roles: [read-write]
    approvals:
      - { from: ["@acme/qa-leads"], count: 1, on_call: schedules/primary.yaml }
      - { from: ["@acme/dba"], count: 1 }
`;

function load(policy = POLICY, schedules = [{ path: 'schedules/primary.yaml', text: SCHEDULE }]) {
  return loadPolicies([{ path: 'policies/sre.yaml', text: policy }], providerDefinitions, schedules);
}

const POLICIES: Policies = load().policies;
const FILE = 'requests/alice/orders.yaml';
const request = (requester = 'alice', role = 'read-only') =>
  requestText({ requester, resource: 'orders-db', role, duration: '1h', reason: 'Page: EU orders stuck' });

function decide(at: string, requester = 'alice', role = 'read-only', reviews = pull()) {
  return decideRequest(
    `requests/${requester}/orders.yaml`,
    request(requester, role),
    input(POLICIES, [], { at: new Date(at), pull: reviews }),
  );
}

describe('on-call approval steps', () => {
  it('loads the schedule a step names with the policies', () => {
    expect(load().errors).toEqual([]);
    expect([...(POLICIES.schedules?.keys() ?? [])]).toEqual(['schedules/primary.yaml']);
    expect(POLICIES.rules[0]?.approvals[0]?.onCall).toBe('schedules/primary.yaml');
  });

  it('the requester on call: the step is filled, and its only step being filled approves the request', () => {
    const d = decide('2026-01-07T10:00:00Z');
    expect(d.status).toBe('approved');
    expect(d.rule).toBe('sre-read');
    expect(d.approvals?.steps[0]).toMatchObject({
      on_call: 'schedules/primary.yaml',
      approvers: [],
      filled: {
        reason: 'on_call',
        schedule: 'schedules/primary.yaml',
        login: 'alice',
        layer: 'weekly',
        from: '2026-01-05T09:00:00Z',
        to: '2026-01-12T09:00:00Z',
      },
    });
    expect(d.approvals?.satisfied).toBe(true);
  });

  it('the requester not on call: the step needs its approval as usual', () => {
    const d = decide('2026-01-07T10:00:00Z', 'bob');
    expect(d.status).toBe('pending');
    expect(d.approvals?.steps[0]?.filled).toBeUndefined();
    expect(d.reasons).toEqual([{ rule: 'sre-read', message: 'needs 1 more approval from @acme/qa-leads' }]);
    const approved = decide('2026-01-07T10:00:00Z', 'bob', 'read-only', pull([approve('carol')]));
    expect(approved.status).toBe('approved');
    expect(approved.approvals?.steps[0]).toMatchObject({ approvers: ['carol'] });
    expect(approved.approvals?.steps[0]?.filled).toBeUndefined();
  });

  it('someone not in the rotation is never filled', () => {
    expect(decide('2026-01-07T10:00:00Z', 'mallory').status).toBe('pending');
  });

  it('the hand-off instant belongs to the next person', () => {
    expect(decide('2026-01-12T08:59:59.999Z').status).toBe('approved');
    expect(decide('2026-01-12T09:00:00Z').status).toBe('pending');
    const bob = decide('2026-01-12T09:00:00Z', 'bob');
    expect(bob.status).toBe('approved');
    expect(bob.approvals?.steps[0]?.filled).toMatchObject({
      login: 'bob',
      from: '2026-01-12T09:00:00Z',
      to: '2026-01-19T09:00:00Z',
    });
  });

  it('hand-offs keep their wall-clock time across a DST change (Europe/Berlin, 29 March 2026)', () => {
    const berlin = load(POLICY, [
      {
        path: 'schedules/primary.yaml',
        text: SCHEDULE.replace('tz: UTC', 'tz: Europe/Berlin').replace(
          'start: 2026-01-05T09:00:00Z',
          'start: 2026-01-05T09:00:00+01:00',
        ),
      },
    ]).policies;
    const at = (when: string, requester: string) =>
      decideRequest(
        `requests/${requester}/orders.yaml`,
        request(requester),
        input(berlin, [], { at: new Date(when) }),
      );
    // The week of 23 March is bob's (the 12th turn after 5 January); the hand-off of Monday 30 March to alice
    // is at 09:00 CEST = 07:00Z, an hour earlier in UTC than the week before (09:00 CET = 08:00Z).
    expect(at('2026-03-30T06:59:59Z', 'bob').status).toBe('approved');
    expect(at('2026-03-30T07:00:00Z', 'bob').status).toBe('pending');
    const alice = at('2026-03-30T07:00:00Z', 'alice');
    expect(alice.status).toBe('approved');
    expect(alice.approvals?.steps[0]?.filled).toMatchObject({
      from: '2026-03-30T07:00:00Z',
      to: '2026-04-06T07:00:00Z',
    });
    expect(at('2026-03-23T08:00:00Z', 'bob').approvals?.steps[0]?.filled?.from).toBe('2026-03-23T08:00:00Z');
  });

  it('a filled step takes nobody: other steps still need their own approvers', () => {
    const pending = decide('2026-01-07T10:00:00Z', 'alice', 'read-write');
    expect(pending.status).toBe('pending');
    expect(pending.reasons).toEqual([{ rule: 'sre-write', message: 'needs 1 more approval from @acme/dba' }]);
    // carol (a QA lead) would have filled step 1; with step 1 filled by on-call she counts for nothing else.
    expect(decide('2026-01-07T10:00:00Z', 'alice', 'read-write', pull([approve('carol')])).status).toBe(
      'pending',
    );
    expect(decide('2026-01-07T10:00:00Z', 'alice', 'read-write', pull([approve('dave')])).status).toBe(
      'approved',
    );
  });

  it('CODEOWNERS still apply to a request whose steps are filled by on-call', () => {
    const d = decideRequest(
      FILE,
      request(),
      input(POLICIES, [], {
        at: new Date('2026-01-07T10:00:00Z'),
        codeownersText: '/requests/ @acme/security\n',
      }),
    );
    expect(d.status).toBe('pending');
    expect(d.approvals?.steps[0]?.filled?.login).toBe('alice');
    expect(d.approvals?.codeowners.satisfied).toBe(false);
  });

  it('policies without the schedule fill nothing (fails closed)', () => {
    const bare: Policies = { ...POLICIES, schedules: new Map() };
    const d = decideRequest(FILE, request(), input(bare, [], { at: new Date('2026-01-07T10:00:00Z') }));
    expect(d.status).toBe('pending');
  });
});

describe('a step naming a missing or invalid schedule is a policy error at file:line', () => {
  it('missing', () => {
    const { errors } = load(POLICY, []);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({
      file: 'policies/sre.yaml',
      line: 14,
      path: '$.rules[0].approvals[0].on_call',
      message: 'on-call schedule `schedules/primary.yaml` does not exist',
    });
  });

  it('a near miss gets a suggestion', () => {
    const { errors } = load(POLICY, [{ path: 'schedules/primari.yaml', text: SCHEDULE }]);
    expect(errors[0]?.message).toMatch(/does not exist.*schedules\/primari\.yaml/);
  });

  it('invalid: the step says so, and the schedule file has its own error at its line', () => {
    const { errors } = load(POLICY, [
      { path: 'schedules/primary.yaml', text: SCHEDULE.replace('tz: UTC', 'tz: Mars/Olympus') },
    ]);
    expect(errors).toContainEqual(
      expect.objectContaining({ file: 'schedules/primary.yaml', line: 1, path: '$.tz' }),
    );
    const step = errors.filter((e) => e.file === 'policies/sre.yaml');
    expect(step).toHaveLength(2);
    expect(step[0]).toMatchObject({ line: 14, path: '$.rules[0].approvals[0].on_call' });
    expect(step[0]?.message).toMatch(
      /^on-call schedule `schedules\/primary\.yaml` is invalid \(schedules\/primary\.yaml:1: unknown time zone/,
    );
    // The schedule's own errors are reported once, however many steps name it.
    expect(errors.filter((e) => e.file === 'schedules/primary.yaml')).toHaveLength(1);
  });

  it('outside schedules/: a schema error', () => {
    const { errors } = load(POLICY.replace('on_call: schedules/primary.yaml', 'on_call: ../etc/passwd'), []);
    expect(errors[0]).toMatchObject({
      line: 14,
      message: 'must be a schedule file in schedules/, such as schedules/primary.yaml',
    });
  });
});

/** An in-memory RepoSource. */
function memory(files: Record<string, string>, label = 'base'): RepoSource {
  return {
    label,
    list: async (dir) =>
      Object.keys(files)
        .filter((p) => p.startsWith(`${dir}/`))
        .sort(),
    read: async (path) => files[path] ?? null,
  };
}

describe('schedules are read with the policies, from the same source', () => {
  it('loadAccessRepo reads schedules/ beside policies/', async () => {
    const repo = await loadAccessRepo(
      memory({ 'policies/sre.yaml': POLICY, 'schedules/primary.yaml': SCHEDULE }),
    );
    expect(repo.errors).toEqual([]);
    expect(repo.policies.schedules?.has('schedules/primary.yaml')).toBe(true);
    const broken = await loadAccessRepo(memory({ 'policies/sre.yaml': POLICY }));
    expect(broken.errors[0]?.message).toBe('on-call schedule `schedules/primary.yaml` does not exist');
  });

  it('a PR that puts its requester on call is judged by the base schedule, and denied for mixing', async () => {
    // The base has bob on call; the PR's branch rewrites the schedule to alice and asks for access.
    const base = await loadAccessRepo(
      memory({
        'policies/sre.yaml': POLICY,
        'schedules/primary.yaml': SCHEDULE.replace('[alice, bob]', '[bob, alice]'),
      }),
    );
    const [d] = decideAll(
      input(base.policies, [{ path: FILE, text: request() }], {
        at: new Date('2026-01-07T10:00:00Z'),
        changedPaths: [FILE, 'schedules/primary.yaml'],
      }),
    );
    expect(d?.status).toBe('denied');
    expect(d?.rule).toBe('timebox/separate-review');
    expect(d?.approvals?.steps[0]?.filled).toBeUndefined();
  });

  it('timebox check --base reads the schedule from the base, and says who fills the step', async () => {
    const { exampleRepo } = await import('../helpers/repo.js');
    const dir = exampleRepo();
    write(dir, 'policies/sre.yaml', POLICY.replace(/^resources:[\s\S]*?rules:\n/, 'rules:\n'));
    write(dir, 'schedules/primary.yaml', SCHEDULE);
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'on-call');
    git(dir, 'switch', '-q', '-c', 'access');
    write(dir, FILE, request());
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'request');
    const at = '2026-01-07T10:00:00Z';
    const human = await run(['check', '--base', 'main', '--teams', 'teams.yaml', '--at', at], { cwd: dir });
    expect(human.stdout).toContain(
      'step 1: 1 of @acme/qa-leads — filled: alice is on call (schedules/primary.yaml, layer weekly, until 2026-01-12T09:00:00Z)',
    );
    expect(human.code).toBe(0);
    const json = await run(['check', '--base', 'main', '--teams', 'teams.yaml', '--at', at, '--json'], {
      cwd: dir,
    });
    expect(JSON.parse(json.stdout).results[0]).toMatchObject({
      status: 'approved',
      rule: 'sre-read',
      approvals: { steps: [{ filled: { reason: 'on_call', login: 'alice', layer: 'weekly' } }] },
    });
    // Meanwhile the base hands the week to bob: the branch's own (older) schedule no longer counts.
    git(dir, 'switch', '-q', 'main');
    write(dir, 'schedules/primary.yaml', SCHEDULE.replace('[alice, bob]', '[bob, alice]'));
    git(dir, 'commit', '-q', '-am', 'bob first');
    git(dir, 'switch', '-q', 'access');
    const later = await run(['check', '--base', 'main', '--teams', 'teams.yaml', '--at', at, '--json'], {
      cwd: dir,
    });
    expect(JSON.parse(later.stdout).results[0].status).toBe('pending');
  });
});
