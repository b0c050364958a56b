// The Probot app: which GitHub events Timebox listens to, handed to the engine (src/engine) over GitHub as a
// Forge. Handlers read the pull request's current state, so redelivered and out-of-order deliveries change nothing.
import type { ApplicationFunction, Probot } from 'probot';
import type { Clock } from '../core/clock.js';
import type { Forge, PullRef } from '../engine/forge.js';
import type { Keeper } from '../engine/keeper.js';
import { type Notifier, noticesFor } from '../engine/notices/index.js';
import { CheckCache, checkPullRequest } from '../engine/pull-check.js';
import { checkPush } from '../engine/push.js';
import { KeyedRunner, RecentPushes } from '../engine/runner.js';
import { runWhatifCheck } from '../engine/whatif-check.js';
import { type GitHub, GitHubCache } from './client.js';
import { githubForge } from './forge.js';
import type { Mirrors } from './mirror.js';

export interface AppOptions {
  /** The clock decisions use (office hours, windows); the entry point makes it, tests inject one. */
  clock: Clock;
  /** Provisioning after a push to the default branch (src/engine/keeper.ts); none = check only. */
  keeper?: Keeper;
  /** Notifiers beside the pull request's comments and issues. */
  notifiers?: readonly Notifier[];
  /** The App's own login, when the caller already asks for it (`startServer` shares one with the keeper). */
  botLogin?: () => Promise<string>;
  /**
   * The access repos' git mirrors (src/github/mirror.ts): with them, a pull request that changes policies,
   * schedules, CODEOWNERS or timebox.yaml also gets the `timebox / policy change` check (docs/whatif.md).
   */
  mirrors?: Pick<Mirrors, 'fetchCommits'>;
}

/** The pull request events after which the policy-change check runs again (its head or its base moved). */
const WHATIF_ACTIONS = new Set(['opened', 'synchronize', 'reopened']);

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

/** What the pull request handler reads of a `pull_request` or `pull_request_review` delivery. */
interface PullContext {
  id: string;
  octokit: unknown;
  log: Probot['log'];
  payload: {
    action?: string;
    changes?: object;
    before?: string;
    after?: string;
    sender?: { login: string; type?: string } | null;
    pull_request: {
      number: number;
      head: { ref: string; sha: string; repo?: { full_name: string } | null };
      base: { sha: string };
    };
    review?: { state?: string; user?: { login: string; type?: string } | null };
    repository: { name: string; owner: { login: string } };
  };
}

