// The ledger from real git history: merge time, scheduled start, early removal, extension, expiry, until,
// odd history, and the cache.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { activeAt, buildLedger, type Ledger } from '../../src/core/ledger.js';
import { cachedHistory, readHistory } from '../../src/repo/history.js';
import { ALICE, gitAt as gitWith, type Person } from '../helpers/git-at.js';
import { run, tempDir, write } from '../helpers/repo.js';
import { signHead, TIMEBOX_BOT, TRUSTING, WEB_FLOW_KEYS } from '../helpers/trust.js';

const TIMEBOX: Person = { name: 'Timebox', email: 'timebox@example.com' };

/** git with fixed author and committer times, so intervals are exact; `author` writes the commits. */
const gitAs = (author: Person, dir: string, when: string, ...args: string[]) =>
  gitWith(dir, { when, author, committer: TIMEBOX }, ...args);
const gitAt = (dir: string, when: string, ...args: string[]) => gitAs(ALICE, dir, when, ...args);

const request = (extra: Record<string, string> = {}) =>
  Object.entries({
    requester: 'alice',
    resource: 'orders-db',
    role: 'read-only',
    duration: '2h',
    reason: 'Reproduce BUG-1234 in prod',
    ...extra,
  })
    .map(([k, v]) => `${k}: ${v}\n`)
    .join('');

function repo(): string {
  const dir = tempDir();
  gitAt(dir, '2026-01-01T00:00:00Z', 'init', '-q', '-b', 'main');
  write(dir, 'README.md', '# access\n');
  gitAt(dir, '2026-01-01T00:00:00Z', 'add', '-A');
  gitAt(dir, '2026-01-01T00:00:00Z', 'commit', '-q', '-m', 'init');
  return dir;
}

function commit(dir: string, when: string, message: string, files: Record<string, string | null>): void {
  for (const [path, text] of Object.entries(files)) {
    if (text === null) gitAt(dir, when, 'rm', '-q', path);
    else write(dir, path, text);
  }
  gitAt(dir, when, 'add', '-A');
  gitAt(dir, when, 'commit', '-q', '--allow-empty', '-m', message);
}

/**
 * A PR branch committed at `branchTime` and merged with --no-ff at `mergeTime`: by Timebox when it carries
 * trailers (authored by its bot and signed, as GitHub writes the App's merges), else by a person.
 */
async function mergePr(
  dir: string,
  branchTime: string,
  mergeTime: string,
  files: Record<string, string | null>,
  trailers = '',
): Promise<void> {
  gitAt(dir, branchTime, 'switch', '-q', '-c', `pr-${branchTime.replace(/\W/g, '')}`);
  commit(dir, branchTime, 'request', files);
  gitAt(dir, mergeTime, 'switch', '-q', 'main');
  gitAs(
    trailers ? TIMEBOX_BOT : ALICE,
    dir,
    mergeTime,
    'merge',
    '-q',
    '--no-ff',
    '-',
    '-m',
    `Merge pull request${trailers ? `\n\n${trailers}` : ''}`,
  );
  if (trailers) await signHead(dir);
}

async function ledger(dir: string, now: string): Promise<Ledger> {
  return buildLedger(
    await readHistory(dir, 'HEAD', 'requests', undefined, WEB_FLOW_KEYS),
    TRUSTING,
    new Date(now),
  );
}

const FILE = 'requests/alice/bug.yaml';

