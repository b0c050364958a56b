// `timebox verify` and `timebox new`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Prompter, runNew } from '../../src/cli/new.js';
import { systemClock } from '../../src/core/clock.js';
import { exampleRepo, ROOT, run, write } from '../helpers/repo.js';

describe('timebox verify', () => {
  it('runs the shipped policy tests and prints N passed, N failed', async () => {
    const r = await run(['verify', '--repo', ROOT], { cwd: ROOT });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\n\d+ passed, 0 failed\n$/);
  });

  it('a failing test exits 1 and says what was expected, what came, and why', async () => {
    const dir = exampleRepo();
    write(
      dir,
      'policies/tests/extra.yaml',
      `teams: { "@acme/qa": [alice] }
tests:
  - name: wrong expectation
    request: { requester: alice, resource: orders-db, role: read-only, duration: 9h, reason: Reproduce BUG-1234 }
    approved_by: [carol]
    expect: approved
`,
    );
    const r = await run(['verify'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAIL  wrong expectation  policies/tests/extra.yaml:3');
    expect(r.stdout).toContain('expected approved, got denied');
    expect(r.stdout).toContain('qa-read: allows at most 4h; this request is for 9h');
    expect(r.stdout).toMatch(/\n\d+ passed, 1 failed\n$/);
    const json = JSON.parse((await run(['verify', '--json'], { cwd: dir })).stdout);
    expect(json.failed).toBe(1);
    expect(json.tests.find((t: { name: string }) => t.name === 'wrong expectation')).toMatchObject({
      status: 'denied',
      passed: false,
    });
  });

  it('a malformed test file is a configuration error (exit 2) at file:line', async () => {
    const dir = exampleRepo();
    write(dir, 'policies/tests/bad.yaml', 'tests:\n  - name: x\n    request: {}\n    expect: maybe\n');
    const r = await run(['verify'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('policies/tests/bad.yaml:4:13');
  });
});

describe('timebox verify: break-glass and on-call', () => {
  const POLICY = `resources:
  incident-db:
    provider: postgres
    connection: incident
    roles:
      read-write: { grant: [incident_write] }
rules:
  - name: incident
    requesters: ["@acme/sre"]
    resources: [incident-db]
    roles: [read-write]
    break_glass: { max_duration: 1h, ratify_within: 4h }
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
  - name: on-call-read
    requesters: [erin]
    resources: [customers-db]
    approvals:
      - { from: ["@acme/qa-leads"], count: 1, on_call: schedules/primary.yaml }
`;
  const SCHEDULE = `tz: UTC
layers:
  - rotation: [erin, frank]
    turn: weekly
    handoff: "09:00"
    handoff_day: mon
    start: 2026-01-05T09:00:00Z
`;
  const REQUEST =
    '{ requester: alice, resource: incident-db, role: read-write, duration: 30m, reason: INC-42 orders stuck';

  it('policy tests say emergency: true, open_alarms and expect_break_glass, and run on-call steps', async () => {
    const dir = exampleRepo();
    write(dir, 'policies/incident.yaml', POLICY);
    write(dir, 'schedules/primary.yaml', SCHEDULE);
    write(
      dir,
      'policies/tests/incident.yaml',
      `teams: { "@acme/sre": [alice] }
tests:
  - name: an emergency is approved at once
    request: ${REQUEST}, emergency: true }
    expect: approved
    expect_rule: incident
    expect_break_glass: true
  - name: without emergency it waits
    request: ${REQUEST} }
    expect: pending
    expect_break_glass: false
  - name: longer than the break-glass maximum is denied
    request: ${REQUEST.replace('30m', '2h')}, emergency: true }
    expect: denied
  - name: an open alarm denies the next emergency
    request: ${REQUEST}, emergency: true }
    open_alarms: [alice]
    expect: denied
    expect_rule: timebox/break-glass-alarm
  - name: erin on call approves her own read
    request: { requester: erin, resource: customers-db, role: read-only, duration: 1h, reason: Check a customer }
    at: 2026-01-07T10:00:00Z
    expect: approved
  - name: after the hand-off she needs a lead
    request: { requester: erin, resource: customers-db, role: read-only, duration: 1h, reason: Check a customer }
    at: 2026-01-12T09:00:00Z
    expect: pending
`,
    );
    const r = await run(['verify'], { cwd: dir });
    expect(r.stdout).not.toContain('FAIL');
    expect(r.code).toBe(0);
    const json = JSON.parse((await run(['verify', '--json'], { cwd: dir })).stdout);
    expect(
      json.tests.find((t: { name: string }) => t.name === 'an emergency is approved at once'),
    ).toMatchObject({
      status: 'approved',
      break_glass: 'incident',
      passed: true,
    });
  });

  it('a wrong expect_break_glass fails and says so', async () => {
    const dir = exampleRepo();
    write(dir, 'policies/incident.yaml', POLICY);
    write(dir, 'schedules/primary.yaml', SCHEDULE);
    write(
      dir,
      'policies/tests/incident.yaml',
      `teams: { "@acme/sre": [alice] }
tests:
  - name: not break-glass after all
    request: ${REQUEST}, emergency: true }
    expect: approved
    expect_break_glass: false
`,
    );
    const r = await run(['verify'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAIL  not break-glass after all');
    expect(r.stdout).toContain('expected no break-glass approval, got break-glass by rule incident');
  });

  it('a step naming a missing schedule makes the policies invalid (exit 2) at file:line', async () => {
    const dir = exampleRepo();
    write(dir, 'policies/incident.yaml', POLICY);
    const r = await run(['verify'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('policies/incident.yaml:19');
    expect(r.stderr).toContain('on-call schedule `schedules/primary.yaml` does not exist');
  });
});

describe('timebox new', () => {
  const flags = [
    '--requester',
    'alice',
    '--resource',
    'orders-db',
    '--role',
    'read-only',
    '--duration',
    '2h',
    '--reason',
    'Reproduce BUG-1234: totals off',
    '--ticket',
    'BUG-1234',
  ];

  it('writes a request with the schema modeline that passes check', async () => {
    const dir = exampleRepo();
    write(dir, 'schemas/request.schema.json', '{}');
    const r = await run(['new', ...flags, '--file', 'requests/alice/bug-1234.yaml'], { cwd: dir });
    expect(r.code).toBe(0);
    const text = readFileSync(join(dir, 'requests/alice/bug-1234.yaml'), 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../../schemas/request.schema.json');
    expect(text).toContain('reason: "Reproduce BUG-1234: totals off"');
    const check = await run(
      ['check', 'requests/alice/bug-1234.yaml', '--teams', 'teams.yaml', '--approved-by', 'carol', '--json'],
      { cwd: dir },
    );
    expect(JSON.parse(check.stdout).results[0]).toMatchObject({
      status: 'approved',
      request: { reason: 'Reproduce BUG-1234: totals off', ticket: 'BUG-1234' },
    });
  });

  it('without local schemas the modeline points at the published schema', async () => {
    const dir = exampleRepo();
    const r = await run(['new', ...flags, '--json'], { cwd: dir });
    const { file } = JSON.parse(r.stdout);
    expect(file).toMatch(/^requests\/alice\/\d{4}-\d{2}-\d{2}-orders-db-read-only\.yaml$/);
    expect(readFileSync(join(dir, file), 'utf8')).toMatch(
      /^# yaml-language-server: \$schema=https:\/\/timebox\.dev\/schemas\/request\.schema\.json\n/,
    );
  });

  it('without a terminal, missing flags are a usage error listing them', async () => {
    const dir = exampleRepo();
    const r = await run(['new', '--requester', 'alice'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('missing --resource, --role, --reason, --duration');
  });

  it('refuses invalid values and never overwrites', async () => {
    const dir = exampleRepo();
    const bad = await run(
      ['new', ...flags.slice(0, 6), '--duration', '2 hours', '--reason', 'Reproduce BUG-1234'],
      { cwd: dir },
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--duration: must be a duration');
    const unknown = await run(
      ['new', ...flags.slice(0, 4), '--role', 'admin', '--duration', '1h', '--reason', 'Reproduce BUG-1234'],
      { cwd: dir },
    );
    expect(unknown.stderr).toContain('has no role `admin`');
    expect((await run(['new', ...flags, '--file', 'requests/alice/a.yaml'], { cwd: dir })).code).toBe(0);
    const again = await run(['new', ...flags, '--file', 'requests/alice/a.yaml'], { cwd: dir });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists');
  });

  it('asks for what is missing on a terminal, offering the resources and roles from the policies', async () => {
    const dir = exampleRepo();
    const asked: string[] = [];
    const prompter: Prompter = {
      async select(message, choices) {
        asked.push(`${message}: ${choices.map((c) => c.value).join(',')}`);
        return message === 'Resource' ? 'orders-db' : 'read-write';
      },
      async input(message, validate) {
        asked.push(message);
        if (message.startsWith('Duration')) {
          expect(validate('2 hours')).not.toBe(true);
          return '1h';
        }
        if (message.startsWith('Reason')) return 'Fix stuck order 9912 in prod';
        return 'OPS-77';
      },
    };
    let out = '';
    const code = await runNew(
      {
        stdout: (t) => {
          out += t;
        },
        stderr: () => {},
        color: false,
        isTTY: true,
        cwd: dir,
        env: {},
        clock: systemClock,
      },
      { requester: 'bob' },
      prompter,
    );
    expect(code).toBe(0);
    expect(asked[0]).toBe('Resource: orders-db,customers-db,billing-db,app-servers');
    expect(asked[1]).toBe('Role: read-only,read-write');
    const file = out.trim().replace(/^wrote /, '');
    expect(readFileSync(join(dir, file), 'utf8')).toContain(
      'role: read-write\nduration: 1h\nreason: Fix stuck order 9912 in prod\nticket: OPS-77\n',
    );
  });
});
