// Issue 17.3, SPEC "Break-glass", the decision side: `emergency: true` under a rule with `break_glass`.
import { describe, expect, it } from 'vitest';
import { BUILTIN, decideRequest, parseRequest } from '../../src/core/decide.js';
import { DEFAULT_CONFIG } from '../../src/core/model.js';
import { loadPolicies } from '../../src/core/policy.js';
import { providerDefinitions } from '../../src/providers/registry.js';
import { approve, input, policies, pull, requestText } from '../helpers/core.js';
import { ORDERS_DB } from '../helpers/policies.js';

const POLICY = policies(`${ORDERS_DB}rules:
  - name: sre-incident
    requesters: ["@acme/qa"]
    resources: [orders-db]
    roles: [read-write]
    max_duration: 4h
    require_ticket: true
    break_glass: { max_duration: 1h, ratify_within: 4h }
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
      - { from: ["@acme/dba"], count: 1 }
  - name: qa-read
    requesters: ["@acme/qa"]
    resources: [orders-db]
    roles: [read-only]
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
`);

const FILE = 'requests/alice/incident.yaml';
const AT = new Date('2026-01-07T10:00:00Z');
const EMERGENCY = {
  requester: 'alice',
  resource: 'orders-db',
  role: 'read-write',
  duration: '30m',
  reason: 'INC-42: orders stuck in checkout',
  ticket: 'INC-42',
  emergency: 'true',
};

function decide(fields: Record<string, string> = {}, over: Parameters<typeof input>[2] = {}) {
  return decideRequest(
    FILE,
    requestText({ ...EMERGENCY, ...fields }),
    input(POLICY, [], { at: AT, ...over }),
  );
}

describe('reading `emergency`', () => {
  it('is written true or false (as text, never coerced) and read as a boolean', () => {
    const text = (v: string) =>
      `${requestText({ ...EMERGENCY, emergency: 'x' }).replace('emergency: x', `emergency: ${v}`)}`;
    expect(parseRequest(FILE, text('true'), DEFAULT_CONFIG).request?.emergency).toBe(true);
    expect(parseRequest(FILE, text('false'), DEFAULT_CONFIG).request?.emergency).toBe(false);
    const yes = parseRequest(FILE, text('yes'), DEFAULT_CONFIG);
    expect(yes.request).toBeNull();
    expect(yes.errors[0]).toMatchObject({ path: '$.emergency', message: 'must be true or false' });
    expect(
      parseRequest(FILE, requestText({ ...EMERGENCY, emergency: '' }).replace("''", ''), DEFAULT_CONFIG)
        .request,
    ).toBeNull();
  });
});

