// The redis provider against a real Redis: ACL users that work and only as far as their role says, revoked
// with their connections, found again after a restart (and when their tag is gone), identifiers that cannot
// smuggle ACL rules, and passwords that never travel to the server.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileTargets, Targets } from '../../src/providers/reconcile.js';
import { DENY_AFTER } from '../../src/providers/redis/acl.js';
import { aclRules, redis, TAGS_KEY, userFor } from '../../src/providers/redis/index.js';
import type { GrantSpec, ProviderTarget } from '../../src/providers/types.js';
import { policies } from '../helpers/core.js';
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
          requester: 'alice',
          role: 'read-only',
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
      expect(aclRules({ keys: ['x:*'], commands: ['+@read'] })).toEqual([
        'resetkeys',
        'resetchannels',
        '-@all',
        '~x:*',
        '+@read',
        ...DENY_AFTER,
      ]);
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

    it('a Timebox-named user without a (readable) tag is listed as untagged, and revoking it works', async () => {
      const stray = `tb_mallory_${run}ab`;
      const damaged = `tb_trudy_${run}cd`;
      await admin.sendCommand(['ACL', 'SETUSER', stray, 'on', '>pw-stray', '~x:*', '+get']);
      await admin.sendCommand(['ACL', 'SETUSER', damaged, 'on', '>pw-damaged', '~x:*', '+get']);
      await admin.hSet(TAGS_KEY, damaged, '{"owner": "x"');
      try {
        const listed = (await target.list()).filter((a) => a.principal === stray || a.principal === damaged);
        const untagged = {
          owner: null,
          provider: 'redis',
          resourceId: '',
          file: '',
          grantId: '',
          requester: null,
          role: null,
          expiresAt: null,
          untagged: true,
        };
        // Untagged users are every access repo's business: a reconcile running elsewhere against this Redis
        // may have revoked one already. Each is listed as untagged, or gone — never left in place unlisted.
        for (const user of [stray, damaged]) {
          const found = listed.find((a) => a.principal === user);
          if (found) expect(found).toEqual({ ...untagged, principal: user });
          else expect(await admin.sendCommand(['ACL', 'GETUSER', user])).toBeNull();
        }
        for (const a of listed) await target.revoke(a);
        expect(await admin.sendCommand(['ACL', 'GETUSER', stray])).toBeNull();
        expect(await admin.sendCommand(['ACL', 'GETUSER', damaged])).toBeNull();
        expect(await admin.hGet(TAGS_KEY, damaged)).toBeNull();
      } finally {
        await admin.sendCommand(['ACL', 'DELUSER', stray, damaged]);
        await admin.hDel(TAGS_KEY, damaged);
      }
    });

    it('a grantee that erases its own tag is revoked by the next reconcile, whatever access repo runs it', async () => {
      const s = spec({
        file: `requests/eve/${run}.yaml`,
        requester: 'eve',
        grantId: `requests/eve/${run}.yaml@1`,
      });
      const out = await target.grant(s);
      // A role set up before roles were checked (or by hand) that reaches the tags.
      await admin.sendCommand(['ACL', 'SETUSER', out.principal, `~${TAGS_KEY}`, '+hdel']);
      const { c } = await login(out.secret.trim());
      expect(await c.hDel(TAGS_KEY, out.principal)).toBe(1);
      expect(await admin.hGet(TAGS_KEY, out.principal)).toBeNull();

      const policy = policies(
        `resources:\n  orders-cache:\n    provider: redis\n    connection: cache\n    roles:\n      read-only: { keys: ["${prefix}:orders:*"], commands: ["+@read"] }\nrules:\n  - { name: all, resources: ["*"] }\n`,
      );
      const targets = await Targets.connect(policy, env);
      try {
        const result = await reconcileTargets(targets, {
          grants: [],
          policies: policy,
          owner: `another-repo-${run}`,
          at: new Date(),
          sealer: { canSeal: () => null, seal: async (_login, secret) => secret },
        });
        expect(result.failures).toEqual([]);
        // (Unless a reconcile running elsewhere against this Redis revoked it first: then it is not listed.)
        if (result.actual.some((a) => a.principal === out.principal))
          expect(result.revoked).toContainEqual(
            expect.objectContaining({ principal: out.principal, reason: 'untagged', file: '' }),
          );
        expect(await admin.sendCommand(['ACL', 'GETUSER', out.principal])).toBeNull();
      } finally {
        await targets.close();
      }
      await expect(c.ping()).rejects.toThrow();
      await expect(login(out.secret.trim())).rejects.toThrow(/WRONGPASS|invalid/i);
      if (c.isOpen) c.destroy();
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
