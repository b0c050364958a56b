// The real tools the credential tests check against: Debian's `age` and OpenSSH's `ssh-keygen`.
// Missing tools FAIL the tests (never skip them): interoperability is the point.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TOOLS = [
  { command: 'age', pkg: 'age' },
  { command: 'ssh-keygen', pkg: 'openssh-client' },
];

/** Throws (failing the suite) unless `age` and `ssh-keygen` are on PATH. */
export function requireTools(): void {
  const missing = TOOLS.filter(
    (t) => spawnSync('sh', ['-c', `command -v ${t.command}`], { encoding: 'utf8' }).status !== 0,
  );
  if (missing.length > 0)
    throw new Error(
      `the credential tests need ${missing.map((t) => t.command).join(' and ')}, which ${missing.length > 1 ? 'are' : 'is'} ` +
        'not installed: install the Debian packages age and openssh-client ' +
        '(apt-get install -y age openssh-client; .ci/run installs them on CI)',
    );
}

export function scratchDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'timebox-creds-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface KeyPair {
  /** Path of the private key file; the public key is at `${path}.pub`. */
  path: string;
  privateKey: string;
  publicLine: string;
}

/** `ssh-keygen -t TYPE [-b BITS] -N PASSPHRASE [-m FORMAT] -f DIR/NAME`, as a user would make a key. */
export function keygen(
  dir: string,
  name: string,
  type: 'ed25519' | 'rsa' | 'ecdsa',
  options: { bits?: number; passphrase?: string; format?: 'PEM'; comment?: string } = {},
): KeyPair {
  const path = join(dir, name);
  const args = [
    '-q',
    '-t',
    type,
    '-N',
    options.passphrase ?? '',
    '-f',
    path,
    '-C',
    options.comment ?? `${name}@test`,
  ];
  if (options.bits) args.push('-b', String(options.bits));
  if (options.format) args.push('-m', options.format);
  const r = spawnSync('ssh-keygen', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`ssh-keygen ${args.join(' ')} failed: ${r.stderr}`);
  return {
    path,
    privateKey: readFileSync(path, 'utf8'),
    publicLine: readFileSync(`${path}.pub`, 'utf8').trim(),
  };
}

/** Runs Debian's `age` with no terminal, so it can never prompt. */
export function age(
  args: string[],
  input?: string,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('age', args, {
    encoding: 'utf8',
    input: input ?? '',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    timeout: 20_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
