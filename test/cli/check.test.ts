// `timebox check` end to end on real temporary git repositories.
import { describe, expect, it } from 'vitest';
import { exampleRepo, git, run, write } from '../helpers/repo.js';

const REQUEST = `requester: alice
resource: orders-db
role: read-only
duration: 2h
reason: Reproduce BUG-1234, EU order totals off by VAT
`;
const FILE = 'requests/alice/orders.yaml';
const AT = '2026-01-07T10:00:00Z';

function branchWithRequest(text = REQUEST): string {
  const dir = exampleRepo();
  git(dir, 'switch', '-q', '-c', 'access');
  write(dir, FILE, text);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'request');
  return dir;
}

describe('timebox check --base', () => {
  it('decides the request files changed since the base: pending, then approved', async () => {
    const dir = branchWithRequest();
    const pending = await run(['check', '--base', 'main', '--teams', 'teams.yaml', '--at', AT], { cwd: dir });
    expect(pending.code).toBe(0);
    expect(pending.stdout).toContain(`pending   ${FILE}`);
    expect(pending.stdout).toContain('step 1: 1 of @acme/qa-leads — no approval yet; can approve: carol');
    expect(pending.stderr).toContain('policies and CODEOWNERS from main');

    const approved = await run(
      ['check', '--base', 'main', '--teams', 'teams.yaml', '--at', AT, '--approved-by', 'carol', '--json'],
      { cwd: dir },
    );
    expect(approved.code).toBe(0);
    const doc = JSON.parse(approved.stdout);
    expect(Object.keys(doc)).toEqual(['results']);
    expect(doc.results).toHaveLength(1);
    expect(doc.results[0]).toMatchObject({
      file: FILE,
      status: 'approved',
      rule: 'qa-read',
      errors: [],
      reasons: [],
      request: { requester: 'alice', resource: 'orders-db', role: 'read-only', duration: '2h' },
      approvals: {
        satisfied: true,
        steps: [{ from: ['@acme/qa-leads'], count: 1, approvers: ['carol'] }],
        codeowners: { owners: [], satisfied: true },
      },
      window: { starts_at: AT, expires_at: '2026-01-07T12:00:00Z' },
    });
  });

  it('--require-approved turns pending into exit 1 for CI gates', async () => {
    const dir = branchWithRequest();
    const r = await run(
      ['check', '--base', 'main', '--teams', 'teams.yaml', '--at', AT, '--require-approved'],
      { cwd: dir },
    );
    expect(r.code).toBe(1);
  });

  it('reads policies from the base, not from the branch', async () => {
    const dir = exampleRepo();
    git(dir, 'switch', '-q', '-c', 'access');
    write(dir, FILE, REQUEST.replace('2h', '3h'));
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'request');
    // Meanwhile main tightens the policy; the branch still carries the old one.
    git(dir, 'switch', '-q', 'main');
    write(
      dir,
      'policies/qa.yaml',
      (await import('node:fs'))
        .readFileSync(`${dir}/policies/qa.yaml`, 'utf8')
        .replace('max_duration: 4h', 'max_duration: 2h'),
    );
    git(dir, 'commit', '-q', '-am', 'tighten');
    git(dir, 'switch', '-q', 'access');
    const r = await run(
      ['check', '--base', 'main', '--teams', 'teams.yaml', '--at', AT, '--approved-by', 'carol', '--json'],
      { cwd: dir },
    );
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).results[0].reasons).toEqual([
      { rule: 'qa-read', message: 'allows at most 2h; this request is for 3h' },
    ]);
  });

  it('a branch that loosens policies and adds a request is denied', async () => {
    const dir = branchWithRequest(REQUEST.replace('2h', '8h'));
    write(
      dir,
      'policies/qa.yaml',
      (await import('node:fs'))
        .readFileSync(`${dir}/policies/qa.yaml`, 'utf8')
        .replace('max_duration: 4h', 'max_duration: 24h'),
    );
    git(dir, 'commit', '-q', '-am', 'loosen');
    const r = await run(
      [
        'check',
        '--base',
        'main',
        '--teams',
        'teams.yaml',
        '--at',
        AT,
        '--approved-by',
        'carol,sam',
        '--json',
      ],
      { cwd: dir },
    );
    expect(r.code).toBe(1);
    const [result] = JSON.parse(r.stdout).results;
    expect(result.status).toBe('denied');
    expect(result.reasons[0]).toEqual({
      rule: 'timebox/separate-review',
      message: expect.stringContaining('policies/qa.yaml'),
    });
  });

  it('a branch that only removes a request, opened by its requester, needs no approval', async () => {
    const dir = branchWithRequest();
    git(dir, 'switch', '-q', 'main');
    git(dir, 'merge', '-q', '--ff-only', 'access');
    git(dir, 'switch', '-q', '-c', 'revoke');
    git(dir, 'rm', '-q', FILE);
    git(dir, 'commit', '-q', '-m', 'revoke');
    const mine = await run(
      ['check', '--base', 'main', '--teams', 'teams.yaml', '--author', 'alice', '--json'],
      { cwd: dir },
    );
    expect(JSON.parse(mine.stdout).results[0]).toMatchObject({
      status: 'approved',
      change: 'removed',
      rule: 'timebox/early-revocation',
    });
    const theirs = await run(
      ['check', '--base', 'main', '--teams', 'teams.yaml', '--author', 'mallory', '--json'],
      { cwd: dir },
    );
    expect(JSON.parse(theirs.stdout).results[0].status).toBe('pending');
  });

  it('a branch without request files passes', async () => {
    const dir = exampleRepo();
    git(dir, 'switch', '-q', '-c', 'docs');
    write(dir, 'README.md', '# access\n');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'docs');
    const r = await run(['check', '--base', 'main'], { cwd: dir });
    expect(r).toMatchObject({ code: 0, stdout: 'no request files to check\n' });
  });

  it('sees uncommitted and untracked request files, as the user does', async () => {
    const dir = exampleRepo();
    write(dir, 'requests/bob/new.yaml', REQUEST.replace('alice', 'bob'));
    const r = await run(['check', '--base', 'main', '--teams', 'teams.yaml', '--at', AT, '--json'], {
      cwd: dir,
    });
    expect(JSON.parse(r.stdout).results.map((x: { file: string }) => x.file)).toEqual([
      'requests/bob/new.yaml',
    ]);
  });

  it('an unknown base is a usage error', async () => {
    const dir = exampleRepo();
    const r = await run(['check', '--base', 'no-such-branch'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown git revision `no-such-branch`');
  });

  it('a base that looks like an option cannot inject git flags', async () => {
    const dir = exampleRepo();
    const r = await run(['check', '--base=--output=/tmp/x'], { cwd: dir });
    expect(r.code).toBe(2);
  });
});

