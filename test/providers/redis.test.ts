// The redis provider against a real Redis, beyond the contract every provider keeps (contract.ts): ACL users
// that work and only as far as their role says, identifiers that cannot smuggle ACL rules, and passwords
// that never travel to the server.
import { createHash, randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer } from 'node:net';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENY_AFTER } from '../../src/providers/redis/acl.js';
import { aclRules, redis, TAGS_KEY, userFor } from '../../src/providers/redis/index.js';
import type { GrantSpec, ProviderTarget } from '../../src/providers/types.js';
import { grantSpec } from '../helpers/grants.js';
import { REDIS_URL, redisUnavailable } from '../helpers/redis.js';

const unavailable = await redisUnavailable();
const run = randomBytes(4).toString('hex');
const prefix = `t${run}`;
const env = { TIMEBOX_REDIS_CACHE_URL: REDIS_URL };
let target: ProviderTarget;
let admin: ReturnType<typeof createClient>;

function spec(over: Partial<GrantSpec> = {}): GrantSpec {
  return {
    ...grantSpec(run, {
      resourceId: 'orders-cache',
      connection: 'cache',
      role: 'read-only',
      roleSettings: { keys: [`${prefix}:orders:*`], commands: ['+@read', '+ping'] },
    }),
    ...over,
  };
}

async function login(url: string) {
  const c = createClient({ url, socket: { reconnectStrategy: false } });
  const errors: Error[] = [];
  c.on('error', (e) => errors.push(e));
  await c.connect();
  return { c, errors };
}

describe.skipIf(unavailable !== null)(
  `redis provider${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    beforeAll(async () => {
      target = await redis.connect({ connection: 'cache' }, env);
      admin = createClient({ url: REDIS_URL });
      await admin.connect();
      await admin.set(`${prefix}:orders:1`, 'EUR 119.00');
      await admin.set(`${prefix}:secrets:1`, 'nope');
    });
    afterAll(async () => {
      for (const a of (await target?.list()) ?? [])
        if (a.accessRepoId === `owner-${run}`) await target.revoke(a);
      await admin?.del([`${prefix}:orders:1`, `${prefix}:secrets:1`]);
      await admin?.quit();
      await target?.close();
    });

    // Tagging, listing after a restart, revocation, orphan and forged tags, the documented admin: contract.ts.
    it('grants an ACL user that reads its keys and nothing else', async () => {
      const s = spec();
      const out = await target.grant(s);
      expect(out.principal).toBe(userFor(s));
      expect(out.secret).toMatch(
        new RegExp(`^redis://${out.principal}:[A-Za-z0-9_-]{32}@127\\.0\\.0\\.1:6379\\n?`),
      );
      const { c } = await login(out.secret.trim());
      expect(await c.get(`${prefix}:orders:1`)).toBe('EUR 119.00');
      await expect(c.set(`${prefix}:orders:1`, 'x')).rejects.toThrow(/NOPERM/);
      await expect(c.get(`${prefix}:secrets:1`)).rejects.toThrow(/NOPERM/);
      await expect(c.sendCommand(['ACL', 'LIST'])).rejects.toThrow(/NOPERM/);
      await c.quit();
    });

    it('identifiers cannot smuggle ACL rules', async () => {
      for (const bad of [`${prefix}:* allkeys`, 'orders:*\n+@all', 'orders:* ~*', '']) {
        expect(() => aclRules({ keys: [bad], commands: ['+@read'] })).toThrow(/refusing the key pattern/);
      }
      for (const bad of ['+@all allkeys', '+@read on', 'allcommands', '+@read >pw', '-@all\r\n+@all']) {
        expect(() => aclRules({ keys: ['x:*'], commands: [bad] })).toThrow(/refusing the command rule/);
      }
      expect(aclRules({ keys: ['x:*'], commands: ['+@read'] })).toEqual([
        'resetkeys',
        'resetchannels',
        '-@all',
        '~x:*',
        '+@read',
        ...DENY_AFTER,
      ]);
      expect(userFor({ accessRepoId: 'o', file: 'f', requester: 'alice on >pw ~* +@all' })).toMatch(
        /^tb_alice_on__pw______all_[0-9a-f]{10}$/,
      );
    });

    it('a role whose rights reach the tags or ACL users is refused at grant time too: nothing is created', async () => {
      for (const roleSettings of [
        { keys: ['*'], commands: ['+@read'] },
        { keys: [`${prefix}:*`], commands: ['+@write'] },
        { keys: [`${prefix}:*`], commands: ['+get', '+acl|setuser'] },
      ]) {
        const s = spec({
          file: `requests/ivan/${run}.yaml`,
          requester: 'ivan',
          grantId: `requests/ivan/${run}.yaml@1`,
          roleSettings,
        });
        await expect(target.grant(s)).rejects.toThrow(/refusing the role/);
        expect(await admin.sendCommand(['ACL', 'GETUSER', userFor(s)])).toBeNull();
        expect(await admin.hGet(TAGS_KEY, userFor(s))).toBeNull();
      }
    });

    it('the password never travels to the server: the bytes Redis receives hold only its SHA-256', async () => {
      // Redis 7 keeps ACL SETUSER out of MONITOR and redacts it in the slow log, but the command still
      // crosses the network and whatever sits on it (proxies, captures, audit logs of managed Redis).
      // So the test records what the server is sent, through a relay on loopback.
      const received: Buffer[] = [];
      const upstream = new URL(REDIS_URL);
      const relay = createServer((client) => {
        const server = connect(Number(upstream.port || 6379), upstream.hostname);
        client.on('data', (b: Buffer) => received.push(b));
        client.pipe(server).pipe(client);
        client.on('error', () => server.destroy());
        server.on('error', () => client.destroy());
      });
      await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
      const relayed = new URL(REDIS_URL);
      relayed.port = String((relay.address() as AddressInfo).port);
      const t = await redis.connect({ connection: 'cache' }, { TIMEBOX_REDIS_CACHE_URL: relayed.toString() });
      try {
        const s = spec({
          file: `requests/mona/${run}.yaml`,
          requester: 'mona',
          grantId: `requests/mona/${run}.yaml@1`,
          resource: { connection: 'cache', public_url: REDIS_URL },
        });
        const out = await t.grant(s);
        const password = new URL(out.secret.trim()).password;
        const sent = Buffer.concat(received).toString('latin1');
        expect(sent).toContain(`#${createHash('sha256').update(password).digest('hex')}`);
        expect(sent).toContain('SETUSER');
        expect(sent).not.toContain(password);
        const { c } = await login(out.secret.trim());
        expect(await c.ping()).toBe('PONG');
        await c.quit();
      } finally {
        await t.close();
        relay.close();
      }
    });
  },
);
