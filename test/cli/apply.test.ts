// `timebox apply` end to end: git history → real PostgreSQL → credentials that Debian's age opens.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offlineRef } from '../../src/cli/apply.js';
import { gitAt, postgresAccessRepo } from '../helpers/apply.js';
import { createTestDatabase, query, type TestDatabase } from '../helpers/postgres.js';
import { git, run, tempDir, write } from '../helpers/repo.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const accessRepo = (mergedAt: Date) =>
  postgresAccessRepo(db, {
    grant: db.readRole,
    roleExtra: ', statement_timeout: 5s',
    git: (dir, ...args) => gitAt(dir, mergedAt, ...args),
  });

const envFor = (url: string) => ({ TIMEBOX_POSTGRES_ORDERS_URL: url });

describe('timebox apply on a real PostgreSQL', () => {
  it('grants what git says, seals credentials that age opens, changes nothing twice, revokes at expiry', async () => {
    const merged = new Date(Date.now() - 60_000);
    const { dir, key, file } = accessRepo(merged);
    const env = envFor(db.url);

    const plan = await run(['plan', '--keys', 'keys.yaml', '--json'], { cwd: dir, env });
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout).grant).toEqual([
      expect.objectContaining({ file, provider: 'postgres', requester: 'alice' }),
    ]);

    const first = await run(['apply', '--keys', 'keys.yaml', '--json'], { cwd: dir, env });
    expect(first.stderr).toContain('offline: trusting the history');
    expect(first.code).toBe(0);
    const out = JSON.parse(first.stdout);
    expect(out.revoked).toEqual([]);
    expect(out.granted).toHaveLength(1);
    const granted = out.granted[0];
    expect(granted).toMatchObject({
      file,
      provider: 'postgres',
      expires_at: new Date(merged.getTime() - (merged.getTime() % 1000) + 7_200_000).toISOString(),
    });
    expect(granted.credentials).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----/);
    expect(granted.credentials).not.toContain('postgresql://');

    const url = execFileSync('age', ['-d', '-i', key], {
      input: granted.credentials,
      encoding: 'utf8',
    }).trim();
    expect(url).toMatch(new RegExp(`^postgresql://${granted.principal}:`));
    const session = new pg.Client({ connectionString: url });
    await session.connect();
    session.on('error', () => {});
    expect((await session.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(2);
    await expect(session.query('DELETE FROM orders')).rejects.toThrow(/read-only/);

    const second = await run(['apply', '--keys', 'keys.yaml', '--json'], { cwd: dir, env });
    expect(JSON.parse(second.stdout)).toMatchObject({ granted: [], revoked: [] });

    const ended = new Promise<void>((resolve) => session.on('end', () => resolve()));
    const later = new Date(Date.now() + 3 * 3_600_000).toISOString();
    const expire = await run(['expire', '--at', later, '--json'], { cwd: dir, env });
    expect(expire.code).toBe(0);
    expect(JSON.parse(expire.stdout).revoked).toEqual([
      expect.objectContaining({
        file,
        provider: 'postgres',
        principal: granted.principal,
        reason: 'expired',
        sessions_ended: 1,
      }),
    ]);
    await ended;
    expect(
      (await query(db.url, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [granted.principal])).rowCount,
    ).toBe(0);
  });

  it('without the requester’s keys nothing is granted, and it says why', async () => {
    const { dir } = accessRepo(new Date(Date.now() - 60_000));
    writeFileSync(
      join(dir, 'keys.yaml'),
      readFileSync(join(dir, 'keys.yaml'), 'utf8').replace('alice:', 'bob:'),
    );
    const r = await run(['apply', '--keys', 'keys.yaml', '--json'], { cwd: dir, env: envFor(db.url) });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).granted).toEqual([]);
    expect(r.stderr).toContain('no SSH keys for alice');
  });

  it('a requester key that fails the curve point check: nothing granted, plan and apply name the line and login', async () => {
    const { dir, file } = accessRepo(new Date(Date.now() - 60_000));
    // Well-formed, and accepted when the file is read (its check is made for the logins sealed to): but its
    // 32 bytes are on no ed25519 curve point, so nothing can be sealed to alice.
    const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
    const point = Buffer.alloc(32);
    point[0] = 2;
    const blob = Buffer.concat([str(Buffer.from('ssh-ed25519')), str(point)]);
    writeFileSync(join(dir, 'keys.yaml'), `bob: []\nalice:\n  - ssh-ed25519 ${blob.toString('base64')}\n`);
    // Another problem in the file is said at once, before anything is done…
    const broken = await run(['plan', '--keys', 'keys.yaml'], { cwd: dir, env: envFor(db.url) });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('keys.yaml:1:6: bob: has no keys');
    expect(broken.stderr).not.toContain('curve point');
    writeFileSync(join(dir, 'keys.yaml'), `alice:\n  - ssh-ed25519 ${blob.toString('base64')}\n`);
    const why = 'keys.yaml:2:5: alice: key 1: the ed25519 public key is not a valid curve point';
    // …and the key is refused where it is used: by plan's preflight, and by apply, which grants nothing.
    const plan = await run(['plan', '--keys', 'keys.yaml'], { cwd: dir, env: envFor(db.url) });
    expect(plan.code).toBe(1);
    expect(plan.stderr).toContain(`cannot read the SSH keys of alice: ${why}`);
    const r = await run(['apply', '--keys', 'keys.yaml', '--json'], { cwd: dir, env: envFor(db.url) });
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.granted).toEqual([]);
    expect(out.errors).toEqual([
      expect.objectContaining({
        file,
        message: `cannot read the SSH keys of alice: ${why}; nothing granted`,
      }),
    ]);
    const made = await query(
      db.url,
      `SELECT rolname FROM pg_roles WHERE shobj_description(oid, 'pg_authid') LIKE '%' || $1 || '%'`,
      [file],
    );
    expect(made.rows).toEqual([]);
  });

  it('a target that is down during revocation raises an alarm, and the next run revokes', async () => {
    const { dir } = accessRepo(new Date(Date.now() - 60_000));
    const granted = JSON.parse(
      (await run(['apply', '--keys', 'keys.yaml', '--json'], { cwd: dir, env: envFor(db.url) })).stdout,
    ).granted[0];
    const later = new Date(Date.now() + 3 * 3_600_000).toISOString();
    const down = await run(['expire', '--at', later], {
      cwd: dir,
      env: envFor('postgresql://postgres@127.0.0.1:1/none'),
    });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/ALARM: list postgres failed: .*cannot connect/);
    // Said before acting: the warning comes before the first attempt to reach the target.
    expect(down.stderr).toMatch(
      /WARNING: --at \S+ is in the future: 1 grant\(s\) that git still holds now will be REVOKED EARLY[^\n]*new passwords[\s\S]*ALARM: list postgres/,
    );
    expect(
      (await query(db.url, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [granted.principal])).rowCount,
    ).toBe(1);
    const up = await run(['expire', '--at', later, '--json'], { cwd: dir, env: envFor(db.url) });
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout).revoked.map((r: { principal: string }) => r.principal)).toEqual([
      granted.principal,
    ]);
    // The same in Actions mode (GITHUB_TOKEN), before anything is done (here GitHub does not answer).
    const actions = await run(['expire', '--at', later], {
      cwd: dir,
      env: {
        ...envFor(db.url),
        GITHUB_TOKEN: 't',
        GITHUB_REPOSITORY: 'acme/access',
        GITHUB_API_URL: 'http://127.0.0.1:1',
      },
    });
    expect(actions.stderr).toMatch(
      /^WARNING: --at \S+ is in the future: 1 grant\(s\) that git still holds now will be REVOKED EARLY/m,
    );
    expect(actions.stderr.indexOf('WARNING')).toBeLessThan(actions.stderr.indexOf('github: acme/access'));
  });

  it('without --json writes each credential to a 0600 age file that age and timebox creds open, never overwriting one', async () => {
    const { dir, key, file } = accessRepo(new Date(Date.now() - 60_000));
    const env = envFor(db.url);
    const first = await run(['apply', '--keys', 'keys.yaml'], { cwd: dir, env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(new RegExp(`^granted\\s+${file}\\s+postgres tb_`));
    const path = join(dir, '.git', 'timebox-credentials', `${file}.age`);
    expect(first.stderr).toContain(`credentials for alice (${file}), sealed to their SSH keys: ${path}`);
    expect(first.stderr).toContain(`timebox creds ${path}`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const content = readFileSync(path, 'utf8');
    expect(content).toMatch(
      /^-----BEGIN AGE ENCRYPTED FILE-----\n[\s\S]+\n-----END AGE ENCRYPTED FILE-----\n$/,
    );

    // Debian's age opens the file itself, and the URL in it logs in.
    const url = execFileSync('age', ['-d', '-i', key, path], { encoding: 'utf8' }).trim();
    expect(url).toMatch(/^postgresql:\/\/tb_/);
    const session = new pg.Client({ connectionString: url });
    await session.connect();
    expect((await session.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(2);
    await session.end();
    const opened = await run(['creds', path, '--identity', key], { cwd: dir });
    expect(opened.code, opened.stderr).toBe(0);
    expect(opened.stdout.trim()).toBe(url);
    // Nothing git could commit.
    expect(git(dir, 'status', '--porcelain', '--ignored')).not.toContain('timebox-credentials');

    const again = await run(['apply', '--keys', 'keys.yaml'], { cwd: dir, env });
    expect(again.stdout).toMatch(/nothing to do/);

    // An edit is a new grant: its credentials go to a new file, the earlier one stays as it was.
    write(dir, file, readFileSync(join(dir, file), 'utf8').replace('duration: 2h', 'duration: 3h'));
    git(dir, 'commit', '-qam', 'longer');
    const regrant = await run(['apply', '--keys', 'keys.yaml'], { cwd: dir, env });
    expect(regrant.code, regrant.stderr).toBe(0);
    const second = join(dir, '.git', 'timebox-credentials', `${file}.2.age`);
    expect(regrant.stderr).toContain(`sealed to their SSH keys: ${second}`);
    expect(regrant.stderr).toContain(
      `note: an earlier credentials file for this request is kept as it was: ${path}`,
    );
    expect(readFileSync(path, 'utf8')).toBe(content);
    expect(statSync(second).mode & 0o777).toBe(0o600);
    expect(execFileSync('age', ['-d', '-i', key, second], { encoding: 'utf8' })).toMatch(
      /^postgresql:\/\/tb_/,
    );

    // --creds-dir in the work tree must be one git ignores.
    const inside = await run(['apply', '--keys', 'keys.yaml', '--creds-dir', 'creds'], { cwd: dir, env });
    expect(inside.code).toBe(2);
    expect(inside.stderr).toMatch(
      /--creds-dir creds is inside the access repo's work tree and git does not ignore it/,
    );
    const elsewhere = tempDir('timebox-creds-dir-');
    const outside = await run(['apply', '--keys', 'keys.yaml', '--creds-dir', elsewhere], { cwd: dir, env });
    expect(outside.code, outside.stderr).toBe(0);
  });

  it('offline, an unmerged branch that is checked out is not provisioned: exit 2 and the remedy; --ref main works', async () => {
    const { dir, file } = accessRepo(new Date(Date.now() - 60_000));
    const env = envFor(db.url);
    git(dir, 'switch', '-q', '-c', 'access/bob');
    const bobs = `requests/bob/${db.name}.yaml`;
    write(dir, bobs, readFileSync(join(dir, file), 'utf8').replace('alice', 'bob'));
    writeFileSync(
      join(dir, 'keys.yaml'),
      `${readFileSync(join(dir, 'keys.yaml'), 'utf8')}${readFileSync(join(dir, 'keys.yaml'), 'utf8').replace('alice', 'bob')}`,
    );
    git(dir, 'add', bobs);
    git(dir, 'commit', '-qm', 'bob asks');

    for (const command of ['apply', 'plan', 'expire']) {
      const refused = await run([command, '--keys', 'keys.yaml'], { cwd: dir, env });
      expect(refused.code, command).toBe(2);
      expect(refused.stderr).toMatch(
        /the checkout \(access\/bob at [0-9a-f]{7}\) is not the default branch main \([0-9a-f]{7}\).*never an unmerged branch.*git switch main.*--ref main/,
      );
      expect(refused.stdout).toBe('');
    }
    expect(existsSync(join(dir, '.git', 'timebox-credentials'))).toBe(false);

    const applied = await run(['apply', '--keys', 'keys.yaml', '--ref', 'main', '--json'], { cwd: dir, env });
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stderr).toContain('offline: trusting the history of main (--ref)');
    expect(JSON.parse(applied.stdout).granted.map((g: { file: string }) => g.file)).toEqual([file]);

    // Back on main, the default branch is trusted without --ref; with an origin, origin/HEAD is.
    git(dir, 'switch', '-q', 'main');
    const onMain = await run(['plan', '--keys', 'keys.yaml'], { cwd: dir, env });
    expect(onMain.code, onMain.stderr).toBe(0);
    expect(onMain.stderr).toContain(
      'offline: trusting the history of main (the default branch, checked out)',
    );
    const clone = tempDir();
    git(clone, 'clone', '-q', dir, '.');
    git(clone, 'switch', '-q', 'access/bob');
    const inClone = await run(['plan', '--keys', join(dir, 'keys.yaml')], { cwd: clone, env });
    expect(inClone.code).toBe(2);
    expect(inClone.stderr).toMatch(
      /not the default branch origin\/main .*git switch main && git pull --ff-only.*--ref origin\/main/,
    );
  });
});

describe('offlineRef: the ref offline apply trusts', () => {
  const repoWith = (branch: string) => {
    const dir = tempDir();
    git(dir, 'init', '-q', '-b', branch);
    write(dir, 'README.md', 'x\n');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-qm', 'one');
    return dir;
  };

  it('main, else master, and only when checked out (a detached HEAD at its tip too); else the remedy', async () => {
    const master = repoWith('master');
    expect(await offlineRef(master, undefined)).toEqual({
      name: 'master',
      why: ' (the default branch, checked out)',
    });
    // main wins over master, whichever is checked out.
    git(master, 'branch', 'main');
    git(master, 'switch', '-q', '--detach', 'main');
    expect((await offlineRef(master, undefined)).name).toBe('main');
    write(master, 'README.md', 'y\n');
    git(master, 'commit', '-qam', 'two');
    await expect(offlineRef(master, undefined)).rejects.toThrow(
      /the checkout \(a detached HEAD at [0-9a-f]{7}\) is not the default branch main/,
    );
    await expect(offlineRef(repoWith('trunk'), undefined)).rejects.toThrow(
      /no default branch \(origin\/HEAD, main or master\) to trust: pass --ref/,
    );
    expect(await offlineRef(repoWith('trunk'), 'trunk')).toEqual({ name: 'trunk', why: ' (--ref)' });
    await expect(offlineRef(repoWith('trunk'), '--output=/tmp/x')).rejects.toThrow(/unknown git revision/);
  });
});
