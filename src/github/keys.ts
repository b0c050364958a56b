// Sealing credentials to a requester's SSH keys as GitHub publishes them (`GET /users/{login}/keys`).
// A requester with no ssh-ed25519 or ssh-rsa key gets nothing granted and a comment saying what to add.
import { sealTo } from '../creds/seal.js';
import { parseSshPublicKey, type SshPublicKey } from '../creds/ssh-keys.js';
import type { Sealer } from '../providers/reconcile.js';
import type { GitHub } from './client.js';

/** Largest number of keys read per user (GitHub lists at most 100 per page; nobody has more). */
const MAX_KEYS = 100;

export function noKeysMessage(login: string): string {
  return `@${login} has no ssh-ed25519 or ssh-rsa key on GitHub, so there is nothing to seal the credentials to: add one at https://github.com/settings/keys (Timebox tries again within minutes)`;
}

/** A Sealer over GitHub's public keys; keys are read once per sealer (one reconcile). */
export function githubSealer(gh: GitHub): Sealer & { keysOf(login: string): Promise<SshPublicKey[]> } {
  const cache = new Map<string, Promise<SshPublicKey[]>>();
  const keysOf = (login: string): Promise<SshPublicKey[]> => {
    let p = cache.get(login.toLowerCase());
    if (!p) {
      p = gh.request('GET /users/{username}/keys', { username: login, per_page: MAX_KEYS }).then(({ data }) =>
        data.flatMap((k) => {
          const parsed = parseSshPublicKey(k.key);
          return parsed.ok ? [parsed.key] : [];
        }),
      );
      cache.set(login.toLowerCase(), p);
      p.catch(() => cache.delete(login.toLowerCase()));
    }
    return p;
  };
  return {
    keysOf,
    async canSeal(login) {
      return (await keysOf(login)).length > 0 ? null : noKeysMessage(login);
    },
    async seal(login, secret) {
      return sealTo(secret, await keysOf(login));
    },
    async publicKeys(login) {
      return (await keysOf(login)).map((k) => k.text);
    },
  };
}
