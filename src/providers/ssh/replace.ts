// Replacing a file so that a crash, a full disk or a killed writer leaves either the old file or the new
// one, whole: the new content goes to a temporary file in the same directory (same file system, so the
// rename is atomic), is fsynced, then renamed over the file, and the directory is fsynced so the rename
// itself survives a power cut. Only ever called holding the file's lock (./lock.ts).
import { randomBytes } from 'node:crypto';
import { open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Held } from './lock.js';

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

async function fsync(path: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    // A directory cannot be opened on some platforms (Windows): there is nothing to sync there.
    if (code(err) === 'EISDIR' || code(err) === 'EPERM') return;
    throw err;
  }
  try {
    await fh.sync();
  } catch (err) {
    // File systems that cannot sync a directory say so with EINVAL; a file's sync error is real.
    if (!(code(err) === 'EINVAL' && (await fh.stat()).isDirectory())) throw err;
  } finally {
    await fh.close();
  }
}

const tmpPattern = (file: string) =>
  new RegExp(`^${basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.[0-9a-f]{12}\\.timebox-tmp$`);

/**
 * Replaces `file` by what `write(tmp)` leaves in `tmp`; the lock is checked just before the rename.
 * Temporary files left by a writer killed earlier are removed first (under the lock no other writer is
 * using them; one whose lock was taken from it then fails its own rename, as it should).
 */
export async function replaceFile(
  file: string,
  write: (tmp: string) => Promise<void>,
  held: Held,
): Promise<void> {
  const dir = dirname(file);
  const leftover = tmpPattern(file);
  for (const name of await readdir(dir))
    if (leftover.test(name)) await unlink(join(dir, name)).catch(() => undefined);
  const tmp = `${file}.${randomBytes(6).toString('hex')}.timebox-tmp`;
  try {
    await write(tmp);
    await fsync(tmp);
    await held.assertHeld();
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  try {
    await fsync(dir);
  } catch (err) {
    throw new NotSynced(`${file} was replaced, but syncing its directory failed: ${(err as Error).message}`);
  }
}

/** The new file is in place, but a power cut could still bring the old one back. */
export class NotSynced extends Error {
  override name = 'NotSynced';
}
