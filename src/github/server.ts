// `timebox serve`'s HTTP side: the webhook intake (src/github/intake.ts: signature first, bounded bytes and
// deliveries in flight) in front of Probot's handlers, plus a health check. The entry point of the App: the
// clock is made here (the wall clock unless one is given) and passed to the engine. With `databaseUrl`
// (replicas) webhooks are stored as jobs and handled by any replica, and timers are jobs (./replica.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import { Probot, ProbotOctokit } from 'probot';
import { RepoChannels, type RepoChannelsOptions } from '../channels/repos.js';
import { type Clock, systemClock, type Timer } from '../core/clock.js';
import { Keeper } from '../engine/keeper.js';
import type { Notifier } from '../engine/notices/index.js';
import { CheckCache } from '../engine/pull-check.js';
import type { Jobs, JobsLogger } from '../jobs/index.js';
import { rememberedBotLogin, timeboxApp } from './app.js';
import type { GitHub } from './client.js';
import { startDeliverySweep } from './deliveries.js';
import { githubForge } from './forge.js';
import { DEFAULT_INTAKE_LIMITS, type Intake, type IntakeLimits, reply, webhookIntake } from './intake.js';
import { Mirrors, serverUrlFor } from './mirror.js';
import { durableTimers, type ReplicaOptions, startReplicaJobs } from './replica.js';
import { steadyRequests } from './requests.js';
import { type SweepResult, sweepInstallations } from './sweep.js';

export const WEBHOOK_PATH = '/api/github/webhooks';
/** GitHub caps webhook payloads at 25 MB; anything larger is not from GitHub. */
export const DEFAULT_MAX_BODY_BYTES = DEFAULT_INTAKE_LIMITS.maxBodyBytes;

export interface ServerOptions {
  /** The clock of everything the server decides and schedules; default the wall clock (made here, the entry). */
  clock?: Clock;
  /** The time alone, as a function (tests and the demo): a clock reporting it, with real timers. */
  now?: () => Date;
  /** Notifiers beside the pull request's comments and issues. */
  notifiers?: readonly Notifier[];
  /**
   * Slack, e-mail and webhooks, routed per repository by its timebox.yaml `notify:` (docs/notifications.md);
   * `env` holds their secrets. Omitted: no channels.
   */
  channels?: ServerChannels;
  appId: string;
  privateKey: string;
  webhookSecret: string;
  port?: number;
  host?: string;
  /** GitHub Enterprise or a test double: the REST API's base URL. */
  baseUrl?: string;
  maxBodyBytes?: number;
  /** Deliveries in flight, their bytes, the 202 timeout (docs/deployment.md, "The webhook intake"). */
  intake?: Partial<Omit<IntakeLimits, 'maxBodyBytes'>>;
  /** A request's headers and body must arrive within this long (slow senders hold a slot); default 60 s. */
  requestTimeoutMs?: number;
  log?: Logger;
  /**
   * How often to look for repositories due a full reconcile and stale-PR sweep (each repository's own
   * period is `reconcile_interval` in its timebox.yaml); default 1 minute, 0 = never (not even at start).
   */
  sweepIntervalMs?: number;
  /** Least time between two writes (POST/PATCH/…) to GitHub; default 50 ms (see docs/decisions.md). */
  writeIntervalMs?: number;
  /** Where the access repos' git mirrors live (a cache); default `$XDG_CACHE_HOME/timebox` or `~/.cache/timebox`. */
  stateDir?: string;
  /** Provider secrets (`TIMEBOX_POSTGRES_<CONNECTION>_URL`, …); default process.env. */
  providerEnv?: NodeJS.ProcessEnv;
  /** The git host to fetch access repos from; default derived from `baseUrl` (`https://github.com`). */
  gitUrl?: string;
  /** Waits between retries of a failing revocation. */
  retryMs?: readonly number[];
  /**
   * Replicas (`TIMEBOX_DATABASE_URL`): the PostgreSQL database every replica shares. Each webhook is stored
   * and handled by one replica, revocations and reminders are jobs at their time, and the periodic work
   * is cron jobs (docs/deployment.md "Replicas"); `sweepIntervalMs` then only turns the catch-up at start
   * on or off. Omitted: one process with its state in memory.
   */
  databaseUrl?: string;
  /** Replicas: how this replica runs its jobs (workers, cron, polling); see `ReplicaOptions`. */
  replica?: Omit<ReplicaOptions, 'databaseUrl'>;
}