describe('timebox check FILES', () => {
  it('an invalid file exits 1 with file:line:column, never a stack trace', async () => {
    const dir = exampleRepo();
    write(
      dir,
      FILE,
      'requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: short\nextra: &a 1\n',
    );
    const r = await run(['check', FILE], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`invalid   ${FILE}`);
    expect(r.stdout).toContain(`${FILE}:6:8: anchors`);
    expect(r.stderr).not.toMatch(/at .*\.(js|ts):\d+/);
  });

  it('paths are taken relative to the current directory', async () => {
    const dir = exampleRepo();
    write(dir, FILE, REQUEST);
    const r = await run(
      ['check', 'orders.yaml', '--repo', '../..', '--teams', '../../teams.yaml', '--at', AT, '--json'],
      { cwd: `${dir}/requests/alice` },
    );
    expect(JSON.parse(r.stdout).results[0].file).toBe(FILE);
  });

  it('without files, checks every request in the working tree', async () => {
    const dir = exampleRepo();
    write(dir, FILE, REQUEST);
    write(dir, 'requests/bob/x.yaml', REQUEST.replace('alice', 'bob').replace('orders-db', 'billing-db'));
    const r = await run(['check', '--teams', 'teams.yaml', '--at', AT, '--approved-by', 'carol'], {
      cwd: dir,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('no-billing: Billing and admin systems are out of scope');
    expect(r.stdout).toContain('2 files: 1 approved, 1 denied');
  });

  it('a file outside the repo, a missing file, a bad --at and an unknown flag are usage errors', async () => {
    const dir = exampleRepo();
    expect((await run(['check', '/etc/passwd'], { cwd: dir })).code).toBe(2);
    expect((await run(['check', 'requests/nope.yaml'], { cwd: dir })).stderr).toContain('no such file');
    expect((await run(['check', '--at', 'tomorrow'], { cwd: dir })).code).toBe(2);
    expect((await run(['check', '--frobnicate'], { cwd: dir })).code).toBe(2);
  });

  it('invalid policies exit 2 and name file:line', async () => {
    const dir = exampleRepo();
    write(
      dir,
      'policies/broken.yaml',
      'rules:\n  - name: x\n    resources: [a]\n    max_duration: forever\n',
    );
    write(dir, FILE, REQUEST);
    const r = await run(['check', FILE], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('policies/broken.yaml:4:19: must be a duration');
  });

  it('a broken teams file exits 2 and names file:line', async () => {
    const dir = exampleRepo();
    write(dir, 'bad-teams.yaml', '"@acme/qa": [alice]\nqa: [bob]\n');
    const r = await run(['check', '--teams', 'bad-teams.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bad-teams.yaml:2:1');
  });

  it('without team data, a request allowed through a team is pending on the unknown membership, not denied', async () => {
    const dir = exampleRepo();
    write(dir, FILE, REQUEST);
    const r = await run(['check', FILE, '--at', AT, '--approved-by', 'carol', '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    const [result] = JSON.parse(r.stdout).results;
    expect(result.status).toBe('pending');
    expect(result.reasons).toEqual([
      { rule: 'qa-read', message: expect.stringContaining('membership of @acme/qa is unknown') },
    ]);
    // Fails closed all the same: still not approved, and --require-approved stops a CI gate.
    const gate = await run(['check', FILE, '--at', AT, '--approved-by', 'carol', '--require-approved'], {
      cwd: dir,
    });
    expect(gate.code).toBe(1);
    expect(gate.stdout).toContain(`pending   ${FILE}`);
  });

  it('a missing teams file exits 2 and says what to give, not a bare ENOENT', async () => {
    const dir = exampleRepo();
    const r = await run(['check', '--teams', 'nope.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`cannot read --teams file ${dir}/nope.yaml: no such file;`);
    expect(r.stderr).toContain('"@org/team"');
    expect(r.stderr).not.toMatch(/ENOENT/);
  });

  it('colour only on request; NO_COLOR output has no escape codes', async () => {
    const dir = exampleRepo();
    write(dir, FILE, REQUEST);
    const plain = await run(['check', FILE, '--teams', 'teams.yaml'], { cwd: dir, color: false });
    expect(plain.stdout).not.toContain('\u001b[');
    const coloured = await run(['check', FILE, '--teams', 'teams.yaml'], { cwd: dir, color: true });
    expect(coloured.stdout).toContain('\u001b[');
  });
});
