// The mysql provider against the machine's MariaDB: accounts that work only as far as their role says (no
// wildcard in a database name, no reserved schema), revoked with their connections, found again after a
// restart and when their tag is gone, locked at expiry by the server's event scheduler whatever the server's
// time zone, passwords in no log, and identifiers that cannot smuggle SQL.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadPolicies } from '../../src/core/policy.js';
import { checkMysqlRole, RESERVED_SCHEMAS } from '../../src/providers/mysql/definition.js';
import {
  grantStatements,
  META_DB,
  mysqlProvider,
  nativePasswordHash,
  userFor,
} from '../../src/providers/mysql/index.js';
import { reconcileTargets, Targets } from '../../src/providers/reconcile.js';
import { providerDefinitions } from '../../src/providers/registry.js';
import type { GrantSpec, ProviderTarget } from '../../src/providers/types.js';
import { policies } from '../helpers/core.js';
import { MYSQL_URL, mysqlUnavailable, withGlobals } from '../helpers/mysql.js';
import { ROOT } from '../helpers/repo.js';

const unavailable = await mysqlUnavailable();
const run = randomBytes(4).toString('hex');
const db = `t${run}`;
const env = { TIMEBOX_MYSQL_SHOP_URL: MYSQL_URL };
let target: ProviderTarget;
let admin: mysql.Connection;

async function accounts(user: string): Promise<number> {
  const [rows] = await admin.query('SELECT 1 FROM mysql.user WHERE User = ?', [user]);
  return (rows as unknown[]).length;
}

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

