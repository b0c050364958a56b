// The review side: decide a pull request's requests from live forge state and show the result as the
// `timebox` check run (annotations at file:line) and one summary comment updated in place (a notice).
import type { Clock } from '../core/clock.js';
import { decideAll } from '../core/decide.js';
import type { Decision, PullFacts } from '../core/model.js';
import { mergeMessage } from '../core/trailers.js';
import { type AccessRepo, loadAccessRepo } from '../repo/access-repo.js';
import { previewsOf } from '../report/previews.js';
import {
  type Annotation,
  annotationsOf,
  type CheckConclusion,
  conclusionOf,
  md,
} from '../report/pull-request.js';
import type { KnownPush } from './facts.js';
import type { Forge, ForgePull } from './forge.js';
import {
  asksEmergency,
  type ChangedFiles,
  changedFiles,
  gatherFacts,
  referencedTeams,
  requestedResources,
} from './gather.js';
import type { Notice, Notices } from './notices/index.js';
import { checkSummary, renderNotice } from './notices/render.js';
import { type ReviewRequestResult, syncReviewRequests } from './reviewers.js';
import { decisionInputs } from './whatif-check.js';

export const CHECK_NAME = 'timebox';

export interface PullCheckOptions {
  clock: Clock;
  /** The App's own login (`<slug>[bot]`): only its comment carrying the marker is updated. */
  botLogin: string;
  /** What can be kept between events (root commits, configuration by base commit). */
  cache?: CheckCache;
  /** Told about problems that fail closed (unreadable teams, permissions). */
  warn?: (message: string) => void;
  /** Team members known without the API (Actions mode: a workflow token cannot read teams). */
  teams?: Readonly<Record<string, string[]>>;
  /** The push a `synchronize` delivery reported, for while GitHub's activity log does not show it yet. */
  latestPush?: KnownPush;
}

/**
 * What never changes once read: a repository's root commit (it labels role names in previews) and the
 * configuration (policies, CODEOWNERS, timebox.yaml) at a given base commit. Bounded; oldest out first.
 */
export class CheckCache {
  readonly roots = new Map<string, string>();
  readonly #repos = new Map<string, Promise<AccessRepo>>();
  constructor(readonly maxRepos = 64) {}

