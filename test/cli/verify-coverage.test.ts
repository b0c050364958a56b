// `timebox verify --coverage [--min PCT]` in a real access repo: adding a policy test covers its rule and
// steps, removing it uncovers them again; --min exits 1 below it and names what no test exercises.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BILLING_DB, ORDERS_DB } from '../helpers/policies.js';
import { git, run, tempDir, write } from '../helpers/repo.js';

const POLICY = `${ORDERS_DB}${BILLING_DB}rules:
  - name: qa-read
    requesters: ["@acme/qa"]
    resources: ["*-db"]
    roles: [read-only]
    max_duration: 4h
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
  - name: qa-write
    requesters: ["@acme/qa"]
    resources: [orders-db]
    roles: [read-write]
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
      - { from: ["@acme/dba"], count: 1 }
  - name: no-billing
    effect: deny
    resources: ["billing-*"]
`;

const TESTS = `teams:
  "@acme/qa": [alice]
  "@acme/qa-leads": [carol]
  "@acme/dba": [dave]
tests:
  - name: reading with a lead's approval
    request: { requester: alice, resource: orders-db, role: read-only, duration: 2h, reason: Reproduce BUG-1234 }
    approved_by: [carol]
    expect: approved
`;

const WRITE_TEST = `teams:
  "@acme/qa": [alice]
  "@acme/qa-leads": [carol]
tests:
  - name: writing waits for a DBA
    request: { requester: alice, resource: orders-db, role: read-write, duration: 1h, reason: Reproduce BUG-1234 }
    approved_by: [carol]
    expect: pending
`;

function accessRepo(): string {
  const dir = tempDir();
  git(dir, 'init', '-q', '-b', 'main');
  write(dir, 'policies/qa.yaml', POLICY);
  write(dir, 'policies/tests/qa.yaml', TESTS);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'access repo');
  return dir;
}

interface CoverageJson {
  rules: { covered: number; total: number; percent: number; uncovered: { rule: string }[] };
  steps: { covered: number; total: number; percent: number; uncovered: { rule: string; step: number }[] };
  min?: number;
  met?: boolean;
}

async function coverage(dir: string, ...extra: string[]): Promise<CoverageJson> {
  const r = await run(['verify', '--coverage', '--json', ...extra], { cwd: dir });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout).coverage as CoverageJson;
}

const names = (c: CoverageJson) => [
  ...c.rules.uncovered.map((r) => r.rule),
  ...c.steps.uncovered.map((s) => `${s.rule} step ${s.step}`),
];

describe('timebox verify --coverage', () => {
  it('prints the coverage of rules and steps and each rule and step no test exercises', async () => {
    const dir = accessRepo();
    const r = await run(['verify', '--coverage'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1 passed, 0 failed\n');
    expect(r.stdout).toContain('coverage: rules 1/3 (33.3%), approval steps 1/3 (33.3%)\n');
    expect(r.stdout).toContain('  rule not exercised: qa-write (allow)  policies/qa.yaml:');
    expect(r.stdout).toContain('  rule not exercised: no-billing (deny)  policies/qa.yaml:');
    expect(r.stdout).toContain(
      '  step not exercised: qa-write step 1 (1 from @acme/qa-leads)  policies/qa.yaml:',
    );
    expect(r.stdout).toContain('  step not exercised: qa-write step 2 (1 from @acme/dba)  policies/qa.yaml:');
    const help = await run(['verify', '--help'], { cwd: dir });
    expect(help.stdout).toContain('--coverage');
    expect(help.stdout).toContain('--min <pct>');
    // Without --coverage nothing about coverage is printed.
    const plain = await run(['verify'], { cwd: dir });
    expect(plain.stdout).not.toContain('coverage');
  });

  it('adding a test covers its rule and steps; removing it uncovers them', async () => {
    const dir = accessRepo();
    const before = await coverage(dir);
    expect(names(before)).toEqual(['qa-write', 'no-billing', 'qa-write step 1', 'qa-write step 2']);

    write(dir, 'policies/tests/write.yaml', WRITE_TEST);
    const added = await coverage(dir);
    expect(names(added)).toEqual(['no-billing']);
    expect(added.rules).toMatchObject({ covered: 2, total: 3 });
    expect(added.steps).toMatchObject({ covered: 3, total: 3, percent: 100 });

    write(
      dir,
      'policies/tests/billing.yaml',
      `tests:
  - name: billing is out of scope
    request: { requester: alice, resource: billing-db, role: read-only, duration: 1h, reason: Reproduce BUG-1234 }
    expect: denied
`,
    );
    expect(names(await coverage(dir))).toEqual([]);

    rmSync(join(dir, 'policies/tests/write.yaml'));
    expect(names(await coverage(dir))).toEqual(['qa-write', 'qa-write step 1', 'qa-write step 2']);
  });

  it('a test that only denies a rule covers the rule, not its approval steps', async () => {
    const dir = accessRepo();
    write(
      dir,
      'policies/tests/long.yaml',
      `tests:
  - name: reading for 9h is denied
    request: { requester: alice, resource: orders-db, role: read-only, duration: 9h, reason: Reproduce BUG-1234 }
    expect: denied
`,
    );
    rmSync(join(dir, 'policies/tests/qa.yaml'));
    const c = await coverage(dir, '--teams', writeTeams(dir));
    expect(c.rules.uncovered.map((r) => r.rule)).not.toContain('qa-read');
    expect(c.steps.uncovered.map((s) => `${s.rule} step ${s.step}`)).toContain('qa-read step 1');
  });

  it('--min exits 1 below it and names what is uncovered; at or above it exits 0', async () => {
    const dir = accessRepo();
    const low = await run(['verify', '--coverage', '--min', '50'], { cwd: dir });
    expect(low.code).toBe(1);
    expect(low.stdout).toContain('1 passed, 0 failed');
    expect(low.stderr).toBe(
      'timebox: coverage below --min 50%: rules 33.3% < 50% (not exercised: qa-write, no-billing); approval steps 33.3% < 50% (not exercised: qa-write step 1, qa-write step 2)\n',
    );
    // --min alone implies --coverage.
    const json = await run(['verify', '--min', '33', '--json'], { cwd: dir });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).coverage).toMatchObject({ min: 33, met: true });
    const jsonLow = await run(['verify', '--min', '34', '--json'], { cwd: dir });
    expect(jsonLow.code).toBe(1);
    expect(JSON.parse(jsonLow.stdout).coverage).toMatchObject({ min: 34, met: false });

    write(dir, 'policies/tests/write.yaml', WRITE_TEST);
    const steps = await run(['verify', '--min', '100'], { cwd: dir });
    expect(steps.code).toBe(1);
    expect(steps.stderr).toContain('rules 66.7% < 100% (not exercised: no-billing)');
    expect(steps.stderr).not.toContain('approval steps');
  });

  it('a bad --min is a usage error (exit 2)', async () => {
    const dir = accessRepo();
    for (const bad of ['abc', '101', '-5', '']) {
      const r = await run(['verify', '--coverage', '--min', bad], { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--min must be a percentage from 0 to 100');
    }
    expect((await run(['verify', '--min', '80%'], { cwd: dir })).stderr).not.toContain('--min must');
  });
});

function writeTeams(dir: string): string {
  write(dir, 'teams.yaml', '"@acme/qa": [alice]\n"@acme/qa-leads": [carol]\n');
  return join(dir, 'teams.yaml');
}
