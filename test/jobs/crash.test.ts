// Crash recovery: a runner process is `kill -9`ed while it holds a revocation (at its due time) and a webhook
// whose pull request has more work queued behind it. Another runner must run them — graphile-worker alone
// would leave them locked for 4 hours. How late the revocation ran is printed, not asserted.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Jobs, startJobs } from '../../src/jobs/index.js';
import { query } from '../helpers/postgres.js';
import { clock, createJobsDb, type JobsDb, quiet, type Ran, recording, waitFor } from './helpers.js';

let db: JobsDb;
let child: ChildProcess | undefined;
let survivor: Jobs | undefined;

beforeAll(async () => {
  db = await createJobsDb();
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await survivor?.stop();
  await db?.drop();
});

it('a runner killed while holding jobs: another runner runs them, each once more', async () => {
  const events: Record<string, unknown>[] = [];
  const script = fileURLToPath(new URL('./child-runner.ts', import.meta.url));
  child = spawn(process.execPath, ['--import', 'tsx', script, db.url, 'hold', 'g-crash'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child?.once('exit', resolve));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    events.push(JSON.parse(line));
  });
  const holding = (task: string, id: string) =>
    events.find((e) => e.event === 'holding' && e.task === task && e.id === id);
  await waitFor('the child to hold the revocation and the first webhook', () =>
    Boolean(holding('revocation', 'g-crash') && holding('webhook', 'w-1')),
  );
  const ready = events.find((e) => e.event === 'ready') as { due: number; workerIds: string[] };
  const locked = (
    await query(db.url, 'select key, locked_by from graphile_worker.jobs where locked_by is not null')
  ).rows;
  expect(locked.map((r) => r.locked_by).every((w) => ready.workerIds.includes(w))).toBe(true);

  const ran: Ran[] = [];
  survivor = await startJobs({
    connectionString: db.url,
    clock,
    logger: quiet,
    concurrency: 2,
    runnerId: 'survivor',
    handlers: recording(ran),
  });
  // Running alongside a live holder, the survivor takes nothing it holds.
  expect(await survivor.recoverNow()).toEqual([]);
  expect(ran.filter((r) => r.id === 'g-crash' || r.id === 'w-1')).toEqual([]);

  const killedAt = clock.nowMs();
  child.kill('SIGKILL');
  await exited;
  await waitFor('the survivor to run the revocation', () => ran.some((r) => r.id === 'g-crash' && r.end));
  await waitFor('the survivor to run both webhooks', () =>
    ['w-1', 'w-2'].every((id) => ran.some((r) => r.id === id && r.end)),
  );
  const revocation = ran.find((r) => r.id === 'g-crash') as Ran;
  console.log(
    `revocation held by a killed runner: ran ${revocation.start - ready.due} ms after its due time, ` +
      `${revocation.start - killedAt} ms after the kill (attempt ${revocation.info.attempt})`,
  );
  expect(ran.filter((r) => r.id === 'g-crash')).toHaveLength(1);
  expect(revocation.info.attempt).toBe(2);
  // The pull request's order held across the crash: w-1 again first, then w-2.
  expect(ran.filter((r) => r.task === 'webhook').map((r) => r.id)).toEqual(['w-1', 'w-2']);
  await waitFor(
    'the jobs table to empty',
    async () => (await query(db.url, 'select 1 from graphile_worker.jobs')).rowCount === 0,
  );
  const workers = (await query(db.url, 'select runner from timebox_jobs.workers')).rows.map((r) => r.runner);
  expect(new Set(workers)).toEqual(new Set(['survivor']));
}, 60_000);
