// One writer at a time for a file that several processes update (the KRL and its registry): `timebox
// serve`, a `timebox expire` run and a second replica may revoke at the same moment. No lock library is
// installed, so this is the classic exclusive-create lock file:
//
// - acquire: open(`<file>.lock`, O_CREAT|O_EXCL) and write who holds it (pid, host, pid namespace, a
//   random token); while held, its mtime is refreshed every `staleMs / 4`;
// - a lock is stale when its holder is gone: same host and pid namespace and the pid no longer exists
//   (a writer killed mid-update), or its mtime is older than `staleMs` (another host, a frozen process);
//   a stale lock is moved aside (rename, atomic) and, if what was moved is not the lock judged stale
//   (someone broke it and took it meanwhile), put back;
// - before committing anything the holder checks that the lock file still holds its token
//   (`assertHeld`), so a writer whose lock was broken while it was frozen fails instead of overwriting.
//
// Callers in one process queue behind each other first (no polling among them).
import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { link, open, rename, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { type Clock, systemClock } from '../../core/clock.js';

export class LockError extends Error {
  override name = 'LockError';
}

export interface LockOptions {
  /** A lock not refreshed for this long is stale (default 20 s; the holder refreshes every quarter). */
  staleMs?: number;
  /** How long to wait for a live holder before giving up (default 60 s). */
  timeoutMs?: number;
  /**
   * Waits, refreshes and ages (default: the system clock). Staleness compares it with the lock file's
   * modification time, which the holder sets from it too.
   */
  clock?: Clock;
}

export interface Held {
  /** Throws if the lock file no longer holds this holder's token (it was judged stale and taken). */
  assertHeld(): Promise<void>;
}

interface Holder {
  pid: number;
  /** Host and pid namespace: a pid means something only there. */
  where: string;
  token: string;
  since: string;
}

function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}
const WHERE = `${hostname()} ${pidNamespace()}`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseHolder(text: string): Holder | null {
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    return typeof h.pid === 'number' && typeof h.token === 'string' && typeof h.where === 'string'
      ? (h as Holder)
      : null;
  } catch {
    return null;
  }
}

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** The lock file as found: its inode (to recognise it after a rename), age and holder. */
async function inspect(
  path: string,
): Promise<{ ino: number; mtimeMs: number; holder: Holder | null } | null> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (code(err) === 'ENOENT') return null;
    throw err;
  }
  try {
    // One descriptor: the inode, age and holder are of the same file, whatever is renamed meanwhile.
    const s = await fh.stat();
    return { ino: s.ino, mtimeMs: s.mtimeMs, holder: parseHolder(await fh.readFile('utf8')) };
  } finally {
    await fh.close();
  }
}

/**
 * Moves the lock file aside if it is still the one judged (same inode, not refreshed since, or holding
 * `token`); otherwise puts it back. Returns whether the judged lock was removed.
 */
async function remove(path: string, judged: { ino: number; mtimeMs?: number; token?: string }) {
  const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch (err) {
    if (code(err) === 'ENOENT') return false;
    throw err;
  }
  const moved = await inspect(aside);
  const same =
    moved !== null &&
    moved.ino === judged.ino &&
    (judged.mtimeMs === undefined || moved.mtimeMs <= judged.mtimeMs) &&
    (judged.token === undefined || moved.holder?.token === judged.token);
  if (!same) {
    // Someone else's live lock: put it back (link fails if yet another writer created one meanwhile;
    // then the holder of the moved lock sees it lost at its next assertHeld and commits nothing).
    await link(aside, path).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
  return same;
}

async function tryCreate(path: string, holder: Holder): Promise<boolean> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'wx', 0o644);
  } catch (err) {
    if (code(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    await fh.writeFile(JSON.stringify(holder));
    await fh.close();
  } catch (err) {
    // A full disk: leave no nameless lock behind for others to wait out.
    await fh.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw err;
  }
  return true;
}

async function acquire(path: string, staleMs: number, timeoutMs: number, clock: Clock): Promise<Holder> {
  const me: Holder = {
    pid: process.pid,
    where: WHERE,
    token: randomBytes(12).toString('hex'),
    since: clock.now().toISOString(),
  };
  const started = clock.nowMs();
  let wait = 5;
  for (;;) {
    if (await tryCreate(path, me)) return me;
    const found = await inspect(path);
    if (found === null) continue;
    const { holder } = found;
    const gone =
      holder !== null && holder.where === WHERE && holder.pid !== process.pid && !alive(holder.pid);
    if (gone || clock.nowMs() - found.mtimeMs > staleMs) {
      await remove(path, { ino: found.ino, mtimeMs: found.mtimeMs });
      continue;
    }
    if (clock.nowMs() - started > timeoutMs)
      throw new LockError(
        `${path} is held by ${holder ? `pid ${holder.pid} on ${holder.where.split(' ')[0]} since ${holder.since}` : 'a writer'}; ` +
          'waited too long (if that process is gone from another host, the lock is stale after ' +
          `${Math.round(staleMs / 1000)} s, or remove the file)`,
      );
    await clock.sleep(wait + Math.random() * wait);
    wait = Math.min(wait * 2, 100);
  }
}

const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` holding the lock file `path` (across processes), one caller at a time. */
export function withLock<T>(
  path: string,
  fn: (held: Held) => Promise<T>,
  opts: LockOptions = {},
): Promise<T> {
  const key = resolve(path);
  const staleMs = opts.staleMs ?? 20_000;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const clock = opts.clock ?? systemClock;
  const run = async () => {
    const me = await acquire(key, staleMs, timeoutMs, clock);
    const assertHeld = async () => {
      const found = await inspect(key);
      if (found?.holder?.token !== me.token)
        throw new LockError(`lost the lock ${key} (it was judged stale and taken): nothing committed`);
    };
    const refresh = clock
      .every(staleMs / 4, () => {
        assertHeld()
          .then(() => utimes(key, clock.now(), clock.now()))
          .catch(() => undefined);
      })
      .unref();
    try {
      return await fn({ assertHeld });
    } finally {
      refresh.cancel();
      // Released only if it is still this holder's (a lock taken from it belongs to the new holder).
      const found = await inspect(key).catch(() => null);
      if (found?.holder?.token === me.token)
        await remove(key, { ino: found.ino, token: me.token }).catch(() => undefined);
    }
  };
  const next = (queues.get(key) ?? Promise.resolve()).then(run, run);
  const settled = next.catch(() => undefined);
  queues.set(key, settled);
  void settled.then(() => {
    if (queues.get(key) === settled) queues.delete(key);
  });
  return next;
}