/**
 * Probot's client without octokit's throttling and retry plugins (Bottleneck queues: ~9 ms per request),
 * with Timebox's own: writes one at a time `writeIntervalMs` apart, 5xx retried with backoff, rate limits
 * waited out (src/github/requests.ts).
 */
export function timeboxOctokit(writeIntervalMs: number, clock: Clock): typeof ProbotOctokit {
  const Steady = ProbotOctokit.plugin(steadyRequests({ writeIntervalMs, clock }));
  return Steady.defaults((options: Record<string, unknown> = {}) => ({
    ...options,
    ...authOnBaseUrl(options),
    throttle: { ...(options.throttle as object | undefined), enabled: false },
    retry: { enabled: false },
  })) as unknown as typeof ProbotOctokit;
}

type AuthRequest = { defaults(options: { baseUrl: string }): unknown };

/**
 * Probot gives the App's auth strategy a `request` without the base URL, so an installation token asked for
 * directly (`octokit.auth({ type: 'installation' })`, the keeper's git token) went to api.github.com whatever
 * `baseUrl` said, unless a request through the octokit had fetched one first (GitHub Enterprise, the fake; a
 * fresh replica whose first work is a revocation job). The strategy's `request` gets the base URL here.
 */
function authOnBaseUrl(options: Record<string, unknown>): { auth?: Record<string, unknown> } {
  const auth = options.auth as { request?: AuthRequest } | undefined;
  if (typeof options.baseUrl !== 'string' || !auth || typeof auth.request?.defaults !== 'function') return {};
  return { auth: { ...auth, request: auth.request.defaults({ baseUrl: options.baseUrl }) } };
}

export interface ServerChannels
  extends Partial<Pick<RepoChannelsOptions, 'smtpTls' | 'configTtlMs' | 'router' | 'webUrl'>> {
  env: Record<string, string | undefined>;
  /** How long a shutdown waits for queued notifications; default 10 s. */
  drainMs?: number;
}

export interface RunningServer {
  url: string;
  port: number;
  probot: Probot;
  server: Server;
  keeper: Keeper;
  /** The channels' notifier, when `channels` was given. */
  channels?: RepoChannels;
  /** The webhook intake, for its limits and what is in flight now. */
  intake: Intake;
  /** Replicas: this replica's job runner (with `databaseUrl`). */
  jobs?: Jobs;
  /** Run the periodic work now for every repository (`now` overrides the time, for tests). */
  sweep(now?: () => Date): Promise<SweepResult>;
  close(): Promise<void>;
}

