// Offline requester keys (`--keys FILE`) as a Sealer for apply.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { sealTo } from '../creds/seal.js';
import { type KeysFileScan, type SshPublicKey, scanKeysFile } from '../creds/ssh-keys.js';
import type { Io, Sealer } from './context.js';
import { ConfigError, UsageError } from './errors.js';

/**
 * The keys file is read and checked at once — its YAML, every login, every key line's syntax, type, base64
 * and wire format — and any problem stops the command before it does anything, at its file:line. Only the
 * ed25519 curve point check (a point decompression per key, most of the cost of a file of 1,000 logins) is
 * left to the logins something is sealed to: `canSeal` makes it before anything is granted, and a key that
 * fails it refuses that grant, naming the file, line and login. A no-op apply checks no key.
 */
export async function keysSealer(io: Io, file: string | undefined): Promise<Sealer> {
  if (!file) {
    return {
      canSeal: (login) =>
        `no SSH keys for ${login}: pass --keys FILE (a YAML map of login to public key lines)`,
      seal: async () => {
        throw new UsageError('no keys');
      },
    };
  }
  let text: string;
  try {
    text = await readFile(resolve(io.cwd, file), 'utf8');
  } catch (err) {
    throw new UsageError(
      `cannot read --keys file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  const keys = scanKeysFile(text);
  if (keys.errors.length > 0) {
    throw new ConfigError(
      `${file} is not a valid keys file`,
      keys.errors.map((e) => ({
        file,
        line: e.line,
        column: e.column,
        path: e.login ? `$.${e.login}` : '$',
        message: e.message,
      })),
    );
  }
  for (const s of keys.skipped)
    io.stderr(
      `warning: ${file}:${s.line}: ${s.login}: skipped a ${s.keyType} key (age encrypts to ssh-ed25519 and ssh-rsa)\n`,
    );
  return {
    canSeal(login) {
      return checkedKeys(keys, file, login).length > 0 ? null : noKeys(login, file);
    },
    async seal(login, secret) {
      return sealTo(secret, checkedKeys(keys, file, login));
    },
    async publicKeys(login) {
      return checkedKeys(keys, file, login).map((k) => k.text);
    },
  };
}

const noKeys = (login: string, file: string) =>
  `no SSH keys for ${login} in ${file}: they must add an ssh-ed25519 or ssh-rsa key`;

/**
 * The keys of `login`, every check made (once per login): none when the file does not list it; throws, with
 * the file:line of each key that fails a check, when one does — nothing is sealed to such a login.
 */
function checkedKeys(keys: KeysFileScan, file: string, login: string): SshPublicKey[] {
  const checked = keys.keysOf(login);
  if (!checked) return [];
  if (checked.ok) return checked.keys;
  throw new Error(checked.errors.map((e) => `${file}:${e.line}:${e.column}: ${e.message}`).join('; '));
}
