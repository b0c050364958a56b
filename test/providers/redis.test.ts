// The redis provider against a real Redis: ACL users that work and only as far as their role says, revoked
// with their connections, found again after a restart, and identifiers that cannot smuggle ACL rules.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aclRules, redis, TAGS_KEY, userFor } from '../../src/providers/redis/index.js';
import type { GrantSpec, ProviderTarget } from '../../src/providers/types.js';
import { REDIS_URL, redisUnavailable } from '../helpers/redis.js';
import { ROOT } from '../helpers/repo.js';

const unavailable = await redisUnavailable();
const run = randomBytes(4).toString('hex');
const prefix = `t${run}`;
const env = { TIMEBOX_REDIS_CACHE_URL: REDIS_URL };
let target: ProviderTarget;
let admin: ReturnType<typeof createClient>;

function spec(over: Partial<GrantSpec> = {}): GrantSpec {
  return {
    owner: `owner-${run}`,
    file: `requests/alice/${run}.yaml`,
    grantId: `requests/alice/${run}.yaml@abc`,
    requester: 'alice',
    resourceId: 'orders-cache',
    resource: { connection: 'cache' },
    role: 'read-only',
    roleSettings: { keys: [`${prefix}:orders:*`], commands: ['+@read', '+ping'] },
    startsAt: new Date(),
    expiresAt: new Date(Date.now() + 3_600_000),
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
      for (const a of (await target?.list()) ?? []) if (a.owner === `owner-${run}`) await target.revoke(a);
      await admin?.del([`${prefix}:orders:1`, `${prefix}:secrets:1`]);
      await admin?.quit();
      await target?.close();
    });

    it('grants an ACL user that reads its keys and nothing else; tagged, listed after a restart', async () => {
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

      const again = await redis.connect({ connection: 'cache' }, env);
      const listed = (await again.list()).filter((a) => a.owner === `owner-${run}`);
      await again.close();
      expect(listed).toEqual([
        {
          owner: `owner-${run}`,
          provider: 'redis',
          resourceId: 'orders-cache',
          file: s.file,
          grantId: s.grantId,
          principal: out.principal,
          expiresAt: s.expiresAt.toISOString(),
        },
      ]);
    });

    it('granting twice converges on one user with the new password', async () => {
      const s = spec({
        file: `requests/bob/${run}.yaml`,
        requester: 'bob',
        grantId: `requests/bob/${run}.yaml@1`,
      });
      const first = await target.grant(s);
      const second = await target.grant({ ...s, grantId: `requests/bob/${run}.yaml@2` });
      expect(second.principal).toBe(first.principal);
      const mine = (await target.list()).filter((a) => a.file === s.file);
      expect(mine.map((a) => a.grantId)).toEqual([`requests/bob/${run}.yaml@2`]);
      await expect(login(first.secret.trim())).rejects.toThrow(/WRONGPASS|invalid/i);
      const { c } = await login(second.secret.trim());
      expect(await c.ping()).toBe('PONG');
      await c.quit();
    });

    it('revoking deletes the user, ends its connections and verifies nothing is left (idempotent)', async () => {
      const s = spec({
        file: `requests/carol/${run}.yaml`,
        requester: 'carol',
        grantId: `requests/carol/${run}.yaml@1`,
      });
      const out = await target.grant(s);
      const { c } = await login(out.secret.trim());
      expect(await c.ping()).toBe('PONG');
      const access = (await target.list()).find((a) => a.file === s.file);
      expect(access).toBeDefined();
      const r = await target.revoke(access as NonNullable<typeof access>);
      expect(r).toMatchObject({ principal: out.principal, sessionsEnded: 1 });
      await expect(c.ping()).rejects.toThrow();
      await expect(login(out.secret.trim())).rejects.toThrow(/WRONGPASS|invalid/i);
      expect((await target.list()).find((a) => a.file === s.file)).toBeUndefined();
      expect(await admin.hGet(TAGS_KEY, out.principal)).toBeNull();
      await expect(target.revoke(access as NonNullable<typeof access>)).resolves.toMatchObject({
        sessionsEnded: 0,
      });
      if (c.isOpen) c.destroy();
    });

    it('identifiers cannot smuggle ACL rules, and a forged tag cannot make Timebox touch another user', async () => {
      for (const bad of [`${prefix}:* allkeys`, 'orders:*\n+@all', 'orders:* ~*', '']) {
        expect(() => aclRules({ keys: [bad], commands: ['+@read'] })).toThrow(/refusing the key pattern/);
      }
      for (const bad of ['+@all allkeys', '+@read on', 'allcommands', '+@read >pw', '-@all\r\n+@all']) {
        expect(() => aclRules({ keys: ['x:*'], commands: [bad] })).toThrow(/refusing the command rule/);
      }
      expect(userFor({ owner: 'o', file: 'f', requester: 'alice on >pw ~* +@all' })).toMatch(
        /^tb_alice_on__pw______all_[0-9a-f]{10}$/,
      );
      // A tag naming `default` (forged by someone with write access to Redis) is never listed, never revoked.
      await admin.hSet(
        TAGS_KEY,
        'default',
        JSON.stringify({ owner: `owner-${run}`, file: 'x', grant: 'x@1', resource: 'orders-cache' }),
      );
      try {
        expect((await target.list()).map((a) => a.principal)).not.toContain('default');
        await expect(
          target.revoke({
            owner: `owner-${run}`,
            requester: null,
            role: null,
            provider: 'redis',
            resourceId: 'orders-cache',
            file: 'x',
            grantId: 'x@1',
            principal: 'default',
            expiresAt: null,
          }),
        ).rejects.toThrow(/unsafe ACL user name/);
        expect(await admin.sendCommand(['ACL', 'GETUSER', 'default'])).not.toBeNull();
      } finally {
        await admin.hDel(TAGS_KEY, 'default');
      }
    });

    it('the least-privilege admin user of docs/providers/redis.md is enough', async () => {
      const doc = readFileSync(join(ROOT, 'docs/providers/redis.md'), 'utf8');
      const line = /^ACL SETUSER timebox_admin (.*)$/m.exec(doc)?.[1] ?? '';
      const name = `tb_admin_${run}`;
      const rules = line.replace('>…', '>adminpw').split(' ');
      await admin.sendCommand(['ACL', 'SETUSER', name, ...rules]);
      try {
        const url = new URL(REDIS_URL);
        url.username = name;
        url.password = 'adminpw';
        const t = await redis.connect({ connection: 'cache' }, { TIMEBOX_REDIS_CACHE_URL: url.toString() });
        const s = spec({
          file: `requests/dave/${run}.yaml`,
          requester: 'dave',
          grantId: `requests/dave/${run}.yaml@1`,
        });
        await t.grant(s);
        const access = (await t.list()).find((a) => a.file === s.file);
        expect(access).toBeDefined();
        await t.revoke(access as NonNullable<typeof access>);
        expect((await t.list()).find((a) => a.file === s.file)).toBeUndefined();
        await t.close();
      } finally {
        await admin.sendCommand(['ACL', 'DELUSER', name]);
      }
    });

    it('a crash between the tag and the user leaves nothing that counts: list drops the orphan tag', async () => {
      const orphan = userFor({ owner: `owner-${run}`, file: `requests/zoe/${run}.yaml`, requester: 'zoe' });
      await admin.hSet(
        TAGS_KEY,
        orphan,
        JSON.stringify({
          owner: `owner-${run}`,
          file: `requests/zoe/${run}.yaml`,
          grant: 'g@1',
          resource: 'orders-cache',
        }),
      );
      expect((await target.list()).map((a) => a.principal)).not.toContain(orphan);
      expect(await admin.hGet(TAGS_KEY, orphan)).toBeNull();
    });

    it('a missing admin URL or a server that is down is a clear error', async () => {
      await expect(redis.connect({ connection: 'cache' }, {})).rejects.toThrow(
        /TIMEBOX_REDIS_CACHE_URL is not set/,
      );
      await expect(
        redis.connect({ connection: 'cache' }, { TIMEBOX_REDIS_CACHE_URL: 'redis://127.0.0.1:1' }),
      ).rejects.toThrow(/cannot connect to connection `cache`/);
    });
  },
);
