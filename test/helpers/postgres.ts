// A real PostgreSQL for tests: TIMEBOX_TEST_PG_URL if set, else the machine's local server
// (127.0.0.1:5432, trust auth). Never skipped: without a server these tests fail and say why.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

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

export async function createTestDatabase(): Promise<TestDatabase> {
  const suffix = randomBytes(4).toString('hex');
  const name = `timebox_test_${suffix}`;
  try {
    await query(ADMIN_URL, `CREATE DATABASE ${name}`);
  } catch (err) {
    throw new Error(
      `PostgreSQL is needed for these tests and did not answer at ${ADMIN_URL} (${(err as Error).message}). ` +
        'Set TIMEBOX_TEST_PG_URL, or start the local server: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
    );
  }
  const url = new URL(ADMIN_URL);
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
      await query(ADMIN_URL, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [
        name,
      ]);
      await query(ADMIN_URL, `DROP DATABASE IF EXISTS ${name}`);
      for (const r of leftovers.rows as { rolname: string }[])
        await query(ADMIN_URL, `DROP ROLE IF EXISTS "${r.rolname}"`);
      await query(ADMIN_URL, `DROP ROLE IF EXISTS ${readRole}`);
      await query(ADMIN_URL, `DROP ROLE IF EXISTS ${writeRole}`);
    },
  };
}
