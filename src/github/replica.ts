// Several `timebox serve` replicas sharing one PostgreSQL database (`TIMEBOX_DATABASE_URL`; SPEC "GitHub App
// and Actions", docs/deployment.md "Replicas"). What one process kept in memory becomes jobs (src/jobs,
// graphile-worker) that any replica runs:
// - each verified webhook is stored (keyed by pull request, else repository) and handled by one replica's
//   worker, through the same Probot handlers the in-memory path runs;
// - each grant's revocation and reminder is a job at its time, keyed by grant (rescheduling replaces it);
//   the replica that runs it reconciles the repository first when it does not know the grant;
// - the periodic reconcile and stale-PR sweep are cron jobs, run once per interval across replicas, with
//   missed intervals made up (backfill).
// Nothing here decides anything: the handlers call the keeper and the engine as the in-memory path does.
import type { Probot } from 'probot';
import type { Clock } from '../core/clock.js';
import type { DurableTimers, InstalledRepo, Keeper } from '../engine/keeper.js';
import { type Notifier, noticesFor } from '../engine/notices/index.js';
import { closeStalePulls } from '../engine/stale.js';
import {
  type JobData,
  type Jobs,
  type JobsLogger,
  type JobsOptions,
  startJobs,
  type WebhookDelivery,
} from '../jobs/index.js';
import type { ScheduledGrant } from '../scheduler/expiry.js';
import { appBotLogin } from './app.js';
import type { GitHub } from './client.js';
import { replicaDeliverySweep } from './deliveries.js';
import { githubForge } from './forge.js';

/** How a replica runs its jobs; everything but the database has a default. */
export interface ReplicaOptions {
  /** The shared state database (PostgreSQL), e.g. `postgresql://timebox@db/timebox`. */
  databaseUrl: string;
  /** A name for logs and the liveness session (default: host name and process id). */
  name?: string;
  /** Jobs this replica runs at once (default 4). */
  concurrency?: number;
  /**
   * Cron patterns (UTC, minute resolution). Default: reconcile every minute (each repository only once its
   * own `reconcile_interval` has passed on the replica that runs it), stale-PR sweep every 15 minutes.
   * `false`: no periodic work from this replica (tests).
   */
  cron?: { reconcile?: string; staleSweep?: string } | false;
  /** How far back intervals missed while every replica was down are made up (default `1h`). */
  backfill?: string;
  /** How often idle workers look for jobs that came due (default 500 ms). */
  pollIntervalMs?: number;
  /** How often each replica looks for dead replicas' jobs (default 500 ms). */
  recoveryIntervalMs?: number;
  /** How long getting a database connection may take before a webhook is answered 503 (default 5 s). */
  connectTimeoutMs?: number;
  /** The default reminder lead, for repositories whose timebox.yaml sets no `remind_before` (15 minutes). */
  reminderMs?: number;
}

export const REPLICA_CRON = { reconcile: '* * * * *', staleSweep: '*/15 * * * *' } as const;

/** The grant a revocation or reminder job is for: enough for any replica to find it. */
interface GrantJobData extends JobData {
  installationId: number;
  owner: string;
  repo: string;
  defaultBranch: string;
}

function installedOf(data: JobData | undefined): InstalledRepo | null {
  const d = data as Partial<GrantJobData> | undefined;
  if (!d || typeof d.installationId !== 'number' || !d.owner || !d.repo) return null;
  return {
    installationId: d.installationId,
    repo: { owner: d.owner, repo: d.repo },
    defaultBranch: d.defaultBranch ?? 'main',
  };
}

/**
 * The keeper's timers as jobs: each active grant's revocation at its expiry and its reminder before, keyed by
 * grant. A replica writes a grant's jobs once per expiry it has seen (not at every reconcile); a reminder
 * whose time has passed is not scheduled again (it may have been sent by another replica).
 */
export function durableTimers(jobs: Promise<Jobs>, clock: Clock, reminderMs = 15 * 60_000): DurableTimers {
  const written = new Map<string, Map<string, number>>();
  return {
    schedule: async (installed, grants: readonly ScheduledGrant[]) => {
      const j = await jobs;
      const repoKey = `${installed.repo.owner}/${installed.repo.repo}`;
      const before = written.get(repoKey) ?? new Map<string, number>();
      const now = new Map<string, number>();
      const data: GrantJobData = {
        installationId: installed.installationId,
        owner: installed.repo.owner,
        repo: installed.repo.repo,
        defaultBranch: installed.defaultBranch,
      };
      for (const g of grants) {
        if (before.get(g.id) !== g.expiresAt) {
          await j.scheduleRevocation(g.id, new Date(g.expiresAt), data);
          const lead = g.remindMs ?? reminderMs;
          const remindAt = g.expiresAt - lead;
          if (lead > 0 && remindAt > clock.nowMs()) await j.scheduleReminder(g.id, new Date(remindAt), data);
        }
        now.set(g.id, g.expiresAt);
      }
      written.set(repoKey, now);
    },
    exclusive: async (key, fn) => (await jobs).exclusive(key, fn),
  };
}

