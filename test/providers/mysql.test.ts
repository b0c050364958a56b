// The mysql provider against the machine's MariaDB, beyond the contract every provider keeps (contract.ts):
// accounts that work only as far as their role says (no wildcard in a database name, no reserved schema),
// locked at expiry by the server's event scheduler whatever the server's time zone, passwords in no log,
// and identifiers that cannot smuggle SQL.
import { randomBytes } from 'node:crypto';
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
import { providerDefinitions } from '../../src/providers/registry.js';
import type { GrantSpec, ProviderTarget } from '../../src/providers/types.js';
import { grantSpec } from '../helpers/grants.js';
import { MYSQL_URL, mysqlUnavailable, withGlobals } from '../helpers/mysql.js';
import { outsideSchema } from './contract.js';

const unavailable = await mysqlUnavailable();
const run = randomBytes(4).toString('hex');
const db = `t${run}`;
const env = { TIMEBOX_MYSQL_SHOP_URL: MYSQL_URL };
let target: ProviderTarget;
let admin: mysql.Connection;

function spec(over: Partial<GrantSpec> = {}): GrantSpec {
  return {
    ...grantSpec(run, {
      resourceId: 'shop-db',
      connection: 'shop',
      role: 'read-only',
      roleSettings: { privileges: ['SELECT'], on: [`${db}.orders`], max_user_connections: 2 },
    }),
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
      for (const a of (await target?.list()) ?? [])
        if (a.accessRepoId === `owner-${run}`) await target.revoke(a);
      await admin?.query(`DROP DATABASE IF EXISTS ${db}`);
      await admin?.end();
      await target?.close();
    });

    // Tagging, listing after a restart, revocation, orphan and forged tags, the documented admin: contract.ts.
    it('grants an account that reads its table and nothing else', async () => {
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
    });

    it('granting again gives the account the new privileges (an edited role grants less)', async () => {
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
      const c = await asUser(second.secret);
      await expect(c.query('INSERT INTO orders VALUES (9, 1)')).rejects.toThrow(/denied/);
      await expect(c.query('SELECT * FROM secrets')).rejects.toThrow(/denied/);
      await c.end();
    });

    it('identifiers cannot smuggle SQL', async () => {
      expect(() => grantStatements(outsideSchema({ privileges: ['ALL PRIVILEGES'], on: ['x.*'] }))).toThrow(
        /refusing the privilege/,
      );
      expect(() =>
        grantStatements(outsideSchema({ privileges: ['SELECT ON *.* TO x; --'], on: ['x.*'] })),
      ).toThrow(/refusing the privilege/);
      for (const bad of ['x.* TO `root`@`%`', 'x', '*.*', 'x.`y`', "x.y'--"]) {
        expect(() => grantStatements({ privileges: ['SELECT'], on: [bad] })).toThrow(/refusing the object/);
      }
      await expect(
        target.grant(spec({ resource: { connection: 'shop', host: "%' IDENTIFIED BY 'x" } })),
      ).rejects.toThrow(/refusing the account host/);
      expect(userFor({ accessRepoId: 'o', file: 'f', requester: "Robert'); DROP USER root--" })).toMatch(
        /^tb_robert____drop_us_[0-9a-f]{10}$/,
      );
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
  },
);
