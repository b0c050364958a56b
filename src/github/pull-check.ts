// The App's review side: decide a pull request's requests from live API state and show the result as
// the `timebox` check run (annotations at file:line) and one summary comment updated in place.
import { decideAll } from '../core/decide.js';
import type { Decision } from '../core/model.js';
import { mergeMessage } from '../core/trailers.js';
import { type AccessRepo, loadAccessRepo } from '../repo/access-repo.js';
import { previewsOf } from '../report/previews.js';
import {
  type Annotation,
  annotationsOf,
  type CheckConclusion,
  COMMENT_MARKER,
  conclusionOf,
  md,
  renderComment,
} from '../report/pull-request.js';
import { type GitHub, statusOf } from './client.js';
import type { KnownPush } from './facts.js';
import {
  type ApiPull,
  type ChangedFiles,
  changedFiles,
  gatherFacts,
  getPull,
  listFiles,
  type PullRef,
  referencedTeams,
  rootCommitOf,
} from './gather.js';
import { githubSource } from './source.js';

export const CHECK_NAME = 'timebox';
/** GitHub refuses check-run summaries and comment bodies longer than this. */
const MAX_TEXT = 65_000;

export interface PullCheckOptions {
  now?: () => Date;
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
}

export interface PullDecision {
  pull: ApiPull;
  decisions: Decision[];
  /** Set when nothing can be decided (broken configuration at the base, files GitHub does not list). */
  refused: boolean;
  comment: string;
  conclusion: CheckConclusion;
  annotations: Annotation[][];
  /** `auto_merge` in the base's timebox.yaml. */
  autoMerge: boolean;
}

