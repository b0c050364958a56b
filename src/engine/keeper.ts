// Provisioning for `timebox serve`: after a push to the default branch, on a timer, and at every expiry.
// Each reconcile fetches the access repo into a local mirror and runs `provision` (src/engine/provision.ts:
// provenance, targets, credentials on the PR, alarms); the keeper adds what needs a long-lived process:
// revoking each grant at its `expires_at` (src/scheduler/expiry.ts), the reminder before, a timer for grants
// that start later, and the revert PRs, opened off the expiry path so that they never delay a revocation.
//
// Nothing here is the only copy of anything: git, the targets' tags and the PR comments hold the state, so a
// restarted process converges by reconciling again.
import type { Clock, Timer } from '../core/clock.js';
import { parseDuration } from '../core/duration.js';
import type { Grant } from '../core/ledger.js';
import type { Policies } from '../core/model.js';
import type { Account } from '../core/provenance.js';
import { type Failure, type Granted, type Revoked, revokeGrant, Targets } from '../providers/reconcile.js';
import { ExpiryScheduler, type ScheduledGrant } from '../scheduler/expiry.js';
import { type GlassHost, GlassWatcher } from './break-glass-watch.js';
import type { Forge, RepoRef } from './forge.js';
import { type Notifier, noticesFor } from './notices/index.js';
import {
  type Log,
  ProvisionMemory,
  provision,
  remind,
  revocationFailing,
  revocationVerified,
} from './provision.js';
import type { CheckCache } from './pull-check.js';
import { type RevertGlass, revertRequest } from './revert.js';
import { KeyedRunner } from './runner.js';

const DEFAULT_INTERVAL_MS = 5 * 60_000;

export interface InstallationClient {
  /** The forge, for one repository of the installation. */
  forge(repo: RepoRef): Forge;
  /** A token for git over HTTPS (the installation's). */
  token(): Promise<string>;
}

/** Local git copies of access repos (src/github/mirror.ts). */
export interface Mirror {
  fetch(repo: RepoRef, branch: string, token: string): Promise<{ dir: string; tip: string }>;
}

export interface KeeperOptions {
  mirrors: Mirror;
  /** Where provider secrets come from (`TIMEBOX_POSTGRES_<CONNECTION>_URL`, …). */
  env: NodeJS.ProcessEnv;
  installation(id: number): Promise<InstallationClient>;
  botLogin(): Promise<string>;
  /** The App's id: provenance records (check runs) count only when this App wrote them. */
  appId?: number;
  log: Log;
  clock: Clock;
  cache?: CheckCache;
  /** Notifiers beside the forge's comments and issues. */
  notifiers?: readonly Notifier[];
  /** Waits between retries of a failing revocation (default 1 s … 60 s). */
  retryMs?: readonly number[];
  /**
   * Replicas: revocations and reminders kept as durable jobs (src/jobs via src/github/replica.ts) instead of
   * this process's timers; the jobs call `revokeDue` / `remindDue` on whichever replica runs them.
   */
  timers?: DurableTimers;
}

/** Revocations and reminders kept outside the process: one job per grant, at its time. */
export interface DurableTimers {
  /** A repository's grants active now (after a reconcile): each one's revocation and reminder, (re)scheduled. */
  schedule(installed: InstalledRepo, grants: readonly ScheduledGrant[]): Promise<void>;
  /** Runs `fn` alone across replicas for `key` (a repository's reconcile: two would grant twice). */
  exclusive?<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

/** A repository the App is installed on. */
export interface InstalledRepo {
  installationId: number;
  repo: RepoRef;
  defaultBranch: string;
}

export interface ReconcileReport {
  repo: string;
  tip: string;
  granted: Granted[];
  revoked: Revoked[];
  failures: Failure[];
  /** Active grants refused for their provenance (an alarm is open for each). */
  refused: { file: string; grantId: string; reason: string }[];
  /** Grants whose revocation the scheduler now waits for. */
  scheduled: number;
}

interface RepoState {
  installed: InstalledRepo;
  key: string;
  tip: string;
  accessRepoId: string;
  policies: Policies;
  /** Every grant of the ledger at the last reconcile. */
  grants: Grant[];
  /** Connections for scheduled revocations only (a reconcile opens its own: grants run transactions). */
  revokeTargets: Promise<Targets> | null;
  /** When it was last reconciled, and how often it wants to be (`reconcile_interval`). */
  reconciledAt: number;
  intervalMs: number;
}

interface RevertJob {
  reason: string;
  activity?: string;
  pull?: number;
  glass?: RevertGlass;
}

export class Keeper {
  readonly scheduler: ExpiryScheduler;
  readonly #o: KeeperOptions;
  readonly #clock: Clock;
  readonly #memory = new ProvisionMemory();
  readonly #repos = new Map<string, RepoState>();
  readonly #runner = new KeyedRunner();
  readonly #scheduled = new Map<string, ScheduledGrant[]>();
  readonly #startTimers = new Map<string, Timer>();
  /** Revert PRs still to open, per repo: file → reason and activity. */
  readonly #reverts = new Map<string, Map<string, RevertJob>>();
  readonly #revertRuns = new KeyedRunner();
  readonly #pending = new Set<Promise<unknown>>();
  /** Break-glass grants until their ratification is recorded. */
  readonly #glass: GlassWatcher;

