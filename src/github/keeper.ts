// Provisioning for `timebox serve`: after a push to the default branch, on a timer, and at every expiry,
// bring the targets in line with what the access repo's history says — but only for grants that came
// through an approved, merged pull request (provenance, src/core/provenance.ts). Then tell the requester on
// the PR (credentials sealed to their GitHub SSH keys, a reminder before expiry), revoke each grant at its
// `expires_at` (src/scheduler/expiry.ts), and remove the expired file with a revert PR.
//
// Nothing here is the only copy of anything: git (a local mirror), the targets (their tags) and the PR
// comments (markers) hold the state, so a restart converges by reconciling again.
import type { Logger } from 'pino';
import { simpleGit } from 'simple-git';
import { finalizeLedger, foldLedger, type Grant, prepareChange } from '../core/ledger.js';
import type { Policies } from '../core/model.js';
import { checkProvenance } from '../core/provenance.js';
import {
  type Failure,
  type Granted,
  type Revoked,
  reconcileTargets,
  revokeGrant,
  Targets,
} from '../providers/reconcile.js';
import { loadAccessRepo } from '../repo/access-repo.js';
import { cachedHistory, rootCommit } from '../repo/history.js';
import { gitRevision } from '../repo/source.js';
import { md } from '../report/pull-request.js';
import { ExpiryScheduler, type ScheduledGrant } from '../scheduler/expiry.js';
import { clearAlarmIssue, raiseAlarmIssue } from './alarms.js';
import { KeyedRunner } from './app.js';
import type { GitHub, RepoRef } from './client.js';
import { githubSealer } from './keys.js';
import type { Mirrors } from './mirror.js';
import type { CheckCache } from './pull-check.js';
import { mergedPullsAt, raiseAlarm } from './push.js';
import { revertRequest } from './revert.js';

export interface InstallationClient {
  gh: GitHub;
  /** A token for git over HTTPS (the installation's). */
  token(): Promise<string>;
}

export interface KeeperOptions {
  mirrors: Mirrors;
  /** Where provider secrets come from (`TIMEBOX_POSTGRES_<CONNECTION>_URL`, …). */
  env: NodeJS.ProcessEnv;
  installation(id: number): Promise<InstallationClient>;
  botLogin(): Promise<string>;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  now?: () => Date;
  cache?: CheckCache;
  /** Reminder lead time (default 15 minutes; 0 = none). */
  reminderMs?: number;
  /** Waits between retries of a failing revocation (default 1 s … 60 s). */
  retryMs?: readonly number[];
}

/** A repository the App is installed on. */
export interface InstalledRepo {
  installationId: number;
  repo: RepoRef;
  defaultBranch: string;
}

export interface Verdict {
  ok: boolean;
  /** The PR that merged it, when one did. */
  pull: number | null;
  reason?: string;
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
  owner: string;
  policies: Policies;
  /** Every grant of the ledger at the last reconcile. */
  grants: Grant[];
  /** Connections for scheduled revocations only (a reconcile opens its own: grants run transactions). */
  revokeTargets: Promise<Targets> | null;
}

const MARK = {
  credentials: (id: string) => `<!-- timebox:credentials ${id} -->`,
  noKeys: (id: string) => `<!-- timebox:no-keys ${id} -->`,
  reminder: (id: string) => `<!-- timebox:reminder ${id} -->`,
};

export class Keeper {
  readonly scheduler: ExpiryScheduler;
  readonly #o: KeeperOptions;
  readonly #now: () => Date;
  readonly #repos = new Map<string, RepoState>();
  readonly #runner = new KeyedRunner();
  readonly #verdicts = new Map<string, Verdict>();
  /** Grants whose credentials comment exists (`repo#grant`). */
  readonly #delivered = new Set<string>();
  readonly #told = new Set<string>();
  readonly #alarmed = new Set<string>();
  readonly #scheduled = new Map<string, ScheduledGrant[]>();
  readonly #startTimers = new Map<string, NodeJS.Timeout>();
  /** Revert PRs to open, per repo: file → reason and activity. */
  readonly #reverts = new Map<string, Map<string, { reason: string; activity?: string; pull?: number }>>();
  readonly #revertRuns = new KeyedRunner();
  readonly #pending = new Set<Promise<unknown>>();