  repoAt(key: string, load: () => Promise<AccessRepo>): Promise<AccessRepo> {
    let p = this.#repos.get(key);
    if (!p) {
      p = load();
      this.#repos.set(key, p);
      // A failed read is not remembered.
      p.catch(() => this.#repos.delete(key));
      if (this.#repos.size > this.maxRepos) {
        const oldest = this.#repos.keys().next().value;
        if (oldest !== undefined) this.#repos.delete(oldest);
      }
    }
    return p;
  }
}

export interface PullCheckResult {
  /** Set when nothing was posted (closed pull request). */
  skipped?: string;
  /** The pull request as decided (absent when skipped). */
  pull?: ForgePull;
  headSha?: string;
  conclusion?: CheckConclusion;
  decisions?: Decision[];
  checkRunId?: number;
  commentId?: number;
  /** Whether the comment was created or its text changed. */
  commentChanged?: boolean;
  /** The merge commit, when Timebox merged the pull request (`auto_merge: true`). */
  merged?: string;
  /** Why an approved pull request with `auto_merge` was not merged. */
  mergeRefused?: string;
  /** The review requests Timebox made and withdrew (docs/decisions.md, "Review requests"). */
  reviewRequests?: ReviewRequestResult;
  /** The changed paths that decide requests (policies, schedules, CODEOWNERS, timebox.yaml): a policy change. */
  decisionInputs?: string[];
}

export interface PullDecision {
  pull: ForgePull;
  decisions: Decision[];
  /** Set when nothing can be decided (broken configuration at the base, files GitHub does not list). */
  refused: boolean;
  /** What the pull request is told (the summary comment), and its text. */
  notice: Notice;
  comment: string;
  conclusion: CheckConclusion;
  annotations: Annotation[][];
  /** `auto_merge` in the base's timebox.yaml. */
  autoMerge: boolean;
  /** The facts decided on (absent when nothing was decided). */
  facts?: PullFacts;
  /** The changed paths that decide requests (src/engine/whatif-check.ts); absent when nothing was decided. */
  decisionInputs?: string[];
}

/** Read everything and decide; posts nothing. */
export async function decidePull(
  forge: Forge,
  number: number,
  opts: PullCheckOptions,
  known?: ForgePull,
): Promise<PullDecision> {
  const pull = known ?? (await forge.pull(number));
  const now = opts.clock.now();
  const base = forge.source(pull.base.sha, `${pull.base.ref} (${pull.base.sha.slice(0, 7)})`);
  const { owner, repo: name } = forge.repo;
  // Independent reads go out together: the base's configuration, the changed files, reviews and commits.
  const repoP = opts.cache
    ? opts.cache.repoAt(`${owner}/${name}@${pull.base.sha}`, () => loadAccessRepo(base))
    : loadAccessRepo(base);
  const filesP = forge.pullFiles(number);
  const changedP = Promise.all([repoP, filesP]).then(([repo, files]) =>
    repo.errors.length > 0 ? null : changedFiles(forge, base, repo.config, files, pull.changed_files),
  );
  const knownTeams = opts.teams ?? {};
  const teamsP = Promise.all([repoP, changedP]).then(([repo, changed]) =>
    changed
      ? referencedTeams(
          repo.policies,
          repo.codeowners,
          changed.requests.map((r) => r.path),
          requestedResources(changed.requests, repo.config),
        ).filter((t) => !Object.hasOwn(knownTeams, t))
      : [],
  );
  const factsP = gatherFacts(forge, pull, teamsP, {
    ownBot: opts.botLogin,
    emergency: Promise.all([repoP, changedP]).then(([r, c]) =>
      c ? asksEmergency(c.requests, r.config) : false,
    ),
    ...(opts.latestPush ? { latestPush: opts.latestPush } : {}),
  });
  // Settled here so that an early return below leaves no unhandled rejection behind.
  for (const p of [factsP, filesP, changedP, teamsP]) p.catch(() => undefined);
  const repo = await repoP;
  if (repo.errors.length > 0) {
    return refusal(
      pull,
      `The access repo's configuration on \`${md(pull.base.ref)}\` is invalid, so no request can be decided:\n\n${repo.errors
        .map((e) => `- \`${e.file.replace(/`/g, "'")}\` line ${e.line}: ${md(e.message)}`)
        .join('\n')}`,
    );
  }
  const changed = (await changedP) as ChangedFiles;
  if (changed.truncated) {
    // Files GitHub does not list could be requests, policies or workflows: nothing can be decided.
    return refusal(
      pull,
      `This pull request changes ${pull.changed_files} files; GitHub lists only ${changed.paths.length}, so Timebox cannot see all of them. Split it: one request per pull request.`,
    );
  }
  const { facts: read, problems } = await factsP;
  const facts = { ...read, teams: { ...read.teams, ...knownTeams } };
  for (const p of problems) opts.warn?.(p.message);
  const decisions = [
    ...decideAll({
      files: changed.requests,
      changedPaths: changed.paths,
      pull: facts,
      policies: repo.policies,
      codeowners: repo.codeowners,
      config: repo.config,
      at: now,
    }),
    ...changed.unreadable.map(unreadableDecision),
  ];
  const previews = await previewsFor(forge, pull, decisions, repo, opts);
  const notice: Notice = {
    kind: 'pull-summary',
    pull: pull.number,
    headSha: pull.head.sha,
    decisions,
    previews,
    notes: problems.map((p) => p.message),
  };
  return {
    pull,
    decisions,
    refused: false,
    notice,
    comment: renderNotice(notice).comment?.body ?? '',
    conclusion: conclusionOf(decisions),
    annotations: annotationsOf(decisions),
    autoMerge: repo.config.auto_merge,
    facts,
    decisionInputs: decisionInputs(changed.paths, repo.config),
  };
}

function unreadableDecision(u: { path: string; message: string }): Decision {
  return {
    file: u.path,
    status: 'invalid',
    change: 'added',
    request: null,
    rule: null,
    errors: [{ line: 1, column: 1, path: '$', message: u.message }],
    reasons: [],
    approvals: null,
    window: null,
  };
}

/** What each approved or pending request would grant (role names carry the access repo's root commit). */
async function previewsFor(
  forge: Forge,
  pull: ForgePull,
  decisions: Decision[],
  repo: AccessRepo,
  opts: PullCheckOptions,
) {
  const key = `${forge.repo.owner}/${forge.repo.repo}`;
  let root = opts.cache?.roots.get(key);
  if (!root && decisions.some((d) => d.status === 'approved' || d.status === 'pending')) {
    try {
      root = await forge.rootCommit(pull.base.sha);
      opts.cache?.roots.set(key, root);
    } catch (err) {
      opts.warn?.(`no permission preview: cannot find the root commit (${(err as Error).message})`);
    }
  }
  return root ? previewsOf(decisions, repo.policies, root, pull.head.sha) : new Map();
}

/** A pull request nothing can be decided for: failure, and the comment says why. */
function refusal(pull: ForgePull, text: string): PullDecision {
  const notice: Notice = { kind: 'pull-refused', pull: pull.number, reason: text };
  return {
    pull,
    decisions: [],
    refused: true,
    notice,
    comment: renderNotice(notice).comment?.body ?? '',
    conclusion: 'failure',
    annotations: [],
    autoMerge: false,
  };
}

/** Decide and post: the check run on the head commit, then the summary comment. */
export async function checkPullRequest(
  forge: Forge,
  number: number,
  opts: PullCheckOptions & { notices: Notices },
): Promise<PullCheckResult> {
  const pull = await forge.pull(number);
  if (pull.state !== 'open') return { skipped: `pull request #${number} is ${pull.state}` };
  const d = await decidePull(forge, number, opts, pull);
  const checkRunId = await postCheckRun(forge, d, opts);
  const delivered = await opts.notices.emit(d.notice);
  const merge = await autoMerge(forge, d);
  // A draft is left as it is: GitHub asks nobody for a draft either; `ready_for_review` decides again.
  const reviewRequests =
    merge.merged || !d.facts || d.pull.draft
      ? undefined
      : await syncReviewRequests(forge, d.pull, d.decisions, d.facts, opts.warn);
  return {
    ...merge,
    ...(reviewRequests ? { reviewRequests } : {}),
    pull: d.pull,
    headSha: d.pull.head.sha,
    conclusion: d.conclusion,
    decisions: d.decisions,
    ...(d.decisionInputs ? { decisionInputs: d.decisionInputs } : {}),
    checkRunId,
    ...(delivered.commentId !== undefined ? { commentId: delivered.commentId } : {}),
    ...(delivered.changed !== undefined ? { commentChanged: delivered.changed } : {}),
  };
}

