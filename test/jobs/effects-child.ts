// A runner that takes one effect job (test/jobs/effects-paths.ts) and dies by SIGKILL right after the forge
// call named on its command line: `effects-child.ts <jobs db> <job JSON> <method>`. It reports on stdout.
import { systemClock } from '../../src/core/clock.js';
import { startJobs } from '../../src/jobs/index.js';
import { type EffectJob, runEffectJob } from './effects-paths.js';

const [url = '', json = '{}', method = ''] = process.argv.slice(2);
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const none = async () => {};
const jobs = await startJobs({
  connectionString: url,
  clock: systemClock,
  logger: { info: () => {}, warn: () => {}, error: (m) => process.stderr.write(`${m}\n`) },
  concurrency: 1,
  pollIntervalMs: 100,
  runnerId: 'doomed',
  cron: false,
  handlers: {
    webhook: async (d, info) => {
      say({ event: 'running', attempt: info.attempt });
      await runEffectJob(d.payload as EffectJob, method, (m) => say({ event: 'dying', after: m }));
    },
    revocation: none,
    reminder: none,
    reconcile: none,
    staleSweep: none,
  },
});
await jobs.enqueueWebhook({ id: 'effect-1', name: 'effect', payload: JSON.parse(json), key: 'effect' });
say({ event: 'ready' });
