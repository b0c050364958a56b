// `--keys FILE` as apply's Sealer: the file checked when the command starts (any problem stops it, at its
// file:line), and each login's keys checked in full — the ed25519 curve point too — before anything is
// sealed to it or granted for it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../../src/cli/context.js';
import { ConfigError } from '../../src/cli/errors.js';
import { keysSealer } from '../../src/cli/keys.js';
import { systemClock } from '../../src/core/clock.js';
import { openWith } from '../../src/creds/seal.js';
import { type KeyPair, keygen, requireTools, scratchDir } from '../creds/tools.js';

let dir: string;
let remove: () => void;
let alice: KeyPair;
let bob: KeyPair;

beforeAll(() => {
  requireTools();
  ({ dir, remove } = scratchDir());
  alice = keygen(dir, 'alice', 'ed25519');
  bob = keygen(dir, 'bob', 'ed25519');
});
afterAll(() => remove?.());

function quietIo(): Io & { err: string[] } {
  const err: string[] = [];
  return {
    err,
    stdout: () => {},
    stderr: (t) => err.push(t),
    color: false,
    isTTY: false,
    cwd: dir,
    env: {},
    clock: systemClock,
  };
}

/** A well-formed ssh-ed25519 line whose 32 bytes are on no curve point (y = 2). */
function offCurveLine(): string {
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const point = Buffer.alloc(32);
  point[0] = 2;
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from('ssh-ed25519')), str(point)]).toString('base64')} broken`;
}

describe('keysSealer', () => {
  it('refuses a broken keys file before anything is done, with each problem at its file:line', async () => {
    writeFileSync(
      join(dir, 'broken.yaml'),
      `alice:\n  - ${alice.publicLine}\n"not a login": []\nbob:\n  - ssh-ed25519 AAAA%%%\nALICE: []\n`,
    );
    const err = await keysSealer(quietIo(), 'broken.yaml').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`)).toEqual(
      [
        'broken.yaml:3:1: "not a login" is not a GitHub login (letters, digits and single hyphens, at most 39)',
        'broken.yaml:5:5: bob: key 1: the ssh-ed25519 key data is not valid base64 (truncated or altered?)',
        'broken.yaml:6:8: ALICE: listed twice (also as alice; logins are case-insensitive)',
      ],
    );
  });

  it('checks a login’s keys in full before sealing to it: a key off the curve refuses the login, by file:line', async () => {
    writeFileSync(
      join(dir, 'keys.yaml'),
      `alice:\n  - ${alice.publicLine}\nbob:\n  - ${bob.publicLine}\n  - ${offCurveLine()}\n`,
    );
    const io = quietIo();
    const sealer = await keysSealer(io, 'keys.yaml');
    expect(io.err).toEqual([]);

    expect(await sealer.canSeal('Alice')).toBeNull();
    expect(await openWith(await sealer.seal('alice', 'secret\n'), alice.privateKey)).toBe('secret\n');
    expect(await sealer.publicKeys?.('alice')).toEqual([alice.publicLine.split(' ').slice(0, 2).join(' ')]);

    // bob's good key is not used either: nothing is sealed to a login with a key that fails a check.
    const why = 'keys.yaml:5:5: bob: key 2: the ed25519 public key is not a valid curve point';
    expect(() => sealer.canSeal('bob')).toThrow(why);
    await expect(sealer.seal('bob', 'secret\n')).rejects.toThrow(why);
    await expect(sealer.publicKeys?.('bob') ?? Promise.resolve()).rejects.toThrow(why);

    expect(await sealer.canSeal('carol')).toBe(
      'no SSH keys for carol in keys.yaml: they must add an ssh-ed25519 or ssh-rsa key',
    );
    await expect(sealer.seal('carol', 'secret\n')).rejects.toThrow(/cannot seal credentials to nobody/);
  });
});
