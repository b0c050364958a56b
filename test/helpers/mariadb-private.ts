// A private MariaDB server on a free loopback port, from the machine's own binaries (Debian's
// mariadb-server: mariadb-install-db and mariadbd), for what the shared server cannot be switched to at run
// time — performance_schema is set at start only. Root on 127.0.0.1 without a password, as the machine's.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { freePort } from '../../src/demo/postgres.js';

const INSTALL = '/usr/bin/mariadb-install-db';
const SERVER = '/usr/sbin/mariadbd';

export interface PrivateMariadb {
  /** Root URL over TCP. */
  url: string;
  stop(): Promise<void>;
}

/** Null when the binaries are there, else why not (with the command that installs them). */
export function privateMariadbUnavailable(): string | null {
  return existsSync(INSTALL) && existsSync(SERVER)
    ? null
    : `${INSTALL} and ${SERVER} are missing: apt-get install -y mariadb-server`;
}

/** Starts a fresh server with `options` (mariadbd flags such as `--performance-schema=ON`). */
export async function startPrivateMariadb(options: string[] = []): Promise<PrivateMariadb> {
  const dir = mkdtempSync(join(tmpdir(), 'timebox-mariadb-'));
  const data = join(dir, 'data');
  await promisify(execFile)(INSTALL, [
    '--no-defaults',
    `--datadir=${data}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    '--user=root',
  ]);
  const port = await freePort();
  const child: ChildProcess = spawn(
    SERVER,
    [
      '--no-defaults',
      `--datadir=${data}`,
      `--socket=${join(dir, 'sock')}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--user=root',
      '--skip-log-bin',
      `--log-error=${join(dir, 'error.log')}`,
      `--pid-file=${join(dir, 'pid')}`,
      ...options,
    ],
    { stdio: 'ignore' },
  );
  let exited: number | null = null;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code ?? -1;
      resolve();
    }),
  );
  const url = `mysql://root@127.0.0.1:${port}/mysql`;
  const stop = async () => {
    if (exited === null) child.kill('SIGTERM');
    await gone;
    rmSync(dir, { recursive: true, force: true });
  };
  // Wait until it answers (or has died), for at most a minute on a loaded machine.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const c = await mysql.createConnection({ uri: url, connectTimeout: 1000 });
      await c.end();
      return { url, stop };
    } catch (err) {
      if (exited !== null || Date.now() > deadline) {
        const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '';
        await stop();
        throw new Error(`private MariaDB did not start (${(err as Error).message}):\n${log.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
