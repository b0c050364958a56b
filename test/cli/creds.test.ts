// `timebox creds`: open sealed credentials from a file, `apply --json` output, or a pull request (the
// GitHub side is in test/github/life.test.ts).
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pullReference } from '../../src/cli/creds.js';
import { sealTo } from '../../src/creds/seal.js';
import { requireSshPublicKey } from '../../src/creds/ssh-keys.js';
import { FakeGitHub } from '../../src/forge/fake-github.js';
import { run, tempDir } from '../helpers/repo.js';

function keyPair(dir: string, name: string): { key: string; pub: string } {
  const key = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
  return { key, pub: readFileSync(`${key}.pub`, 'utf8').trim() };
}

describe('timebox creds', () => {
  it('reads a pull request reference, or takes the argument as a file', () => {
    expect(pullReference('12')).toEqual({ number: 12 });
    expect(pullReference('#7')).toEqual({ number: 7 });
    expect(pullReference('https://github.com/acme/access/pull/42')).toEqual({
      number: 42,
      repo: { owner: 'acme', repo: 'access' },
    });
    expect(pullReference('https://github.com/acme/access/pull/42/files')).toMatchObject({ number: 42 });
    expect(pullReference('creds.age')).toBeNull();
    expect(pullReference('12.age')).toBeNull();
    expect(pullReference('https://github.com/acme/access/issues/42')).toBeNull();
  });

  it('opens `apply --json` output with the key it was sealed to, and says why another key cannot', async () => {
    const dir = tempDir('timebox-creds-');
    const alice = keyPair(dir, 'alice');
    const bob = keyPair(dir, 'bob');
    const sealed = await sealTo('postgresql://tb_alice:secret@db:5432/orders\n', [
      requireSshPublicKey(alice.pub),
    ]);
    writeFileSync(
      join(dir, 'out.json'),
      JSON.stringify({ granted: [{ file: 'requests/alice/a.yaml', credentials: sealed }] }),
    );
    const ok = await run(['creds', 'out.json', '--identity', alice.key], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('postgresql://tb_alice:secret@db:5432/orders\n');
    expect(ok.stderr).toContain('requests/alice/a.yaml');
    const wrong = await run(['creds', 'out.json', '--identity', bob.key], { cwd: dir });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/not sealed to your key/);
  });

  it('installs an SSH certificate beside the key it certifies', async () => {
    const dir = tempDir('timebox-creds-');
    const alice = keyPair(dir, 'id_ed25519');
    const other = keyPair(dir, 'other');
    keyPair(dir, 'ca');
    for (const name of ['id_ed25519', 'other'])
      execFileSync('ssh-keygen', [
        '-q',
        '-s',
        join(dir, 'ca'),
        '-I',
        'requests/alice/x.yaml',
        '-n',
        'root',
        join(dir, `${name}.pub`),
      ]);
    const certs = ['other', 'id_ed25519'].map((n) => readFileSync(join(dir, `${n}-cert.pub`), 'utf8').trim());
    const mine = certs[1];
    rmSync(join(dir, 'id_ed25519-cert.pub'));
    const sealed = await sealTo(`${certs.join('\n')}\n`, [
      requireSshPublicKey(alice.pub),
      requireSshPublicKey(other.pub),
    ]);
    writeFileSync(join(dir, 'creds.age'), sealed);
    const r = await run(['creds', 'creds.age', '--identity', alice.key], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`installed the SSH certificate as ${alice.key}-cert.pub`);
    expect(readFileSync(`${alice.key}-cert.pub`, 'utf8').trim()).toBe(mine);
  });

  it('a pull request needs a token, and says how to get one', async () => {
    const dir = tempDir('timebox-creds-');
    const r = await run(['creds', '12'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/GITHUB_TOKEN or GH_TOKEN.*gh auth token/);
  });

  it('with a passphrase-protected key, advises an age command that age accepts for each kind of input', async () => {
    const dir = tempDir('timebox-creds-');
    const plain = keyPair(dir, 'plain');
    const locked = join(dir, 'locked');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret phrase', '-C', 'locked', '-f', locked]);
    const recipients = [plain.pub, readFileSync(`${locked}.pub`, 'utf8').trim()].map(requireSshPublicKey);
    const sealed = await sealTo('postgresql://tb_alice:secret@db:5432/orders\n', recipients);
    writeFileSync(join(dir, 'creds.age'), sealed);
    writeFileSync(
      join(dir, 'out.json'),
      JSON.stringify({ granted: [{ file: 'requests/alice/a.yaml', credentials: sealed }] }),
    );

    const file = await run(['creds', 'creds.age', '--identity', locked], { cwd: dir });
    expect(file.code).toBe(1);
    expect(file.stderr).toContain(`age prompts for it: age -d -i ${locked} creds.age`);

    const json = await run(['creds', 'out.json', '--identity', locked], { cwd: dir });
    expect(json.code).toBe(1);
    const advice = /: (jq -r '\.granted\[0\]\.credentials' out\.json \| age -d -i )(\S+)\n/.exec(json.stderr);
    expect(advice, json.stderr).not.toBeNull();
    expect(advice?.[2]).toBe(locked);
    // The advised pipeline is one age accepts (shown here with the unprotected key: age would prompt for
    // the passphrase of the other); age itself refuses the JSON.
    const opened = execFileSync('sh', ['-c', `${advice?.[1]}${plain.key}`], { cwd: dir, encoding: 'utf8' });
    expect(opened).toBe('postgresql://tb_alice:secret@db:5432/orders\n');
    expect(() =>
      execFileSync('age', ['-d', '-i', plain.key, 'out.json'], { cwd: dir, stdio: 'pipe' }),
    ).toThrow();
  });
});

describe('timebox creds PR: only Timebox’s own comment', () => {
  it('ignores a newer look-alike by another bot or a person, and says whose it read', async () => {
    const dir = tempDir('timebox-creds-pr-');
    const alice = keyPair(dir, 'alice');
    const seal = (text: string) => sealTo(text, [requireSshPublicKey(alice.pub)]);
    const fake = await FakeGitHub.start();
    try {
      await fake.createRepo('acme/access', { author: 'admin', files: { 'README.md': 'hi\n' } });
      await fake.commit('acme/access', {
        branch: 'b',
        files: { 'requests/alice/a.yaml': 'x\n' },
        author: 'alice',
      });
      const pull = await fake.openPull({ repo: 'acme/access', head: 'b', user: 'alice' });
      const marker = (id: string) => `<!-- timebox:credentials ${id} -->\n`;
      fake.comment('acme/access', pull, 'timebox[bot]', `${marker('a')}${await seal('real\n')}`);
      fake.comment('acme/access', pull, 'evil-app[bot]', `${marker('a')}${await seal('forged by a bot\n')}`);
      fake.comment('acme/access', pull, 'mallory', `${marker('a')}${await seal('forged by a person\n')}`);
      const env = { GH_TOKEN: fake.token(), GITHUB_REPOSITORY: 'acme/access', GITHUB_API_URL: fake.url };
      const r = await run(['creds', String(pull), '--identity', alice.key], { cwd: dir, env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('real\n');
      expect(r.stderr).toContain('posted by timebox[bot]');
      // An App of another name is named; then only its comments count.
      const other = await run(['creds', String(pull), '--identity', alice.key], {
        cwd: dir,
        env: { ...env, TIMEBOX_BOT_LOGIN: 'access-keeper[bot]' },
      });
      expect(other.code).toBe(2);
      expect(other.stderr).toContain('no credentials from Timebox (access-keeper[bot])');
    } finally {
      await fake.close();
    }
  });
});
