// The job layer against a real PostgreSQL: two runners in one process compete for the same jobs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Jobs, startJobs, webhookKey } from '../../src/jobs/index.js';
import { query } from '../helpers/postgres.js';
import { clock, createJobsDb, type JobsDb, quiet, type Ran, recording, waitFor } from './helpers.js';

let db: JobsDb;
const ran: Ran[] = [];
let a: Jobs;
let b: Jobs;

beforeAll(async () => {
  db = await createJobsDb();
  // A little work per job so both runners really overlap.
  const handlers = recording(ran, () => clock.sleep(5));
  const start = (runnerId: string) =>
    startJobs({ connectionString: db.url, clock, logger: quiet, concurrency: 4, handlers, runnerId });
  // Started together on a fresh database: the schema creation races, as replicas' would.
  [a, b] = await Promise.all([start('a'), start('b')]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await db?.drop();
});

const jobRows = async (where = 'true') =>
  (await query(db.url, `select * from graphile_worker.jobs where ${where}`)).rows;

describe('jobs on graphile-worker, two runners', () => {
  it('derives the serialisation key from the delivery: pull request, else repository', () => {
    const repository = { full_name: 'acme/access' };
    expect(webhookKey({ payload: { repository, pull_request: { number: 7 } } })).toBe('acme/access#7');
    expect(webhookKey({ payload: { repository, number: 8 } })).toBe('acme/access#8');
    expect(webhookKey({ payload: { repository } })).toBe('acme/access');
    expect(webhookKey({ payload: {}, key: 'given' })).toBe('given');
  });

  it('runs each stored webhook exactly once across both runners', async () => {
    const ids = Array.from({ length: 60 }, (_, i) => `d-${i}`);
    await Promise.all(
      ids.map((id, i) =>
        (i % 2 ? a : b).enqueueWebhook({
          id,
          name: 'pull_request',
          payload: { repository: { full_name: `acme/r${i % 6}` }, number: i },
        }),
      ),
    );
    await waitFor('all webhooks', () => ids.every((id) => ran.some((r) => r.id === id && r.end)));
    const runs = ran.filter((r) => r.task === 'webhook' && ids.includes(r.id));
    expect(runs.map((r) => r.id).sort()).toEqual([...ids].sort());
    const byRunner = new Set(runs.map((r) => r.runner));
    console.log(
      `60 webhooks: runner a ran ${runs.filter((r) => r.runner === 'a').length}, b ran ${runs.filter((r) => r.runner === 'b').length}`,
    );
    expect(byRunner.size).toBeGreaterThan(0);
    await waitFor(
      'the jobs table to empty',
      async () => (await jobRows("task_identifier = 'timebox.webhook'")).length === 0,
    );
  });

  it('runs work with one key one at a time, in the order stored', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `pr-${i}`);
    for (const id of ids) {
      await (id.endsWith('1') ? a : b).enqueueWebhook({
        id,
        name: 'pull_request_review',
        payload: { repository: { full_name: 'acme/access' }, pull_request: { number: 42 } },
      });
    }
    await waitFor('the pull request work', () => ids.every((id) => ran.some((r) => r.id === id && r.end)));
    const runs = ran.filter((r) => ids.includes(r.id));
    expect(runs.map((r) => r.id)).toEqual(ids);
    for (let i = 1; i < runs.length; i++) {
      expect(runs[i]?.start).toBeGreaterThanOrEqual(runs[i - 1]?.end as number);
    }
    expect(new Set(runs.map((r) => r.runner)).size).toBeGreaterThanOrEqual(1);
  });

  it('rescheduling a revocation replaces it: one run, at the new time', async () => {
    const now = clock.nowMs();
    await a.scheduleRevocation('g-1', new Date(now + 60 * 60_000));
    await b.scheduleRevocation('g-1', new Date(now + 30 * 60_000));
    expect(await jobRows("key = 'revocation:g-1'")).toHaveLength(1);
    const newAt = new Date(now + 1500);
    await a.scheduleRevocation('g-1', newAt);
    const rows = await jobRows("key = 'revocation:g-1'");
    expect(rows).toHaveLength(1);
    expect(new Date(rows[0].run_at).getTime()).toBe(newAt.getTime());
    await waitFor('the revocation', () =>
      ran.some((r) => r.task === 'revocation' && r.id === 'g-1' && r.end),
    );
    const runs = ran.filter((r) => r.task === 'revocation' && r.id === 'g-1');
    expect(runs).toHaveLength(1);
    expect(runs[0]?.start).toBeGreaterThanOrEqual(newAt.getTime());
    expect(runs[0]?.info.dueAt.getTime()).toBe(newAt.getTime());
    console.log(`revocation g-1 ran ${(runs[0]?.start as number) - newAt.getTime()} ms after its due time`);
    await waitFor('the job row to go', async () => (await jobRows("key = 'revocation:g-1'")).length === 0);
    expect(ran.filter((r) => r.task === 'revocation' && r.id === 'g-1')).toHaveLength(1);
  });

  it('schedules a reminder by grant and cancel drops both pending jobs', async () => {
    const later = new Date(clock.nowMs() + 3600_000);
    await a.scheduleRevocation('g-2', later);
    await b.scheduleReminder('g-2', later);
    await b.scheduleReminder('g-2', new Date(later.getTime() - 60_000));
    expect(await jobRows("key in ('revocation:g-2', 'reminder:g-2')")).toHaveLength(2);
    await b.cancel('g-2');
    expect(await jobRows("key in ('revocation:g-2', 'reminder:g-2')")).toHaveLength(0);
  });

  it('records each runner’s workers against its own liveness lock; the sweep releases nothing while all live', async () => {
    expect(a.workerIds()).toHaveLength(4);
    expect(b.workerIds()).toHaveLength(4);
    const rows = (await query(db.url, 'select worker_id, runner, lock_key from timebox_jobs.workers')).rows;
    expect(rows.map((r) => r.worker_id).sort()).toEqual([...a.workerIds(), ...b.workerIds()].sort());
    expect(new Set(rows.map((r) => r.lock_key)).size).toBe(2);
    expect(await a.recoverNow()).toEqual([]);
    expect(await b.recoverNow()).toEqual([]);
  });

  it('a runner whose liveness session is cut opens a new one and re-registers its workers', async () => {
    const keyOf = async (runner: string) =>
      (await query(db.url, 'select distinct lock_key from timebox_jobs.workers where runner = $1', [runner]))
        .rows;
    const [before] = await keyOf('a');
    await query(
      db.url,
      "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'timebox-jobs a'",
    );
    // The other runner sees the lock gone and drops a's rows; a comes back under a new key.
    await waitFor('a to re-register', async () => {
      await b.recoverNow();
      const keys = await keyOf('a');
      return keys.length === 1 && keys[0]?.lock_key !== before?.lock_key;
    });
    const rows = (await query(db.url, "select worker_id from timebox_jobs.workers where runner = 'a'")).rows;
    expect(rows.map((r) => r.worker_id).sort()).toEqual([...a.workerIds()].sort());
    expect(await b.recoverNow()).toEqual([]);
    await a.enqueueWebhook({
      id: 'after-cut',
      name: 'push',
      payload: { repository: { full_name: 'acme/x' } },
    });
    await waitFor('work after the cut', () => ran.some((r) => r.id === 'after-cut' && r.end));
  });
});
