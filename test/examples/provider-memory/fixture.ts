// The example provider's contract fixture: how the contract suite looks at its server as an admin.
import type { ContractFixture } from '../../providers/contract.js';
import { login, serverNamed } from './server.js';

const SERVER = 'example';
const server = () => serverNamed(SERVER);

export const memoryFixture: ContractFixture = {
  id: 'memory',
  unavailable: async () => null,
  async setup() {},
  async teardown() {},
  env: () => ({ TIMEBOX_MEMORY_EXAMPLE_URL: `memory://admin@${SERVER}` }),
  resource: () => ({ server: SERVER }),
  roleSettings: () => ({ can: ['read'] }),
  principal: /^tb_[a-z0-9_]{1,30}_[0-9a-f]{10}$/,
  async canLogin(secret) {
    const s = login(secret);
    s?.server.accounts.get(s.user)?.sessions.delete(s.session);
    return s !== null;
  },
  async openSession(secret) {
    const s = login(secret);
    if (!s) throw new Error('login refused');
    return {
      alive: async () => s.server.accounts.get(s.user)?.sessions.has(s.session) ?? false,
      close: async () => {
        s.server.accounts.get(s.user)?.sessions.delete(s.session);
      },
    };
  },
  exists: async (user) => server().accounts.has(user),
  tagsApart: true,
  tagOf: async (user) => server().tags.get(user) ?? null,
  async writeTag(user, raw) {
    server().tags.set(user, raw);
  },
  async eraseTag(user) {
    server().tags.delete(user);
  },
  async makeUntagged(user) {
    server().accounts.set(user, { password: 'pw', sessions: new Set() });
  },
  async dropUntagged(user) {
    server().accounts.delete(user);
    server().tags.delete(user);
  },
  async rewriteOwnTag() {
    // Its grantees reach no tag: the server has no command for it.
    throw new Error('no such command');
  },
  missingEnv: /TIMEBOX_MEMORY_EXAMPLE_URL is not set/,
  unreachable: {
    env: { TIMEBOX_MEMORY_EXAMPLE_URL: 'memory://admin@elsewhere' },
    message: /cannot connect to server/,
  },
};
