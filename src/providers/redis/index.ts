// Redis: one ACL user per grant (`ACL SETUSER` with the SHA-256 of a random password, the role's key and
// channel patterns and command rules after `-@all`, then denials of what acts beyond key patterns), tagged in
// the hash `timebox:acl` (ACL users carry no comment) in the same transaction; revoke is `ACL DELUSER` +
// `CLIENT KILL USER`, verified. Every value is one argument of a command: nothing is spliced.
// Redis has no expiry for ACL users: revocation by Timebox is what ends access, so `list` also finds
// Timebox-named users whose tag is gone (they are revoked whatever git says).
import { createHash, randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { adminUrl, parseTag, tagFor, taggedAccess, untaggedAccess } from '../common.js';
import type { GrantOutcome, ManagedAccess, Provider, ProviderTarget, RevokeOutcome } from '../types.js';
import { redisActivity } from './activity.js';
import {
  aclRules,
  checkedUser,
  RedisError,
  redisDefinition,
  setUserArgs,
  TAGS_KEY,
  USER,
  userFor,
} from './definition.js';

// What tests import from here (the pure parts live in definition.ts).
export { aclRules, RedisError, TAGS_KEY, userFor };

/**
 * `#<sha256 hex>`: Redis stores and compares the SHA-256 of a password, and accepts the hash itself, so the
 * password never travels to the server and never shows in MONITOR, the slow log or an ACL file.
 */
export function passwordHash(password: string): string {
  return `#${createHash('sha256').update(password, 'utf8').digest('hex')}`;
}

export const redis: Provider = {
  ...redisDefinition,

  async connect(resource, env) {
    const { connection, variable, url } = adminUrl('redis', resource, env, (m) => new RedisError(m));
    const client = createClient({
      url,
      socket: { connectTimeout: 5000, reconnectStrategy: false },
      disableOfflineQueue: true,
    });
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (err) {
      throw new RedisError(
        `cannot connect to connection \`${connection}\` (${variable}): ${(err as Error).message}`,
      );
    }
    return target(client, resource, url);
  },
};

type Client = ReturnType<typeof createClient>;

function target(client: Client, resource: Record<string, unknown>, adminUrl: string): ProviderTarget {
  const publicUrl = new URL(typeof resource.public_url === 'string' ? resource.public_url : adminUrl);
  const exists = async (user: string) => (await client.sendCommand(['ACL', 'GETUSER', user])) !== null;
  const sessionsOf = async (user: string) =>
    String(await client.sendCommand(['CLIENT', 'LIST']))
      .split('\n')
      .filter((line) => new RegExp(`(^| )user=${user}( |$)`).test(line)).length;

  const capture = async (user: string) => {
    const [clientList, aclLog] = await Promise.all([
      client.sendCommand(['CLIENT', 'LIST']),
      client.sendCommand(['ACL', 'LOG']),
    ]);
    return redisActivity(user, {
      clientList: String(clientList),
      aclLog: Array.isArray(aclLog) ? aclLog : [],
    });
  };

  return {
    async list() {
      // The users first, then the tags: a grant writes a user and its tag in one transaction, so a user seen
      // here whose tag is missing below lost it afterwards (erased, evicted) — never a grant half done.
      const users = new Set(
        ((await client.sendCommand(['ACL', 'USERS'])) as string[]).map(String).filter((u) => USER.test(u)),
      );
      const tags = (await client.hGetAll(TAGS_KEY)) as Record<string, string>;
      const out: ManagedAccess[] = [];
      const tagged = new Set<string>();
      for (const [user, raw] of Object.entries(tags)) {
        if (!USER.test(user)) continue;
        if (!users.has(user) && !(await exists(user))) {
          // The user was deleted by hand (or a revoke stopped half way): the tag alone is not access.
          await client.hDel(TAGS_KEY, user);
          continue;
        }
        const tag = parseTag(raw);
        if (!tag) continue;
        tagged.add(user);
        out.push(taggedAccess('redis', user, tag));
      }
      // A Timebox-named user with no (readable) tag: nothing in git can explain it, so reconciliation revokes
      // it, whichever access repo made it. (Its resource is filled in by whoever knows the target's.)
      for (const user of users) {
        if (tagged.has(user)) continue;
        out.push(untaggedAccess('redis', user));
      }
      return out.sort((a, b) => (a.principal < b.principal ? -1 : 1));
    },

    async grant(spec): Promise<GrantOutcome> {
      const user = userFor(spec);
      const password = randomBytes(24).toString('base64url');
      const tag = tagFor(spec);
      try {
        // One transaction: no one ever sees the user without its tag (which list would take for a user
        // whose tag was erased). Should ACL SETUSER fail, the tag stays alone, and list drops it.
        await client
          .multi()
          .hSet(TAGS_KEY, user, JSON.stringify(tag))
          .addCommand(setUserArgs(spec, passwordHash(password)))
          .exec();
      } catch (err) {
        throw new RedisError(`granting ${user} failed: ${(err as Error).message}`);
      }
      const url = new URL(publicUrl.href);
      url.username = user;
      url.password = password;
      return { principal: user, expiresAt: spec.expiresAt.toISOString(), secret: `${url.href}\n` };
    },

    async revoke(access): Promise<RevokeOutcome> {
      const user = checkedUser(access.principal);
      const open = await sessionsOf(user);
      // What it did, as far as Redis can tell, before the user and its connections are gone.
      const activity = await capture(user).catch(() => null);
      // ACL DELUSER also disconnects the user's clients; CLIENT KILL makes sure of it on any version.
      if (await exists(user)) await client.sendCommand(['ACL', 'DELUSER', user]);
      await client.sendCommand(['CLIENT', 'KILL', 'USER', user]).catch(() => 0);
      const left = (await exists(user)) ? 1 : 0;
      const sessions = await sessionsOf(user);
      if (left > 0 || sessions > 0)
        throw new RedisError(
          `revoking ${user} is not verified: ${left} user(s) and ${sessions} connection(s) left`,
        );
      await client.hDel(TAGS_KEY, user);
      return { principal: user, sessionsEnded: open, activity };
    },

    async close() {
      if (!client.isOpen) return;
      await client.quit().catch(() => {
        if (client.isOpen) client.destroy();
      });
    },
  };
}
