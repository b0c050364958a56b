// `timebox whatif --base REF` over real git histories: request PRs merged by Timebox (a two-parent merge
// authored by its bot, signed with the web-flow key, trailers naming the approvers), commits that only
// claim to be Timebox's, and open request files in the working tree. Each merged version is decided at its
// own merge time (office hours) with its recorded approvals, under the base's policies and the working tree's.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { git, run, tempDir, write } from '../helpers/repo.js';
import { signHead, TIMEBOX_BOT, writeTrust } from '../helpers/trust.js';

interface Person {
  name: string;
  email: string;
}
const ALICE: Person = { name: 'alice', email: 'alice@example.com' };
const BOB: Person = { name: 'bob', email: 'bob@example.com' };

function gitAs(dir: string, who: Person, when: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: who.name,
      GIT_AUTHOR_EMAIL: who.email,
      GIT_COMMITTER_NAME: 'GitHub',
      GIT_COMMITTER_EMAIL: 'noreply@github.com',
      GIT_AUTHOR_DATE: when,
      GIT_COMMITTER_DATE: when,
    },
  });
}

const policy = (
  o: { maxRead?: string; readFrom?: string; hoursTo?: string; selfWrite?: boolean } = {},
) => `resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [orders_read] }
      read-write: { grant: [orders_write] }
rules:
  - name: qa-read
    requesters: ["@acme/qa"]
    resources: [orders-db]
    roles: [read-only]
    max_duration: ${o.maxRead ?? '4h'}
    approvals:
      - { from: ["${o.readFrom ?? '@acme/qa-leads'}"], count: 1 }
  - name: qa-write
    requesters: ["@acme/qa"]
    resources: [orders-db]
    roles: [read-write]
    max_duration: 2h
    hours: { days: [mon, tue, wed, thu, fri], from: "08:00", to: "${o.hoursTo ?? '18:00'}", tz: UTC }
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
${
  o.selfWrite
    ? `  - name: bob-writes-alone
    requesters: [bob]
    resources: [orders-db]
    roles: [read-write]
    max_duration: 1h
`
    : ''
}`;

const TEAMS = '"@acme/qa": [alice, bob]\n"@acme/qa-leads": [carol]\n"@acme/dba": [dave]\n';

const request = (requester: string, role: string, duration: string) =>
  `requester: ${requester}\nresource: orders-db\nrole: ${role}\nduration: ${duration}\nreason: Reproduce BUG-1234\n`;

/** An access repo on main whose audit trusts timebox[bot]'s merges signed by the test's web-flow key. */
function accessRepo(): string {
  const dir = tempDir();
  gitAs(dir, ALICE, '2026-01-01T00:00:00Z', 'init', '-q', '-b', 'main');
  writeTrust(dir);
  write(dir, 'policies/qa.yaml', policy());
  write(dir, 'teams.yaml', TEAMS);
  gitAs(dir, ALICE, '2026-01-01T00:00:00Z', 'add', '-A');
  gitAs(dir, ALICE, '2026-01-01T00:00:00Z', 'commit', '-q', '-m', 'access repo');
  return dir;
}

const trailers = (file: string, requester: string, approvers: string[], pull: number) =>
  `Grant (#${pull})\n\nTimebox-Request: ${file}\nTimebox-Requested-By: ${requester}\nTimebox-Approved-By: ${approvers.join(', ')}\nTimebox-Pull-Request: ${pull}\n`;

/**
 * A request PR merged at `when`: by Timebox (its bot, a merge commit GitHub signed), or `forged` as a person
 * who writes the same trailers into a merge they made in the web UI (signed by GitHub too) or into a commit
 * pushed straight to main. Returns the commit on main.
 */
async function land(
  dir: string,
  when: string,
  file: string,
  text: string,
  approvers: string[],
  how: 'timebox' | 'web-ui-merge' | 'pushed',
): Promise<string> {
  const requester = file.split('/')[1] as string;
  const message = trailers(file, requester, approvers, Math.floor(Math.random() * 1000) + 1);
  if (how === 'pushed') {
    write(dir, file, text);
    gitAs(dir, BOB, when, 'add', '-A');
    gitAs(dir, BOB, when, 'commit', '-q', '-m', message);
    return git(dir, 'rev-parse', 'HEAD').trim();
  }
  gitAs(dir, ALICE, when, 'switch', '-q', '-c', `pr-${Math.random().toString(36).slice(2)}`);
  write(dir, file, text);
  gitAs(dir, ALICE, when, 'add', '-A');
  gitAs(dir, ALICE, when, 'commit', '-q', '-m', 'request');
  const merger = how === 'timebox' ? TIMEBOX_BOT : BOB;
  gitAs(dir, merger, when, 'switch', '-q', 'main');
  gitAs(dir, merger, when, 'merge', '-q', '--no-ff', '-', '-m', message);
  return signHead(dir);
}

