// Private PostgreSQL and Redis servers for the model-based test, started from the machine's own binaries.
//
// Why not the machine's shared servers: a principal named as Timebox names its grants but without a tag is
// every access repo's business (reconciliation revokes it, whoever made it). The histories make such
// principals on purpose (a grantee erasing its tag), other test files do too, and every apply on a shared
// server would revoke the others' — a race both ways (seen: this test's apply revoking another file's
// untagged roles and failing on their sessions). A private cluster also authenticates with passwords
// (SCRAM), so a login attempt proves the password and VALID UNTIL, not only the role: the machine's server
// trusts local connections. Timebox connects to both as the admin its provider docs prescribe, built from
// the docs' own text (never a superuser); the test observes and cleans up as the superuser.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { resolve } from 'node:path';
import { createClient } from 'redis';
import { freePort } from '../../src/demo/postgres.js';
import { type ScramCluster, startScramCluster } from '../helpers/pg-cluster.js';
import { documentedAdminSql, query } from '../helpers/postgres.js';

export interface ModelPostgres {
  /** What Timebox connects with: the least-privilege admin docs/providers/postgres.md prescribes. */
  url: string;
  /** A superuser on the same database, for the test's own observations and clean-up. */
  superUrl: string;
  readRole: string;
  writeRole: string;
  stop(): void;
}

/**
 * A SCRAM cluster with a database `orders`, two group roles the policy grants, and Timebox's admin role
 * built from the provider doc's own SQL (never a superuser: issue 13, 3).
 */
export async function startPostgres(): Promise<ModelPostgres> {
  const cluster: ScramCluster = await startScramCluster();
  process.once('exit', () => cluster.stop());
  try {
    await query(cluster.adminUrl, 'CREATE DATABASE orders');
    const url = new URL(cluster.adminUrl);
    url.pathname = '/orders';
    await query(
      url.href,
      `CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL);
       INSERT INTO orders (total) VALUES (10), (20);
       CREATE ROLE orders_read NOLOGIN; GRANT SELECT ON orders TO orders_read;
       CREATE ROLE orders_write NOLOGIN; GRANT SELECT, INSERT, UPDATE ON orders TO orders_write;
       GRANT USAGE ON SEQUENCE orders_id_seq TO orders_write;
       -- A writer may create objects: revoking it must then drop what it owns.
       GRANT CREATE ON SCHEMA public TO orders_write;`,
    );
    const password = randomBytes(12).toString('hex');
    await query(
      url.href,
      documentedAdminSql({ admin: 'timebox_admin', password, roles: ['orders_read', 'orders_write'] }),
    );
    const timebox = new URL(url.href);
    timebox.username = 'timebox_admin';
    timebox.password = password;
    return {
      url: timebox.href,
      superUrl: url.href,
      readRole: 'orders_read',
      writeRole: 'orders_write',
      stop: () => cluster.stop(),
    };
  } catch (err) {
    cluster.stop();
    throw err;
  }
}

export interface ModelRedis {
  /** What Timebox connects with: the admin user docs/providers/redis.md prescribes. */
  url: string;
  /** The `default` user, for the test's own observations and clean-up. */
  superUrl: string;
  stop(): void;
}

/**
 * The `ACL SETUSER` of "Set-up: the admin user" in docs/providers/redis.md, as written, as arguments, with
 * the password filled in. Fails when the doc no longer has it, so the test always runs the doc's own text.
 */
export function documentedRedisAdmin(password: string): string[] {
  const doc = readFileSync(resolve(import.meta.dirname, '../../docs/providers/redis.md'), 'utf8');
  const section = doc.split('\n## Set-up: the admin user\n')[1]?.split('\n## ')[0];
  const line = section?.split('\n').find((l) => l.startsWith('ACL SETUSER timebox_admin '));
  if (!line?.includes(' >… '))
    throw new Error(
      'docs/providers/redis.md: no `ACL SETUSER timebox_admin … >… …` under "## Set-up: the admin user"',
    );
  return line.replace(' >… ', ` >${password} `).split(' ');
}

/**
 * `redis-server` on a free loopback port, in memory only, with Timebox's admin user built from the
 * provider doc's own command.
 */
export async function startRedis(): Promise<ModelRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--loglevel',
      'warning',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString('utf8');
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`cannot start redis-server: ${err.message}`)));
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${stderr.trim()}`)));
  });
  exited.catch(() => {});
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', stop);
  const superUrl = `redis://127.0.0.1:${port}`;
  const password = randomBytes(12).toString('hex');
  try {
    await Promise.race([exited, waitUntilPong(port)]);
    const admin = createClient({ url: superUrl, socket: { reconnectStrategy: false } });
    admin.on('error', () => {});
    await admin.connect();
    try {
      await admin.sendCommand(documentedRedisAdmin(password));
    } finally {
      admin.destroy();
    }
  } catch (err) {
    stop();
    throw err;
  }
  return { url: `redis://timebox_admin:${password}@127.0.0.1:${port}`, superUrl, stop };
}

/** PING until the server answers PONG (it listens within milliseconds of starting). */
async function waitUntilPong(port: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const pong = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port });
      s.on('error', () => resolve(false));
      s.on('connect', () => s.write('PING\r\n'));
      s.on('data', (b) => {
        s.destroy();
        resolve(b.toString('utf8').startsWith('+PONG'));
      });
    });
    if (pong) return;
    if (attempt > 200) throw new Error(`redis-server on port ${port} never answered PING`);
    await new Promise((r) => setTimeout(r, Math.min(50, 2 ** attempt)));
  }
}
