// The Probot app: which events Timebox listens to and what it does with them. Handlers read the pull
// request's current state, so redelivered and out-of-order deliveries change nothing.
import type { ApplicationFunction, Probot } from 'probot';
import type { GitHub } from './client.js';
import type { KnownPush } from './facts.js';
import type { PullRef } from './gather.js';
import type { Keeper } from './keeper.js';
import { CheckCache, checkPullRequest } from './pull-check.js';
import { checkPush } from './push.js';

export interface AppOptions {
  /** The clock decisions use (office hours, windows); tests inject one. */
  now?: () => Date;
  /** Provisioning after a push to the default branch (src/github/keeper.ts); none = check only. */
  keeper?: Keeper;
  /** The App's own login, when the caller already asks for it (`startServer` shares one with the keeper). */
  botLogin?: () => Promise<string>;
}

export const PULL_EVENTS = [
  'pull_request.opened',
  'pull_request.synchronize',
  'pull_request.reopened',
  'pull_request.ready_for_review',
  'pull_request.edited',
] as const;
export const PUSH_EVENTS = ['push'] as const;
export const REVIEW_EVENTS = [
  'pull_request_review.submitted',
  'pull_request_review.edited',
  'pull_request_review.dismissed',
] as const;

/**
 * Runs work per key one at a time. While a run is in progress, later requests for the same key share
 * one follow-up run: it starts after the current one and reads the state as it is then, so a burst of
 * deliveries for one pull request costs at most two checks, and the last one posted is never stale.
 */
export class KeyedRunner {
  readonly #running = new Map<string, Promise<unknown>>();
  readonly #queued = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const queued = this.#queued.get(key);
    if (queued) return queued as Promise<T>;
    const running = this.#running.get(key);
    if (!running) return this.#start(key, work);
    const next = running
      .catch(() => undefined)
      .then(() => {
        this.#queued.delete(key);
        return this.#start(key, work);
      });
    this.#queued.set(key, next);
    return next;
  }

  #start<T>(key: string, work: () => Promise<T>): Promise<T> {
    const p = work();
    this.#running.set(key, p);
    const clear = () => {
      if (this.#running.get(key) === p) this.#running.delete(key);
    };
    p.then(clear, clear);
    return p;
  }
}

/**
 * The last push each pull request's `synchronize` delivery reported (`before`, `after`, `sender`: signed by
 * GitHub). Who pushed is judged from GitHub's activity log of the branch, which may not show a push yet when its
 * webhook arrives; this bridges that moment only (src/github/facts.ts `pushersFromActivity`). Memory only, and
 * bounded: after a restart the log has long caught up.
 */
export class RecentPushes {
  readonly #last = new Map<string, KnownPush>();
  constructor(readonly max = 1000) {}

  note(
    key: string,
    payload: { action?: string; before?: string; after?: string; sender?: KnownPush['actor'] },
  ): void {
    if (payload.action !== 'synchronize' || !payload.before || !payload.after) return;
    this.#last.delete(key);
    this.#last.set(key, {
      before: payload.before,
      after: payload.after,
      actor: payload.sender ? { login: payload.sender.login, type: payload.sender.type ?? 'User' } : null,
    });
    if (this.#last.size > this.max) {
      const oldest = this.#last.keys().next().value;
      if (oldest !== undefined) this.#last.delete(oldest);
    }
  }

  get(key: string): KnownPush | undefined {
    return this.#last.get(key);
  }
}

/** The App's own login, `<slug>[bot]`, asked with its JWT. */
export async function appBotLogin(probot: Probot): Promise<string> {
  const { data } = await (await probot.auth()).request('GET /app');
  return `${data?.slug ?? ''}[bot]`;
}

/** `appBotLogin`, asked once and remembered; a failure is retried at the next call. */
export function rememberedBotLogin(probot: Probot): () => Promise<string> {
  let login: Promise<string> | undefined;
  return () => {
    login ??= appBotLogin(probot);
    login.catch(() => {
      login = undefined;
    });
    return login;
  };
}

