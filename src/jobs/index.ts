// Durable jobs for several `timebox serve` replicas, on graphile-worker (docs/decisions.md "Durable jobs for
// replicas"). Everything a replica must not lose — a webhook delivery, a grant's revocation and reminder,
// the periodic reconcile and stale sweep — is a row in PostgreSQL that any replica may run. The engine gives
// per-key order (named queues), replace-by-key (job keys), run-at times, cron once per interval with
// backfill (`?fill=`) and LISTEN/NOTIFY wake-ups; recovery.ts adds only the release of a dead replica's jobs.
// Handlers are typed here and know nothing of GitHub: serve wires its engine in.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  type CronItem,
  Logger as GraphileLogger,
  type JobHelpers,
  makeWorkerUtils,
  parseCronItems,
  type Runner,
  run,
  type Task,
  type WorkerEvents,
  type WorkerUtils,
} from 'graphile-worker';
import pg from 'pg';
import type { Clock, Timer } from '../core/clock.js';
import { dropRetired, Liveness, migrateRecovery, releaseDeadWorkers, retryCreateRace } from './recovery.js';

export { releaseDeadWorkers, SCHEMA as RECOVERY_SCHEMA } from './recovery.js';

/** One stored webhook delivery, as verified by the receiver. */
export interface WebhookDelivery {
  /** `X-GitHub-Delivery`. */
  id: string;
  /** `X-GitHub-Event`. */
  name: string;
  payload: unknown;
  /** Serialisation key; derived from the payload when absent (see `webhookKey`). */
  key?: string;
}

/** What a handler learns about the run it is in. */
export interface RunInfo {
  jobId: string;
  /** 1 on the first run; more after a failure or after a dead replica's job was released. */
  attempt: number;
  /** When the job was due (its `run_at`). */
  dueAt: Date;
  /** The runner (replica) running it. */
  runner: string;
}

export interface CronRunInfo extends RunInfo {
  /** The interval's timestamp this run stands for. */
  scheduledFor: Date;
  /** True when the interval was missed (every replica was down) and is being made up. */
  backfilled: boolean;
}

/** The work itself. Each may run twice (crash after the effect, before the ack): effects must be idempotent. */
export interface JobHandlers {
  webhook(delivery: WebhookDelivery, run: RunInfo): Promise<void>;
  /** `data`: what the scheduler stored with the job (serve: the grant's installation and repository). */
  revocation(grantId: string, run: RunInfo, data?: JobData): Promise<void>;
  reminder(grantId: string, run: RunInfo, data?: JobData): Promise<void>;
  reconcile(run: CronRunInfo): Promise<void>;
  staleSweep(run: CronRunInfo): Promise<void>;
  /** Missed webhook deliveries redelivered (src/github/deliveries.ts); no cron task without it. */
  deliveries?(run: CronRunInfo): Promise<void>;
}

/** Plain JSON stored with a scheduled job and handed back to its handler. */
export type JobData = Record<string, unknown>;

