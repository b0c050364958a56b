// The in-process OpenPGP check the audit relies on (OpenPGP.js), against the real gpg both ways: signatures
// gpg makes (RSA, as GitHub's web-flow key; Ed25519) verify here, and what the forge's web-flow key writes is
// a key gpg imports and a commit signature `git verify-commit` accepts. Tampering, strangers' keys, revoked
// keys and SHA-1 signatures are refused.
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitRepo } from '../../src/forge/git-store.js';
import { createWebFlowKey } from '../../src/forge/web-flow.js';
import { checkCommitSignature, OpenPgpError, readPublicKeys } from '../../src/repo/openpgp.js';

const hasGpg = spawnSync('gpg', ['--version']).status === 0;
const dirs: string[] = [];
const temp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
const homes: string[] = [];

type Gpg = (...args: string[]) => string;

/** A gpg home with a fresh key of `algo`; returns the home, the key's fingerprint and its public key. */
function gpgKey(algo: string, uid: string): { home: string; fpr: string; pub: string; gpg: Gpg } {
  const home = temp('timebox-gnupg-');
  homes.push(home);
  const gpg = (...args: string[]) =>
    execFileSync(
      'gpg',
      ['--batch', '--homedir', home, '--pinentry-mode', 'loopback', '--passphrase', '', ...args],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  gpg('--quick-gen-key', uid, algo, 'sign', 'never');
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(gpg('--with-colons', '--list-keys', uid))?.[1] as string;
  return { home, fpr, pub: gpg('--armor', '--export', fpr), gpg };
}

/** A repo with one commit signed by `git commit -S` with the key in `home`; returns its raw object. */
function signedCommit(home: string, fpr: string): Buffer {
  const dir = temp('timebox-signed-');
  const env = {
    ...process.env,
    GNUPGHOME: home,
    GIT_AUTHOR_NAME: 'A',
    GIT_AUTHOR_EMAIL: 'a@example.com',
    GIT_COMMITTER_NAME: 'A',
    GIT_COMMITTER_EMAIL: 'a@example.com',
  };
  const git = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { env });
  git('init', '-q', '-b', 'main');
  git(
    '-c',
    `user.signingkey=${fpr}`,
    'commit',
    '-q',
    '--allow-empty',
    '-S',
    '-m',
    'signed\n\nTimebox-Approved-By: carol',
  );
  return git('cat-file', 'commit', 'HEAD');
}

/** The commit object as it was before signing: its `gpgsig` header (and the header's continuation lines) removed. */
function withoutSignature(raw: Buffer): Buffer {
  const text = raw.toString('latin1');
  const out = text.replace(/^gpgsig .*\n(?: .*\n)*/m, '');
  expect(out).not.toBe(text);
  return Buffer.from(out, 'latin1');
}

/** The same commit object with one byte of its message changed (the signature kept). */
function tamper(raw: Buffer): Buffer {
  const text = raw.toString('latin1').replace('carol', 'carl!');
  return Buffer.from(text, 'latin1');
}