export function timeboxApp(options: AppOptions = {}): ApplicationFunction {
  return (app: Probot) => {
    const runner = new KeyedRunner();
    const cache = new CheckCache();
    const ownLogin = options.botLogin ?? rememberedBotLogin(app);
    const pushes = new RecentPushes();

    const check = async (context: {
      id: string;
      octokit: unknown;
      log: Probot['log'];
      payload: {
        action?: string;
        before?: string;
        after?: string;
        sender?: { login: string; type?: string } | null;
        pull_request: { number: number };
        repository: { name: string; owner: { login: string } };
      };
    }): Promise<void> => {
      const { repository, pull_request } = context.payload;
      const ref: PullRef = {
        owner: repository.owner.login,
        repo: repository.name,
        number: pull_request.number,
      };
      const key = `${ref.owner}/${ref.repo}#${ref.number}`;
      pushes.note(key, context.payload);
      const login = await ownLogin();
      const result = await runner.run(key, () => {
        // Read when the run starts: a follow-up run shared by a burst sees the burst's last push.
        const latestPush = pushes.get(key);
        return checkPullRequest(context.octokit as GitHub, ref, {
          botLogin: login,
          cache,
          ...(options.now ? { now: options.now } : {}),
          ...(latestPush ? { latestPush } : {}),
          warn: (message) => context.log.warn({ pull: key }, message),
        });
      });
      context.log.info(
        {
          pull: key,
          head: result.headSha,
          conclusion: result.conclusion,
          statuses: result.decisions?.map((d) => `${d.file}: ${d.status}`),
          skipped: result.skipped,
          merged: result.merged,
          merge_refused: result.mergeRefused,
        },
        result.skipped ? `skipped ${key}: ${result.skipped}` : `checked ${key}: ${result.conclusion}`,
      );
    };
    app.on([...PULL_EVENTS], check);
    app.on([...REVIEW_EVENTS], check);
    app.on(PUSH_EVENTS[0], async (context) => {
      const p = context.payload;
      const repo = { owner: p.repository.owner?.login ?? '', repo: p.repository.name };
      const key = `${repo.owner}/${repo.repo}@${p.after}`;
      const result = await runner.run(key, async () =>
        checkPush(
          context.octokit as unknown as GitHub,
          repo,
          {
            ref: p.ref,
            before: p.before,
            after: p.after,
            defaultBranch: p.repository.default_branch ?? 'main',
          },
          { botLogin: await ownLogin(), cache, ...(options.now ? { now: options.now } : {}) },
        ),
      );
      const refused = result.provenance.filter((x) => !x.ok);
      const log =
        refused.length > 0 ? context.log.error.bind(context.log) : context.log.info.bind(context.log);
      log(
        { push: key, skipped: result.skipped, provenance: result.provenance, alarms: result.alarms },
        result.skipped
          ? `push ${key}: ${result.skipped}`
          : `push ${key}: ${result.provenance.length - refused.length} request change(s) approved, ${refused.length} refused`,
      );
      const keeper = options.keeper;
      if (!keeper || result.skipped === 'not the default branch' || !p.installation) return;
      keeper.seed(repo, p.after, result.provenance);
      const report = await keeper.reconcile({
        installationId: p.installation.id,
        repo,
        defaultBranch: p.repository.default_branch ?? 'main',
      });
      context.log.info(
        {
          push: key,
          granted: report.granted.map((g) => g.file),
          revoked: report.revoked.map((r) => `${r.file} (${r.reason})`),
          refused: report.refused.map((r) => r.file),
          failures: report.failures.map((f) => `${f.action} ${f.file}: ${f.message}`),
        },
        `reconciled ${report.repo} at ${report.tip.slice(0, 7)}: ${report.granted.length} granted, ${report.revoked.length} revoked`,
      );
    });
  };
}
