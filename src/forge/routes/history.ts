// A repository's history: its commits, the activity log of branch updates, comparisons, and the pull requests
// a commit belongs to.

import { buildDiffEntry } from '../builders/git.js';
import { API_URL, type JsonObject, nodeId, WEB_URL } from '../builders.js';
import { ZERO_SHA } from '../git-store.js';
import {
  type Context,
  error,
  invalid,
  NOT_FOUND,
  type On,
  paged,
  type Reply,
  repoOf,
  type Stores,
} from '../router.js';
import type { GitHubState, PullState, Push } from '../state.js';

export function historyRoutes(on: On, { state }: Stores): void {
  // GitHub's activity log: every update of a branch (push, force push, creation, deletion, merge) and who made
  // it, newest first, paged by cursor (`after` = the last id of a page).
  on('GET', '/repos/{owner}/{repo}/activity', (ctx) => {
    const repo = repoOf(ctx);
    const wanted = ctx.query.get('ref');
    const ref = wanted && !wanted.startsWith('refs/') ? `refs/heads/${wanted}` : wanted;
    const actor = ctx.query.get('actor')?.toLowerCase();
    const type = ctx.query.get('activity_type');
    const period = ctx.query.get('time_period');
    const days = { day: 1, week: 7, month: 30, quarter: 91, year: 365 }[period ?? ''] ?? null;
    const since = days === null ? null : state.clock.nowMs() - days * 86_400_000;
    const typeOf = (p: Push): string =>
      p.before === undefined
        ? 'branch_creation'
        : p.after === undefined
          ? 'branch_deletion'
          : p.merge
            ? 'pr_merge'
            : p.forced
              ? 'force_push'
              : 'push';
    let items = repo.pushes
      .map((p, i) => ({
        id: i + 1,
        node_id: nodeId('RA', `${repo.fullName}:${i + 1}`),
        before: p.before ?? ZERO_SHA,
        after: p.after ?? ZERO_SHA,
        ref: `refs/heads/${p.branch}`,
        timestamp: p.at,
        activity_type: typeOf(p),
        actor: state.user(p.pusher),
      }))
      .filter(
        (a) =>
          (!ref || a.ref === ref) &&
          (!actor || String(a.actor.login).toLowerCase() === actor) &&
          (!type || a.activity_type === type) &&
          (since === null || Date.parse(a.timestamp) >= since),
      );
    if (ctx.query.get('direction') !== 'asc') items.reverse();
    const after = ctx.query.get('after');
    const before = ctx.query.get('before');
    if (after) items = items.slice(items.findIndex((a) => String(a.id) === after) + 1);
    if (before)
      items = items.slice(
        0,
        Math.max(
          items.findIndex((a) => String(a.id) === before),
          0,
        ),
      );
    const perPage = Math.min(Number(ctx.query.get('per_page') ?? 30) || 30, 100);
    const body = items.slice(0, perPage);
    const last = body[body.length - 1];
    const headers: Record<string, string> = {};
    if (last && items.length > perPage) {
      const next = new URL(ctx.url);
      next.searchParams.delete('before');
      next.searchParams.set('after', String(last.id));
      headers.link = `<${next.toString()}>; rel="next"`;
    }
    return { status: 200, body, headers };
  });

  on('GET', '/repos/{owner}/{repo}/commits', async (ctx) => {
    const repo = repoOf(ctx);
    const ref = ctx.query.get('sha') || String(repo.json.default_branch);
    const commit = await repo.git.resolveCommit(ref);
    if (!commit) return error(404, `No commit found for SHA: ${ref}`);
    const since = ctx.query.get('since');
    const until = ctx.query.get('until');
    const path = ctx.query.get('path');
    const author = ctx.query.get('author')?.toLowerCase();
    let commits = (
      await repo.git.history(commit, {
        ...(since ? { since } : {}),
        ...(until ? { until } : {}),
        ...(path ? { path } : {}),
      })
    ).map((c) => state.commitJson(repo, c));
    if (author) {
      commits = commits.filter(
        (c) =>
          String((c.author as JsonObject | null)?.login ?? '').toLowerCase() === author ||
          String(((c.commit as JsonObject).author as JsonObject).email).toLowerCase() === author,
      );
    }
    return paged(ctx, commits);
  });

  // GitHub: for a commit on the default branch, the merged pull requests that brought it there; otherwise the
  // open pull requests that contain it.
  on('GET', '/repos/{owner}/{repo}/commits/{commit_sha}/pulls', async (ctx) => {
    const repo = repoOf(ctx);
    const ref = ctx.params.commit_sha ?? '';
    const sha = await repo.git.resolveCommit(ref);
    if (!sha) return invalid(`No commit found for SHA: ${ref}`);
    const { git } = repo;
    const defaultTip = await git.branchTip(String(repo.json.default_branch));
    const onDefault = defaultTip !== undefined && (await git.isAncestor(sha, defaultTip));
    const contains = async (pull: PullState): Promise<boolean> =>
      (await git.isAncestor(sha, pull.headSha)) && !(await git.isAncestor(sha, pull.baseSha));
    const found: PullState[] = [];
    for (const pull of [...repo.pulls.values()].sort((a, b) => b.number - a.number)) {
      await state.refresh(pull);
      if (onDefault) {
        if (!pull.mergedAt || pull.base !== repo.json.default_branch) continue;
        if (pull.mergeCommitSha === sha || (await contains(pull))) found.push(pull);
      } else if (pull.state === 'open' && (await contains(pull))) {
        found.push(pull);
      }
    }
    return paged(ctx, await Promise.all(found.map((p) => state.pullJson(p, false))));
  });

  // Served under both of GitHub's spellings: `compare/{basehead}` and the older `compare/{base}...{head}` (which
  on('GET', '/repos/{owner}/{repo}/compare/{basehead}', (ctx) => compare(state, ctx));
  on('GET', '/repos/{owner}/{repo}/compare/{base}...{head}', (ctx) => compare(state, ctx));
}

