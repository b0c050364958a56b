// The mysql provider against the machine's MariaDB: accounts that work only as far as their role says,
// revoked with their connections, found again after a restart, locked at expiry by the server's event
// scheduler, and identifiers that cannot smuggle SQL.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantStatements, META_DB, mysqlProvider, userFor } from '../../src/providers/mysql/index.js';
import type { GrantSpec, ProviderTarget } from '../../src/providers/types.js';
import { MYSQL_URL, mysqlUnavailable } from '../helpers/mysql.js';
import { ROOT } from '../helpers/repo.js';

const unavailable = await mysqlUnavailable();
const run = randomBytes(4).toString('hex');
const db = `t${run}`;
const env = { TIMEBOX_MYSQL_SHOP_URL: MYSQL_URL };
let target: ProviderTarget;
let admin: mysql.Connection;

function spec(over: Partial<GrantSpec> = {}): GrantSpec {
  return {
    owner: `owner-${run}`,
    file: `requests/alice/${run}.yaml`,
    grantId: `requests/alice/${run}.yaml@abc`,
    requester: 'alice',
    resourceId: 'shop-db',
    resource: { connection: 'shop' },
    role: 'read-only',
    roleSettings: { privileges: ['SELECT'], on: [`${db}.orders`], max_user_connections: 2 },
    startsAt: new Date(),
    expiresAt: new Date(Date.now() + 3_600_000),
    ...over,
  };
}

const asUser = (url: string) => mysql.createConnection({ uri: url.trim() });