export interface ReplicaContext {
  probot: Probot;
  keeper: Keeper;
  clock: Clock;
  log: JobsLogger;
  notifiers: readonly Notifier[];
}

/** Every repository of every installation of the App. */
async function installedRepos(probot: Probot): Promise<{ gh: GitHub; installed: InstalledRepo }[]> {
  const jwt = (await probot.auth()) as unknown as GitHub;
  const installations = await jwt.paginate('GET /app/installations', { per_page: 100 });
  const out: { gh: GitHub; installed: InstalledRepo }[] = [];
  for (const installation of installations) {
    const gh = (await probot.auth(installation.id)) as unknown as GitHub;
    const repos = await gh.paginate('GET /installation/repositories', { per_page: 100 });
    for (const r of repos) {
      out.push({
        gh,
        installed: {
          installationId: installation.id,
          repo: { owner: r.owner.login, repo: r.name },
          defaultBranch: r.default_branch ?? 'main',
        },
      });
    }
  }
  return out;
}

/** What each job does on a replica: the same handlers and engine calls the in-memory path makes. */
export function replicaHandlers(ctx: ReplicaContext): JobsOptions['handlers'] {
  const { probot, keeper, clock, log } = ctx;
  const each = async (what: string, fn: (r: { gh: GitHub; installed: InstalledRepo }) => Promise<void>) => {
    for (const r of await installedRepos(probot)) {
      const name = `${r.installed.repo.owner}/${r.installed.repo.repo}`;
      await fn(r).catch((err: Error) =>
        log.warn(`${what} of ${name} failed: ${err.message}`, { repo: name }),
      );
    }
  };
  return {
    webhook: async (d: WebhookDelivery, run) => {
      log.debug?.(`handling ${d.name} ${d.id}`, { delivery: d.id, runner: run.runner, attempt: run.attempt });
      await probot.receive({ id: d.id, name: d.name, payload: d.payload } as Parameters<
        Probot['receive']
      >[0]);
    },
    revocation: async (grantId, run, data) => {
      const installed = installedOf(data);
      if (!installed) return log.error(`revocation job for ${grantId} carries no repository`, { grantId });
      log.info(`revocation of ${grantId} due`, { grant: grantId, runner: run.runner, attempt: run.attempt });
      await keeper.revokeDue(installed, grantId, run.attempt);
    },
    reminder: async (grantId, run, data) => {
      const installed = installedOf(data);
      if (!installed) return log.error(`reminder job for ${grantId} carries no repository`, { grantId });
      log.info(`reminder of ${grantId} due`, { grant: grantId, runner: run.runner });
      await keeper.remindDue(installed, grantId);
    },
    reconcile: async () => {
      await each('reconcile', async ({ installed }) => {
        if (keeper.due(installed.repo)) await keeper.reconcile(installed);
      });
    },
    staleSweep: async () => {
      const botLogin = await appBotLogin(probot);
      await each('stale-PR sweep', async ({ gh, installed }) => {
        const forge = githubForge(gh, installed.repo);
        await closeStalePulls(forge, {
          botLogin,
          defaultBranch: installed.defaultBranch,
          clock,
          notices: noticesFor(forge, botLogin, ctx.notifiers),
        });
      });
    },
  };
}

/** Starts this replica's workers, cron and dead-replica sweep on the shared database. */
export function startReplicaJobs(ctx: ReplicaContext, options: ReplicaOptions, name: string): Promise<Jobs> {
  return startJobs({
    connectionString: options.databaseUrl,
    clock: ctx.clock,
    logger: ctx.log,
    runnerId: options.name ?? name,
    handlers: {
      ...replicaHandlers(ctx),
      // Missed webhook deliveries (docs/deployment.md "Missed deliveries"), a cron job like the reconcile.
      deliveries: replicaDeliverySweep(ctx.probot, options.databaseUrl, ctx.clock, ctx.log),
    },
    cron: options.cron === false ? false : { ...REPLICA_CRON, ...options.cron },
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.backfill !== undefined ? { backfill: options.backfill } : {}),
    ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
    ...(options.recoveryIntervalMs !== undefined ? { recoveryIntervalMs: options.recoveryIntervalMs } : {}),
    ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
  });
}