// Served under both of GitHub's spellings: `compare/{basehead}` and the older `compare/{base}...{head}` (which
// the description matches first for any `a...b`).
async function compare(state: GitHubState, ctx: Context): Promise<Reply> {
  const repo = repoOf(ctx);
  const basehead = ctx.params.basehead ?? `${ctx.params.base ?? ''}...${ctx.params.head ?? ''}`;
  const parts = basehead.split('...');
  if (parts.length !== 2) return NOT_FOUND;
  const owner = String(repo.owner.login).toLowerCase();
  const local = (side: string): string | undefined => {
    const colon = side.indexOf(':');
    if (colon < 0) return side;
    return side.slice(0, colon).toLowerCase() === owner ? side.slice(colon + 1) : undefined;
  };
  const [baseRef, headRef] = parts.map(local);
  const { git } = repo;
  const base = baseRef ? await git.resolveCommit(baseRef) : undefined;
  const head = headRef ? await git.resolveCommit(headRef) : undefined;
  if (!base || !head) return NOT_FOUND;
  const mergeBase = await git.mergeBase(base, head);
  if (!mergeBase) return NOT_FOUND;
  const [aheadBy, behindBy, commits, files, baseInfo, mergeBaseInfo] = await Promise.all([
    git.countCommits(base, head),
    git.countCommits(head, base),
    git.log(mergeBase, head),
    state.diffFiles(repo, mergeBase, head),
    git.commitInfo(base),
    git.commitInfo(mergeBase),
  ]);
  if (!baseInfo || !mergeBaseInfo) return NOT_FOUND;
  let status = 'diverged';
  if (aheadBy === 0 && behindBy === 0) status = 'identical';
  else if (behindBy === 0) status = 'ahead';
  else if (aheadBy === 0) status = 'behind';
  const web = `${WEB_URL}/${repo.fullName}`;
  return {
    status: 200,
    body: {
      url: `${API_URL}/repos/${repo.fullName}/compare/${basehead}`,
      html_url: `${web}/compare/${basehead}`,
      permalink_url: `${web}/compare/${repo.owner.login}:${base}...${repo.owner.login}:${head}`,
      diff_url: `${web}/compare/${basehead}.diff`,
      patch_url: `${web}/compare/${basehead}.patch`,
      base_commit: state.commitJson(repo, baseInfo),
      merge_base_commit: state.commitJson(repo, mergeBaseInfo),
      status,
      ahead_by: aheadBy,
      behind_by: behindBy,
      total_commits: aheadBy,
      // GitHub lists at most 250 commits and 300 files of a comparison.
      commits: commits.slice(0, 250).map((c) => state.commitJson(repo, c)),
      files: files.slice(0, 300).map((f) => buildDiffEntry(repo.fullName, head, f)),
    },
  };
}