describe('emergency: true under a rule with break_glass', () => {
  it('is approved without its approval steps, and says what must ratify it by when', () => {
    const d = decide();
    expect(d.status).toBe('approved');
    expect(d.rule).toBe('sre-incident');
    expect(d.request?.emergency).toBe(true);
    expect(d.break_glass).toMatchObject({
      rule: 'sre-incident',
      max_duration: '1h',
      ratify_within: '4h',
      ratify_by: '2026-01-07T14:00:00Z',
      ratification: {
        satisfied: false,
        steps: [
          { from: ['@acme/qa-leads'], count: 1, approvers: [] },
          { from: ['@acme/dba'], count: 1, approvers: [] },
        ],
      },
    });
    expect(d.approvals?.satisfied).toBe(false);
  });

  it('approvals already given: an ordinary approval, nothing to ratify', () => {
    const d = decide({}, { pull: pull([approve('carol'), approve('dave')]) });
    expect(d.status).toBe('approved');
    expect(d.break_glass).toBeUndefined();
  });

  it('partial approvals: break-glass, and the ratification shows who approved already', () => {
    const d = decide({}, { pull: pull([approve('carol')]) });
    expect(d.break_glass?.ratification.steps.map((s) => s.approvers)).toEqual([['carol'], []]);
  });

  it('longer than break_glass.max_duration is denied, naming the rule', () => {
    const d = decide({ duration: '2h' });
    expect(d.status).toBe('denied');
    expect(d.reasons).toEqual([
      {
        rule: 'sre-incident',
        message: 'allows emergency (break-glass) access for at most 1h; this request is for 2h',
      },
    ]);
    expect(d.break_glass).toBeUndefined();
  });

  it('the rule’s other conditions still hold: ticket, requesters, author = requester', () => {
    const noTicket = decide({ ticket: '' });
    expect(noTicket.status).toBe('invalid');
    const { ticket: _, ...withoutTicket } = EMERGENCY;
    const d = decideRequest(FILE, requestText(withoutTicket), input(POLICY, [], { at: AT }));
    expect(d.status).toBe('denied');
    expect(d.reasons).toEqual([{ rule: 'sre-incident', message: 'requires a `ticket`' }]);
    expect(decide({ requester: 'mallory' }).status).toBe('denied');
    const other = decide({}, { pull: pull([], { author: 'bob' }) });
    expect(other.status).toBe('denied');
    expect(other.reasons[0]?.message).toMatch(/opened by bob/);
  });

  it('office hours still hold', () => {
    const hours = policies(`${ORDERS_DB}rules:
  - name: day-only
    resources: [orders-db]
    hours: { days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00", tz: UTC }
    break_glass: { max_duration: 1h, ratify_within: 1d }
    approvals:
      - { from: ["@acme/dba"], count: 1 }
`);
    const night = new Date('2026-01-07T22:00:00Z');
    const d = decideRequest(FILE, requestText(EMERGENCY), input(hours, [], { at: night }));
    expect(d.status).toBe('denied');
    expect(d.reasons[0]?.rule).toBe('day-only');
    const day = decideRequest(FILE, requestText(EMERGENCY), input(hours, [], { at: AT }));
    expect(day.status).toBe('approved');
    expect(day.break_glass?.ratify_by).toBe('2026-01-08T10:00:00Z');
  });

  it('a deny rule still wins', () => {
    const denied = policies(`${ORDERS_DB}rules:
  - name: glass
    resources: [orders-db]
    break_glass: { max_duration: 1h, ratify_within: 4h }
    approvals: [{ from: ["@acme/dba"] }]
  - name: freeze
    effect: deny
    resources: [orders-db]
    message: Change freeze
`);
    const d = decideRequest(FILE, requestText(EMERGENCY), input(denied, [], { at: AT }));
    expect(d).toMatchObject({ status: 'denied', rule: 'freeze' });
  });

  it('CODEOWNERS of the request file are part of the ratification, not a condition of the emergency', () => {
    const d = decide({}, { codeownersText: '/requests/ @acme/security\n' });
    expect(d.status).toBe('approved');
    expect(d.break_glass?.ratification.codeowners).toEqual({ owners: ['@acme/security'], satisfied: false });
  });

  it('emergency: false, or no emergency at all, changes nothing', () => {
    expect(decide({ emergency: 'false' }).status).toBe('pending');
    const { emergency: _, ...plain } = EMERGENCY;
    const d = decideRequest(FILE, requestText(plain), input(POLICY, [], { at: AT }));
    expect(d.status).toBe('pending');
    // Without emergency, break_glass.max_duration does not apply: the rule's own max_duration does.
    expect(
      decideRequest(FILE, requestText({ ...plain, duration: '3h' }), input(POLICY, [], { at: AT })).status,
    ).toBe('pending');
  });
});

describe('emergency: true under a rule without break_glass changes nothing', () => {
  it('still pending on its approvals', () => {
    const d = decide({ role: 'read-only' });
    expect(d.status).toBe('pending');
    expect(d.rule).toBe('qa-read');
    expect(d.break_glass).toBeUndefined();
    expect(decide({ role: 'read-only' }, { pull: pull([approve('carol')]) }).status).toBe('approved');
  });
});

describe("an open alarm denies that requester's next emergency request", () => {
  it('denied with a reason naming the alarm, until it is closed', () => {
    const d = decide({}, { pull: pull([], { unratifiedAlarms: ['Alice'] }) });
    expect(d.status).toBe('denied');
    expect(d.rule).toBe(BUILTIN.breakGlassAlarm);
    expect(d.reasons).toEqual([
      {
        rule: 'timebox/break-glass-alarm',
        message:
          'alice has an unratified break-glass access whose `timebox-alarm` issue is still open; no emergency access until a code owner of policies/ closes it (without `emergency: true`, the request waits for its approvals as usual)',
      },
    ]);
    expect(d.break_glass).toBeUndefined();
  });

  it("someone else's alarm does not matter; nor does the alarm for a request that needs no break-glass", () => {
    expect(decide({}, { pull: pull([], { unratifiedAlarms: ['bob'] }) }).status).toBe('approved');
    const fully = decide(
      {},
      { pull: pull([approve('carol'), approve('dave')], { unratifiedAlarms: ['alice'] }) },
    );
    expect(fully.status).toBe('approved');
    const { emergency: _, ...plain } = EMERGENCY;
    const normal = decideRequest(
      FILE,
      requestText(plain),
      input(POLICY, [], { at: AT, pull: pull([], { unratifiedAlarms: ['alice'] }) }),
    );
    expect(normal.status).toBe('pending');
  });
});