describe.skipIf(unavailable !== null)(
  `mysql provider${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    beforeAll(async () => {
      admin = await mysql.createConnection({ uri: MYSQL_URL, multipleStatements: true });
      await admin.query(
        `CREATE DATABASE ${db}; CREATE TABLE ${db}.orders (id INT PRIMARY KEY, total DECIMAL(10,2)); INSERT INTO ${db}.orders VALUES (1, 119.00), (2, 120.00); CREATE TABLE ${db}.secrets (id INT);`,
      );
      target = await mysqlProvider.connect({ connection: 'shop' }, env);
    });
    afterAll(async () => {
      for (const a of (await target?.list()) ?? []) if (a.owner === `owner-${run}`) await target.revoke(a);
      await admin?.query(`DROP DATABASE IF EXISTS ${db}`);
      await admin?.end();
      await target?.close();
    });

    it('grants an account that reads its table and nothing else; tagged, listed after a restart', async () => {
      const s = spec();
      const out = await target.grant(s);
      expect(out.principal).toBe(userFor(s));
      expect(out.principal.length).toBeLessThanOrEqual(32);
      expect(new URL(out.secret.trim()).pathname).toBe(`/${db}`);
      const c = await asUser(out.secret);
      const [rows] = await c.query('SELECT count(*) AS n FROM orders');
      expect((rows as { n: number }[])[0]?.n).toBe(2);
      await expect(c.query('INSERT INTO orders VALUES (3, 1)')).rejects.toThrow(/denied/);
      await expect(c.query('SELECT * FROM secrets')).rejects.toThrow(/denied/);
      await c.end();
      const again = await mysqlProvider.connect({ connection: 'shop' }, env);
      const listed = (await again.list()).filter((a) => a.owner === `owner-${run}`);
      await again.close();
      expect(listed).toEqual([
        {
          owner: `owner-${run}`,
          provider: 'mysql',
          resourceId: 'shop-db',
          file: s.file,
          grantId: s.grantId,
          principal: out.principal,
          expiresAt: s.expiresAt.toISOString(),
        },
      ]);
    });

    it('granting twice converges on one account with the new password and the new privileges', async () => {
      const s = spec({
        file: `requests/bob/${run}.yaml`,
        requester: 'bob',
        grantId: `requests/bob/${run}.yaml@1`,
      });
      const first = await target.grant({
        ...s,
        roleSettings: { privileges: ['SELECT', 'INSERT'], on: [`${db}.*`] },
      });
      const second = await target.grant({ ...s, grantId: `requests/bob/${run}.yaml@2` });
      expect(second.principal).toBe(first.principal);
      await expect(asUser(first.secret)).rejects.toThrow(/denied/);
      const c = await asUser(second.secret);
      await expect(c.query('INSERT INTO orders VALUES (9, 1)')).rejects.toThrow(/denied/);
      await expect(c.query('SELECT * FROM secrets')).rejects.toThrow(/denied/);
      await c.end();
      expect((await target.list()).filter((a) => a.file === s.file).map((a) => a.grantId)).toEqual([
        `requests/bob/${run}.yaml@2`,
      ]);
    });

    it('revoking kills the connections, drops the account and verifies nothing is left (idempotent)', async () => {
      const s = spec({
        file: `requests/carol/${run}.yaml`,
        requester: 'carol',
        grantId: `requests/carol/${run}.yaml@1`,
      });
      const out = await target.grant(s);
      const c = await asUser(out.secret);
      c.on('error', () => {});
      await c.query('SELECT 1');
      const access = (await target.list()).find((a) => a.file === s.file);
      expect(access).toBeDefined();
      const r = await target.revoke(access as NonNullable<typeof access>);
      expect(r).toMatchObject({ principal: out.principal, sessionsEnded: 1 });
      await expect(c.query('SELECT 1')).rejects.toThrow();
      await expect(asUser(out.secret)).rejects.toThrow(/denied/);
      expect((await target.list()).find((a) => a.file === s.file)).toBeUndefined();
      const [tags] = await admin.query(`SELECT 1 FROM ${META_DB}.grants WHERE user = ?`, [out.principal]);
      expect(tags).toEqual([]);
      await expect(target.revoke(access as NonNullable<typeof access>)).resolves.toMatchObject({
        sessionsEnded: 0,
      });
    });

    it('a crash between the tag and the account leaves nothing that counts: list drops the orphan tag', async () => {
      const orphan = userFor({ owner: `owner-${run}`, file: `requests/zoe/${run}.yaml`, requester: 'zoe' });
      await admin.query(`REPLACE INTO ${META_DB}.grants (user, host, tag) VALUES (?, '%', ?)`, [
        orphan,
        JSON.stringify({
          owner: `owner-${run}`,
          file: `requests/zoe/${run}.yaml`,
          grant: 'g@1',
          resource: 'shop-db',
        }),
      ]);
      expect((await target.list()).map((a) => a.principal)).not.toContain(orphan);
      const [rows] = await admin.query(`SELECT 1 FROM ${META_DB}.grants WHERE user = ?`, [orphan]);
      expect(rows).toEqual([]);
    });

    it('identifiers cannot smuggle SQL, and a forged tag cannot make Timebox drop another account', async () => {
      expect(() => grantStatements({ privileges: ['ALL PRIVILEGES'], on: ['x.*'] })).toThrow(
        /refusing the privilege/,
      );
      expect(() => grantStatements({ privileges: ['SELECT ON *.* TO x; --'], on: ['x.*'] })).toThrow(
        /refusing the privilege/,
      );
      for (const bad of ['x.* TO `root`@`%`', 'x', '*.*', 'x.`y`', "x.y'--"]) {
        expect(() => grantStatements({ privileges: ['SELECT'], on: [bad] })).toThrow(/refusing the object/);
      }
      await expect(
        target.grant(spec({ resource: { connection: 'shop', host: "%' IDENTIFIED BY 'x" } })),
      ).rejects.toThrow(/refusing the account host/);
      expect(userFor({ owner: 'o', file: 'f', requester: "Robert'); DROP USER root--" })).toMatch(
        /^tb_robert____drop_us_[0-9a-f]{10}$/,
      );
      await admin.query(`REPLACE INTO ${META_DB}.grants (user, host, tag) VALUES ('root', '127.0.0.1', ?)`, [
        JSON.stringify({ owner: `owner-${run}`, file: 'x', grant: 'x@1', resource: 'shop-db' }),
      ]);
      try {
        expect((await target.list()).map((a) => a.principal)).not.toContain('root');
        await expect(
          target.revoke({
            owner: `owner-${run}`,
            requester: null,
            role: null,
            provider: 'mysql',
            resourceId: 'shop-db',
            file: 'x',
            grantId: 'x@1',
            principal: 'root',
            expiresAt: null,
          }),
        ).rejects.toThrow(/unsafe account name/);
        const [rows] = await admin.query("SELECT 1 FROM mysql.user WHERE User = 'root'");
        expect((rows as unknown[]).length).toBeGreaterThan(0);
      } finally {
        await admin.query(`DELETE FROM ${META_DB}.grants WHERE user = 'root'`);
      }
    });

    it('the least-privilege admin account of docs/providers/mysql.md is enough', async () => {
      const doc = readFileSync(join(ROOT, 'docs/providers/mysql.md'), 'utf8');
      const block = /## Set-up: the admin account\n\n```sql\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
      const name = `tb_adm_${run}`;
      const statements = block
        .split('\n')
        .map((l) => l.replace(/--.*$/, '').trim())
        .filter(Boolean)
        .map((l) =>
          l.replaceAll('timebox_admin', name).replace('…', 'adminpw').replaceAll('shop.*', `${db}.*`),
        );
      expect(statements.length).toBeGreaterThanOrEqual(4);
      for (const sql of statements) await admin.query(sql);
      try {
        const url = new URL(MYSQL_URL);
        url.username = name;
        url.password = 'adminpw';
        url.pathname = '/';
        const t = await mysqlProvider.connect(
          { connection: 'shop' },
          { TIMEBOX_MYSQL_SHOP_URL: url.toString() },
        );
        const s = spec({
          file: `requests/erin/${run}.yaml`,
          requester: 'erin',
          grantId: `requests/erin/${run}.yaml@1`,
        });
        const out = await t.grant(s);
        const c = await asUser(out.secret);
        c.on('error', () => {});
        const access = (await t.list()).find((a) => a.file === s.file);
        expect(access).toBeDefined();
        expect(await t.revoke(access as NonNullable<typeof access>)).toMatchObject({ sessionsEnded: 1 });
        await t.close();
        await c.end().catch(() => {});
      } finally {
        await admin.query(`DROP USER IF EXISTS '${name}'@'%'`);
      }
    });

    it('with the event scheduler on, the server itself locks the account at expiry', async () => {
      const [state] = await admin.query('SELECT @@event_scheduler AS s');
      const before = String((state as { s: string }[])[0]?.s);
      await admin.query('SET GLOBAL event_scheduler = ON');
      try {
        const s = spec({
          file: `requests/dave/${run}.yaml`,
          requester: 'dave',
          grantId: `requests/dave/${run}.yaml@1`,
          expiresAt: new Date(Math.ceil(Date.now() / 1000) * 1000 + 2000),
        });
        const out = await target.grant(s);
        const c = await asUser(out.secret);
        await c.end();
        await new Promise((r) => setTimeout(r, 3500));
        await expect(asUser(out.secret)).rejects.toThrow(/locked|denied/i);
      } finally {
        await admin.query(`SET GLOBAL event_scheduler = ${before.toUpperCase() === 'ON' ? 'ON' : 'OFF'}`);
      }
    }, 15_000);
  },
);