/** A clock that reports `now()` and waits on `base`'s timers. */
function clockReporting(now: () => Date, base: Clock): Clock {
  return { ...base, now, nowMs: () => now().getTime() };
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const log = opts.log ?? pino({ name: 'timebox', level: process.env.LOG_LEVEL ?? 'info' });
  const base = opts.clock ?? systemClock;
  const clock = opts.now ? clockReporting(opts.now, base) : base;
  const probot = new Probot({
    appId: opts.appId,
    privateKey: opts.privateKey,
    secret: opts.webhookSecret,
    log,
    Octokit: timeboxOctokit(opts.writeIntervalMs ?? 50, base),
    ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}),
  });
  const ownLogin = rememberedBotLogin(probot);
  const channels = opts.channels ? serverChannels(opts.channels, base, log, opts) : undefined;
  const notifiers = [...(opts.notifiers ?? []), ...(channels ? [channels] : [])];
  // Replicas: the keeper's timers are jobs, written once the runner is up (no reconcile runs before).
  let jobsStarted: (jobs: Jobs) => void = () => {};
  const jobsReady = new Promise<Jobs>((resolve) => {
    jobsStarted = resolve;
  });
  const mirrors = new Mirrors(opts.stateDir ?? defaultStateDir(), opts.gitUrl ?? serverUrlFor(opts.baseUrl));
  const keeper = new Keeper({
    mirrors,
    env: opts.providerEnv ?? process.env,
    installation: async (id) => {
      const octokit = await probot.auth(id);
      return {
        forge: (repo) => githubForge(octokit as unknown as GitHub, repo),
        token: async () => ((await octokit.auth({ type: 'installation' })) as { token: string }).token,
      };
    },
    botLogin: ownLogin,
    appId: Number(opts.appId),
    log,
    cache: new CheckCache(),
    clock,
    notifiers,
    ...(opts.retryMs ? { retryMs: opts.retryMs } : {}),
    ...(opts.databaseUrl ? { timers: durableTimers(jobsReady, clock, opts.replica?.reminderMs) } : {}),
  });
  await probot.load(
    timeboxApp({
      clock,
      keeper,
      botLogin: ownLogin,
      notifiers,
      mirrors,
    }),
  );
  await probot.ready();
  const jobs = opts.databaseUrl
    ? await startReplicaJobs(
        { probot, keeper, clock, log: jobsLogger(log), notifiers },
        { ...opts.replica, databaseUrl: opts.databaseUrl },
        `${hostname()}-${process.pid}`,
      )
    : undefined;
  if (jobs) jobsStarted(jobs);
  const intake = webhookIntake({
    secret: opts.webhookSecret,
    log,
    clock: base,
    limits: { ...opts.intake, maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES },
    receive: jobs
      ? (event) => jobs.enqueueWebhook(event)
      : (event) => probot.receive(event as Parameters<Probot['receive']>[0]),
    ...(jobs ? { durable: true } : {}),
  });

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'request failed');
      if (!res.headersSent) reply(res, 500, { error: 'internal error' });
    });
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
    if (req.method === 'GET' && (path === '/healthz' || path === '')) {
      reply(res, 200, { ok: true, app: 'timebox' });
      return;
    }
    if (path !== WEBHOOK_PATH || req.method !== 'POST') {
      res.setHeader('connection', 'close');
      reply(res, 404, { error: 'no such route' });
      return;
    }
    await intake.handle(req, res);
  };
  server.requestTimeout = opts.requestTimeoutMs ?? 60_000;
  server.headersTimeout = Math.min(server.requestTimeout, 20_000);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 3000, opts.host ?? '0.0.0.0', () => resolve());
  }).catch(async (err: unknown) => {
    await jobs?.stop();
    throw err;
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host && opts.host !== '0.0.0.0' ? opts.host : '127.0.0.1';
  log.info(
    { port, path: WEBHOOK_PATH, api: opts.baseUrl ?? 'https://api.github.com' },
    jobs ? `timebox serve listening (replica ${jobs.runnerId})` : 'timebox serve listening',
  );
  const periodic = startPeriodic({
    probot,
    clock,
    keeper,
    notifiers,
    log,
    every: opts.sweepIntervalMs ?? 60_000,
    replica: Boolean(jobs),
  });
  return {
    url: `http://${host}:${port}`,
    port,
    probot,
    server,
    keeper,
    ...(channels ? { channels } : {}),
    intake,
    ...(jobs ? { jobs } : {}),
    sweep: (now?: () => Date) => periodic.sweep(now),
    close: async () => {
      periodic.stop();
      const closed = new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      });
      // Replicas: running jobs finish; pending ones stay in the database for the other replicas.
      await jobs?.stop().catch((err: unknown) => log.error({ err }, 'stopping the jobs failed'));
      void keeper.stop();
      await closed;
      // After the last webhook: what is queued for Slack, mail and webhooks goes out (within drainMs).
      await channels?.close(opts.channels?.drainMs);
    },
  };
}