describe('grant intervals', () => {
  it('a merged PR starts at the merge commit’s time, not the branch commit’s', async () => {
    const dir = repo();
    await mergePr(
      dir,
      '2026-01-05T09:00:00Z',
      '2026-01-05T10:00:00Z',
      { [FILE]: request() },
      'Timebox-Approved-By: carol, @dave',
    );
    const l = await ledger(dir, '2026-01-05T10:30:00Z');
    expect(l.grants).toHaveLength(1);
    expect(l.grants[0]).toMatchObject({
      file: FILE,
      starts_at: '2026-01-05T10:00:00Z',
      expires_at: '2026-01-05T12:00:00Z',
      ends_at: '2026-01-05T12:00:00Z',
      state: 'active',
      approvers: ['carol', 'dave'],
    });
    expect(l.events.map((e) => [e.type, e.time, e.actor])).toEqual([
      ['requested', '2026-01-05T09:00:00Z', 'alice'],
      ['approved', '2026-01-05T10:00:00Z', 'carol'],
      ['approved', '2026-01-05T10:00:00Z', 'dave'],
      // Who merged it (the merge's author, a GitHub no-reply address), as a login.
      ['granted', '2026-01-05T10:00:00Z', 'timebox[bot]'],
    ]);
  });

  it('a scheduled start delays the grant; until ends it', async () => {
    const dir = repo();
    commit(dir, '2026-01-05T10:00:00Z', 'scheduled', {
      [FILE]: request({ start: '2026-01-06T08:00:00Z' }),
      'requests/alice/until.yaml': request({ duration: '', until: '2026-01-05T18:00:00Z' }).replace(
        'duration: \n',
        '',
      ),
    });
    const l = await ledger(dir, '2026-01-05T11:00:00Z');
    const byFile = Object.fromEntries(l.grants.map((g) => [g.file, g]));
    expect(byFile[FILE]).toMatchObject({
      starts_at: '2026-01-06T08:00:00Z',
      expires_at: '2026-01-06T10:00:00Z',
      state: 'scheduled',
    });
    expect(byFile['requests/alice/until.yaml']).toMatchObject({
      starts_at: '2026-01-05T10:00:00Z',
      expires_at: '2026-01-05T18:00:00Z',
    });
    expect(activeAt(l, new Date('2026-01-05T12:00:00Z')).map((g) => g.file)).toEqual([
      'requests/alice/until.yaml',
    ]);
    expect(activeAt(l, new Date('2026-01-06T09:00:00Z')).map((g) => g.file)).toEqual([FILE]);
  });

  it('early removal revokes at the removing commit, with the trailer reason', async () => {
    const dir = repo();
    commit(dir, '2026-01-05T10:00:00Z', 'grant', { [FILE]: request() });
    await mergePr(
      dir,
      '2026-01-05T10:44:00Z',
      '2026-01-05T10:45:00Z',
      { [FILE]: null },
      'Timebox-Revocation-Reason: bug reproduced\nTimebox-Activity: 12 statements, 340 rows',
    );
    const l = await ledger(dir, '2026-01-05T13:00:00Z');
    expect(l.grants[0]).toMatchObject({
      ends_at: '2026-01-05T10:45:00Z',
      state: 'revoked',
      revocation_reason: 'bug reproduced',
      activity: '12 statements, 340 rows',
    });
    const revoked = l.events.find((e) => e.type === 'revoked');
    expect(revoked).toMatchObject({
      time: '2026-01-05T10:45:00Z',
      actor: 'timebox[bot]',
      reason: 'bug reproduced',
    });
    expect(l.events.some((e) => e.type === 'expired')).toBe(false);
    expect(activeAt(l, new Date('2026-01-05T11:00:00Z'))).toEqual([]);
  });

  it('expiry: a grant past its window is expired; the later revert is the revocation, by whom, with activity', async () => {
    const dir = repo();
    commit(dir, '2026-01-05T10:00:00Z', 'grant', { [FILE]: request() });
    await mergePr(
      dir,
      '2026-01-05T12:00:04Z',
      '2026-01-05T12:00:05Z',
      { [FILE]: null },
      'Timebox-Revocation-Reason: expired\nTimebox-Activity: 3 statements',
    );
    const l = await ledger(dir, '2026-01-06T00:00:00Z');
    expect(l.grants[0]).toMatchObject({
      state: 'expired',
      ends_at: '2026-01-05T12:00:00Z',
      activity: '3 statements',
    });
    expect(l.events.map((e) => e.type)).toEqual(['requested', 'granted', 'expired', 'revoked']);
    expect(l.events[2]).toMatchObject({ time: '2026-01-05T12:00:00Z' });
    expect(l.events[3]).toMatchObject({
      time: '2026-01-05T12:00:05Z',
      reason: 'expired',
      activity: '3 statements',
    });
    expect(l.events[3]?.actor).toMatch(/\S/);
    // Without a revert the grant only expired: no revocation is claimed.
    const only = repo();
    commit(only, '2026-01-05T10:00:00Z', 'grant', { [FILE]: request() });
    const e = (await ledger(only, '2026-01-06T00:00:00Z')).events.map((x) => x.type);
    expect(e).toEqual(['requested', 'granted', 'expired']);
  });

  it('an edit while active is an extension linked to the grant it extends', async () => {
    const dir = repo();
    commit(dir, '2026-01-05T10:00:00Z', 'grant', { [FILE]: request() });
    commit(dir, '2026-01-05T11:00:00Z', 'extend', { [FILE]: request({ duration: '3h' }) });
    const l = await ledger(dir, '2026-01-05T11:30:00Z');
    expect(l.grants).toHaveLength(2);
    const [first, second] = l.grants;
    expect(first).toMatchObject({ state: 'replaced', ends_at: '2026-01-05T11:00:00Z' });
    expect(second).toMatchObject({
      starts_at: '2026-01-05T11:00:00Z',
      expires_at: '2026-01-05T14:00:00Z',
      extends: first?.id,
      state: 'active',
    });
    expect(l.events.filter((e) => e.type === 'extended')).toHaveLength(1);
    expect(activeAt(l, new Date('2026-01-05T13:00:00Z')).map((g) => g.id)).toEqual([second?.id]);
  });

  it('an edit after expiry is a new grant, not an extension', async () => {
    const dir = repo();
    commit(dir, '2026-01-05T10:00:00Z', 'grant', { [FILE]: request() });
    commit(dir, '2026-01-06T10:00:00Z', 'again', {
      [FILE]: request({ reason: 'Reproduce BUG-1235 in prod' }),
    });
    const l = await ledger(dir, '2026-01-06T10:30:00Z');
    expect(l.grants.map((g) => [g.state, g.extends])).toEqual([
      ['expired', undefined],
      ['active', undefined],
    ]);
  });
});

