// The ssh provider against a real sshd on a loopback port (TrustedUserCAKeys, RevokedKeys): a certificate
// signed for the requester's key logs in, its key ID (the request path) is in sshd's log, and it is refused
// after revocation (the KRL, checked with ssh-keygen -Q too) and after its validity ends. The KRL is shared
// by processes: concurrent revocations from several processes all land in it, and a writer that fails or
// is killed mid-write leaves it as it was (an empty KRL would let sshd accept revoked certificates).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/demo/postgres.js';
import { certificateOptions, listedSerials, ssh } from '../../src/providers/ssh/index.js';
import type { GrantSpec, ProviderTarget } from '../../src/providers/types.js';
import { outsideSchema } from './contract.js';
import { type Child, startChild } from './ssh-child.js';

const SSHD = '/usr/sbin/sshd';
const canRun = existsSync(SSHD) && process.getuid?.() === 0;
const why = !existsSync(SSHD)
  ? 'openssh-server is not installed (.ci/run installs it)'
  : 'sshd must start as root to switch users';

let dir: string;
let port: number;
let sshd: ReturnType<typeof spawn> | undefined;
let target: ProviderTarget;
let env: Record<string, string>;
const user = { key: '', pub: '' };
const children: Child[] = [];

/**
 * An ssh-keygen that dies while writing a KRL, first on PATH: for `-k -u` it truncates the file given with
 * -f (FAKE_KEYGEN=empty: to nothing, then fails as a full disk does; =hang: to half, then waits to be
 * killed, after creating FAKE_MARKER). Anything else is the real ssh-keygen.
 */
