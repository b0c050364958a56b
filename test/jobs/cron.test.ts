// Periodic work on graphile-worker's cron (minute resolution): two runners, one run per interval; and after
// both were down over several intervals, the missed ones are made up once.
//
// graphile-worker's cron reads the time only through `Date` (its start, the next minute, "is it that minute
// yet", the backfill window) and waits with real `setTimeout`s, rechecking `Date` when one fires. So this
// file fakes `Date` alone (vitest fake timers, toFake ['Date']) and holds it still: the minute boundary
// comes when the test moves `Date` over it, not after up to a real minute. Timers, PostgreSQL, the two
// runners and graphile-worker stay real. The boundary B is a past minute, so the jobs' `run_at` (the
// interval's timestamp) is already due by PostgreSQL's own clock.
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { type CronRunInfo, type Jobs, startJobs } from '../../src/jobs/index.js';
import { query } from '../helpers/postgres.js';
import { clock, createJobsDb, type JobsDb, quiet, type Ran, recording } from './helpers.js';

let db: JobsDb;
let runners: Jobs[] = [];
const ran: Ran[] = [];

const start = (runnerId: string) =>
  startJobs({
    connectionString: db.url,
    clock,
    logger: quiet,
    concurrency: 2,
    runnerId,
    handlers: recording(ran),
    cron: { reconcile: '* * * * *', staleSweep: '* * * * *' },
    backfill: '10m',
  });

const cronRuns = (backfilled: boolean) =>
  ran.filter(
    (r) =>
      (r.task === 'reconcile' || r.task === 'staleSweep') &&
      (r.info as CronRunInfo).backfilled === backfilled,
  );
const noCronJobs = async () =>
  (await query(db.url, "select 1 from graphile_worker.jobs where task_identifier like 'timebox.%'"))
    .rowCount === 0;

// helpers.waitFor takes its deadline from `Date`, which this file holds still: the same wait on the
// monotonic clock.
async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await clock.sleep(25);
  }
}

beforeAll(async () => {
  db = await createJobsDb();
});

afterAll(async () => {
  vi.useRealTimers();
  await Promise.all(runners.map((r) => r.stop()));
  await db?.drop();
});

it('runs each cron task once per interval across two runners, and backfills what both missed', async () => {
  const B = Math.floor(Date.now() / 60_000) * 60_000;
  vi.useFakeTimers({ toFake: ['Date'] });
  // A quarter second before B: each runner's cron takes B as its next minute, and until `Date` reaches B its
  // timer keeps firing early and re-arming (every ~250 ms), so however long the start takes, both wait.
  vi.setSystemTime(B - 250);
  runners = await Promise.all([start('a'), start('b')]);
  vi.setSystemTime(B);
  await waitFor(
    'the minute boundary with both runners up',
    () => cronRuns(false).length >= 2 && cronRuns(false).every((r) => r.end),
  );
  await waitFor('no cron job left', noCronJobs);
  const live = cronRuns(false);
  const tick = live[0]?.info as CronRunInfo;
  expect(tick.scheduledFor.getTime()).toBe(B);
  expect(live.filter((r) => r.task === 'reconcile').map((r) => r.id)).toEqual([
    tick.scheduledFor.toISOString(),
  ]);
  expect(live.filter((r) => r.task === 'staleSweep').map((r) => r.id)).toEqual([
    tick.scheduledFor.toISOString(),
  ]);
  console.log(
    `live tick ${tick.scheduledFor.toISOString()}: reconcile on ${live.find((r) => r.task === 'reconcile')?.runner}, stale sweep on ${live.find((r) => r.task === 'staleSweep')?.runner}`,
  );

  await Promise.all(runners.map((r) => r.stop()));
  runners = [];
  // Both down since three minutes before that tick: as if the last run were then (graphile-worker keeps
  // it in known_crontabs.last_execution), so the three intervals up to the tick were missed.
  const T = tick.scheduledFor.getTime();
  await query(
    db.url,
    'update graphile_worker._private_known_crontabs set last_execution = $1, known_since = $2',
    [new Date(T - 3 * 60_000), new Date(T - 60 * 60_000)],
  );
  const before = ran.length;
  // `Date` half a minute past the tick (the next one never comes): the new runners start after T.
  vi.setSystemTime(T + 30_000);
  runners = await Promise.all([start('a2'), start('b2')]);
  // Backfill goes one interval at a time after start: done when both tasks' last execution is T again
  // (the T job is stored by the same statement), and then when no cron job is left.
  await waitFor('the backfill to reach the tick', async () => {
    const { rows } = await query(
      db.url,
      'select last_execution from graphile_worker._private_known_crontabs',
    );
    return rows.length === 2 && rows.every((r) => new Date(r.last_execution).getTime() >= T);
  });
  await waitFor('no cron job left', noCronJobs);
  const missed = [T - 120_000, T - 60_000, T].map((t) => new Date(t).toISOString());
  for (const task of ['reconcile', 'staleSweep'] as const) {
    const after = ran.slice(before).filter((r) => r.task === task);
    const ids = after.filter((r) => (r.info as CronRunInfo).backfilled).map((r) => r.id);
    console.log(
      `${task} backfilled: ${ids.join(', ')}; all runs since: ${after.map((r) => r.id).join(', ')}`,
    );
    // Missed intervals pending at once fold into one job (job key): which of them the folded job carries
    // depends on the order they were stored (seen: the older one on a loaded machine). What the outage must
    // cause is a catch-up run of each task (reconcile and the sweep look at the state, not at the
    // interval), and no interval run twice.
    expect(new Set(after.map((r) => r.id)).size).toBe(after.length);
    expect(ids.every((id) => missed.includes(id))).toBe(true);
    expect(ids.length).toBeGreaterThan(0);
  }
}, 60_000);