describe('odd history gets notes, never a crash or a wrong interval', () => {
  it('invalid request files, renames and request-like files elsewhere', async () => {
    const dir = repo();
    commit(dir, '2026-01-05T10:00:00Z', 'bad', {
      'requests/alice/bad.yaml': 'requester: alice\nresource: [\n',
      'policies/x.yaml': request(),
    });
    commit(dir, '2026-01-05T10:05:00Z', 'grant', { [FILE]: request() });
    gitAt(dir, '2026-01-05T10:10:00Z', 'mv', FILE, 'requests/alice/moved.yaml');
    gitAt(dir, '2026-01-05T10:10:00Z', 'commit', '-q', '-m', 'rename');
    const l = await ledger(dir, '2026-01-05T10:30:00Z');
    expect(l.notes.map((n) => [n.file, n.message.split(':')[0]])).toEqual([
      ['requests/alice/bad.yaml', 'not a valid request, no access recorded (line 3'],
      ['requests/alice/moved.yaml', 'renamed from requests/alice/bug.yaml'],
    ]);
    expect(l.grants.map((g) => [g.file, g.state, g.ends_at])).toEqual([
      [FILE, 'revoked', '2026-01-05T10:10:00Z'],
      ['requests/alice/moved.yaml', 'active', '2026-01-05T12:10:00Z'],
    ]);
  });

  it('commits dated before their parent use the parent’s time; future dates are noted', async () => {
    const dir = repo();
    commit(dir, '2026-01-05T10:00:00Z', 'grant', { [FILE]: request() });
    commit(dir, '2026-01-04T00:00:00Z', 'backdated', {
      'requests/bob/x.yaml': request({ requester: 'bob' }),
    });
    commit(dir, '2027-01-01T00:00:00Z', 'future', {
      'requests/carol/x.yaml': request({ requester: 'carol' }),
    });
    const l = await ledger(dir, '2026-01-05T11:00:00Z');
    expect(l.notes.map((n) => n.message)).toEqual([
      expect.stringContaining('before the commit below it'),
      expect.stringContaining('dated in the future'),
    ]);
    expect(l.grants.find((g) => g.requester === 'bob')?.starts_at).toBe('2026-01-05T10:00:00Z');
  });

  it('only the first-parent line counts: side-branch commits appear at the merge', async () => {
    const dir = repo();
    await mergePr(dir, '2026-01-05T08:00:00Z', '2026-01-05T12:00:00Z', { [FILE]: request() });
    const parents = gitAt(dir, '2026-01-05T12:00:00Z', 'log', '-1', '--format=%P').trim().split(' ');
    expect(parents).toHaveLength(2);
    const l = await ledger(dir, '2026-01-05T12:30:00Z');
    expect(l.grants.map((g) => g.starts_at)).toEqual(['2026-01-05T12:00:00Z']);
  });
});