describe('policy: break_glass', () => {
  const load = (rule: string) =>
    loadPolicies(
      [
        {
          path: 'policies/p.yaml',
          text: `resources:\n  orders-db:\n    provider: postgres\n    connection: orders\n    roles:\n      read-only: { grant: [r] }\nrules:\n${rule}`,
        },
      ],
      providerDefinitions,
    );

  it('is read into the rule', () => {
    const { policies: p, errors } = load(
      '  - name: r\n    resources: [orders-db]\n    break_glass: { max_duration: 30m, ratify_within: 2h }\n',
    );
    expect(errors).toEqual([]);
    expect(p.rules[0]?.breakGlass).toEqual({ maxDuration: '30m', ratifyWithin: '2h' });
  });

  it('needs both durations, each longer than 0, at file:line', () => {
    const missing = load('  - name: r\n    resources: [orders-db]\n    break_glass: { max_duration: 1h }\n');
    expect(missing.errors[0]).toMatchObject({ line: 10, path: '$.rules[0].break_glass' });
    expect(missing.errors[0]?.message).toMatch(/ratify_within/);
    const zero = load(
      '  - name: r\n    resources: [orders-db]\n    break_glass: { max_duration: 1h, ratify_within: 0m }\n',
    );
    expect(zero.errors).toEqual([
      expect.objectContaining({
        line: 10,
        path: '$.rules[0].break_glass.ratify_within',
        message: 'must be longer than 0',
      }),
    ]);
    const bad = load(
      '  - name: r\n    resources: [orders-db]\n    break_glass: { max_duration: soon, ratify_within: 1h }\n',
    );
    expect(bad.errors[0]?.path).toBe('$.rules[0].break_glass.max_duration');
  });

  it('has no meaning on a deny rule', () => {
    const { errors } = load(
      '  - name: r\n    effect: deny\n    resources: [orders-db]\n    break_glass: { max_duration: 1h, ratify_within: 1h }\n',
    );
    expect(errors[0]?.message).toBe(
      '`break_glass` has no meaning on a deny rule (a deny rule always denies)',
    );
  });
});

describe('timebox check shows break-glass', () => {
  it('human output and JSON, with policies read from the base', async () => {
    const { exampleRepo, git, run, write } = await import('../helpers/repo.js');
    const dir = exampleRepo();
    write(
      dir,
      'policies/incident.yaml',
      'rules:\n  - name: incident\n    requesters: ["@acme/qa"]\n    resources: [orders-db]\n    roles: [read-write]\n    break_glass: { max_duration: 1h, ratify_within: 4h }\n    approvals:\n      - { from: ["@acme/qa-leads"], count: 1 }\n',
    );
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'break-glass');
    git(dir, 'switch', '-q', '-c', 'access');
    write(dir, FILE, requestText(EMERGENCY));
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'emergency');
    const args = ['check', '--base', 'main', '--teams', 'teams.yaml', '--at', '2026-01-07T10:00:00Z'];
    const human = await run(args, { cwd: dir });
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(
      'break-glass: approved by rule incident before its approvals; they must ratify it on the merged pull request within 4h (by 2026-01-07T14:00:00Z), or the access is revoked and an alarm issue opened',
    );
    expect(human.stdout).toContain('step 1: 1 of @acme/qa-leads — no approval yet; can approve: carol');
    const json = JSON.parse((await run([...args, '--json'], { cwd: dir })).stdout);
    expect(json.results[0]).toMatchObject({
      status: 'approved',
      rule: 'incident',
      request: { emergency: true },
      break_glass: { rule: 'incident', ratify_within: '4h', ratify_by: '2026-01-07T14:00:00Z' },
    });
  });
});