  constructor(opts: KeeperOptions) {
    this.#o = opts;
    this.#now = opts.now ?? (() => new Date());
    this.scheduler = new ExpiryScheduler(
      {
        revoke: (g) => this.#revokeScheduled(g),
        remind: (g) => this.#remind(g),
        alarm: (g, err, attempts, retryInMs) => {
          opts.log.error(
            { grant: g.id, attempts, retry_in_ms: retryInMs },
            `revocation of ${g.file} failed: ${(err as Error).message}`,
          );
          if (attempts === 1) this.#track(this.#revocationAlarm(g.id, (err as Error).message));
        },
        recovered: (g, attempts) => {
          opts.log.info({ grant: g.id, attempts }, `revocation of ${g.file} went through`);
        },
        warn: (message) => opts.log.warn(message),
      },
      {
        now: () => this.#now().getTime(),
        ...(opts.reminderMs !== undefined ? { reminderMs: opts.reminderMs } : {}),
        ...(opts.retryMs ? { retryMs: opts.retryMs } : {}),
      },
    );
  }

  /** Seed provenance verdicts (the push handler has just decided them). */
  seed(
    repo: RepoRef,
    commit: string,
    verdicts: { path: string; ok: boolean; pull: number | null; reason?: string }[],
  ): void {
    for (const v of verdicts) {
      this.#verdicts.set(`${keyOf(repo)}#${v.path}@${commit.slice(0, 12)}`, {
        ok: v.ok,
        pull: v.pull,
        ...(v.reason ? { reason: v.reason } : {}),
      });
    }
  }

  /** Reconcile one repository (one at a time per repository; a burst shares one follow-up run). */
  reconcile(installed: InstalledRepo): Promise<ReconcileReport> {
    const key = keyOf(installed.repo);
    return this.#runner.run(key, () => this.#reconcile(installed));
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
  }

  async stop(): Promise<void> {
    this.scheduler.stop();
    for (const t of this.#startTimers.values()) clearTimeout(t);
    await Promise.allSettled([...this.#pending]);
    for (const s of this.#repos.values()) {
      const t = s.revokeTargets;
      s.revokeTargets = null;
      if (t) await t.then((x) => x.close()).catch(() => {});
    }
  }

  // ---- reconcile ----------------------------------------------------------------------------------------

  async #reconcile(installed: InstalledRepo): Promise<ReconcileReport> {
    const { repo } = installed;
    const key = keyOf(repo);
    const now = this.#now();
    const { gh, token } = await this.#o.installation(installed.installationId);
    const { dir, tip } = await this.#o.mirrors.fetch(repo, installed.defaultBranch, await token());
    const access = await loadAccessRepo(await gitRevision(dir, tip));
    const previous = this.#repos.get(key);
    if (access.errors.length > 0) {
      const first = access.errors[0];
      throw new Error(
        `${key}@${tip.slice(0, 7)}: the policies are invalid (${first?.file}:${first?.line}: ${first?.message}); nothing is granted until they are fixed${previous ? ', scheduled revocations go on' : ''}`,
      );
    }
    const { config, policies } = access;
    const history = await cachedHistory(dir, tip, config.paths.requests, { prepare: prepareChange(config) });
    const ledger = finalizeLedger(foldLedger(history.commits, config), now, { events: false });
    const owner = await rootCommit(dir, tip);
    const state: RepoState = {
      installed,
      key,
      tip,
      owner,
      policies,
      grants: ledger.grants,
      revokeTargets: previous && previous.tip === tip ? previous.revokeTargets : null,
    };
    if (previous?.revokeTargets && previous.revokeTargets !== state.revokeTargets) {
      void previous.revokeTargets.then((t) => t.close()).catch(() => {});
    }
    this.#repos.set(key, state);

    // Provenance: only what an approved, merged PR brought in is provisioned.
    const t = now.getTime();
    const activeNow = (g: Grant) => Date.parse(g.starts_at) <= t && t < Date.parse(g.ends_at);
    const botLogin = await this.#o.botLogin();
    const refused: ReconcileReport['refused'] = [];
    const untrusted = new Set<string>();
    for (const g of ledger.grants) {
      if (!activeNow(g) && !(Date.parse(g.starts_at) > t)) continue;
      let v: Verdict;
      try {
        v = await this.#verdict(gh, state, g, dir, botLogin);
      } catch (err) {
        // GitHub could not tell: nothing is granted for it this time; the next run asks again.
        untrusted.add(g.id);
        this.#o.log.warn(
          { repo: key, grant: g.id },
          `cannot check provenance of ${g.file}: ${(err as Error).message}`,
        );
        continue;
      }
      if (v.ok) continue;
      untrusted.add(g.id);
      refused.push({ file: g.file, grantId: g.id, reason: v.reason ?? 'not approved' });
      const alarmKey = `${key}#provenance#${g.id}`;
      if (!this.#alarmed.has(alarmKey)) {
        await raiseAlarm(gh, repo, g.commit, g.file, v.reason ?? 'not approved through a pull request');
        this.#alarmed.add(alarmKey);
      }
    }
    const trusted = ledger.grants.filter((g) => !untrusted.has(g.id));

    // Credentials that were granted but never delivered (a crash between the two) are granted again.
    const regrant = new Set<string>();
    for (const g of trusted) {
      if (!activeNow(g) || this.#delivered.has(`${key}#${g.id}`)) continue;
      const pull = this.#verdicts.get(`${key}#${g.id}`)?.pull ?? null;
      if (pull !== null && (await hasMarker(gh, repo, pull, MARK.credentials(g.id), botLogin))) {
        this.#delivered.add(`${key}#${g.id}`);
        continue;
      }
      regrant.add(g.id);
    }

    const targets = await Targets.connect(policies, this.#o.env);
    let result: Awaited<ReturnType<typeof reconcileTargets>>;
    try {
      result = await reconcileTargets(targets, {
        grants: trusted,
        policies,
        owner,
        at: now,
        sealer: githubSealer(gh),
        regrant,
      });
    } finally {
      await targets.close();
    }
    for (const p of result.plan.problems) this.#o.log.warn({ repo: key, file: p.file }, p.message);

    for (const g of result.granted) await this.#deliver(gh, state, g);
    for (const f of result.failures) {
      if (f.action === 'grant' && f.noKeys && f.grantId) await this.#tellNoKeys(gh, state, f);
      else if (f.action === 'revoke' && f.grantId)
        await this.#revocationAlarm(`${key}#${f.grantId}`, f.message);
      else this.#o.log.error({ repo: key, file: f.file, action: f.action }, f.message);
    }
    for (const r of result.revoked) {
      await this.#revocationCleared(`${key}#${r.grantId}`);
      if (r.reason === 'expired') this.#queueRevert(state, r.file, 'expired', r.activity?.summary);
    }

    // Files whose access ended at expiry but are still in the tree: remove them (after a restart, or a revert
    // PR that failed before). Only once nothing is left on a target.
    const held = new Set(
      result.actual
        .filter((a) => a.owner === owner && !result.revoked.some((r) => r.principal === a.principal))
        .map((a) => a.file),
    );
    const latest = new Map<string, Grant>();
    for (const g of ledger.grants) latest.set(g.file, g);
    for (const g of latest.values()) {
      if (g.state === 'expired' && !held.has(g.file)) this.#queueRevert(state, g.file, 'expired');
    }
    this.#startReverts(state);

    // Precise expiry for what is granted now; a timer for grants that start later.
    const scheduled = trusted
      .filter(activeNow)
      .map((g) => ({ id: `${key}#${g.id}`, file: g.file, expiresAt: Date.parse(g.ends_at) }));
    this.#scheduled.set(key, scheduled);
    this.scheduler.sync([...this.#scheduled.values()].flat());
    this.#armStart(
      installed,
      trusted.filter((g) => Date.parse(g.starts_at) > t),
    );

    return {
      repo: key,
      tip,
      granted: result.granted,
      revoked: result.revoked,
      failures: result.failures,
      refused,
      scheduled: scheduled.length,
    };
  }

  async #verdict(gh: GitHub, state: RepoState, g: Grant, dir: string, botLogin: string): Promise<Verdict> {
    const vkey = `${state.key}#${g.id}`;
    const known = this.#verdicts.get(vkey);
    if (known) return known;
    const blob = (
      await simpleGit(dir).raw(['rev-parse', '--verify', '--end-of-options', `${g.commit}:${g.file}`])
    ).trim();
    const pulls = await mergedPullsAt(gh, state.installed.repo, g.commit, {
      botLogin,
      // Decided as at the merge: office hours and windows are those of that moment.
      now: () => new Date(g.merged_at),
      ...(this.#o.cache ? { cache: this.#o.cache } : {}),
    });
    const [p] = checkProvenance(
      g.commit,
      [{ path: g.file, status: g.extends ? 'modified' : 'added', blob }],
      pulls,
    );
    const v: Verdict = p?.ok
      ? { ok: true, pull: p.pull }
      : { ok: false, pull: p?.pull ?? null, reason: p && !p.ok ? p.reason : 'not decided' };
    this.#verdicts.set(vkey, v);
    return v;
  }

  // ---- talking to the requester --------------------------------------------------------------------------

  async #deliver(gh: GitHub, state: RepoState, g: Granted): Promise<void> {
    const pull = this.#verdicts.get(`${state.key}#${g.grantId}`)?.pull ?? null;
    const grant = state.grants.find((x) => x.id === g.grantId);
    if (pull === null || !grant) {
      this.#o.log.error(
        { repo: state.key, file: g.file },
        `granted ${g.file} but know no PR to deliver its credentials on`,
      );
      return;
    }
    const now = this.#now().getTime();
    const expires = Date.parse(g.expires_at);
    const body = [
      MARK.credentials(g.grantId),
      `**Granted.** @${grant.requester} has **${md(grant.role)}** on **${md(grant.resource)}** until **${utc(expires)}** (${relative(expires - now)}), as \`${md(g.principal)}\`.`,
      '',
      'Credentials, sealed to your SSH keys on GitHub (only your private key opens them):',
      '',
      '```',
      g.credentials.trimEnd(),
      '```',
      '',
      `Save the block to a file and open it with \`timebox creds FILE\` or \`age -d -i ~/.ssh/id_ed25519 FILE\`. At expiry Timebox revokes the access, ends live sessions and removes \`${md(g.file)}\` with a pull request.`,
    ].join('\n');
    await gh.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
      ...state.installed.repo,
      issue_number: pull,
      body,
    });
    this.#delivered.add(`${state.key}#${g.grantId}`);
    this.#o.log.info(
      { repo: state.key, file: g.file, pull, principal: g.principal },
      `granted ${g.file} until ${g.expires_at}`,
    );
  }

  async #tellNoKeys(gh: GitHub, state: RepoState, f: Failure): Promise<void> {
    const id = f.grantId as string;
    const k = `${state.key}#${id}`;
    if (this.#told.has(k)) return;
    const pull = this.#verdicts.get(k)?.pull ?? null;
    const botLogin = await this.#o.botLogin();
    if (pull !== null && !(await hasMarker(gh, state.installed.repo, pull, MARK.noKeys(id), botLogin))) {
      await gh.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        ...state.installed.repo,
        issue_number: pull,
        body: `${MARK.noKeys(id)}\n**Nothing granted yet.** ${md(f.message)}.`,
      });
    }
    this.#told.add(k);
    this.#o.log.warn({ repo: state.key, file: f.file }, f.message);
  }

  async #remind(g: ScheduledGrant): Promise<void> {
    const { state, grant } = this.#lookup(g.id);
    if (!state || !grant) return;
    const pull = this.#verdicts.get(g.id)?.pull ?? null;
    if (pull === null) return;
    const { gh } = await this.#o.installation(state.installed.installationId);
    if (await hasMarker(gh, state.installed.repo, pull, MARK.reminder(grant.id), await this.#o.botLogin()))
      return;
    const expires = Date.parse(grant.ends_at);
    await gh.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
      ...state.installed.repo,
      issue_number: pull,
      body: [
        MARK.reminder(grant.id),
        `@${grant.requester}, your **${md(grant.role)}** on **${md(grant.resource)}** ends at **${utc(expires)}** (${relative(expires - this.#now().getTime())}).`,
        `To keep it, open a pull request that edits \`${md(grant.file)}\` (an extension is approved like a request).`,
      ].join('\n'),
    });
  }

  // ---- expiry --------------------------------------------------------------------------------------------

  #lookup(id: string): { state?: RepoState; grant?: Grant } {
    const hash = id.indexOf('#');
    const state = this.#repos.get(id.slice(0, hash));
    return {
      ...(state ? { state } : {}),
      ...(state ? { grant: state.grants.find((g) => g.id === id.slice(hash + 1)) } : {}),
    };
  }

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
        state.owner,
        'expired',
      );
    } catch (err) {
      // A broken connection is not reused: the retry connects again.
      const stale = state.revokeTargets;
      state.revokeTargets = null;
      void stale?.then((t) => t.close()).catch(() => {});
      throw err;
    }
    for (const r of revoked) {
      this.#o.log.info(
        {
          repo: state.key,
          file: r.file,
          principal: r.principal,
          sessions_ended: r.sessions_ended,
          lateness_ms: this.#now().getTime() - g.expiresAt,
        },
        `revoked ${r.file} at expiry${r.activity ? ` (${r.activity.summary})` : ''}`,
      );
    }
    this.#track(this.#revocationCleared(g.id));
    this.#queueRevert(state, grant.file, 'expired', revoked.find((r) => r.activity)?.activity?.summary);
    this.#startReverts(state);
  }

  #revocationTitle(id: string): { repo?: RepoState; title: string; file: string } {
    const { state, grant } = this.#lookup(id);
    const file = grant?.file ?? id.slice(id.indexOf('#') + 1).replace(/@[0-9a-f]+$/, '');
    return { ...(state ? { repo: state } : {}), file, title: `Timebox alarm: revoking ${file} is failing` };
  }

  async #revocationAlarm(id: string, message: string): Promise<void> {
    const { repo, file, title } = this.#revocationTitle(id);
    if (!repo) return;
    this.#alarmed.add(`revoke#${id}`);
    try {
      const { gh } = await this.#o.installation(repo.installed.installationId);
      await raiseAlarmIssue(
        gh,
        repo.installed.repo,
        title,
        `Timebox could not revoke the access granted by \`${md(file)}\`:\n\n> ${md(message)}\n\nIt keeps retrying until the revocation is verified, and closes this issue then. Until then the access may still work (a native expiry such as PostgreSQL's \`VALID UNTIL\` still bounds it).`,
      );
    } catch (err) {
      this.#o.log.error({ grant: id }, `cannot raise the alarm for ${file}: ${(err as Error).message}`);
    }
  }

  async #revocationCleared(id: string): Promise<void> {
    if (!this.#alarmed.delete(`revoke#${id}`)) return;
    const { repo, title } = this.#revocationTitle(id);
    if (!repo) return;
    try {
      const { gh } = await this.#o.installation(repo.installed.installationId);
      await clearAlarmIssue(
        gh,
        repo.installed.repo,
        title,
        'The revocation went through and was verified: nothing is left on the target.',
      );
    } catch (err) {
      this.#o.log.warn({ grant: id }, `cannot close the alarm: ${(err as Error).message}`);
    }
  }

  #queueRevert(state: RepoState, file: string, reason: string, activity?: string): void {
    const queue = this.#reverts.get(state.key) ?? new Map();
    this.#reverts.set(state.key, queue);
    const known = queue.get(file);
    const pull = state.grants
      .filter((g) => g.file === file)
      .map((g) => this.#verdicts.get(`${state.key}#${g.id}`)?.pull)
      .find((p) => typeof p === 'number');
    queue.set(file, {
      reason,
      ...((activity ?? known?.activity) ? { activity: activity ?? known?.activity } : {}),
      ...(pull ? { pull } : {}),
    });
  }

  #startReverts(state: RepoState): void {
    const queue = this.#reverts.get(state.key);
    if (!queue || queue.size === 0) return;
    this.#track(
      this.#revertRuns.run(state.key, async () => {
        const { gh } = await this.#o.installation(state.installed.installationId);
        for (const [file, r] of [...queue]) {
          try {
            const out = await revertRequest(gh, state.installed.repo, {
              file,
              reason: r.reason,
              ...(r.activity ? { activity: r.activity } : {}),
              ...(r.pull ? { pull: r.pull } : {}),
              defaultBranch: state.installed.defaultBranch,
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
            // Left in the queue: the next reconcile (or expiry) tries again.
            this.#o.log.error(
              { repo: state.key, file },
              `revert PR for ${file} failed: ${(err as Error).message}`,
            );
          }
        }
      }),
    );
  }

  #armStart(installed: InstalledRepo, later: Grant[]): void {
    const key = keyOf(installed.repo);
    const old = this.#startTimers.get(key);
    if (old) clearTimeout(old);
    this.#startTimers.delete(key);
    const next = Math.min(...later.map((g) => Date.parse(g.starts_at)));
    if (!Number.isFinite(next)) return;
    const timer = setTimeout(
      () => {
        this.#startTimers.delete(key);
        this.#track(
          this.reconcile(installed).catch((err: unknown) =>
            this.#o.log.error({ repo: key }, `reconcile failed: ${(err as Error).message}`),
          ),
        );
      },
      Math.min(Math.max(0, next - this.#now().getTime()), 2 ** 31 - 1),
    );
    timer.unref();
    this.#startTimers.set(key, timer);
  }

  #track<T>(p: Promise<T>): void {
    const q = p.catch((err: unknown) =>
      this.#o.log.error(`background work failed: ${(err as Error).message}`),
    );
    this.#pending.add(q);
    void q.finally(() => this.#pending.delete(q));
  }
}

function keyOf(repo: RepoRef): string {
  return `${repo.owner}/${repo.repo}`;
}

/** Whether the App already commented with `marker` on the PR. */
async function hasMarker(
  gh: GitHub,
  repo: RepoRef,
  pull: number,
  marker: string,
  botLogin: string,
): Promise<boolean> {
  const comments = await gh.paginate('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    ...repo,
    issue_number: pull,
    per_page: 100,
  });
  return comments.some((c) => c.user?.login === botLogin && (c.body ?? '').startsWith(marker));
}

function utc(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/:\d\d\.\d{3}Z$/, ' UTC')
    .replace('T', ' ');
}

/** `in 2 hours`, `in 15 minutes`, `now`. */
export function relative(ms: number): string {
  if (ms <= 30_000) return 'now';
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `in ${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.round(minutes / 6) / 10;
  if (hours < 48) return `in ${hours} hour${hours === 1 ? '' : 's'}`;
  const days = Math.round(hours / 2.4) / 10;
  return `in ${days} days`;
}
