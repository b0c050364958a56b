// Private PostgreSQL and Redis servers for the model-based test, started from the machine's own binaries.
//
// Why not the machine's shared servers: a principal named as Timebox names its grants but without a tag is
// every access repo's business (reconciliation revokes it, whoever made it). The histories make such
// principals on purpose (a grantee erasing its tag), other test files do too, and every apply on a shared
// server would revoke the others' — a race both ways (seen: this test's apply revoking another file's
// untagged roles and failing on their sessions). A private cluster also authenticates with passwords
// (SCRAM), so a login attempt proves the password and VALID UNTIL, not only the role: the machine's server
// trusts local connections.
import { type ChildProcess, spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { freePort } from '../../src/demo/postgres.js';
import { type ScramCluster, startScramCluster } from '../helpers/pg-cluster.js';
import { query } from '../helpers/postgres.js';

export interface ModelPostgres {
  /** Admin URL of the database the resource uses. */
  url: string;
  adminUrl: string;
  readRole: string;
  writeRole: string;
  stop(): void;
}

/** A SCRAM cluster with a database `orders` and two group roles the policy grants. */
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
    return {
      url: url.href,
      adminUrl: cluster.adminUrl,
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
  url: string;
  stop(): void;
}

/** `redis-server` on a free loopback port, in memory only. */
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
  try {
    await Promise.race([exited, waitUntilPong(port)]);
  } catch (err) {
    stop();
    throw err;
  }
  return { url: `redis://127.0.0.1:${port}`, stop };
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
