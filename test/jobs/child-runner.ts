// A runner in its own process, for the crash test: it stores two webhooks for one pull request and a
// revocation due shortly, then takes them and blocks in every handler until it is killed. It reports on
// stdout, one JSON object a line.
import { systemClock } from '../../src/core/clock.js';
import { type RunInfo, startJobs } from '../../src/jobs/index.js';

const [url, grantId, dueInMs] = process.argv.slice(2) as [string, string, string];
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const hold = (task: string, id: string, info: RunInfo) => {
  say({ event: 'holding', task, id, attempt: info.attempt, at: systemClock.nowMs() });
  return new Promise<void>(() => {});
};

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
const due = systemClock.nowMs() + Number(dueInMs);
await jobs.scheduleRevocation(grantId, new Date(due));
say({ event: 'ready', due, workerIds: jobs.workerIds() });
