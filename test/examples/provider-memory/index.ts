// The example provider's implementation (loaded by its entry's `load`): what every provider does — grant
// idempotently and tag, list by the tags (and find Timebox-named accounts without one), revoke and verify.
import { adminUrl, parseTag, tagFor, taggedAccess, untaggedAccess } from '../../../src/providers/common.js';
import type { ManagedAccess, Provider, ProviderTarget } from '../../../src/providers/types.js';
import { checkedUser, memoryDefinition, USER, userFor } from './definition.js';
import { newPassword, secretFor, serverNamed } from './server.js';

export const memory: Provider = {
  ...memoryDefinition,

  async connect(resource, env) {
    // The admin "URL" names the server, as a database provider's names its host.
    const { url } = adminUrl('memory', { connection: resource.server }, env, (m) => new Error(m));
    const name = new URL(url).hostname;
    if (name !== resource.server) throw new Error(`cannot connect to server \`${String(resource.server)}\``);
    return target(name);
  },
};

function target(name: string): ProviderTarget {
  const server = serverNamed(name);
  return {
    async list() {
      const out: ManagedAccess[] = [];
      for (const user of [...server.tags.keys()]) {
        // A tag whose account is gone: the tag alone is not access.
        if (!server.accounts.has(user)) server.tags.delete(user);
      }
      for (const user of [...server.accounts.keys()].filter((u) => USER.test(u)).sort()) {
        const tag = parseTag(server.tags.get(user) ?? '');
        out.push(tag ? taggedAccess('memory', user, tag) : untaggedAccess('memory', user));
      }
      return out;
    },

    async grant(spec) {
      const user = userFor(spec);
      const password = newPassword();
      const account = server.accounts.get(user);
      server.tags.set(user, JSON.stringify(tagFor(spec)));
      if (account) account.password = password;
      else server.accounts.set(user, { password, sessions: new Set() });
      return {
        principal: user,
        expiresAt: spec.expiresAt.toISOString(),
        secret: secretFor(name, user, password),
      };
    },

    async revoke(access) {
      const user = checkedUser(access.principal);
      const sessionsEnded = server.accounts.get(user)?.sessions.size ?? 0;
      server.accounts.delete(user);
      if (server.accounts.has(user)) throw new Error(`revoking ${user} is not verified`);
      server.tags.delete(user);
      return { principal: user, sessionsEnded, activity: null };
    },

    async close() {},
  };
}
