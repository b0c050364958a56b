// The App's review side: decide a pull request's requests from live API state and show the result as
// the `timebox` check run (annotations at file:line) and one summary comment updated in place.
import { decideAll } from '../core/decide.js';
import type { Decision, FileProblem } from '../core/model.js';
import { loadAccessRepo } from '../repo/access-repo.js';
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
import type { GitHub } from './client.js';
import {
  type ApiPull,
  changedFiles,
  gatherFacts,
  getPull,
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
  /** Cache of access-repo root commits by `owner/repo` (they label role names in previews). */
  roots?: Map<string, string>;
  /** Told about problems that fail closed (unreadable teams, permissions). */
  warn?: (message: string) => void;
  detailsUrl?: string;
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
}

export interface PullDecision {
  pull: ApiPull;
  decisions: Decision[];
  /** The access repo's configuration at the base is broken: nothing can be decided. */
  configErrors: FileProblem[];
  notes: string[];
  comment: string;
  conclusion: CheckConclusion;
  annotations: Annotation[][];
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
  const repo = await loadAccessRepo(base);
  if (repo.errors.length > 0) {
    const lines = [
      COMMENT_MARKER,
      '### Timebox',
      '',
      `The access repo's configuration on \`${md(pull.base.ref)}\` is invalid, so no request can be decided:`,
      '',
      ...repo.errors.map((e) => `- \`${e.file.replace(/`/g, "'")}\` line ${e.line}: ${md(e.message)}`),
    ];
    return {
      pull,
      decisions: [],
      configErrors: repo.errors,
      notes: [],
      comment: `${lines.join('\n')}\n`,
      conclusion: 'failure',
      annotations: [],
    };
  }
  const changed = await changedFiles(gh, ref, base, repo.config);
  const teams = referencedTeams(
    repo.policies,
    repo.codeowners,
    changed.requests.map((r) => r.path),
  );
  const { facts, problems } = await gatherFacts(gh, ref, pull, teams);
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
  let root = opts.roots?.get(key);
  if (!root && decisions.some((d) => d.status === 'approved' || d.status === 'pending')) {
    try {
      root = await rootCommitOf(gh, repoRef, pull.base.sha);
      opts.roots?.set(key, root);
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
    configErrors: [],
    notes,
    comment: truncate(comment),
    conclusion: conclusionOf(decisions),
    annotations: annotationsOf(decisions),
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
  return {
    headSha: d.pull.head.sha,
    conclusion: d.conclusion,
    decisions: d.decisions,
    checkRunId,
    commentId,
    commentChanged: changed,
  };
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
  const title =
    d.decisions.length === 0 && d.configErrors.length === 0
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
    ...(opts.detailsUrl ? { details_url: opts.detailsUrl } : {}),
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