describe('timebox check refuses MySQL roles that reach Timebox’s bookkeeping or the server’s schemas', () => {
  it('objects in timebox_meta, mysql, sys, performance_schema or information_schema are refused at their line', () => {
    const text = [
      'resources:',
      '  shop-db:',
      '    provider: mysql',
      '    connection: shop',
      '    roles:',
      '      fine: { privileges: [SELECT], on: ["shop.*", "mysql_app.*", "shop.mysql", "timebox_metadata.*"] }',
      '      tags: { privileges: [SELECT, DELETE], on: ["shop.*", "timebox_meta.grants"] }',
      '      accounts:',
      '        privileges: [SELECT, UPDATE]',
      '        on:',
      '          - "MySQL.user"',
      '      system: { privileges: [SELECT], on: ["sys.*", "performance_schema.*", "information_schema.tables"] }',
      'rules:',
      '  - { name: all, resources: ["*"] }',
      '',
    ].join('\n');
    const r = loadPolicies([{ path: 'policies/shop.yaml', text }], providerDefinitions);
    expect(r.errors.map((e) => [e.line, e.path])).toEqual([
      [7, "$.resources['shop-db'].roles.tags.on[1]"],
      [11, "$.resources['shop-db'].roles.accounts.on[0]"],
      [12, "$.resources['shop-db'].roles.system.on[0]"],
      [12, "$.resources['shop-db'].roles.system.on[1]"],
      [12, "$.resources['shop-db'].roles.system.on[2]"],
    ]);
    expect(r.errors[0]).toMatchObject({
      file: 'policies/shop.yaml',
      message: expect.stringMatching(
        /^`timebox_meta\.grants` is in `timebox_meta`, where Timebox keeps its tags/,
      ),
    });
    expect(r.errors[1]?.message).toMatch(/`mysql`, the server’s accounts and privileges/);
  });

  it('a reserved schema in any case is refused; any other name passes (property)', () => {
    const reserved = fc
      .tuple(
        fc.constantFrom(...Object.keys(RESERVED_SCHEMAS)),
        fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
      )
      .map(([name, upper]) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(''));
    const table = fc.constantFrom('*', 'user', 'grants', 't');
    fc.assert(
      fc.property(reserved, table, (db, t) => {
        expect(checkMysqlRole({ on: [`${db}.${t}`] })).toEqual([
          { path: ['on', 0], message: expect.stringContaining('no role may reach it') },
        ]);
      }),
    );
    const other = fc
      .stringMatching(/^[A-Za-z0-9_$]{1,20}$/)
      .filter((db) => !Object.hasOwn(RESERVED_SCHEMAS, db.toLowerCase()));
    fc.assert(
      fc.property(other, table, (db, t) => {
        expect(checkMysqlRole({ on: [`${db}.${t}`] })).toEqual([]);
      }),
    );
  });

  it('and the provider refuses them at grant time too', () => {
    for (const on of ['timebox_meta.*', 'mysql.user', 'PERFORMANCE_SCHEMA.threads']) {
      expect(() => grantStatements({ privileges: ['SELECT'], on: [on] })).toThrow(/refusing the role/);
    }
  });
});

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
          requester: 'alice',
          role: 'read-only',
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

    it('with the event scheduler on, the server itself locks the account at expiry, whatever its time zone', async () => {
      // A server at -05:00: the lock event's time must still be the window's end (not five hours later).
      await withGlobals(admin, { event_scheduler: 'ON', time_zone: "'-05:00'" }, async () => {
        const t = await mysqlProvider.connect({ connection: 'shop' }, env);
        try {
          const later = spec({
            file: `requests/frank/${run}.yaml`,
            requester: 'frank',
            grantId: `requests/frank/${run}.yaml@1`,
            expiresAt: new Date(Math.ceil(Date.now() / 1000) * 1000 + 3_600_000),
          });
          await t.grant(later);
          const [events] = await admin.query(
            "SELECT DATE_FORMAT(CONVERT_TZ(EXECUTE_AT, TIME_ZONE, '+00:00'), '%Y-%m-%dT%H:%i:%sZ') AS at FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?",
            [META_DB, `${userFor(later)}_expiry`],
          );
          expect((events as { at: string }[])[0]?.at).toBe(later.expiresAt.toISOString().replace('.000', ''));

          const s = spec({
            file: `requests/dave/${run}.yaml`,
            requester: 'dave',
            grantId: `requests/dave/${run}.yaml@1`,
            expiresAt: new Date(Math.ceil(Date.now() / 1000) * 1000 + 2000),
          });
          const out = await t.grant(s);
          const c = await asUser(out.secret);
          await c.end();
          await vi.waitFor(() => expect(asUser(out.secret)).rejects.toThrow(/locked|denied/i), {
            timeout: 10_000,
            interval: 250,
          });
        } finally {
          await t.close();
        }
      });
    }, 20_000);

    it('database-level grants mean what they say: shop_eu.* reads shop_eu, never shopXeu', async () => {
      const eu = `${db}_eu`;
      const lookalike = `${db}Xeu`;
      await admin.query(
        `CREATE DATABASE ${eu}; CREATE TABLE ${eu}.t (a INT); INSERT INTO ${eu}.t VALUES (1); CREATE DATABASE ${lookalike}; CREATE TABLE ${lookalike}.t (a INT); INSERT INTO ${lookalike}.t VALUES (2);`,
      );
      try {
        for (const [who, on] of [
          ['gina', `${eu}.*`],
          ['hank', `${eu}.t`],
        ] as const) {
          const out = await target.grant(
            spec({
              file: `requests/${who}/${run}.yaml`,
              requester: who,
              grantId: `requests/${who}/${run}.yaml@1`,
              roleSettings: { privileges: ['SELECT'], on: [on] },
            }),
          );
          const c = await asUser(out.secret);
          const [rows] = await c.query(`SELECT a FROM ${eu}.t`);
          expect(rows).toEqual([{ a: 1 }]);
          await expect(c.query(`SELECT a FROM ${lookalike}.t`)).rejects.toThrow(/denied/);
          await c.end();
        }
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${eu}; DROP DATABASE IF EXISTS ${lookalike}`);
      }
    });

    it('the password is in no server log: the general log holds only its hash, and the password logs in', async () => {
      const [before] = await admin.query('SELECT NOW(6) AS t');
      const since = (before as { t: string }[])[0]?.t;
      const s = spec({
        file: `requests/lena/${run}.yaml`,
        requester: 'lena',
        grantId: `requests/lena/${run}.yaml@1`,
      });
      let password = '';
      let logged = '';
      await withGlobals(admin, { log_output: "'TABLE'", general_log: 'ON' }, async () => {
        const out = await target.grant(s);
        password = new URL(out.secret.trim()).password;
        const [rows] = await admin.query(
          'SELECT CONVERT(argument USING utf8mb4) AS a FROM mysql.general_log WHERE event_time >= ?',
          [since],
        );
        logged = (rows as { a: string }[]).map((r) => r.a).join('\n');
        const c = await asUser(out.secret);
        await c.end();
      });
      expect(logged).toContain(`CREATE USER IF NOT EXISTS '${userFor(s)}'`);
      expect(logged).toContain(nativePasswordHash(password));
      expect(logged).not.toContain(password);
    });

    it('a Timebox-named account without a (readable) tag is listed as untagged, and revoking it works', async () => {
      const stray = `tb_mallory_${run}ab`;
      const damaged = `tb_trudy_${run}cd`;
      await admin.query(
        `CREATE USER '${stray}'@'%' IDENTIFIED BY 'pw'; CREATE USER '${damaged}'@'%' IDENTIFIED BY 'pw'`,
      );
      await admin.query(`REPLACE INTO ${META_DB}.grants (user, host, tag) VALUES (?, '%', '{"owner": "x"')`, [
        damaged,
      ]);
      try {
        const listed = (await target.list()).filter((a) => a.principal === stray || a.principal === damaged);
        const untagged = {
          owner: null,
          provider: 'mysql',
          resourceId: '',
          file: '',
          grantId: '',
          requester: null,
          role: null,
          expiresAt: null,
          untagged: true,
        };
        // Untagged accounts are every access repo's business: a reconcile running elsewhere against this
        // server may have revoked one already. Each is listed as untagged, or gone — never left unlisted.
        for (const user of [stray, damaged]) {
          const found = listed.find((a) => a.principal === user);
          if (found) expect(found).toEqual({ ...untagged, principal: user });
          else expect(await accounts(user)).toBe(0);
        }
        for (const a of listed) await target.revoke(a);
        expect(await accounts(stray)).toBe(0);
        expect(await accounts(damaged)).toBe(0);
        const [tags] = await admin.query(`SELECT 1 FROM ${META_DB}.grants WHERE user = ?`, [damaged]);
        expect(tags).toEqual([]);
      } finally {
        await admin.query(`DROP USER IF EXISTS '${stray}'@'%', '${damaged}'@'%'`);
        await admin.query(`DELETE FROM ${META_DB}.grants WHERE user = ?`, [damaged]);
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
      await admin.query(`GRANT SELECT, DELETE ON ${META_DB}.grants TO ?@'%'`, [out.principal]);
      const c = await asUser(out.secret);
      c.on('error', () => {});
      const [deleted] = await c.query(`DELETE FROM ${META_DB}.grants WHERE user = ?`, [out.principal]);
      expect((deleted as { affectedRows: number }).affectedRows).toBe(1);

      const policy = policies(
        `resources:\n  shop-db:\n    provider: mysql\n    connection: shop\n    roles:\n      read-only: { privileges: [SELECT], on: ["${db}.orders"] }\nrules:\n  - { name: all, resources: ["*"] }\n`,
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
        // (Unless a reconcile running elsewhere against this server revoked it first: then it is not listed.)
        if (result.actual.some((a) => a.principal === out.principal))
          expect(result.revoked).toContainEqual(
            expect.objectContaining({ principal: out.principal, reason: 'untagged', file: '' }),
          );
      } finally {
        await targets.close();
      }
      expect(await accounts(out.principal)).toBe(0);
      await expect(c.query('SELECT 1')).rejects.toThrow();
      await expect(asUser(out.secret)).rejects.toThrow(/denied/);
    });
  },
);