export function timeboxApp(options: AppOptions): ApplicationFunction {
  return (app: Probot) => {
    const runner = new KeyedRunner();
    const cache = new CheckCache();
    // Between events, only what cannot change under its key or is bounded by a short time (client.ts).
    const api = new GitHubCache();
    const ownLogin = options.botLogin ?? rememberedBotLogin(app);
    const pushes = new RecentPushes();

    const check = async (context: PullContext): Promise<void> => {
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
        const forge = githubForge(context.octokit as GitHub, ref, api);
        // Everything the check reads live goes out with the pull request's own read (one round trip).
        const review = context.payload.review;
        const reviewer =
          review?.state?.toLowerCase() === 'approved' && review.user && review.user.type !== 'Bot'
            ? [review.user.login]
            : [];
        const asked = api.asked.get(key);
        forge.prefetch({
          number: ref.number,
          head: pull_request.head,
          sha: { base: pull_request.base.sha, head: pull_request.head.sha },
          approvers: [...(asked?.logins ?? []), ...reviewer],
          teams: asked?.teams ?? [],
        });
        const done = checkPullRequest(forge, ref.number, {
          botLogin: login,
          cache,
          clock: options.clock,
          notices: noticesFor(forge, login, options.notifiers),
          ...(latestPush ? { latestPush } : {}),
          warn: (message) => context.log.warn({ pull: key }, message),
        });
        // What was asked about: asked early next time (and still read live then).
        void done.then(
          () => api.asked.set(key, { logins: [...forge.asked], teams: [...forge.askedTeams] }),
          () => undefined,
        );
        return done;
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
      // After the `timebox` check is out: a policy change is also replayed (it informs, never gates).
      const mirrors = options.mirrors;
      if (mirrors && policyCheckDue(context.payload, result))
        await runner.run(`${key} policy change`, () =>
          policyChangeCheck(context, githubForge(context.octokit as GitHub, ref, api), ref.number, {
            clock: options.clock,
            mirrors,
          }),
        );
    };
    app.on([...PULL_EVENTS], check);
    app.on([...REVIEW_EVENTS], check);
    // A review of a merged request may ratify a break-glass access (src/engine/break-glass-watch.ts).
    app.on([...REVIEW_EVENTS], async (context) => {
      const p = context.payload;
      if (!options.keeper || !p.pull_request.merged_at || !p.installation) return;
      const repo = { owner: p.repository.owner.login, repo: p.repository.name };
      const installed = {
        installationId: p.installation.id,
        repo,
        defaultBranch: p.repository.default_branch,
      };
      await options.keeper.reviewed(installed, p.pull_request.number);
    });
    app.on(PUSH_EVENTS[0], async (context) => {
      const p = context.payload;
      const repo = { owner: p.repository.owner?.login ?? '', repo: p.repository.name };
      const key = `${repo.owner}/${repo.repo}@${p.after}`;
      const result = await runner.run(key, async () => {
        const forge = githubForge(context.octokit as unknown as GitHub, repo, api);
        const botLogin = await ownLogin();
        return checkPush(
          forge,
          {
            ref: p.ref,
            before: p.before,
            after: p.after,
            defaultBranch: p.repository.default_branch ?? 'main',
          },
          { botLogin, cache, clock: options.clock, notices: noticesFor(forge, botLogin, options.notifiers) },
        );
      });
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

/** A pull request whose head or base moved, that changes what decides requests (and was decided, not skipped). */
function policyCheckDue(
  payload: { action?: string; changes?: object },
  result: { pull?: unknown; decisionInputs?: string[] },
): boolean {
  if (!result.pull || (result.decisionInputs?.length ?? 0) === 0) return false;
  return (
    WHATIF_ACTIONS.has(payload.action ?? '') ||
    (payload.action === 'edited' && 'base' in (payload.changes ?? {}))
  );
}

/**
 * The `timebox / policy change` check (src/engine/whatif-check.ts) on the mirror: the pull request's base and
 * head, and the open pull requests' heads, fetched by commit with the installation's token. Logged, never thrown:
 * the `timebox` check is already posted, and this one only informs.
 */
async function policyChangeCheck(
  context: { octokit: unknown; log: Probot['log'] },
  forge: Forge,
  number: number,
  o: { clock: Clock; mirrors: Pick<Mirrors, 'fetchCommits'> },
): Promise<void> {
  const key = `${forge.repo.owner}/${forge.repo.repo}#${number}`;
  try {
    // Read when the run starts: a run shared by a burst of pushes replays the last head.
    const pull = await forge.pull(number);
    if (pull.state !== 'open') return;
    const octokit = context.octokit as { auth(o: { type: 'installation' }): Promise<unknown> };
    const { token } = (await octokit.auth({ type: 'installation' })) as { token: string };
    const w = await runWhatifCheck(forge, pull, {
      clock: o.clock,
      git: {
        prepare: async (shas) => {
          const { dir, missing } = await o.mirrors.fetchCommits(forge.repo, shas, token);
          return { root: dir, missing };
        },
      },
      warn: (message) => context.log.warn({ pull: key }, `policy change: ${message}`),
    });
    context.log.info(
      { pull: key, head: pull.head.sha, check_run: w.checkRunId },
      `policy change ${key}: ${w.title}`,
    );
  } catch (err) {
    context.log.error({ err, pull: key }, `policy change check of ${key} failed`);
  }
}