  constructor(opts: KeeperOptions) {
    this.#o = opts;
    this.#clock = opts.clock;
    this.scheduler = new ExpiryScheduler(
      {
        revoke: (g) => this.#revokeScheduled(g),
        remind: (g) => this.#remind(g),
        alarm: (g, err, attempts, retryInMs) => this.#alarm(g, err, attempts, retryInMs),
        recovered: (g, attempts) => {
          opts.log.info({ grant: g.id, attempts }, `revocation of ${g.file} went through`);
        },
        warn: (message) => opts.log.warn({}, message),
      },
      { clock: opts.clock, ...(opts.retryMs ? { retryMs: opts.retryMs } : {}) },
    );
    this.#glass = new GlassWatcher(this.#glassHost());
  }

  /** Seed provenance verdicts (the push handler has just read or decided and recorded them for `commit`). */
  seed(
    repo: RepoRef,
    commit: string,
    verdicts: {
      path: string;
      ok: boolean;
      pull: number | null;
      reason?: string;
      requester?: Account | null;
    }[],
  ): void {
    for (const v of verdicts) {
      this.#memory.verdicts.set(`${keyOf(repo)}#${v.path}@${commit.slice(0, 12)}`, {
        ok: v.ok,
        pull: v.pull,
        ...(v.reason ? { reason: v.reason } : {}),
        ...(v.requester !== undefined ? { requester: v.requester } : {}),
      });
    }
  }

  /** Whether the repository's `reconcile_interval` has passed since its last reconcile (or it never was). */
  due(repo: RepoRef): boolean {
    const state = this.#repos.get(keyOf(repo));
    return !state || this.#clock.nowMs() - state.reconciledAt >= state.intervalMs;
  }

  /** Reconcile one repository (one at a time per repository; a burst shares one follow-up run). */
  reconcile(installed: InstalledRepo): Promise<ReconcileReport> {
    const key = keyOf(installed.repo);
    return this.#runner.run(key, () => this.#alone(`reconcile ${key}`, () => this.#reconcile(installed)));
  }

  /** `fn` alone across replicas for `key` (with durable timers; one process is alone anyway). */
  #alone<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const exclusive = this.#o.timers?.exclusive;
    return exclusive ? exclusive(key, fn) : fn();
  }

  /** Resolves when nothing is running: scheduled revocations, reverts, comments (tests and shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      await this.scheduler.idle();
      if (this.#pending.size === 0) return;
      await Promise.allSettled([...this.#pending]);
    }
  }

  /** The clock moved (tests inject one): run whatever is now due. */
  tick(): void {
    this.scheduler.rearm();
    this.#glass.due();
  }

  /**
   * A review on a merged pull request: if it is a break-glass grant's, see whether it is ratified now. A
   * repository not reconciled yet by this process is reconciled (which watches every break-glass grant).
   */
  async reviewed(installed: InstalledRepo, pull: number): Promise<void> {
    const key = keyOf(installed.repo);
    if (!this.#repos.has(key)) {
      await this.reconcile(installed);
      return;
    }
    await this.#glass.reviewed(key, pull);
  }

  /**
   * Replicas: grant `id`'s revocation job came due, on whichever replica. Reconciles the repository first when
   * this process does not know the grant; throws while the revocation is not verified (the job is retried),
   * raising the alarm at the first failure.
   */
  async revokeDue(installed: InstalledRepo, id: string, attempt = 1): Promise<void> {
    if (!this.#lookup(id).grant) await this.reconcile(installed);
    const { state, grant } = this.#lookup(id);
    if (!state || !grant) {
      this.#o.log.warn({ grant: id }, `revocation of ${id}: no such grant in the history`);
      return;
    }
    const g = this.#scheduled.get(state.key)?.find((s) => s.id === id) ?? {
      id,
      file: grant.file,
      expiresAt: Date.parse(grant.ends_at),
    };
    try {
      await this.#revokeScheduled(g);
    } catch (err) {
      this.#alarm(g, err, attempt, null);
      throw err;
    }
    // The job ends once the revert PR it queued was made (or failed, logged): a replica killed before that
    // leaves the job to another one, which finds nothing left to revoke and makes the revert.
    await this.#revertRuns.idle(repoKeyOf(id));
  }

  /** Replicas: grant `id`'s reminder job came due. Reminds only while the grant is still active. */
  async remindDue(installed: InstalledRepo, id: string): Promise<void> {
    if (!this.#lookup(id).grant || this.due(installed.repo)) await this.reconcile(installed);
    const g = this.#scheduled.get(keyOf(installed.repo))?.find((s) => s.id === id);
    if (g) await this.#remind(g);
  }

  #alarm(g: ScheduledGrant, err: unknown, attempts: number, retryInMs: number | null): void {
    this.#o.log.error(
      { grant: g.id, attempts, retry_in_ms: retryInMs },
      `revocation of ${g.file} failed (attempt ${attempts}): ${(err as Error).message}`,
    );
    const state = this.#repos.get(repoKeyOf(g.id));
    if (attempts === 1 && state) {
      this.#track(
        this.#alarms(state).then((input) => revocationFailing(input, g.file, (err as Error).message)),
      );
    }
  }

  async stop(): Promise<void> {
    this.scheduler.stop();
    for (const t of this.#startTimers.values()) t.cancel();
    this.#glass.stop();
    await Promise.allSettled([...this.#pending]);
    for (const s of this.#repos.values()) await this.#dropTargets(s);
  }

  async #reconcile(installed: InstalledRepo): Promise<ReconcileReport> {
    const { repo } = installed;
    const key = keyOf(repo);
    const now = this.#clock.now();
    const client = await this.#o.installation(installed.installationId);
    const { dir, tip } = await this.#o.mirrors.fetch(repo, installed.defaultBranch, await client.token());
    const forge = client.forge(repo);
    const botLogin = await this.#o.botLogin();
    const done = await provision({
      forge,
      notices: noticesFor(forge, botLogin, this.#o.notifiers),
      dir,
      tip,
      now,
      // The fetch and the forge take seconds: the targets are changed as at the time they are changed.
      clock: this.#clock,
      env: this.#o.env,
      botLogin,
      ...(this.#o.appId !== undefined ? { appId: this.#o.appId } : {}),
      memory: this.#memory,
      log: this.#o.log,
      ...(this.#o.cache ? { cache: this.#o.cache } : {}),
    });
    const previous = this.#repos.get(key);
    const state: RepoState = {
      installed,
      key,
      tip,
      accessRepoId: done.accessRepoId,
      policies: done.policies,
      grants: done.grants,
      revokeTargets: previous && previous.tip === tip ? previous.revokeTargets : null,
      reconciledAt: now.getTime(),
      intervalMs: parseDuration(done.config.reconcile_interval) ?? DEFAULT_INTERVAL_MS,
    };
    if (previous && previous.revokeTargets !== state.revokeTargets) await this.#dropTargets(previous);
    this.#repos.set(key, state);

    // A forge that cannot answer about break-glass delays no revocation: logged, asked again next time. Waited
    // for only when a revert is due (it may have to wait for a ratification); otherwise off the push's path.
    const glass = this.#glass
      .sync(key, done.grants)
      .catch((err: unknown) => this.#o.log.error({ repo: key }, `break-glass: ${(err as Error).message}`));
    if (done.reverts.length > 0) await glass;
    else this.#track(glass);
    for (const r of done.reverts) {
      const glass = this.#glass.revertGlass(key, r.file);
      if (glass !== 'hold') this.#queueRevert(state, r.file, { reason: 'expired', ...r, ...glass });
    }
    this.#startReverts(state);

    // Precise expiry for what is granted now; a timer for grants that start later.
    const t = now.getTime();
    const remindMs = done.config.remind_before ? parseDuration(done.config.remind_before) : null;
    const scheduled = done.trusted
      .filter((g) => Date.parse(g.starts_at) <= t)
      .map((g) => ({
        id: `${key}#${g.id}`,
        file: g.file,
        expiresAt: Date.parse(g.ends_at),
        ...(remindMs !== null ? { remindMs } : {}),
      }));
    this.#scheduled.set(key, scheduled);
    if (this.#o.timers) await this.#o.timers.schedule(installed, scheduled);
    else this.scheduler.sync([...this.#scheduled.values()].flat());
    this.#armStart(
      installed,
      done.trusted.filter((g) => Date.parse(g.starts_at) > t),
    );
    return {
      repo: key,
      tip,
      granted: done.result.granted,
      revoked: done.result.revoked,
      failures: done.result.failures,
      refused: done.refused,
      scheduled: scheduled.length,
    };
  }

  /** The forge of a repository, with its notices. */
  async #forge(state: RepoState) {
    const forge = (await this.#o.installation(state.installed.installationId)).forge(state.installed.repo);
    const botLogin = await this.#o.botLogin();
    return { forge, botLogin, notices: noticesFor(forge, botLogin, this.#o.notifiers) };
  }

  async #alarms(state: RepoState) {
    const { forge, notices } = await this.#forge(state);
    return { forge, notices, memory: this.#memory, log: this.#o.log };
  }

  #lookup(id: string): { state?: RepoState; grant?: Grant } {
    const state = this.#repos.get(repoKeyOf(id));
    const grantId = id.slice(repoKeyOf(id).length + 1);
    return state ? { state, ...withGrant(state.grants.find((g) => g.id === grantId)) } : {};
  }

  async #remind(g: ScheduledGrant): Promise<void> {
    const { state, grant } = this.#lookup(g.id);
    const pull = this.#memory.verdicts.get(g.id)?.pull ?? null;
    if (!state || !grant || pull === null) return;
    const { notices } = await this.#forge(state);
    await remind(notices, grant, pull, this.#clock.now());
  }

  /** The precise path: revoke exactly this grant now, then queue its revert PR (never waited for here). */
  async #revokeScheduled(g: ScheduledGrant): Promise<void> {
    const { state, grant } = this.#lookup(g.id);
    if (!state || !grant) return;
    state.revokeTargets ??= Targets.connect(state.policies, this.#o.env);
    const targets = await state.revokeTargets;
    let revoked: Revoked[];
    try {
      revoked = await revokeGrant(
        targets,
        { id: grant.id, file: grant.file, resource: grant.resource },
        state.accessRepoId,
        'expired',
      );
    } catch (err) {
      // A broken connection is not reused: the retry connects again.
      await this.#dropTargets(state);
      throw err;
    }
    for (const r of revoked) {
      this.#o.log.info(
        {
          repo: state.key,
          file: r.file,
          principal: r.principal,
          sessions_ended: r.sessions_ended,
          lateness_ms: this.#clock.nowMs() - g.expiresAt,
        },
        `revoked ${r.file} at expiry${r.activity ? ` (${r.activity.summary})` : ''}`,
      );
    }
    this.#track(this.#alarms(state).then((input) => revocationVerified(input, grant.file)));
    const activity = revoked.find((r) => r.activity)?.activity?.summary;
    const pull = this.#memory.verdicts.get(g.id)?.pull ?? undefined;
    // A break-glass grant whose ratification is not settled yet keeps its file until it is (the revert records it).
    const glass = this.#glass.revertGlass(state.key, grant.file);
    if (glass === 'hold') return;
    this.#queueRevert(state, grant.file, {
      reason: 'expired',
      ...(activity ? { activity } : {}),
      ...(pull ? { pull } : {}),
      ...glass,
    });
    this.#startReverts(state);
  }

  // ---- break-glass (src/engine/break-glass-watch.ts) ---------------------------------------------------------

  #glassHost(): GlassHost {
    const stateOf = (repo: string) => this.#repos.get(repo);
    return {
      clock: this.#clock,
      log: this.#o.log,
      ...(this.#o.cache ? { cache: this.#o.cache } : {}),
      forge: async (repo) => {
        const state = stateOf(repo);
        return state ? this.#forge(state) : null;
      },
      pullOf: (repo, g) => this.#memory.verdicts.get(`${repo}#${g.id}`)?.pull ?? null,
      unratified: async (repo, grant, pull, active) => {
        const id = `${repo}#${grant.id}`;
        // Not granted again by a reconcile before its revert lands: a refused verdict whose alarm is raised.
        this.#memory.verdicts.set(id, { ok: false, pull, reason: 'break-glass not ratified' });
        this.#memory.alarmed.add(`provenance#${id}`);
        const state = stateOf(repo);
        if (active && state) await this.#revokeUnratified(state, grant);
      },
      revert: (repo, file, job) => {
        const state = stateOf(repo);
        if (!state) return;
        this.#queueRevert(state, file, job);
        this.#startReverts(state);
      },
      track: (p) => this.#track(p),
    };
  }

  /** The same revocation as at expiry, with end reason `unratified`. */
  async #revokeUnratified(state: RepoState, grant: Grant): Promise<void> {
    state.revokeTargets ??= Targets.connect(state.policies, this.#o.env);
    try {
      const revoked = await revokeGrant(await state.revokeTargets, grant, state.accessRepoId, 'unratified');
      for (const r of revoked)
        this.#o.log.info(
          { repo: state.key, file: r.file, principal: r.principal },
          `revoked ${r.file}: unratified`,
        );
    } catch (err) {
      await this.#dropTargets(state);
      throw err;
    }
  }

  async #dropTargets(state: RepoState): Promise<void> {
    const t = state.revokeTargets;
    state.revokeTargets = null;
    if (t) await t.then((x) => x.close()).catch(() => {});
  }

  #queueRevert(state: RepoState, file: string, job: RevertJob): void {
    const queue = this.#reverts.get(state.key) ?? new Map<string, RevertJob>();
    this.#reverts.set(state.key, queue);
    const known = queue.get(file);
    const activity = job.activity ?? known?.activity;
    const pull = job.pull ?? known?.pull;
    const glass = job.glass ?? known?.glass;
    queue.set(file, {
      // An unratified revocation stays one when the expiry comes before its revert landed.
      reason: known?.reason === 'unratified' ? known.reason : job.reason,
      ...(activity ? { activity } : {}),
      ...(pull ? { pull } : {}),
      ...(glass ? { glass } : {}),
    });
  }

  #startReverts(state: RepoState): void {
    const queue = this.#reverts.get(state.key);
    if (!queue || queue.size === 0) return;
    this.#track(
      // Alone across replicas: two would each open a revert PR for the file, and merge both.
      this.#revertRuns.run(state.key, () =>
        this.#alone(`revert ${state.key}`, async () => {
          const { forge, notices, botLogin } = await this.#forge(state);
          for (const [file, job] of [...queue]) {
            try {
              const out = await revertRequest(forge, notices, {
                file,
                reason: job.reason,
                ...(job.activity ? { activity: job.activity } : {}),
                ...(job.pull ? { pull: job.pull } : {}),
                ...(job.glass ? { glass: job.glass } : {}),
                defaultBranch: state.installed.defaultBranch,
                botLogin,
              });
              queue.delete(file);
              if (out.mergeRefused)
                this.#o.log.warn({ repo: state.key, file, pull: out.pull }, out.mergeRefused);
              else if (!out.alreadyGone)
                this.#o.log.info(
                  { repo: state.key, file, pull: out.pull, merged: out.merged },
                  `removed ${file} (revert PR #${out.pull})`,
                );
            } catch (err) {
              // Left in the queue: the next reconcile or expiry tries again.
              this.#o.log.error(
                { repo: state.key, file },
                `revert PR for ${file} failed: ${(err as Error).message}`,
              );
            }
          }
        }),
      ),
    );
  }

  #armStart(installed: InstalledRepo, later: Grant[]): void {
    const key = keyOf(installed.repo);
    this.#startTimers.get(key)?.cancel();
    this.#startTimers.delete(key);
    const next = Math.min(...later.map((g) => Date.parse(g.starts_at)));
    if (!Number.isFinite(next)) return;
    const timer = this.#clock
      .after(Math.min(Math.max(0, next - this.#clock.nowMs()), 2 ** 31 - 1), () => {
        this.#startTimers.delete(key);
        this.#track(this.reconcile(installed));
      })
      .unref();
    this.#startTimers.set(key, timer);
  }

  #track<T>(p: Promise<T>): void {
    const q = p.catch((err: unknown) =>
      this.#o.log.error({}, `background work failed: ${(err as Error).message}`),
    );
    this.#pending.add(q);
    void q.finally(() => this.#pending.delete(q));
  }
}

function keyOf(repo: RepoRef): string {
  return `${repo.owner}/${repo.repo}`;
}

/** `owner/repo` of a scheduled id `owner/repo#file@commit`. */
function repoKeyOf(id: string): string {
  return id.slice(0, id.indexOf('#'));
}

function withGrant(grant: Grant | undefined): { grant?: Grant } {
  return grant ? { grant } : {};
}