afterAll(() => {
  for (const home of homes) spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(!hasGpg)('commit signatures made by gpg', () => {
  let rsa: { home: string; fpr: string; pub: string };
  let ed: { home: string; fpr: string; pub: string };
  beforeAll(() => {
    rsa = gpgKey('rsa2048', 'RSA Signer <rsa@example.com>');
    ed = gpgKey('ed25519', 'Ed Signer <ed@example.com>');
  }, 60_000);

  it('verify with the signer’s public key (RSA, as GitHub’s web-flow key, and Ed25519)', async () => {
    for (const k of [rsa, ed]) {
      const raw = signedCommit(k.home, k.fpr);
      expect(await checkCommitSignature(raw, await readPublicKeys(k.pub))).toEqual({
        status: 'valid',
        signer: k.fpr,
      });
    }
  });

  it('a changed commit is bad; another key’s signature is untrusted; no signature is none', async () => {
    const raw = signedCommit(rsa.home, rsa.fpr);
    expect((await checkCommitSignature(tamper(raw), await readPublicKeys(rsa.pub))).status).toBe('bad');
    expect((await checkCommitSignature(raw, await readPublicKeys(ed.pub))).status).toBe('untrusted');
    const unsigned = withoutSignature(raw);
    expect(await checkCommitSignature(unsigned, await readPublicKeys(rsa.pub))).toEqual({ status: 'none' });
  });

  it('a signature by a key revoked since is refused, as gpg refuses it', async () => {
    const k = gpgKey('ed25519', 'Revoked Signer <revoked@example.com>');
    const raw = signedCommit(k.home, k.fpr);
    expect((await checkCommitSignature(raw, await readPublicKeys(k.pub))).status).toBe('valid');
    // gpg wrote a revocation certificate when it made the key; importing it revokes the key.
    const cert = readFileSync(join(k.home, 'openpgp-revocs.d', `${k.fpr}.rev`), 'utf8').replace(
      /^:-----BEGIN/m,
      '-----BEGIN',
    );
    execFileSync('gpg', ['--batch', '--homedir', k.home, '--import'], { input: cert, stdio: 'pipe' });
    const revoked = k.gpg('--armor', '--export', k.fpr);
    const check = await checkCommitSignature(raw, await readPublicKeys(revoked));
    expect(check.status).toBe('untrusted');
    expect(check).toMatchObject({ detail: expect.stringContaining('revoked') });
    const dir = temp('timebox-verify-');
    execFileSync('git', ['init', '-q', '--bare', dir]);
    const sha = execFileSync('git', ['--git-dir', dir, 'hash-object', '-t', 'commit', '-w', '--stdin'], {
      input: raw,
      encoding: 'utf8',
    }).trim();
    const out = spawnSync('git', ['--git-dir', dir, 'verify-commit', '--raw', sha], {
      env: { ...process.env, GNUPGHOME: k.home },
      encoding: 'utf8',
    });
    expect(out.stderr).toContain('REVKEYSIG');
  });

  it('a SHA-1 signature is refused (OpenPGP.js’s default rejectMessageHashAlgorithms)', async () => {
    const k = gpgKey('rsa2048', 'SHA-1 Signer <sha1@example.com>');
    appendFileSync(join(k.home, 'gpg.conf'), 'digest-algo SHA1\n');
    const raw = signedCommit(k.home, k.fpr);
    const check = await checkCommitSignature(raw, await readPublicKeys(k.pub));
    expect(check).toMatchObject({ status: 'untrusted', detail: expect.stringContaining('SHA1') });
  });
});

describe('the forge’s web-flow key', () => {
  it('signs commits that this module verifies, and only those', async () => {
    const key = await createWebFlowKey(new Date('2017-08-16T00:00:00Z'));
    const repo = await GitRepo.init(join(temp('timebox-forge-'), 'r.git'));
    const who = { name: 'GitHub', email: 'noreply@github.com' };
    const sha = await repo.writeCommit({
      files: { 'a.txt': 'a\n' },
      author: who,
      committer: who,
      message: 'merge\n\nTimebox-Approved-By: carol\n',
      sign: key.sign,
    });
    const raw = execFileSync('git', ['--git-dir', repo.dir, 'cat-file', 'commit', sha]);
    const keys = await readPublicKeys(key.publicKey);
    expect(keys.map((k) => k.fingerprint)).toEqual([key.fingerprint]);
    expect(await checkCommitSignature(raw, keys)).toEqual({ status: 'valid', signer: key.fingerprint });
    expect((await checkCommitSignature(tamper(raw), keys)).status).toBe('bad');
    const other = await createWebFlowKey(new Date('2017-08-16T00:00:00Z'));
    expect((await checkCommitSignature(raw, await readPublicKeys(other.publicKey))).status).toBe('untrusted');
  });

  it.skipIf(!hasGpg)('is a key gpg imports, and git verify-commit accepts its signatures', async () => {
    const key = await createWebFlowKey(new Date('2017-08-16T00:00:00Z'));
    const home = temp('timebox-gnupg-');
    homes.push(home);
    execFileSync('gpg', ['--batch', '--homedir', home, '--import'], { input: key.publicKey, stdio: 'pipe' });
    const repo = await GitRepo.init(join(temp('timebox-forge-'), 'r.git'));
    const who = { name: 'GitHub', email: 'noreply@github.com' };
    const sha = await repo.writeCommit({
      files: { 'a.txt': 'a\n' },
      author: who,
      committer: who,
      message: 'merge',
      sign: key.sign,
    });
    const out = spawnSync('git', ['--git-dir', repo.dir, 'verify-commit', '--raw', sha], {
      env: { ...process.env, GNUPGHOME: home },
      encoding: 'utf8',
    });
    expect(out.stderr).toContain(`VALIDSIG ${key.fingerprint}`);
    expect(out.stderr).toContain('GOODSIG');
  });
});

describe('key files', () => {
  it('a file with no key is an error, not an empty trust list', async () => {
    await expect(readPublicKeys('not a key\n')).rejects.toThrow(OpenPgpError);
    await expect(
      readPublicKeys(
        '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n=AAAA\n-----END PGP PUBLIC KEY BLOCK-----\n',
      ),
    ).rejects.toThrow(OpenPgpError);
  });
});
