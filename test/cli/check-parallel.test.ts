// `timebox check` of many files uses worker threads (src/check/parallel.ts): the output must not depend on
// it, byte for byte and in the same order, and a worker that fails must fail the check with a clear error
// rather than hang. Times are measured by `npm run bench`, never here.
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type FilesJob, workersFor } from '../../src/check/chunks.js';
import { CheckThreads, decideInParallel, keptWorkers } from '../../src/check/parallel.js';
import { runCheck } from '../../src/cli/check.js';
import { offlinePull } from '../../src/cli/context.js';
import type { Io } from '../../src/cli/io.js';
import { systemClock } from '../../src/core/clock.js';
import { loadAccessRepo } from '../../src/repo/access-repo.js';
import { workingTree } from '../../src/repo/source.js';
import { exampleRepo, tempDir, write } from '../helpers/repo.js';

const AT = '2026-01-07T10:00:00Z';
const FILES = 300;

/** Request file `i`: pending, approved, denied and broken ones in turn, with several users and resources. */
function request(i: number): string {
  const who = ['alice', 'bob', 'mallory'][i % 3];
  const resource = ['orders-db', 'customers-db', 'billing-db', 'nope-db'][i % 4];
  switch (i % 7) {
    case 0:
      return `requester: ${who}\nresource: ${resource}\nrole: read-only\nduration: ${i}h\nreason: Reproduce BUG-${i}\n`;
    case 1:
      return `requester: ${who}\nresource: orders-db\nrole: read-write\nduration: 1h\nreason: Fix BUG-${i}\nticket: OPS-${i}\n`;
    case 2:
      return `requester: ${who}\nresourse: ${resource}\nrole: read-only\nreason: typo ${i}\n`;
    case 3:
      return `requester: [${who}\nresource: x\n`;
    case 4:
      return `requester: ${who}\nresource: ${resource}\nrole: read-only\nduration: 2h\nreason: Check ${i}\nstart: 2026-01-0${1 + (i % 9)}T09:00:00Z\n`;
    default:
      return `requester: ${who}\nresource: ${resource}\nrole: read-only\nduration: 30m\nreason: Look at INC-${i}\n`;
  }
}

function manyRequests(): string {
  const dir = exampleRepo();
  for (let i = 0; i < FILES; i++) write(dir, `requests/u${i % 11}/${i}.yaml`, request(i));
  return dir;
}

/** Every request file of `manyRequests`, decided at AT with carol's approval and the example teams. */
function jobOf(dir: string): FilesJob {
  const teams = parse(readFileSync(join(dir, 'teams.yaml'), 'utf8')) as Record<string, string[]>;
  const at = new Date(AT);
  return {
    root: dir,
    paths: Array.from({ length: FILES }, (_, i) => `requests/u${i % 11}/${i}.yaml`),
    changedPaths: [],
    pull: offlinePull(undefined, ['carol'], teams, at),
    atMs: at.getTime(),
  };
}

function collect(dir: string, color = false): Io & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    color,
    isTTY: false,
    cwd: dir,
    env: {},
    clock: systemClock,
  };
}

async function check(dir: string, workers: number, json: boolean, files: string[] = [], color = false) {
  const io = collect(dir, color);
  const code = await runCheck(io, files, {
    teams: 'teams.yaml',
    approvedBy: 'carol',
    at: AT,
    json,
    workers,
  });
  return { code, stdout: io.out.join(''), stderr: io.err.join('') };
}

