// Sealing credentials to a requester's SSH keys as the forge publishes them (GitHub: `GET /users/{login}/keys`).
// A requester with no ssh-ed25519 or ssh-rsa key gets nothing granted and a comment saying what to add.
//
// People are accounts, not logins: a login can be renamed and then taken by someone else. When provisioning
// says which account requested under a login (the pull request's author, recorded with the provenance
// verdict), the keys are read only if that login still belongs to that account — checked before and after
// reading them — and otherwise nothing is sealed (an identity refusal: src/engine/provision.ts comments and
// raises an alarm).
import { sealTo } from '../creds/seal.js';
import { parseSshPublicKey, type SshPublicKey } from '../creds/ssh-keys.js';
import type { Sealer } from '../providers/reconcile.js';
import type { Forge } from './forge.js';

export function noKeysMessage(login: string): string {
  return `@${login} has no ssh-ed25519 or ssh-rsa key on GitHub, so there is nothing to seal the credentials to: add one at https://github.com/settings/keys (Timebox tries again within minutes)`;
}

/** Why the keys of a login are not read: it no longer (or not only) names the account that requested. */
export class IdentityRefused extends Error {}

export interface ForgeSealerOptions {
  /**
   * The account ids that requested under `login` (lower-case) in the grants being reconciled. Given: the
   * login must belong to exactly one of them, checked before and after the keys are read. Not given: the
   * keys of the login, whoever holds it now (`timebox creds` and tests).
   */
  accountsOf?: (login: string) => readonly number[];
}

export type ForgeSealer = Sealer & {
  keysOf(login: string): Promise<SshPublicKey[]>;
  publicKeys(login: string): Promise<string[]>;
  /** Logins refused for their identity in this reconcile (lower-case) → why. */
  readonly refusedIdentities: ReadonlyMap<string, string>;
};

/** A Sealer over the forge's public keys; keys are read once per sealer (one reconcile). */
export function forgeSealer(forge: Forge, opts: ForgeSealerOptions = {}): ForgeSealer {
  const cache = new Map<string, Promise<SshPublicKey[]>>();
  const refusedIdentities = new Map<string, string>();
  const read = async (login: string): Promise<SshPublicKey[]> => {
    const ids = opts.accountsOf ? [...new Set(opts.accountsOf(login))] : null;
    if (ids) await sameAccount(forge, login, ids);
    const keys = await forge.publicKeys(login);
    // Renamed while the keys were read? Then they may be someone else's: check again, after.
    if (ids) await sameAccount(forge, login, ids);
    return keys.flatMap((k) => {
      const parsed = parseSshPublicKey(k);
      return parsed.ok ? [parsed.key] : [];
    });
  };
  const keysOf = (login: string): Promise<SshPublicKey[]> => {
    const k = login.toLowerCase();
    let p = cache.get(k);
    if (!p) {
      p = read(login);
      cache.set(k, p);
      p.catch((err: unknown) => {
        if (err instanceof IdentityRefused) refusedIdentities.set(k, err.message);
        else cache.delete(k);
      });
    }
    return p;
  };
  return {
    keysOf,
    refusedIdentities,
    async canSeal(login) {
      try {
        return (await keysOf(login)).length > 0 ? null : noKeysMessage(login);
      } catch (err) {
        if (!(err instanceof IdentityRefused)) throw err;
        refusedIdentities.set(login.toLowerCase(), err.message);
        return err.message;
      }
    },
    async seal(login, secret) {
      return sealTo(secret, await keysOf(login));
    },
    async publicKeys(login) {
      return (await keysOf(login)).map((k) => k.text);
    },
  };
}

/** Throws IdentityRefused unless `login` belongs to the one account in `ids`. */
async function sameAccount(forge: Forge, login: string, ids: readonly number[]): Promise<void> {
  const [expected, ...others] = ids;
  if (expected === undefined || expected < 0)
    throw new IdentityRefused(
      `Timebox does not know which GitHub account requested as @${login} (no recorded requester)`,
    );
  if (others.length > 0)
    throw new IdentityRefused(
      `requests under the login @${login} were opened by different GitHub accounts (${ids.map((id) => (id < 0 ? 'unknown' : id)).join(', ')}): the login was renamed and taken by someone else, so Timebox cannot tell whose keys it would read`,
    );
  const now = await forge.account(login);
  if (now?.id === expected) return;
  const renamed = await forge.loginOf(expected);
  throw new IdentityRefused(
    `the GitHub account that requested as @${login} (id ${expected}) ${renamed ? `is now @${renamed}` : 'no longer exists'}, and @${login} ${now ? `belongs to another account (id ${now.id})` : 'belongs to nobody'}; credentials are never sealed to anyone else`,
  );
}
