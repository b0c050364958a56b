// One `timebox serve` replica in a process of its own, for tests that kill it (`kill -9`) rather than stop it.
// Its options come as one JSON line on stdin (`ServerOptions` with `databaseUrl`; `log` is made here: JSON lines
// on stderr, `TIMEBOX_TEST_LOG_LEVEL` or info). It answers one JSON line on stdout once it listens:
// `{"event":"ready","url":…,"runner":…,"workerIds":[…]}`. SIGTERM closes it gracefully.
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { type ServerOptions, startReplica } from '../../src/github/server.js';

const line = await new Promise<string>((resolve) => {
  const rl = createInterface({ input: process.stdin });
  rl.once('line', (l) => {
    rl.close();
    resolve(l);
  });
});
const options = JSON.parse(line) as ServerOptions & { databaseUrl: string };
const replica = await startReplica({
  ...options,
  log: pino({ level: process.env.TIMEBOX_TEST_LOG_LEVEL ?? 'info' }, process.stderr),
});
process.stdout.write(
  `${JSON.stringify({ event: 'ready', url: replica.url, runner: replica.jobs.runnerId, workerIds: replica.jobs.workerIds() })}\n`,
);
process.once('SIGTERM', () => {
  void replica.close().then(() => process.exit(0));
});
