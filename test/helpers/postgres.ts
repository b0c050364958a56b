// A real PostgreSQL for tests: TIMEBOX_TEST_PG_URL if set, else the machine's local server
// (127.0.0.1:5432, trust auth) if it answers, else a private cluster started from the machine's
// PostgreSQL binaries (test/helpers/pg-cluster.ts). Never skipped: with none of these the tests fail
// and say why.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { type ScramCluster, startScramCluster } from './pg-cluster.js';

export const ADMIN_URL = process.env.TIMEBOX_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export async function query(url: string, sql: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  url: string;
  name: string;
  /** Cluster-wide role names made for this database (unique per run). */
  readRole: string;
  writeRole: string;
  drop(): Promise<void>;
}

let resolved: Promise<string> | undefined;
let privateCluster: ScramCluster | undefined;

/** The admin URL to use: the configured or local server, or a private cluster when neither answers. */
export function adminUrl(): Promise<string> {
  resolved ??= (async () => {
    try {
      await query(ADMIN_URL, 'SELECT 1');
      return ADMIN_URL;
    } catch (err) {
      if (process.env.TIMEBOX_TEST_PG_URL) {
        throw new Error(`TIMEBOX_TEST_PG_URL does not answer (${(err as Error).message})`);
      }
      try {
        privateCluster = await startScramCluster();
      } catch (startErr) {
        throw new Error(
          `PostgreSQL is needed for these tests: nothing answered at ${ADMIN_URL} (${(err as Error).message}) and no private ` +
            `cluster could be started (${(startErr as Error).message}). Set TIMEBOX_TEST_PG_URL, or install the Debian package postgresql.`,
        );
      }
      process.once('exit', () => privateCluster?.stop());
      return privateCluster.adminUrl;
    }
  })();
  return resolved;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const suffix = randomBytes(4).toString('hex');
  const name = `timebox_test_${suffix}`;
  const admin = await adminUrl();
  await query(admin, `CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const readRole = `tbt_${suffix}_read`;
  const writeRole = `tbt_${suffix}_write`;
  await query(
    url.href,
    `CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL);
     INSERT INTO orders (total) VALUES (10), (20);
     CREATE ROLE ${readRole} NOLOGIN; GRANT SELECT ON orders TO ${readRole};
     CREATE ROLE ${writeRole} NOLOGIN; GRANT SELECT, INSERT, UPDATE ON orders TO ${writeRole};
     GRANT USAGE ON SEQUENCE orders_id_seq TO ${writeRole};`,
  );
  return {
    url: url.href,
    name,
    readRole,
    writeRole,
    async drop() {
      const leftovers = await query(
        url.href,
        `SELECT rolname FROM pg_roles WHERE shobj_description(oid, 'pg_authid') LIKE $1`,
        [`timebox:%${name}%`],
      );
      await query(admin, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [name]);
      await query(admin, `DROP DATABASE IF EXISTS ${name}`);
      for (const r of leftovers.rows as { rolname: string }[])
        await query(admin, `DROP ROLE IF EXISTS "${r.rolname}"`);
      await query(admin, `DROP ROLE IF EXISTS ${readRole}`);
      await query(admin, `DROP ROLE IF EXISTS ${writeRole}`);
    },
  };
}

/** Drops every role Timebox made for the access repo `owner` (its root commit): roles are cluster-wide. */
export async function dropRolesOf(url: string, owner: string): Promise<void> {
  const { rows } = await query(
    url,
    `SELECT rolname FROM pg_roles WHERE starts_with(shobj_description(oid, 'pg_authid'), $1)`,
    [`timebox:{"owner":"${owner}"`],
  );
  for (const r of rows) {
    const role = String(r.rolname).replace(/"/g, '""');
    await query(url, `DROP OWNED BY "${role}"; DROP ROLE "${role}"`).catch(() => {});
  }
}

/**
 * The SQL of "Set-up: the admin role" in docs/providers/postgres.md, as written, with the admin's name,
 * its password and the two group roles it names replaced. Fails when the doc no longer says what is
 * replaced, so a test built on it always runs the doc's own text.
 */
export function documentedAdminSql(names: {
  admin: string;
  password: string;
  roles: [string, string];
}): string {
  const doc = readFileSync(resolve(import.meta.dirname, '../../docs/providers/postgres.md'), 'utf8');
  const section = doc.split('\n## Set-up: the admin role\n')[1]?.split('\n## ')[0];
  const sql = section?.match(/```sql\n([\s\S]*?)```/)?.[1];
  if (!sql) throw new Error('docs/providers/postgres.md: no SQL block under "## Set-up: the admin role"');
  for (const needed of ['timebox_admin', 'orders_read, orders_write', "PASSWORD '…'"]) {
    if (!sql.includes(needed)) throw new Error(`the documented admin SQL no longer contains ${needed}`);
  }
  return sql
    .replace(/\btimebox_admin\b/g, names.admin)
    .replace('orders_read, orders_write', names.roles.join(', '))
    .replace("PASSWORD '…'", `PASSWORD '${names.password.replace(/'/g, "''")}'`);
}
