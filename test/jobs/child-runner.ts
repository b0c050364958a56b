// A runner in its own process. `hold` (the crash test): it stores two webhooks for one pull request and a
// revocation due shortly, then takes them and blocks in every handler until it is killed. `record <n>`
// (the competition test): it stores n webhooks and n revocations of its own and reports every job it runs;
// SIGTERM stops it gracefully. It reports on stdout, one JSON object a line.
import { systemClock } from '../../src/core/clock.js';
import { type RunInfo, startJobs } from '../../src/jobs/index.js';

const [url, mode, arg] = process.argv.slice(2) as [string, 'hold' | 'record', string];
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const hold = (task: string, id: string, info: RunInfo) => {
  say({ event: 'holding', task, id, attempt: info.attempt, at: systemClock.nowMs() });
  return new Promise<void>(() => {});
};

if (mode === 'record') {
  const runner = `child-${process.pid}`;
  const ran = (task: string, id: string, info: RunInfo) => {
    say({
      event: 'ran',
      task,
      id,
      runner,
      attempt: info.attempt,
      at: systemClock.nowMs(),
      due: info.dueAt.getTime(),
    });
    return Promise.resolve();
  };
  const jobs = await startJobs({
    connectionString: url,
    clock: systemClock,
    logger: { info: () => {}, warn: () => {}, error: (m) => process.stderr.write(`${m}\n`) },
    concurrency: 3,
    runnerId: runner,
    handlers: {
      webhook: (d, info) => ran('webhook', d.id, info),
      revocation: (g, info) => ran('revocation', g, info),
      reminder: (g, info) => ran('reminder', g, info),
      reconcile: async () => {},
      staleSweep: async () => {},
    },
  });
  process.once('SIGTERM', () => {
    void jobs.stop().then(() => process.exit(0));
  });
  say({ event: 'started', runner });
  const n = Number(arg);
  const due = systemClock.nowMs() + 1000;
  for (let i = 0; i < n; i++) {
    const payload = { repository: { full_name: `acme/r${i % 5}` }, number: i };
    await jobs.enqueueWebhook({ id: `${runner}-w${i}`, name: 'pull_request', payload });
    await jobs.scheduleRevocation(`${runner}-g${i}`, new Date(due));
  }
  say({ event: 'ready', runner });
} else {
  await holdMode(arg);
}

async function holdMode(grantId: string) {
  const jobs = await startJobs({
    connectionString: url,
    clock: systemClock,
    logger: { info: () => {}, warn: () => {}, error: () => {} },
    concurrency: 2,
    pollIntervalMs: 100,
    runnerId: 'doomed',
    handlers: {
      webhook: (d, info) => hold('webhook', d.id, info),
      revocation: (g, info) => hold('revocation', g, info),
      reminder: (g, info) => hold('reminder', g, info),
      reconcile: async () => {},
      staleSweep: async () => {},
    },
  });
  const payload = { repository: { full_name: 'acme/access' }, pull_request: { number: 9 } };
  await jobs.enqueueWebhook({ id: 'w-1', name: 'pull_request', payload });
  await jobs.enqueueWebhook({ id: 'w-2', name: 'pull_request', payload });
  const due = systemClock.nowMs() + 1500;
  await jobs.scheduleRevocation(grantId, new Date(due));
  say({ event: 'ready', due, workerIds: jobs.workerIds() });
}
