// The lock file that makes one writer at a time of the SSH revocation list and its registry, across
// processes (src/providers/ssh/lock.ts), and the whole-file replacement done under it (replace.ts): real
// files, real second processes.
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockError, withLock } from '../../src/providers/ssh/lock.js';
import { replaceFile } from '../../src/providers/ssh/replace.js';
import { type Child, startChild } from './ssh-child.js';

let dir: string;
let lock: string;
const children: Child[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'timebox-lock-'));
  lock = join(dir, 'revoked.krl.lock');
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await c.exit;
  }
  rmSync(dir, { recursive: true, force: true });
});

function child(mode: string, args: string[]): Child {
  const c = startChild(mode, args);
  children.push(c);
  return c;
}

const elsewhere = (token: string) =>
  JSON.stringify({ pid: 1, where: 'other-host pid:[1]', token, since: '2026-11-30T00:00:00.000Z' });

describe('the KRL lock', () => {
  it('writers in three processes and three async callers never interleave: no increment is lost', async () => {
    const counter = join(dir, 'counter');
    writeFileSync(counter, '0');
    const procs = [1, 2, 3].map(() => child('count', [lock, counter, '25']));
    await Promise.all(procs.map((p) => p.said('ready')));
    for (const p of procs) p.go();
    const local = [1, 2, 3].map(async () => {
      for (let i = 0; i < 25; i++)
        await withLock(lock, async () => {
          const value = Number(readFileSync(counter, 'utf8'));
          await new Promise((r) => setImmediate(r));
          await writeFile(counter, String(value + 1));
        });
    });
    await Promise.all(local);
    for (const p of procs) expect(await p.exit, p.stderr()).toBe(0);
    expect(readFileSync(counter, 'utf8')).toBe(String(6 * 25));
    expect(existsSync(lock)).toBe(false);
  }, 60_000);

  it('a live holder is waited for; once it is killed, its lock is taken at once (no waiting for age)', async () => {
    const holder = child('hold', [lock]);
    await holder.said('held');
    await expect(withLock(lock, async () => 'mine', { timeoutMs: 300 })).rejects.toThrow(
      new RegExp(`held by pid ${holder.pid} on `),
    );
    process.kill(-holder.pid, 'SIGKILL');
    await holder.exit;
    expect(existsSync(lock), 'the killed holder left its lock').toBe(true);
    // Stale by age only after 10 minutes, and a 5 s timeout: only the dead pid can let this through.
    await expect(withLock(lock, async () => 'mine', { staleMs: 600_000, timeoutMs: 5_000 })).resolves.toBe(
      'mine',
    );
    expect(existsSync(lock)).toBe(false);
  }, 30_000);

  it('a lock from another host is waited for while it is refreshed, and taken once it is stale', async () => {
    writeFileSync(lock, elsewhere('theirs'));
    await expect(withLock(lock, async () => 'mine', { staleMs: 60_000, timeoutMs: 200 })).rejects.toThrow(
      /held by pid 1 on other-host since 2026-11-30/,
    );
    const old = new Date(Date.now() - 120_000);
    utimesSync(lock, old, old);
    await expect(withLock(lock, async () => 'mine', { staleMs: 60_000, timeoutMs: 200 })).resolves.toBe(
      'mine',
    );
  });

  it('a holder whose lock was taken from it commits nothing, and leaves the new holder’s lock', async () => {
    const file = join(dir, 'revoked.krl');
    writeFileSync(file, 'before');
    await withLock(lock, async (held) => {
      await held.assertHeld();
      // Judged stale while this holder was frozen, and taken by another writer.
      writeFileSync(lock, elsewhere('theirs'));
      await expect(held.assertHeld()).rejects.toThrow(LockError);
      await expect(replaceFile(file, (tmp) => writeFile(tmp, 'after'), held)).rejects.toThrow(LockError);
    });
    expect(readFileSync(file, 'utf8')).toBe('before');
    expect(readdirSync(dir).sort()).toEqual(['revoked.krl', 'revoked.krl.lock']);
    expect(readFileSync(lock, 'utf8')).toContain('theirs');
  });

  it('replaceFile: a failing writer leaves the file as it was, and the next one sweeps what a killed one left', async () => {
    const file = join(dir, 'revoked.krl');
    writeFileSync(file, 'before');
    writeFileSync(`${file}.0123456789ab.timebox-tmp`, 'left by a writer killed mid-update');
    await withLock(lock, async (held) => {
      await expect(
        replaceFile(
          file,
          async (tmp) => {
            await writeFile(tmp, 'half');
            throw new Error('No space left on device');
          },
          held,
        ),
      ).rejects.toThrow(/No space left/);
      expect(readFileSync(file, 'utf8')).toBe('before');
      expect(readdirSync(dir).sort()).toEqual(['revoked.krl', 'revoked.krl.lock']);
      await replaceFile(file, (tmp) => writeFile(tmp, 'after'), held);
    });
    expect(readFileSync(file, 'utf8')).toBe('after');
    expect(readdirSync(dir)).toEqual(['revoked.krl']);
  });
});