describe('check with worker threads', () => {
  it('prints the same output, byte for byte, with and without workers (human and --json)', async () => {
    const dir = manyRequests();
    for (const json of [true, false]) {
      const alone = await check(dir, 0, json);
      const statuses = new Set(
        (JSON.parse((await check(dir, 0, true)).stdout) as { results: { status: string }[] }).results.map(
          (r) => r.status,
        ),
      );
      // The set is mixed, so that a mix-up of files between threads would show.
      expect([...statuses].sort()).toEqual(['approved', 'denied', 'invalid', 'pending']);
      for (const workers of [2]) {
        const shared = await check(dir, workers, json);
        expect(shared.code).toBe(alone.code);
        expect(shared.stderr).toBe(alone.stderr);
        expect(shared.stdout === alone.stdout, `${workers} worker(s), json ${json}`).toBe(true);
      }
    }
    // In colour too: each thread paints its own part.
    const painted = await check(dir, 0, false, [], true);
    expect(painted.stdout).toContain('\u001b[');
    expect((await check(dir, 2, false, [], true)).stdout === painted.stdout).toBe(true);
  }, 90_000);

  it('reports an unreadable file as check without workers does (the first one in order)', async () => {
    const dir = manyRequests();
    const files = Array.from({ length: FILES }, (_, i) => `requests/u${i % 11}/${i}.yaml`);
    files.splice(250, 0, 'requests/missing/a.yaml');
    files.splice(290, 0, 'requests/missing/b.yaml');
    const alone = check(dir, 0, false, files);
    await expect(alone).rejects.toThrow('cannot read requests/missing/a.yaml: no such file');
    await expect(check(dir, 2, false, files)).rejects.toThrow(
      'cannot read requests/missing/a.yaml: no such file',
    );
  }, 60_000);

  it('workers alone decide every file as the main thread alone does, in the same order', async () => {
    const dir = manyRequests();
    const repo = await loadAccessRepo(workingTree(dir));
    const job = jobOf(dir);
    const alone = await decideInParallel(job, repo, 0);
    const byWorkers = await decideInParallel(job, repo, 2, { mainThread: false });
    expect(alone.ok && alone.decisions.length).toBe(FILES);
    expect(JSON.stringify(byWorkers)).toBe(JSON.stringify(alone));
  }, 60_000);

  it('a worker that throws fails the check with an error that says so', async () => {
    const dir = manyRequests();
    const repo = await loadAccessRepo(workingTree(dir));
    const job = jobOf(dir);
    const broken = join(tempDir(), 'broken-worker.mjs');
    writeFileSync(broken, "throw new Error('cannot load the policies');\n");
    await expect(decideInParallel(job, repo, 1, { workerUrl: new URL(`file://${broken}`) })).rejects.toThrow(
      'check: worker thread 1 of 1 failed: cannot load the policies',
    );
    const quits = join(tempDir(), 'quitting-worker.mjs');
    writeFileSync(quits, 'process.exit(3);\n');
    await expect(decideInParallel(job, repo, 2, { workerUrl: new URL(`file://${quits}`) })).rejects.toThrow(
      /check: worker thread [12] of 2 stopped \(exit code 3\) before its files were decided/,
    );
  }, 60_000);

  it('stops the threads it started early when the policies turn out to be broken', async () => {
    const dir = manyRequests();
    write(dir, 'policies/broken.yaml', 'rules: [\n');
    await expect(check(dir, 2, true)).rejects.toThrow("the access repo's configuration is invalid");
    // Threads started and stopped before any job: stopping resolves and reports no failure.
    const threads = CheckThreads.start(dir, 2);
    expect(threads.size).toBe(2);
    await threads.stop();
  }, 60_000);

  it('threads started before the main thread has loaded the policies decide as it does', async () => {
    const dir = manyRequests();
    const threads = CheckThreads.start(dir, 2);
    const repo = await loadAccessRepo(workingTree(dir));
    const byWorkers = await threads.run(jobOf(dir), repo, { mainThread: false });
    const alone = await decideInParallel(jobOf(dir), repo, 0);
    expect(byWorkers.ok && byWorkers.decisions.length).toBe(FILES);
    expect(JSON.stringify(byWorkers)).toBe(JSON.stringify(alone));
  }, 60_000);

  it('keeps its worker threads for the next check of the process, and never hands out one that ended', async () => {
    const dir = manyRequests();
    const repo = await loadAccessRepo(workingTree(dir));
    const alone = JSON.stringify(await decideInParallel(jobOf(dir), repo, 0));
    const first = await decideInParallel(jobOf(dir), repo, 1, { mainThread: false });
    const kept = [...keptWorkers()];
    expect(kept.length).toBeGreaterThanOrEqual(1);
    // The next check runs on a kept thread, which loads this check's repo and decides as before.
    const again = await decideInParallel(jobOf(dir), repo, 1, { mainThread: false });
    expect(keptWorkers()).toContain(kept.at(-1));
    expect(JSON.stringify(first)).toBe(alone);
    expect(JSON.stringify(again)).toBe(alone);
    // A kept thread that ends is forgotten: the next check starts a new one instead of waiting on it.
    for (const w of keptWorkers()) await w.terminate();
    expect(keptWorkers()).toHaveLength(0);
    expect(JSON.stringify(await decideInParallel(jobOf(dir), repo, 1, { mainThread: false }))).toBe(alone);
  }, 60_000);

  it('uses workers only for a large set, and only on idle cores', () => {
    // The load a long-running caller caused itself leaves the other cores idle.
    expect(workersFor(100_000, 1, 1)).toBe(Math.min(availableParallelism() - 1, 7));
    expect(workersFor(100_000, availableParallelism(), 0)).toBe(0);
    expect(workersFor(10)).toBe(0);
    expect(workersFor(399)).toBe(0);
    expect(workersFor(100_000, 0)).toBeLessThanOrEqual(7);
    expect(workersFor(100_000, 0)).toBeGreaterThanOrEqual(Math.min(availableParallelism() - 1, 7));
    // A busy machine has no core to give: a worker would only compete with the main thread.
    expect(workersFor(100_000, availableParallelism() + 1)).toBe(0);
  });
});