/**
 * With `auto_merge: true`, an approved pull request is merged by Timebox with trailers naming the request
 * files, the requester, the approvers and the expiry (docs/audit.md). The merge names the head commit that
 * was decided: if anything was pushed since, the forge refuses (409) and the next event decides again.
 */
async function autoMerge(forge: Forge, d: PullDecision): Promise<{ merged?: string; mergeRefused?: string }> {
  if (!d.autoMerge || d.conclusion !== 'success' || d.decisions.length === 0) return {};
  if (d.pull.draft) return { mergeRefused: 'the pull request is a draft' };
  const message = mergeMessage({
    pull: d.pull.number,
    author: d.pull.user?.login ?? '',
    decisions: d.decisions,
  });
  const out = await forge.merge(d.pull.number, d.pull.head.sha, message);
  return 'merged' in out ? { merged: out.merged } : { mergeRefused: out.refused };
}

const TITLES: Record<CheckConclusion, string> = {
  success: 'Approved',
  action_required: 'Waiting for approval',
  failure: 'Denied or invalid',
  neutral: 'Nothing to decide',
};

async function postCheckRun(forge: Forge, d: PullDecision, opts: PullCheckOptions): Promise<number> {
  const title = d.refused
    ? 'Cannot decide'
    : d.decisions.length === 0
      ? 'No access request changed'
      : TITLES[d.conclusion];
  return forge.createCheckRun({
    name: CHECK_NAME,
    headSha: d.pull.head.sha,
    conclusion: d.conclusion,
    completedAt: opts.clock.now().toISOString(),
    title,
    summary: checkSummary(d.comment),
    annotations: d.annotations as Annotation[][],
  });
}