interface Change {
  file: string;
  commit: string | null;
  at: string;
  before: string;
  after: string;
  rule_before: string | null;
  rule_after: string | null;
  reasons: { rule: string | null; message: string }[];
}

const SATURDAY_NIGHT = new ManualClock(new Date('2026-01-10T23:00:00Z'));

async function whatif(dir: string, ...extra: string[]) {
  const r = await run(['whatif', '--base', 'main', '--teams', 'teams.yaml', ...extra], {
    cwd: dir,
    clock: SATURDAY_NIGHT,
  });
  expect(r.code, r.stderr).toBe(0);
  const json = await run(['whatif', '--base', 'main', '--teams', 'teams.yaml', '--json', ...extra], {
    cwd: dir,
    clock: SATURDAY_NIGHT,
  });
  expect(json.code, json.stderr).toBe(0);
  return {
    text: r.stdout,
    stderr: r.stderr,
    ...(JSON.parse(json.stdout) as { changed: Change[]; unchanged: number }),
  };
}

describe('timebox whatif', () => {
  it('a policy change that denies a past request and approves an open one shows both, with reasons', async () => {
    const dir = accessRepo();
    const long = await land(
      dir,
      '2026-01-07T10:00:00Z',
      'requests/alice/long.yaml',
      request('alice', 'read-only', '3h'),
      ['carol'],
      'timebox',
    );
    await land(
      dir,
      '2026-01-07T11:00:00Z',
      'requests/alice/short.yaml',
      request('alice', 'read-only', '1h'),
      ['carol'],
      'timebox',
    );
    // Proposed: reads up to 2h; bob may write alone for an hour. An open request of bob's waits today.
    write(dir, 'policies/qa.yaml', policy({ maxRead: '2h', selfWrite: true }));
    write(dir, 'requests/bob/fix.yaml', request('bob', 'read-write', '1h'));

    const r = await whatif(dir, '--at', '2026-01-08T09:00:00Z');
    expect(r.changed).toEqual([
      {
        file: 'requests/alice/long.yaml',
        commit: long,
        at: '2026-01-07T10:00:00Z',
        before: 'approved',
        after: 'denied',
        rule_before: 'qa-read',
        rule_after: null,
        reasons: [{ rule: 'qa-read', message: 'allows at most 2h; this request is for 3h' }],
      },
      {
        file: 'requests/bob/fix.yaml',
        commit: null,
        at: '2026-01-08T09:00:00Z',
        before: 'pending',
        after: 'approved',
        rule_before: 'qa-write',
        rule_after: 'bob-writes-alone',
        reasons: [{ rule: 'bob-writes-alone', message: 'approved by rule bob-writes-alone' }],
      },
    ]);
    expect(r.unchanged).toBe(1); // short.yaml: approved either way
    expect(r.text).toContain(
      `requests/alice/long.yaml  ${long.slice(0, 7)} 2026-01-07T10:00:00Z  approved → denied\n`,
    );
    expect(r.text).toContain('    qa-read: allows at most 2h; this request is for 3h\n');
    expect(r.text).toContain('requests/bob/fix.yaml  open, at 2026-01-08T09:00:00Z  pending → approved\n');
    expect(r.text).toContain('2 changed (1 approved → denied, 1 pending → approved), 1 unchanged\n');
    expect(r.stderr).toContain('replayed 2 merged version(s) of main');
    expect(r.stderr).toContain('and 1 open request(s)');
  });

  it('unchanged policies show nothing', async () => {
    const dir = accessRepo();
    await land(
      dir,
      '2026-01-07T10:00:00Z',
      'requests/alice/a.yaml',
      request('alice', 'read-only', '3h'),
      ['carol'],
      'timebox',
    );
    write(dir, 'requests/bob/open.yaml', request('bob', 'read-only', '1h'));
    const r = await whatif(dir);
    expect(r.changed).toEqual([]);
    expect(r.unchanged).toBe(2);
    expect(r.text).toBe('no decision changes (2 unchanged)\n');
  });

  it('each version is decided at its own merge time: office hours hold then, not now', async () => {
    const dir = accessRepo();
    const late = await land(
      dir,
      '2026-01-07T14:00:00Z',
      'requests/alice/w.yaml',
      request('alice', 'read-write', '1h'),
      ['carol'],
      'timebox',
    );
    // The same file edited later (a new version, merged in the morning): its own time decides it.
    await land(
      dir,
      '2026-01-08T09:00:00Z',
      'requests/alice/w.yaml',
      request('alice', 'read-write', '30m'),
      ['carol'],
      'timebox',
    );
    write(dir, 'policies/qa.yaml', policy({ hoursTo: '12:00' }));
    // Decided "now" (a Saturday night) every version would be denied under both: nothing would change.
    const r = await whatif(dir);
    expect(r.changed.map((c) => [c.commit, c.before, c.after])).toEqual([[late, 'approved', 'denied']]);
    expect(r.changed[0]?.reasons[0]?.rule).toBe('qa-write');
    expect(r.unchanged).toBe(1);
  });

  it('trailers in commits Timebox did not make approve nothing: forged approvals are not replayed', async () => {
    const dir = accessRepo();
    const real = await land(
      dir,
      '2026-01-07T10:00:00Z',
      'requests/alice/real.yaml',
      request('alice', 'read-only', '1h'),
      ['carol'],
      'timebox',
    );
    await land(
      dir,
      '2026-01-07T10:10:00Z',
      'requests/bob/pushed.yaml',
      request('bob', 'read-only', '1h'),
      ['carol'],
      'pushed',
    );
    await land(
      dir,
      '2026-01-07T10:20:00Z',
      'requests/bob/merged.yaml',
      request('bob', 'read-only', '1h'),
      ['carol'],
      'web-ui-merge',
    );
    // Proposed: reads need a DBA instead of a lead. Carol's approval, where it counted, no longer suffices;
    // where it never counted (the forged ones) they were pending before and stay pending.
    write(dir, 'policies/qa.yaml', policy({ readFrom: '@acme/dba' }));
    const r = await whatif(dir);
    expect(r.changed.map((c) => [c.file, c.commit, c.before, c.after])).toEqual([
      ['requests/alice/real.yaml', real, 'approved', 'pending'],
    ]);
    expect(r.changed[0]?.reasons).toEqual([
      { rule: 'qa-read', message: 'needs 1 more approval from @acme/dba' },
    ]);
    expect(r.unchanged).toBe(2);

    // And the other way: with no approval needed at all, only the forged ones change (pending → approved).
    write(
      dir,
      'policies/qa.yaml',
      policy().replace(
        / {4}approvals:\n {6}- \{ from: \["@acme\/qa-leads"\], count: 1 \}\n {2}- name: qa-write/,
        '  - name: qa-write',
      ),
    );
    const open = await whatif(dir);
    expect(open.changed.map((c) => [c.file, c.before, c.after])).toEqual([
      ['requests/bob/pushed.yaml', 'pending', 'approved'],
      ['requests/bob/merged.yaml', 'pending', 'approved'],
    ]);
  });

  it('a file the branch removed and the working tree writes again is open; --ref replays another branch', async () => {
    const dir = accessRepo();
    await land(
      dir,
      '2026-01-07T10:00:00Z',
      'requests/alice/a.yaml',
      request('alice', 'read-only', '3h'),
      ['carol'],
      'timebox',
    );
    gitAs(dir, ALICE, '2026-01-07T12:00:00Z', 'rm', '-q', 'requests/alice/a.yaml');
    gitAs(dir, ALICE, '2026-01-07T12:00:00Z', 'commit', '-q', '-m', 'revoke');
    write(dir, 'requests/alice/a.yaml', request('alice', 'read-only', '3h'));
    write(dir, 'policies/qa.yaml', policy({ maxRead: '2h' }));
    const r = await whatif(dir);
    expect(r.changed.map((c) => [c.commit === null ? 'open' : 'merged', c.before, c.after])).toEqual([
      ['merged', 'approved', 'denied'],
      ['open', 'pending', 'denied'],
    ]);
    gitAs(dir, ALICE, '2026-01-07T12:00:00Z', 'branch', 'empty', 'HEAD~2');
    const other = await whatif(dir, '--ref', 'empty');
    expect(other.changed.map((c) => c.commit)).toEqual([null]);
  });

  it('needs --base; an unknown ref is a usage error (exit 2); --help says what it replays', async () => {
    const dir = accessRepo();
    const help = await run(['whatif', '--help'], { cwd: dir });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--base <ref>');
    expect(help.stdout).toContain('approvals Timebox recorded on its own merge commit');
    expect((await run(['--help'], { cwd: dir })).stdout).toContain('whatif');
    expect((await run(['whatif'], { cwd: dir })).code).toBe(2);
    const r = await run(['whatif', '--base', 'nope'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nope');
  });
});