describe('the cache under .git/timebox/', () => {
  it('a repeated run reads only new commits, and deleting the cache changes no answer', async () => {
    const dir = repo();
    commit(dir, '2026-01-05T10:00:00Z', 'one', { [FILE]: request() });
    const first = await cachedHistory(dir, 'HEAD', 'requests');
    expect(first.fromCache).toBe(0);
    commit(dir, '2026-01-05T11:00:00Z', 'two', { 'requests/bob/x.yaml': request({ requester: 'bob' }) });
    const second = await cachedHistory(dir, 'HEAD', 'requests');
    expect(second.fromCache).toBe(1);
    expect(second.commits).toHaveLength(2);
    const warm = await cachedHistory(dir, 'HEAD', 'requests');
    expect(warm.fromCache).toBe(2);

    const at = ['status', '--json', '--at', '2026-01-05T11:30:00Z'];
    const withCache = await run(at, { cwd: dir });
    rmSync(join(dir, '.git/timebox'), { recursive: true, force: true });
    const withoutCache = await run(at, { cwd: dir });
    expect(withoutCache.stdout).toBe(withCache.stdout);
    expect(JSON.parse(withCache.stdout).grants).toHaveLength(2);
    expect(existsSync(join(dir, '.git/timebox'))).toBe(true);
    // The folded ledger is cached per tip too: warm, cold and uncached audits agree.
    const audit = ['audit', '--until', '2026-01-06T00:00:00Z'];
    const warmAudit = (await run(audit, { cwd: dir })).stdout;
    expect((await run(audit, { cwd: dir })).stdout).toBe(warmAudit);
    expect((await run([...audit, '--no-cache'], { cwd: dir })).stdout).toBe(warmAudit);
    expect(JSON.parse(warmAudit).events.length).toBeGreaterThan(0);
  });

  it('rewritten history is read again from scratch', async () => {
    const dir = repo();
    commit(dir, '2026-01-05T10:00:00Z', 'one', { [FILE]: request() });
    await cachedHistory(dir, 'HEAD', 'requests');
    gitAt(dir, '2026-01-05T10:00:00Z', 'reset', '-q', '--hard', 'HEAD~1');
    commit(dir, '2026-01-05T10:30:00Z', 'other', { 'requests/bob/x.yaml': request({ requester: 'bob' }) });
    const after = await cachedHistory(dir, 'HEAD', 'requests');
    expect(after.fromCache).toBe(0);
    expect(after.commits.flatMap((c) => c.changes.map((x) => x.path))).toEqual(['requests/bob/x.yaml']);
  });
});

describe('timebox status and audit', () => {
  it('status prints the SPEC JSON shape and a table', async () => {
    const dir = repo();
    commit(dir, '2026-01-05T10:00:00Z', 'grant', { [FILE]: request() });
    const json = await run(['status', '--json', '--at', '2026-01-05T11:00:00Z'], { cwd: dir });
    expect(JSON.parse(json.stdout)).toEqual({
      at: '2026-01-05T11:00:00.000Z',
      grants: [
        {
          file: FILE,
          requester: 'alice',
          resource: 'orders-db',
          role: 'read-only',
          starts_at: '2026-01-05T10:00:00Z',
          expires_at: '2026-01-05T12:00:00Z',
        },
      ],
    });
    const table = await run(['status', '--at', '2026-01-05T11:00:00Z'], { cwd: dir });
    expect(table.stdout).toMatch(/^FILE\s+REQUESTER\s+RESOURCE\s+ROLE\s+STARTS\s+EXPIRES\n/);
    expect(table.stdout).toContain('1 active at');
    const none = await run(['status', '--at', '2026-01-05T13:00:00Z'], { cwd: dir });
    expect(none.stdout).toContain('no access is granted');
  });

  it('audit filters by --since/--until and writes csv', async () => {
    const dir = repo();
    commit(dir, '2026-01-05T10:00:00Z', 'grant', { [FILE]: request() });
    commit(dir, '2026-01-06T10:00:00Z', 'grant2', {
      'requests/bob/x.yaml': request({ requester: 'bob', reason: '=HYPERLINK("x"), "quoted"' }),
    });
    const json = JSON.parse((await run(['audit', '--since', '2026-01-06T00:00:00Z'], { cwd: dir })).stdout);
    expect(json.events.every((e: { requester: string }) => e.requester === 'bob')).toBe(true);
    expect(json.events.map((e: { type: string }) => e.type)).toEqual(['requested', 'granted', 'expired']);
    const csv = (await run(['audit', '--format', 'csv', '--until', '2026-01-06T10:00:00Z'], { cwd: dir }))
      .stdout;
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'time,type,file,actor,requester,resource,role,expires_at,ticket,pull_request,reason,activity,commit,grant',
    );
    expect(lines).toHaveLength(1 + 5);
    expect(csv).toContain(`"'=HYPERLINK(""x""), ""quoted"""`);
  });

  it('an unknown ref is a usage error', async () => {
    const dir = repo();
    expect((await run(['status', '--ref', 'nope'], { cwd: dir })).code).toBe(2);
  });
});
