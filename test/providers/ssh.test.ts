// The ssh provider against a real sshd on a loopback port (TrustedUserCAKeys, RevokedKeys): a certificate
// signed for the requester's key logs in, its key ID (the request path) is in sshd's log, and it is refused
// after revocation (the KRL, checked with ssh-keygen -Q too) and after its validity ends.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/demo/postgres.js';
import { certificateOptions, ssh } from '../../src/providers/ssh/index.js';
import type { GrantSpec, ProviderTarget } from '../../src/providers/types.js';

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
    owner: 'owner-ssh-test',
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

  it('options are checked: no smuggled principals, extensions or commands', () => {
    expect(() => certificateOptions({ principals: ['root,admin'] })).toThrow(/refusing the principal/);
    expect(() =>
      certificateOptions({ principals: ['root'], extensions: ['permit-pty -O no-touch-required'] }),
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
