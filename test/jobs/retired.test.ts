// A revocation job rescheduled while it runs (issue 18, the chaos test): graphile-worker retires the running job
// (its key cleared, its attempts set to the maximum, so it never runs again) and adds the new one. Completed, the
// retired job is deleted; but if its replica dies first it is released and would stay in the table for good (the
// chaos test found such rows after every replica kill during a revocation: "no job left" never held). The
// dead-worker sweep now deletes released retired jobs of the tasks Timebox always keys.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Jobs, startJobs } from '../../src/jobs/index.js';
import { query } from '../helpers/postgres.js';
import { clock, createJobsDb, type JobsDb, quiet, type Ran, recording } from './helpers.js';

let db: JobsDb;
let jobs: Jobs | undefined;

beforeAll(async () => {
  db = await createJobsDb();
}, 60_000);

afterAll(async () => {
  await jobs?.stop();
  await db?.drop();
});

const revocations = async () =>
  (
    await query(
      db.url,
      `select key, attempts, max_attempts, locked_by from graphile_worker.jobs
        where task_identifier = 'timebox.revocation' order by id`,
    )
  ).rows;

it('a revocation job retired while a dead worker held it is deleted when the worker is released', async () => {
  const ran: Ran[] = [];
  jobs = await startJobs({
    connectionString: db.url,
    clock,
    logger: quiet,
    runnerId: 'r',
    handlers: recording(ran),
    cron: false,
  });
  const later = (min: number) => new Date(clock.nowMs() + min * 60_000);
  await jobs.scheduleRevocation('g-1', later(60));
  // A worker that never registered (killed at its start) holds it since a minute: the sweep will release it.
  await query(
    db.url,
    `update graphile_worker._private_jobs set locked_at = now() - interval '1 minute', locked_by = 'worker-dead'`,
  );
  await jobs.scheduleRevocation('g-1', later(61));
  const before = await revocations();
  expect(before.map((j) => [j.key === null, j.attempts === j.max_attempts, j.locked_by])).toEqual([
    [true, true, 'worker-dead'],
    [false, false, null],
  ]);
  expect(await jobs.recoverNow()).toEqual(['worker-dead']);
  const after = await revocations();
  expect(after.map((j) => [j.key, j.locked_by])).toEqual([[before[1]?.key, null]]);
  expect(ran).toEqual([]);
});

it('exclusive: one holder of a key at a time across runners, the next one runs once it is released', async () => {
  const other = await startJobs({
    connectionString: db.url,
    clock,
    logger: quiet,
    runnerId: 'o',
    handlers: recording([]),
    cron: false,
  });
  try {
    const a = jobs as Jobs;
    const order: string[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered: () => void = () => {};
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const first = a.exclusive('reconcile acme/access', async () => {
      order.push('a in');
      entered();
      await held;
      order.push('a out');
    });
    await inside;
    const second = other.exclusive('reconcile acme/access', async () => {
      order.push('o in');
    });
    // Another key is not held up.
    await other.exclusive('reconcile acme/other', async () => {
      order.push('other key');
    });
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['a in', 'other key', 'a out', 'o in']);
  } finally {
    await other.stop();
  }
});