function fakeKeygenDir(): string {
  const bin = join(dir, 'fake-bin');
  mkdirSync(bin, { recursive: true });
  const real = execFileSync('sh', ['-c', 'command -v ssh-keygen'], { encoding: 'utf8' }).trim();
  writeFileSync(
    join(bin, 'ssh-keygen'),
    [
      '#!/bin/sh',
      'update=0; krl=; prev=',
      'for a in "$@"; do',
      '  [ "$a" = -u ] && update=1',
      '  [ "$prev" = -f ] && krl=$a',
      '  prev=$a',
      'done',
      'if [ "$update" = 1 ] && [ -n "$krl" ]; then',
      '  case "$FAKE_KEYGEN" in',
      '    empty) : > "$krl"; echo "write $krl: No space left on device" >&2; exit 1 ;;',
      '    hang) truncate -s $(( $(wc -c < "$krl") / 2 )) "$krl"; : > "$FAKE_MARKER"; exec sleep 600 ;;',
      '  esac',
      'fi',
      `exec ${real} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(join(bin, 'ssh-keygen'), 0o755);
  return bin;
}

async function until(what: string, ok: () => boolean, ms = 20_000) {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** ssh-keygen -Q over certificates: the ones the KRL revokes. */
function revokedBy(krl: string, certs: string[]): boolean[] {
  const files = certs.map((c, i) => {
    const f = join(dir, `q-${i}.pub`);
    writeFileSync(f, c);
    return f;
  });
  const q = spawnSync('ssh-keygen', ['-Q', '-f', krl, ...files], { encoding: 'utf8' });
  return files.map((f) =>
    q.stdout.split('\n').some((l) => l.startsWith(`${f} (`) && l.endsWith(': REVOKED')),
  );
}

function keygen(file: string, comment: string) {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

function login(cert: string): { status: number | null; stderr: string } {
  const certFile = join(dir, `cert-${Math.random().toString(36).slice(2)}.pub`);
  writeFileSync(certFile, cert);
  const r = spawnSync(
    'ssh',
    [
      '-F',
      'none',
      '-i',
      user.key,
      '-o',
      `CertificateFile=${certFile}`,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
      '-p',
      String(port),
      'root@127.0.0.1',
      'echo',
      'timebox-ok',
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  return { status: r.status, stderr: `${r.stdout}${r.stderr}` };
}

function spec(over: Partial<GrantSpec> = {}): GrantSpec {
  return {
    accessRepoId: 'owner-ssh-test',
    file: 'requests/alice/app-shell.yaml',
    grantId: 'requests/alice/app-shell.yaml@abc',
    requester: 'alice',
    resourceId: 'app-servers',
    resource: { ca: 'prod' },
    role: 'shell',
    roleSettings: { principals: ['root'], extensions: ['permit-pty'] },
    startsAt: new Date(Date.now() - 60_000),
    expiresAt: new Date(Date.now() + 3_600_000),
    publicKeys: [user.pub],
    ...over,
  };
}

describe.skipIf(!canRun)(`ssh provider${canRun ? '' : ` (skipped: ${why})`}`, () => {
  beforeAll(async () => {
    // Lives for the whole file (tempDir's folders are removed after each test).
    dir = mkdtempSync(join(tmpdir(), 'timebox-sshd-'));
    keygen(join(dir, 'ca'), 'timebox-ca');
    keygen(join(dir, 'host'), 'host');
    user.key = join(dir, 'id_ed25519');
    keygen(user.key, 'alice');
    user.pub = readFileSync(`${user.key}.pub`, 'utf8').trim();
    env = { TIMEBOX_SSH_PROD_CA_KEY: join(dir, 'ca'), TIMEBOX_SSH_PROD_KRL: join(dir, 'revoked.krl') };
    target = await ssh.connect({ ca: 'prod' }, env);
    port = await freePort();
    mkdirSync('/run/sshd', { recursive: true });
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${join(dir, 'host')}`,
        `TrustedUserCAKeys ${join(dir, 'ca.pub')}`,
        `RevokedKeys ${join(dir, 'revoked.krl')}`,
        'AuthorizedKeysFile none',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'StrictModes no',
        'UsePAM no',
        'LogLevel VERBOSE',
        `PidFile ${join(dir, 'sshd.pid')}`,
        '',
      ].join('\n'),
    );
    sshd = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config'), '-E', join(dir, 'sshd.log')], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 50; i++) {
      if (
        existsSync(join(dir, 'sshd.log')) &&
        readFileSync(join(dir, 'sshd.log'), 'utf8').includes('listening')
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 30_000);
  afterAll(async () => {
    sshd?.kill();
    await target?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a certificate for the requester’s key logs in, and sshd logs the request path as its key ID', async () => {
    const out = await target.grant(spec());
    expect(out.secret).toMatch(/^ssh-ed25519-cert-v01@openssh\.com /);
    const r = login(out.secret);
    expect(r.stderr).toContain('timebox-ok');
    expect(r.status).toBe(0);
    expect(readFileSync(join(dir, 'sshd.log'), 'utf8')).toMatch(
      /ID requests\/alice\/app-shell\.yaml \(serial \d+\)/,
    );
    const listed = await target.list();
    expect(listed.map((a) => a.principal)).toEqual(out.principal.split(','));
  });

  it('after revocation the KRL refuses it (sshd and ssh-keygen -Q agree), and it is no longer listed', async () => {
    const out = await target.grant(
      spec({ file: 'requests/alice/revoke-me.yaml', grantId: 'requests/alice/revoke-me.yaml@1' }),
    );
    expect(login(out.secret).status).toBe(0);
    const access = (await target.list()).find((a) => a.file === 'requests/alice/revoke-me.yaml');
    expect(access).toBeDefined();
    await target.revoke(access as NonNullable<typeof access>);
    expect(login(out.secret).status).not.toBe(0);
    writeFileSync(join(dir, 'check-cert.pub'), out.secret);
    const q = spawnSync('ssh-keygen', ['-Q', '-f', join(dir, 'revoked.krl'), join(dir, 'check-cert.pub')], {
      encoding: 'utf8',
    });
    expect(q.stdout).toContain('REVOKED');
    expect((await target.list()).find((a) => a.file === 'requests/alice/revoke-me.yaml')).toBeUndefined();
    // A grant for another request is untouched by that revocation.
    expect(
      login(
        (
          await target.grant(
            spec({ file: 'requests/alice/other.yaml', grantId: 'requests/alice/other.yaml@1' }),
          )
        ).secret,
      ).status,
    ).toBe(0);
  });

  it('after its validity ends the certificate is refused, without any revocation', async () => {
    const now = Date.now();
    const out = await target.grant(
      spec({
        file: 'requests/alice/short.yaml',
        grantId: 'requests/alice/short.yaml@1',
        startsAt: new Date(now - 60_000),
        expiresAt: new Date(Math.ceil(now / 1000) * 1000 + 2000),
      }),
    );
    expect(login(out.secret).status).toBe(0);
    await new Promise((r) => setTimeout(r, 3000));
    expect(login(out.secret).status).not.toBe(0);
  }, 15_000);

  describe('the KRL shared between processes', () => {
    const krl = () => join(dir, 'revoked.krl');
    const grantFile = async (file: string) =>
      (await target.grant(spec({ file, grantId: `${file}@1` }))).secret;
    const accessOf = async (file: string) => {
      const a = (await target.list()).find((x) => x.file === file);
      if (!a) throw new Error(`${file} is not listed`);
      return a;
    };
    /** A certificate revoked before, and one still valid: what a broken KRL would get wrong. */
    const baseline = async (name: string) => {
      const revoked = await grantFile(`requests/alice/${name}-revoked.yaml`);
      await target.revoke(await accessOf(`requests/alice/${name}-revoked.yaml`));
      const valid = await grantFile(`requests/alice/${name}-valid.yaml`);
      expect(login(revoked).status).not.toBe(0);
      expect(login(valid).status).toBe(0);
      return { revoked, valid, krl: readFileSync(krl()) };
    };

    it('concurrent revocations from three processes and four targets in this one all land in the KRL', async () => {
      const certs = new Map<string, string>();
      const files = (who: string, n: number) =>
        Array.from({ length: n }, (_, i) => `requests/race/${who}-${i}.yaml`);
      const perChild = [0, 1, 2].map((c) => files(`child${c}`, 6));
      const perTarget = [0, 1, 2, 3].map((t) => files(`target${t}`, 4));
      for (const file of [...perChild, ...perTarget].flat()) certs.set(file, await grantFile(file));

      const procs = perChild.map((fs) => startChild('revoke', fs, env));
      children.push(...procs);
      const targets = await Promise.all(perTarget.map(() => ssh.connect({ ca: 'prod' }, env)));
      await Promise.all(procs.map((p) => p.said('ready')));
      for (const p of procs) p.go();
      await Promise.all(
        targets.map(async (t, i) => {
          for (const file of perTarget[i] as string[]) {
            const access = (await t.list()).find((a) => a.file === file);
            await t.revoke(access as NonNullable<typeof access>);
          }
          await t.close();
        }),
      );
      for (const p of procs) expect(await p.exit, p.stderr()).toBe(0);

      const all = [...certs.values()];
      expect(revokedBy(krl(), all)).toEqual(all.map(() => true));
      expect((await target.list()).filter((a) => a.file.startsWith('requests/race/'))).toEqual([]);
      // sshd agrees, for one certificate revoked by a child process and one revoked here.
      expect(login(certs.get('requests/race/child1-5.yaml') as string).status).not.toBe(0);
      expect(login(certs.get('requests/race/target2-3.yaml') as string).status).not.toBe(0);
      expect(readdirSync(dir).filter((f) => f.includes('timebox-tmp') || f.endsWith('.lock'))).toEqual([]);
    }, 90_000);

    it('a revocation whose ssh-keygen fails mid-write (a full disk) leaves the KRL as it was', async () => {
      const before = await baseline('disk-full');
      const victim = await grantFile('requests/alice/disk-full.yaml');
      const path = process.env.PATH;
      process.env.PATH = `${fakeKeygenDir()}:${path}`;
      process.env.FAKE_KEYGEN = 'empty';
      try {
        await expect(target.revoke(await accessOf('requests/alice/disk-full.yaml'))).rejects.toThrow(
          /revoked\.krl is unchanged: write .*No space left on device/,
        );
      } finally {
        process.env.PATH = path;
        delete process.env.FAKE_KEYGEN;
      }
      expect(readFileSync(krl())).toEqual(before.krl);
      expect(login(before.revoked).status, 'still revoked').not.toBe(0);
      expect(login(before.valid).status, 'still valid').toBe(0);
      // Not marked revoked: still listed, so the next reconcile revokes it.
      await target.revoke(await accessOf('requests/alice/disk-full.yaml'));
      expect(login(victim).status).not.toBe(0);
    });

    it('a writer killed mid-write leaves the KRL whole, and its lock does not hold up the next one', async () => {
      const before = await baseline('killed');
      const victim = await grantFile('requests/alice/killed.yaml');
      const marker = join(dir, 'keygen-writing');
      const writer = startChild('revoke', ['requests/alice/killed.yaml'], {
        ...env,
        PATH: `${fakeKeygenDir()}:${process.env.PATH}`,
        FAKE_KEYGEN: 'hang',
        FAKE_MARKER: marker,
      });
      children.push(writer);
      await writer.said('ready');
      writer.go();
      await until('the writer to be half-way through the KRL', () => existsSync(marker));
      process.kill(-writer.pid, 'SIGKILL');
      await writer.exit;

      expect(readFileSync(krl())).toEqual(before.krl);
      expect(login(before.revoked).status, 'still revoked').not.toBe(0);
      expect(login(before.valid).status, 'still valid').toBe(0);
      expect(existsSync(`${krl()}.lock`), 'the killed writer held the lock').toBe(true);
      // The lock of a dead process is taken at once (stale by age only after 20 s).
      const started = Date.now();
      await target.revoke(await accessOf('requests/alice/killed.yaml'));
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(login(victim).status).not.toBe(0);
      expect(login(before.revoked).status).not.toBe(0);
      expect(readdirSync(dir).filter((f) => f.includes('timebox-tmp') || f.endsWith('.lock'))).toEqual([]);
    }, 60_000);
  });

  it('options are checked: no smuggled principals, extensions or commands', () => {
    expect(() => certificateOptions({ principals: ['root,admin'] })).toThrow(/refusing the principal/);
    expect(() =>
      // Outside the schema on purpose: what a policy that skipped `check` could hold.
      certificateOptions(
        outsideSchema({ principals: ['root'], extensions: ['permit-pty -O no-touch-required'] }),
      ),
    ).toThrow(/refusing the extension/);
    expect(() => certificateOptions({ principals: ['root'], force_command: 'ls\nrm -rf /' })).toThrow(
      /control characters/,
    );
    expect(() => certificateOptions({ principals: ['root'], source_address: ['0.0.0.0/0,evil'] })).toThrow(
      /refusing the address/,
    );
    expect(certificateOptions({ principals: ['deploy'], force_command: 'journalctl -u app' })).toEqual([
      '-n',
      'deploy',
      '-O',
      'clear',
      '-O',
      'permit-pty',
      '-O',
      'force-command=journalctl -u app',
    ]);
  });
});

