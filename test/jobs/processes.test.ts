// Two runner processes compete for the same table: each stores its own webhooks and revocations, and every
// job runs exactly once, on one or the other.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { query } from '../helpers/postgres.js';
import { createJobsDb, type JobsDb, waitFor } from './helpers.js';

let db: JobsDb;
const children: ChildProcess[] = [];

beforeAll(async () => {
  db = await createJobsDb();
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await db?.drop();
});

it('two runner processes: every webhook and revocation runs exactly once', async () => {
  const events: Record<string, unknown>[] = [];
  const script = fileURLToPath(new URL('./child-runner.ts', import.meta.url));
  const N = 40;
  const exits: Promise<unknown>[] = [];
  for (let i = 0; i < 2; i++) {
    const child = spawn(process.execPath, ['--import', 'tsx', script, db.url, 'record', String(N)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    exits.push(new Promise((resolve) => child.once('exit', resolve)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) =>
      events.push(JSON.parse(line)),
    );
  }
  const ran = () => events.filter((e) => e.event === 'ran');
  await waitFor(
    'both runners to store their jobs',
    () => events.filter((e) => e.event === 'ready').length === 2,
    30_000,
  );
  await waitFor('every job to run', () => ran().length >= 4 * N, 30_000);
  await waitFor(
    'the jobs table to empty',
    async () => (await query(db.url, 'select 1 from graphile_worker.jobs')).rowCount === 0,
  );
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(exits);
  const ids = ran().map((e) => `${e.task}:${e.id}`);
  expect(ids).toHaveLength(4 * N);
  expect(new Set(ids).size).toBe(4 * N);
  const runners = [...new Set(ran().map((e) => e.runner as string))];
  const late = ran()
    .filter((e) => e.task === 'revocation')
    .map((e) => (e.at as number) - (e.due as number))
    .sort((x, y) => x - y);
  console.log(
    `${4 * N} jobs over ${runners.length} processes (${runners.map((r) => ran().filter((e) => e.runner === r).length).join(' / ')}); ` +
      `${late.length} revocations due at once: lateness p50 ${late[Math.floor(late.length / 2)]} ms, max ${late.at(-1)} ms`,
  );
  expect(ran().every((e) => e.attempt === 1)).toBe(true);
  // A graceful stop leaves no worker registered.
  expect((await query(db.url, 'select 1 from timebox_jobs.workers')).rowCount).toBe(0);
}, 90_000);
