// What a MySQL/MariaDB grantee did, captured at revocation (src/providers/mysql/activity.ts), read by the
// admin the docs prescribe: from MariaDB's user statistics on the machine's server (switched on for the
// test, put back after), from performance_schema on a private server started with it on, and nothing
// (never "0 statements") where the server keeps neither.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlProvider } from '../../src/providers/mysql/index.js';
import type { Activity, GrantSpec, ProviderTarget } from '../../src/providers/types.js';
import { grantSpec } from '../helpers/grants.js';
import {
  type PrivateMariadb,
  privateMariadbUnavailable,
  startPrivateMariadb,
} from '../helpers/mariadb-private.js';
import { MYSQL_URL, mysqlUnavailable, withGlobals } from '../helpers/mysql.js';
import { ROOT } from '../helpers/repo.js';

const run = randomBytes(4).toString('hex');

/** The admin of docs/providers/mysql.md's set-up block, made on the server at `rootUrl` for database `db`. */
async function documentedAdmin(root: mysql.Connection, rootUrl: string, db: string): Promise<string> {
  const doc = readFileSync(join(ROOT, 'docs/providers/mysql.md'), 'utf8');
  const block = /## Set-up: the admin account\n\n```sql\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
  const name = `tb_act_${run}`;
  const statements = block
    .split('\n')
    .map((l) => l.replace(/--.*$/, '').trim())
    .filter(Boolean)
    .map((l) => l.replaceAll('timebox_admin', name).replace('…', 'adminpw').replaceAll('shop.*', `${db}.*`));
  for (const sql of statements) await root.query(sql);
  const url = new URL(rootUrl);
  url.username = name;
  url.password = 'adminpw';
  url.pathname = '/';
  return url.toString();
}

/** A server to test on: a database with a table, the documented admin, and the provider connected as it. */
async function onServer(rootUrl: string) {
  const db = `ta${run}`;
  const root = await mysql.createConnection({ uri: rootUrl, multipleStatements: true });
  await root.query(
    `CREATE DATABASE ${db}; CREATE TABLE ${db}.orders (id INT PRIMARY KEY, total INT); INSERT INTO ${db}.orders VALUES (1, 10), (2, 20), (3, 30);`,
  );
  const adminUrl = await documentedAdmin(root, rootUrl, db);
  const target = await mysqlProvider.connect({ connection: 'shop' }, { TIMEBOX_MYSQL_SHOP_URL: adminUrl });
  return {
    db,
    target,
    async close() {
      for (const a of await target.list()) if (a.accessRepoId === `owner-${run}`) await target.revoke(a);
      await target.close();
      await root.query(`DROP DATABASE IF EXISTS ${db}`);
      await root.query(`DROP USER IF EXISTS 'tb_act_${run}'@'%'`);
      await root.end();
    },
  };
}

function spec(db: string, n: number): GrantSpec {
  return grantSpec(run, {
    resourceId: 'shop-db',
    connection: 'shop',
    role: 'fix-orders',
    roleSettings: { privileges: ['SELECT', 'UPDATE'], on: [`${db}.orders`] },
    name: `${run}-${n}`,
    commit: String(n),
  });
}

/** Grants, runs 3 selects and 2 updates as the grantee (one connection left open), revokes. */
async function useAndRevoke(
  target: ProviderTarget,
  db: string,
  n: number,
): Promise<{ activity: Activity | null; secret: string }> {
  const out = await target.grant(spec(db, n));
  const c = await mysql.createConnection({ uri: out.secret.trim() });
  c.on('error', () => {});
  for (const id of [1, 2, 3]) await c.query(`SELECT total FROM ${db}.orders WHERE id = ?`, [id]);
  await c.query(`UPDATE ${db}.orders SET total = total + 1 WHERE id = 1`);
  await c.query(`UPDATE ${db}.orders SET total = total + 1 WHERE id IN (2, 3)`);
  const access = (await target.list()).find((a) => a.principal === out.principal);
  if (!access) throw new Error('the grant is not listed');
  const revoked = await target.revoke(access);
  await c.end().catch(() => {});
  return { activity: revoked.activity, secret: out.secret };
}

const machine = await mysqlUnavailable();

describe.skipIf(machine)('MySQL activity on the machine’s MariaDB', () => {
  let server: Awaited<ReturnType<typeof onServer>>;
  beforeAll(async () => {
    server = await onServer(MYSQL_URL);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('with user statistics on: the grantee’s selects and updates, rows sent and changed', async () => {
    const root = await mysql.createConnection({ uri: MYSQL_URL });
    try {
      await withGlobals(root, { userstat: '1' }, async () => {
        const { activity, secret } = await useAndRevoke(server.target, server.db, 1);
        expect(activity).not.toBeNull();
        const by = Object.fromEntries((activity?.statements ?? []).map((s) => [s.query, s]));
        expect(by.select?.calls).toBe(3);
        expect(by.select?.rows).toBe(3);
        expect(by.update?.calls).toBe(2);
        expect(by.update?.rows).toBe(3);
        expect(activity?.summary).toMatch(
          /^5 statements \(3 select, 2 update\), 6 rows, \d+ rows read \(user statistics\)$/,
        );
        const password = new URL(secret.trim()).password;
        expect(activity?.summary).not.toContain(password);
      });
    } finally {
      await root.end();
    }
  }, 60_000);

  it('with neither performance_schema nor user statistics: no activity, rather than a false "nothing"', async () => {
    const root = await mysql.createConnection({ uri: MYSQL_URL });
    try {
      const [rows] = await root.query('SELECT @@performance_schema AS ps');
      if (Number((rows as { ps: number }[])[0]?.ps) === 1) return; // a server with it on is tested below
      await withGlobals(root, { userstat: '0' }, async () => {
        const { activity } = await useAndRevoke(server.target, server.db, 2);
        expect(activity).toBeNull();
      });
    } finally {
      await root.end();
    }
  }, 60_000);
});

const noBinaries = privateMariadbUnavailable();

describe.skipIf(noBinaries)(
  'MySQL activity from performance_schema (a private MariaDB started with it on)',
  () => {
    let mariadb: PrivateMariadb;
    let server: Awaited<ReturnType<typeof onServer>>;
    beforeAll(async () => {
      mariadb = await startPrivateMariadb(['--performance-schema=ON']);
      server = await onServer(mariadb.url);
    }, 120_000);
    afterAll(async () => {
      await server?.close();
      await mariadb?.stop();
    });

    it('counts the grantee’s statements by kind, with rows sent and affected', async () => {
      const { activity, secret } = await useAndRevoke(server.target, server.db, 3);
      const by = Object.fromEntries((activity?.statements ?? []).map((s) => [s.query, s]));
      expect(by.select?.calls).toBe(3);
      expect(by.select?.rows).toBe(3);
      expect(by.update?.calls).toBe(2);
      expect(by.update?.rows).toBe(3);
      expect(activity?.summary).toMatch(
        /^5 statements \(3 select, 2 update\), 6 rows \(performance_schema\)$/,
      );
      expect(activity?.summary).not.toContain(new URL(secret.trim()).password);
    }, 60_000);
  },
);