describe('the certificate registry beside the KRL', () => {
  it('one it cannot read is never replaced: grants and listing fail instead of forgetting what was issued', async () => {
    const home = mkdtempSync(join(tmpdir(), 'timebox-ssh-registry-'));
    try {
      keygen(join(home, 'ca'), 'timebox-ca');
      keygen(join(home, 'id'), 'alice');
      const local = {
        TIMEBOX_SSH_PROD_CA_KEY: join(home, 'ca'),
        TIMEBOX_SSH_PROD_KRL: join(home, 'revoked.krl'),
      };
      const t = await ssh.connect({ ca: 'prod' }, local);
      const pub = readFileSync(join(home, 'id.pub'), 'utf8').trim();
      await t.grant(spec({ publicKeys: [pub] }));
      // Half a registry: what a write without fsync can leave after a power cut.
      const registry = `${local.TIMEBOX_SSH_PROD_KRL}.timebox.json`;
      const whole = readFileSync(registry, 'utf8');
      writeFileSync(registry, whole.slice(0, whole.length / 2));
      await expect(
        t.grant(spec({ file: 'requests/alice/other.yaml', grantId: 'x@1', publicKeys: [pub] })),
      ).rejects.toThrow(/is not a certificate registry .*restore it from a backup/);
      await expect(t.list()).rejects.toThrow(/is not a certificate registry/);
      expect(readFileSync(registry, 'utf8')).toBe(whole.slice(0, whole.length / 2));
      await t.close();
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('revoking a serial the registry does not know', () => {
  it('adds it to the KRL and verifies it in the KRL’s listing, under this CA only', async () => {
    const home = mkdtempSync(join(tmpdir(), 'timebox-ssh-unknown-'));
    try {
      keygen(join(home, 'ca'), 'timebox-ca');
      const krl = join(home, 'revoked.krl');
      const t = await ssh.connect(
        { ca: 'prod' },
        { TIMEBOX_SSH_PROD_CA_KEY: join(home, 'ca'), TIMEBOX_SSH_PROD_KRL: krl },
      );
      const access = {
        accessRepoId: 'o',
        provider: 'ssh',
        resourceId: 'app-servers',
        file: 'f',
        grantId: 'g',
        requester: null,
        role: null,
        principal: '',
        expiresAt: null,
      };
      await t.revoke({ ...access, principal: 'serial:4242' });
      await t.revoke({ ...access, principal: 'serial:4243' });
      await t.close();
      const listing = execFileSync('ssh-keygen', ['-Q', '-l', '-f', krl], { encoding: 'utf8' });
      const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(home, 'ca.pub')], {
        encoding: 'utf8',
      }).split(' ')[1] as string;
      expect(listing).toContain('serial: 4242-4243');
      const listed = listedSerials(listing, fp);
      expect([4241n, 4242n, 4243n, 4244n].map(listed)).toEqual([false, true, true, false]);
      // Another CA's serials are not this CA's.
      expect(listedSerials(listing, 'SHA256:another')(4242n)).toBe(false);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