/** Read everything and decide; posts nothing. */
export async function decidePull(
  gh: GitHub,
  ref: PullRef,
  opts: PullCheckOptions,
  known?: ApiPull,
): Promise<PullDecision> {
  const repoRef = { owner: ref.owner, repo: ref.repo };
  const pull = known ?? (await getPull(gh, ref));
  const now = opts.now?.() ?? new Date();
  const base = githubSource(gh, repoRef, pull.base.sha, `${pull.base.ref} (${pull.base.sha.slice(0, 7)})`);
  // Independent reads go out together: the base's configuration, the changed files, reviews and commits.
  const repoP = opts.cache
    ? opts.cache.repoAt(`${ref.owner}/${ref.repo}@${pull.base.sha}`, () => loadAccessRepo(base))
    : loadAccessRepo(base);
  const filesP = listFiles(gh, ref);
  const changedP = Promise.all([repoP, filesP]).then(([repo, files]) =>
    repo.errors.length > 0 ? null : changedFiles(gh, ref, base, repo.config, files, pull.changed_files),
  );
  const knownTeams = opts.teams ?? {};
  const teamsP = Promise.all([repoP, changedP]).then(([repo, changed]) =>
    changed
      ? referencedTeams(
          repo.policies,
          repo.codeowners,
          changed.requests.map((r) => r.path),
        ).filter((t) => !Object.hasOwn(knownTeams, t))
      : [],
  );
  const factsP = gatherFacts(gh, ref, pull, teamsP, {
    ownBot: opts.botLogin,
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
    ...changed.unreadable.map(
      (u): Decision => ({
        file: u.path,
        status: 'invalid',
        change: 'added',
        request: null,
        rule: null,
        errors: [{ line: 1, column: 1, path: '$', message: u.message }],
        reasons: [],
        approvals: null,
        window: null,
      }),
    ),
  ];
  const key = `${ref.owner}/${ref.repo}`;
  let root = opts.cache?.roots.get(key);
  if (!root && decisions.some((d) => d.status === 'approved' || d.status === 'pending')) {
    try {
      root = await rootCommitOf(gh, repoRef, pull.base.sha);
      opts.cache?.roots.set(key, root);
    } catch (err) {
      opts.warn?.(`no permission preview: cannot find the root commit (${(err as Error).message})`);
    }
  }
  const previews = root ? previewsOf(decisions, repo.policies, root, pull.head.sha) : new Map();
  const notes = problems.map((p) => p.message);
  let comment = renderComment({ decisions, previews, headSha: pull.head.sha });
  if (notes.length > 0) comment += `\n${notes.map((n) => `- note: ${md(n)}`).join('\n')}\n`;
  return {
    pull,
    decisions,
    refused: false,
    comment: truncate(comment),
    conclusion: conclusionOf(decisions),
    annotations: annotationsOf(decisions),
    autoMerge: repo.config.auto_merge,
  };
}

/** A pull request nothing can be decided for: failure, and the comment says why. */
function refusal(pull: ApiPull, text: string): PullDecision {
  return {
    pull,
    decisions: [],
    refused: true,
    comment: `${COMMENT_MARKER}\n### Timebox\n\n${text}\n`,
    conclusion: 'failure',
    annotations: [],
    autoMerge: false,
  };
}

/** Decide and post: the check run on the head commit, then the summary comment. */
export async function checkPullRequest(
  gh: GitHub,
  ref: PullRef,
  opts: PullCheckOptions,
): Promise<PullCheckResult> {
  const pull = await getPull(gh, ref);
  if (pull.state !== 'open') return { skipped: `pull request #${ref.number} is ${pull.state}` };
  const d = await decidePull(gh, ref, opts, pull);
  const checkRunId = await postCheckRun(gh, ref, d, opts);
  const { id: commentId, changed } = await upsertComment(gh, ref, d.comment, opts.botLogin);
  const merge = await autoMerge(gh, ref, d);
  return {
    ...merge,
    headSha: d.pull.head.sha,
    conclusion: d.conclusion,
    decisions: d.decisions,
    checkRunId,
    commentId,
    commentChanged: changed,
  };
}

/**
 * With `auto_merge: true`, an approved pull request is merged by Timebox with trailers naming the request
 * files, the requester, the approvers and the expiry (docs/audit.md). The merge names the head commit that
 * was decided: if anything was pushed since, GitHub refuses (409) and the next event decides again.
 */
async function autoMerge(
  gh: GitHub,
  ref: PullRef,
  d: PullDecision,
): Promise<{ merged?: string; mergeRefused?: string }> {
  if (!d.autoMerge || d.conclusion !== 'success' || d.decisions.length === 0) return {};
  if (d.pull.draft) return { mergeRefused: 'the pull request is a draft' };
  const message = mergeMessage({
    pull: ref.number,
    author: d.pull.user?.login ?? '',
    decisions: d.decisions,
  });
  try {
    const { data } = await gh.request('PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge', {
      owner: ref.owner,
      repo: ref.repo,
      pull_number: ref.number,
      merge_method: 'merge',
      sha: d.pull.head.sha,
      commit_title: message.title,
      commit_message: message.body,
    });
    return { merged: data.sha };
  } catch (err) {
    const status = statusOf(err);
    if (status === 405 || status === 409 || status === 422) {
      return { mergeRefused: `GitHub refused the merge (${status}): ${(err as Error).message}` };
    }
    throw err;
  }
}

const TITLES: Record<CheckConclusion, string> = {
  success: 'Approved',
  action_required: 'Waiting for approval',
  failure: 'Denied or invalid',
  neutral: 'Nothing to decide',
};

async function postCheckRun(
  gh: GitHub,
  ref: PullRef,
  d: PullDecision,
  opts: PullCheckOptions,
): Promise<number> {
  const repo = { owner: ref.owner, repo: ref.repo };
  const title = d.refused
    ? 'Cannot decide'
    : d.decisions.length === 0
      ? 'No access request changed'
      : TITLES[d.conclusion];
  const summary = truncate(d.comment.replace(COMMENT_MARKER, '').trim());
  const [first = [], ...rest] = d.annotations;
  const { data } = await gh.request('POST /repos/{owner}/{repo}/check-runs', {
    ...repo,
    name: CHECK_NAME,
    head_sha: d.pull.head.sha,
    status: 'completed',
    conclusion: d.conclusion,
    completed_at: (opts.now?.() ?? new Date()).toISOString(),
    output: { title, summary, ...(first.length > 0 ? { annotations: first } : {}) },
  });
  // GitHub takes at most 50 annotations per request and appends those of later updates.
  for (const batch of rest) {
    await gh.request('PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}', {
      ...repo,
      check_run_id: data.id,
      output: { title, summary, annotations: batch },
    });
  }
  return Number(data.id);
}

/** Update Timebox's own summary comment (marker + author), or create it; unchanged text is not re-sent. */
export async function upsertComment(
  gh: GitHub,
  ref: PullRef,
  body: string,
  botLogin: string,
): Promise<{ id: number; changed: boolean }> {
  const repo = { owner: ref.owner, repo: ref.repo };
  const comments = await gh.paginate('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    ...repo,
    issue_number: ref.number,
    per_page: 100,
  });
  // Anyone can paste the marker into a comment: only the App's own comment is Timebox's.
  const mine = comments.find(
    (c) =>
      c.user?.login.toLowerCase() === botLogin.toLowerCase() &&
      c.user.type === 'Bot' &&
      (c.body ?? '').startsWith(COMMENT_MARKER),
  );
  if (mine) {
    if (mine.body === body) return { id: mine.id, changed: false };
    await gh.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', {
      ...repo,
      comment_id: mine.id,
      body,
    });
    return { id: mine.id, changed: true };
  }
  const { data } = await gh.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    ...repo,
    issue_number: ref.number,
    body,
  });
  return { id: Number(data.id), changed: true };
}

function truncate(text: string): string {
  if (text.length <= MAX_TEXT) return text;
  return `${text.slice(0, MAX_TEXT)}\n\n… (cut: the full result is in the check run's annotations and \`timebox check\`)\n`;
}
