// What a Redis grantee did, as far as Redis can tell (src/providers/redis/activity.ts): its open
// connections' last commands and its refusals in ACL LOG, read at revocation by the admin user the docs
// prescribe — and nothing of another user's, however alike the names.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisActivity } from '../../src/providers/redis/activity.js';
import { redis } from '../../src/providers/redis/index.js';
import type { ProviderTarget } from '../../src/providers/types.js';
import { grantSpec } from '../helpers/grants.js';
import { REDIS_URL, redisUnavailable } from '../helpers/redis.js';
import { ROOT } from '../helpers/repo.js';

const run = randomBytes(4).toString('hex');
const prefix = `t${run}`;

describe('redisActivity reads only the user’s own lines', () => {
  it('ignores users whose names merely contain it, and reads fields by name', () => {
    const clientList = [
      'id=1 addr=127.0.0.1:1 name= cmd=get user=tb_a redir=-1',
      'id=2 addr=127.0.0.1:2 name=user=tb_a cmd=set user=tb_ab redir=-1',
      'id=3 addr=127.0.0.1:3 name= cmd=auth user=tb_a',
      '',
    ].join('\n');
    const aclLog = [
      ['count', 2, 'reason', 'command', 'object', 'set', 'username', 'tb_a', 'client-info', 'user=tb_ab'],
      ['count', 1, 'reason', 'key', 'object', 'x'.repeat(500), 'username', 'tb_a'],
      ['count', 7, 'reason', 'command', 'object', 'flushall', 'username', 'tb_ab'],
      'not an entry',
    ];
    const a = redisActivity('tb_a', { clientList, aclLog });
    expect(a.statements).toEqual([
      { query: 'last command: get', calls: 1, rows: 0 },
      { query: 'denied: command set', calls: 2, rows: 0 },
      { query: `denied: key ${'x'.repeat(80)}`, calls: 1, rows: 0 },
    ]);
    expect(a.summary).toMatch(
      /^2 connections open at revocation \(last commands: get\), 3 refusals in ACL LOG/,
    );
    expect(a.summary).not.toContain('flushall');
  });
});

const unavailable = await redisUnavailable();

describe.skipIf(unavailable !== null)('Redis activity at revocation, read by the documented admin', () => {
  let admin: ReturnType<typeof createClient>;
  let target: ProviderTarget;
  const adminName = `tb_act_${run}`;

  beforeAll(async () => {
    admin = createClient({ url: REDIS_URL, socket: { reconnectStrategy: false } });
    await admin.connect();
    const doc = readFileSync(join(ROOT, 'docs/providers/redis.md'), 'utf8');
    const line = /^ACL SETUSER timebox_admin (.*)$/m.exec(doc)?.[1] ?? '';
    await admin.sendCommand(['ACL', 'SETUSER', adminName, ...line.replace('>…', '>adminpw').split(' ')]);
    const url = new URL(REDIS_URL);
    url.username = adminName;
    url.password = 'adminpw';
    target = await redis.connect({ connection: 'cache' }, { TIMEBOX_REDIS_CACHE_URL: url.toString() });
    await admin.set(`${prefix}:orders:1`, 'paid');
  });
  afterAll(async () => {
    for (const a of (await target?.list()) ?? [])
      if (a.accessRepoId === `owner-${run}`) await target.revoke(a);
    await target?.close();
    await admin?.del(`${prefix}:orders:1`);
    await admin?.sendCommand(['ACL', 'DELUSER', adminName]);
    await admin?.quit();
  });

  it('names the open connection’s last command and the refused command and key', async () => {
    const spec = grantSpec(run, {
      resourceId: 'orders-cache',
      connection: 'cache',
      role: 'read-only',
      roleSettings: { keys: [`${prefix}:orders:*`], commands: ['+@read', '+ping'] },
    });
    const out = await target.grant(spec);
    const c = createClient({ url: out.secret.trim(), socket: { reconnectStrategy: false } });
    c.on('error', () => {});
    await c.connect();
    await expect(c.set(`${prefix}:orders:1`, 'refunded')).rejects.toThrow(/NOPERM/);
    await expect(c.get(`${prefix}:secrets`)).rejects.toThrow(/NOPERM/);
    expect(await c.get(`${prefix}:orders:1`)).toBe('paid');
    const access = (await target.list()).find((a) => a.principal === out.principal);
    if (!access) throw new Error('the grant is not listed');
    const { activity } = await target.revoke(access);
    expect(activity?.statements).toEqual(
      expect.arrayContaining([
        { query: 'last command: get', calls: 1, rows: 0 },
        { query: 'denied: command set', calls: 1, rows: 0 },
        { query: `denied: key ${prefix}:secrets`, calls: 1, rows: 0 },
      ]),
    );
    expect(activity?.summary).toMatch(
      /^1 connection open at revocation \(last commands: get\), 2 refusals in ACL LOG \(command set, key /,
    );
    expect(activity?.summary).not.toContain(new URL(out.secret.trim()).password);
    try {
      await c.disconnect(); // the revocation killed it: closing may find it closed already
    } catch {}
  }, 60_000);
});
