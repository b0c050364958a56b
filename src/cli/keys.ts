// Offline requester keys (`--keys FILE`) as a Sealer for apply.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { sealTo } from '../creds/seal.js';
import { parseKeysFile } from '../creds/ssh-keys.js';
import type { Io, Sealer } from './context.js';
import { ConfigError, UsageError } from './errors.js';

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
  const keys = parseKeysFile(text);
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
      const entry = keys.logins.get(login.toLowerCase());
      return entry && entry.keys.length > 0
        ? null
        : `no SSH keys for ${login} in ${file}: they must add an ssh-ed25519 or ssh-rsa key`;
    },
    async seal(login, secret) {
      return sealTo(secret, keys.logins.get(login.toLowerCase())?.keys ?? []);
    },
    async publicKeys(login) {
      return (keys.logins.get(login.toLowerCase())?.keys ?? []).map((k) => k.text);
    },
  };
}