/**
 * The periodic work of one process: at start every repository (catch-up), then those whose reconcile_interval
 * has passed, and missed webhook deliveries redelivered. Replicas: the catch-up only; the rest are cron jobs.
 */
function startPeriodic(o: {
  probot: Probot;
  clock: Clock;
  keeper: Keeper;
  notifiers: readonly Notifier[];
  log: Logger;
  every: number;
  replica: boolean;
}): { sweep(now?: () => Date, force?: boolean): Promise<SweepResult>; stop(): void } {
  const { probot, clock, keeper, notifiers, log, every } = o;
  const sweep = async (now?: () => Date, force = true): Promise<SweepResult> => {
    const result = await sweepInstallations(
      probot,
      now ? clockReporting(now, clock) : clock,
      keeper,
      force,
      notifiers,
    );
    for (const c of result.closed)
      log.info({ repo: c.repo, closed: c.pulls }, `closed stale request PRs in ${c.repo}`);
    for (const e of result.errors) log.warn({ repo: e.repo }, `sweep of ${e.repo} failed: ${e.message}`);
    for (const r of result.reconciled) {
      if (r.granted.length + r.revoked.length + r.failures.length + r.refused.length > 0)
        log.info(
          { repo: r.repo, granted: r.granted.length, revoked: r.revoked.length, failures: r.failures.length },
          `reconciled ${r.repo} at ${r.tip.slice(0, 7)}`,
        );
    }
    return result;
  };
  let timer: Timer | undefined;
  let deliveries: Timer | undefined;
  if (every > 0) {
    clock.after(0, () => {
      sweep().catch((err: unknown) => log.error({ err }, 'sweep failed'));
    });
  }
  if (every > 0 && !o.replica) {
    timer = clock
      .every(every, () => {
        sweep(undefined, false).catch((err: unknown) => log.error({ err }, 'sweep failed'));
      })
      .unref();
    // Missed webhook deliveries redelivered (replicas: a cron job); docs/deployment.md "Missed deliveries".
    deliveries = startDeliverySweep(probot, { clock, log });
  }
  return {
    sweep,
    stop: () => {
      timer?.cancel();
      deliveries?.cancel();
    },
  };
}

/**
 * One replica of `timebox serve` on a shared state database (docs/deployment.md, "Replicas"): `startServer`
 * with `databaseUrl`. Webhooks it receives are stored and handled by any replica's worker; `close()` stops it
 * gracefully (running jobs finish, pending ones stay for the others). To see a replica die, run it in a child
 * process and kill that (test/github/replica-child.ts): its jobs are released to the others within a second.
 */
export async function startReplica(
  opts: ServerOptions & { databaseUrl: string },
): Promise<RunningServer & { jobs: Jobs }> {
  const running = await startServer(opts);
  if (!running.jobs) throw new Error('a replica without jobs');
  return running as RunningServer & { jobs: Jobs };
}

/** The job layer's log lines into the server's logger. */
function jobsLogger(log: Logger): JobsLogger {
  const child = log.child({ component: 'jobs' });
  return {
    debug: (message, meta) => child.debug(meta ?? {}, message),
    info: (message, meta) => child.info(meta ?? {}, message),
    warn: (message, meta) => child.warn(meta ?? {}, message),
    error: (message, meta) => child.error(meta ?? {}, message),
  };
}

/** The channels' notifier on the server's timers and logger; links point at the forge's web address. */
function serverChannels(
  c: ServerChannels,
  clock: Clock,
  log: Logger,
  opts: Pick<ServerOptions, 'gitUrl' | 'baseUrl'>,
): RepoChannels {
  const { drainMs: _drainMs, ...rest } = c;
  return new RepoChannels({
    ...rest,
    webUrl: c.webUrl ?? opts.gitUrl ?? serverUrlFor(opts.baseUrl),
    clock,
    logger: log.child({ component: 'channels' }),
  });
}

function defaultStateDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'timebox');
}