export interface JobsLogger {
  debug?(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

export interface JobsOptions {
  connectionString: string;
  clock: Clock;
  logger: JobsLogger;
  /** Jobs this runner works on at once (graphile-worker workers). */
  concurrency?: number;
  handlers: JobHandlers;
  /**
   * Cron patterns (minute resolution, UTC). Defaults: reconcile every 5 minutes, stale sweep hourly. `false`:
   * no cron on this runner (tests that must not see a periodic run).
   */
  cron?: { reconcile?: string; staleSweep?: string; deliveries?: string } | false;
  /**
   * How long getting a database connection may take before the call fails (default 5 s): a webhook is
   * answered 503 within GitHub's 10 s when the database cannot be reached, rather than hanging.
   */
  connectTimeoutMs?: number;
  /** How far back missed cron intervals are made up, in graphile-worker's time phrase (`1h`, `1d`). */
  backfill?: string;
  /** How often workers look for due jobs when no notification came (future `run_at`s). */
  pollIntervalMs?: number;
  /** How often this runner looks for dead runners' jobs. */
  recoveryIntervalMs?: number;
  /** A name for logs and the liveness session (default: random). */
  runnerId?: string;
  /** For picking liveness lock keys; tests may fix it. */
  random?: () => number;
}

export interface Jobs {
  readonly runnerId: string;
  enqueueWebhook(delivery: WebhookDelivery): Promise<void>;
  /** Schedules the grant's revocation at `at`, replacing any earlier schedule for the grant. */
  scheduleRevocation(grantId: string, at: Date, data?: JobData): Promise<void>;
  /** Schedules the grant's reminder at `at`, replacing any earlier schedule for the grant. */
  scheduleReminder(grantId: string, at: Date, data?: JobData): Promise<void>;
  /** Drops the grant's pending revocation and reminder (a run already in progress finishes). */
  cancel(grantId: string): Promise<void>;
  /**
   * Runs `fn` while holding `key`'s lock across every runner (a session-level advisory lock of the state
   * database: released when `fn` ends, or when this runner's process dies).
   */
  exclusive<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** Runs the dead-runner sweep now; returns the worker ids it released. */
  recoverNow(): Promise<string[]>;
  /** This runner's graphile-worker worker ids (recorded against its liveness lock). */
  workerIds(): string[];
  /** Graceful: running jobs finish, then the runner leaves; its pending jobs stay for the others. */
  stop(): Promise<void>;
}

/** The first key of `exclusive`'s advisory locks (the liveness locks use LIVENESS_NAMESPACE). */
const EXCLUSIVE_NAMESPACE = 0x7463;

export const TASKS = {
  webhook: 'timebox.webhook',
  revocation: 'timebox.revocation',
  reminder: 'timebox.reminder',
  reconcile: 'timebox.reconcile',
  staleSweep: 'timebox.stale-sweep',
  deliveries: 'timebox.deliveries',
} as const;

const revocationKey = (grantId: string) => `revocation:${grantId}`;
const reminderKey = (grantId: string) => `reminder:${grantId}`;

/**
 * The key webhook work is serialised by: one pull request (`owner/repo#n`, as the in-memory KeyedRunner
 * uses), else one repository (`owner/repo`), else the installation/app as a whole.
 */
export function webhookKey(delivery: Pick<WebhookDelivery, 'payload' | 'key'>): string {
  if (delivery.key) return delivery.key;
  const p = (delivery.payload ?? {}) as {
    repository?: { full_name?: string };
    pull_request?: { number?: number };
    number?: number;
    installation?: { id?: number };
  };
  const repo = p.repository?.full_name;
  const number = p.pull_request?.number ?? p.number;
  if (repo && number !== undefined) return `${repo}#${number}`;
  if (repo) return repo;
  return p.installation?.id !== undefined ? `installation:${p.installation.id}` : 'app';
}

function graphileLogger(logger: JobsLogger): GraphileLogger {
  return new GraphileLogger((scope) => (level, message, meta) => {
    const data = { ...scope, ...(meta ?? {}) } as Record<string, unknown>;
    // graphile-worker attaches the whole job to its lines: a webhook's payload has no place in the log.
    const job = data.job as { id?: unknown; task_identifier?: unknown; attempts?: unknown } | undefined;
    if (job) data.job = { id: job.id, task: job.task_identifier, attempts: job.attempts };
    // Errors as their message and code: pg's carry their client (connection parameters) along.
    for (const [k, v] of Object.entries(data)) {
      if (v instanceof Error) data[k] = { message: v.message, ...errorCode(v) };
      else if (k === 'client' || k === 'pgPool') delete data[k];
    }
    if (level === 'error') logger.error(message, data);
    else if (level === 'warning') logger.warn(message, data);
    // One line per completed job is debug: the handlers log what they did.
    else if (level === 'info' && data.success !== true) logger.info(message, data);
    else logger.debug?.(message, data);
  });
}

function errorCode(err: Error): { code?: string } {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? { code } : {};
}

function runInfo(helpers: JobHelpers, runner: string): RunInfo {
  const { job } = helpers;
  return { jobId: String(job.id), attempt: job.attempts, dueAt: new Date(job.run_at), runner };
}

function cronInfo(payload: unknown, helpers: JobHelpers, runner: string): CronRunInfo {
  const cron = (payload as { _cron?: { ts?: string; backfilled?: boolean } })?._cron ?? {};
  const info = runInfo(helpers, runner);
  return {
    ...info,
    scheduledFor: cron.ts ? new Date(cron.ts) : info.dueAt,
    backfilled: cron.backfilled === true,
  };
}

function taskList(handlers: JobHandlers, runner: string): Record<string, Task> {
  const grant = (payload: unknown) => String((payload as { grantId?: unknown })?.grantId ?? '');
  const data = (payload: unknown) => (payload as { data?: JobData })?.data;
  return {
    [TASKS.webhook]: (payload, h) => handlers.webhook(payload as WebhookDelivery, runInfo(h, runner)),
    [TASKS.revocation]: (payload, h) =>
      handlers.revocation(grant(payload), runInfo(h, runner), data(payload)),
    [TASKS.reminder]: (payload, h) => handlers.reminder(grant(payload), runInfo(h, runner), data(payload)),
    [TASKS.reconcile]: (payload, h) => handlers.reconcile(cronInfo(payload, h, runner)),
    [TASKS.staleSweep]: (payload, h) => handlers.staleSweep(cronInfo(payload, h, runner)),
    ...(handlers.deliveries
      ? {
          [TASKS.deliveries]: async (payload: unknown, h: JobHelpers) =>
            handlers.deliveries?.(cronInfo(payload, h, runner)),
        }
      : {}),
  };
}

function cronItems(options: JobsOptions): CronItem[] {
  if (options.cron === false) return [];
  const fill = options.backfill ?? '1h';
  const item = (task: string, match: string): CronItem => ({
    task,
    match,
    identifier: task,
    // One run per interval is graphile-worker's `known_crontabs` upsert; the job key also folds a
    // backfilled interval into a still-pending one instead of queueing a pile of identical sweeps.
    options: { backfillPeriod: parseFill(fill), jobKey: task, jobKeyMode: 'preserve_run_at', maxAttempts: 3 },
  });
  return [
    item(TASKS.reconcile, options.cron?.reconcile ?? DEFAULT_CRON.reconcile),
    item(TASKS.staleSweep, options.cron?.staleSweep ?? DEFAULT_CRON.staleSweep),
    ...(options.handlers.deliveries
      ? [item(TASKS.deliveries, options.cron?.deliveries ?? DEFAULT_CRON.deliveries)]
      : []),
  ];
}

export const DEFAULT_CRON = {
  reconcile: '*/5 * * * *',
  staleSweep: '0 * * * *',
  deliveries: '*/5 * * * *',
} as const;

/** graphile-worker's crontab time phrase (`30m`, `1h`, `1d4h`) in milliseconds. */
export function parseFill(phrase: string): number {
  const units: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 };
  const parts = [...phrase.matchAll(/(\d+)([smhdw])/g)];
  if (parts.length === 0 || parts.map((m) => m[0]).join('') !== phrase) {
    throw new Error(`backfill "${phrase}" is not a time phrase like 30m, 1h or 1d`);
  }
  return parts.reduce((sum, m) => sum + Number(m[1]) * (units[m[2] as string] as number), 0);
}

/**
 * Starts a runner: creates graphile-worker's schema and Timebox's recovery table (both idempotent, safe for
 * replicas starting together), opens the liveness session, starts the workers and the cron, and sweeps for
 * dead runners at start and every `recoveryIntervalMs`.
 */
export async function startJobs(options: JobsOptions): Promise<Jobs> {
  const { clock, logger } = options;
  const random = options.random ?? Math.random;
  const runnerId = options.runnerId ?? `runner-${randomBytes(4).toString('hex')}`;
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: (options.concurrency ?? 4) + 4,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
  });
  pool.on('error', (err) => logger.warn('jobs: idle database connection failed', { error: err.message }));
  let liveness: Liveness | undefined;
  let runner: Runner | undefined;
  let utils: WorkerUtils | undefined;
  let sweepTimer: Timer | undefined;
  try {
    // makeWorkerUtils installs and migrates graphile-worker's schema (so does `run`, finding it done).
    await retryCreateRace(async () => {
      utils = await makeWorkerUtils({ pgPool: pool, logger: graphileLogger(logger) });
    });
    if (!utils) throw new Error('graphile-worker utils missing');
    await migrateRecovery(pool);
    const live = new Liveness({
      connectionString: options.connectionString,
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      runner: runnerId,
      random,
      clock,
      onLost: (err) =>
        logger.error('jobs: liveness session lost; reopening', { error: err.message, runner: runnerId }),
    });
    liveness = live;
    await live.open();
    const workerIds: string[] = [];
    const registrations: Promise<void>[] = [];
    const recoverNow = async () => {
      const released = await releaseDeadWorkers(pool);
      if (released.length > 0) {
        logger.warn('jobs: released the jobs of dead workers', { released, runner: runnerId });
        // Released retired jobs would stay for good: the jobs that replaced them are there.
        await dropRetired(pool, [
          TASKS.revocation,
          TASKS.reminder,
          TASKS.reconcile,
          TASKS.staleSweep,
          TASKS.deliveries,
        ]);
      }
      return released;
    };
    // Listening before `run` creates the workers: a worker may lock a job as soon as it exists.
    const events: WorkerEvents = new EventEmitter();
    events.on('worker:create', ({ worker }) => {
      workerIds.push(worker.workerId);
      registrations.push(live.register(worker.workerId));
    });
    runner = await run({
      events,
      pgPool: pool,
      concurrency: options.concurrency ?? 4,
      pollInterval: options.pollIntervalMs ?? 500,
      noHandleSignals: true,
      logger: graphileLogger(logger),
      taskList: taskList(options.handlers, runnerId),
      parsedCronItems: parseCronItems(cronItems(options)),
    });
    await Promise.all(registrations);
    await recoverNow();
    let sweeping = false;
    sweepTimer = clock.every(options.recoveryIntervalMs ?? 500, () => {
      if (sweeping) return;
      sweeping = true;
      recoverNow()
        .catch((err: Error) => logger.warn('jobs: dead-runner sweep failed', { error: err.message }))
        .finally(() => {
          sweeping = false;
        });
    });
    const jobsUtils = utils;
    const started = runner;
    let stopping: Promise<void> | undefined;
    return {
      runnerId,
      workerIds: () => [...workerIds],
      recoverNow,
      enqueueWebhook: async (delivery) => {
        const key = webhookKey(delivery);
        await jobsUtils.addJob(
          TASKS.webhook,
          { ...delivery, key },
          { queueName: `timebox:${key}`, maxAttempts: 25 },
        );
      },
      scheduleRevocation: async (grantId, at, data) => {
        await jobsUtils.addJob(
          TASKS.revocation,
          { grantId, ...(data ? { data } : {}) },
          { runAt: at, jobKey: revocationKey(grantId), jobKeyMode: 'replace', maxAttempts: 25 },
        );
      },
      scheduleReminder: async (grantId, at, data) => {
        await jobsUtils.addJob(
          TASKS.reminder,
          { grantId, ...(data ? { data } : {}) },
          { runAt: at, jobKey: reminderKey(grantId), jobKeyMode: 'replace', maxAttempts: 5 },
        );
      },
      exclusive: async (key, fn) => {
        const client = await pool.connect();
        try {
          await client.query('select pg_advisory_lock($1, hashtext($2))', [EXCLUSIVE_NAMESPACE, key]);
          try {
            return await fn();
          } finally {
            await client.query('select pg_advisory_unlock($1, hashtext($2))', [EXCLUSIVE_NAMESPACE, key]);
          }
        } finally {
          client.release();
        }
      },
      cancel: async (grantId) => {
        // graphile-worker's own remove_job: deletes a pending job; a locked one keeps running but loses its key
        // and its retries.
        await pool.query('select graphile_worker.remove_job($1), graphile_worker.remove_job($2)', [
          revocationKey(grantId),
          reminderKey(grantId),
        ]);
      },
      stop: () => {
        stopping ??= (async () => {
          sweepTimer?.cancel();
          await started.stop();
          await live.close();
          await jobsUtils.release();
          await pool.end();
        })();
        return stopping;
      },
    };
  } catch (err) {
    sweepTimer?.cancel();
    await runner?.stop().catch(() => undefined);
    await liveness?.close().catch(() => undefined);
    await Promise.resolve(utils?.release()).catch(() => undefined);
    await pool.end().catch(() => undefined);
    throw err;
  }
}
