// Request pull requests left unapproved longer than `pending_ttl` (timebox.yaml, default 7d) are closed
// with a comment saying why and how to ask again. Approved ones, and pull requests without request
// files, are left alone. Decided afresh, like every check: a PR approved a minute ago stays open.
import { parseDuration } from '../core/duration.js';
import { loadConfig } from '../repo/access-repo.js';
import { md } from '../report/pull-request.js';
import type { GitHub, RepoRef } from './client.js';
import { getPull } from './gather.js';
import { type CheckCache, decidePull } from './pull-check.js';
import { githubSource } from './source.js';

export interface StaleResult {
  closed: number[];
  kept: number;
}

export async function closeStalePulls(
  gh: GitHub,
  repo: RepoRef,
  opts: { now?: () => Date; botLogin: string; defaultBranch: string; cache?: CheckCache },
): Promise<StaleResult> {
  const now = opts.now?.() ?? new Date();
  const { config } = await loadConfig(githubSource(gh, repo, opts.defaultBranch));
  const ttl = parseDuration(config.pending_ttl) ?? 7 * 24 * 3_600_000;
  const open = await gh.paginate('GET /repos/{owner}/{repo}/pulls', {
    ...repo,
    state: 'open',
    base: opts.defaultBranch,
    per_page: 100,
  });
  const closed: number[] = [];
  let kept = 0;
  for (const p of open) {
    if (Date.parse(p.created_at) + ttl > now.getTime()) {
      kept += 1;
      continue;
    }
    const ref = { ...repo, number: p.number };
    const d = await decidePull(
      gh,
      ref,
      { botLogin: opts.botLogin, now: () => now, ...(opts.cache ? { cache: opts.cache } : {}) },
      await getPull(gh, ref),
    );
    if (d.decisions.length === 0 || d.conclusion === 'success') {
      kept += 1;
      continue;
    }
    const files = d.decisions.map((x) => `\`${x.file.replace(/`/g, "'")}\` (${x.status})`).join(', ');
    await gh.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
      ...repo,
      issue_number: p.number,
      body: `Timebox closes this pull request: it has waited more than ${md(config.pending_ttl)} without being approved (${files}). Nothing was granted. If the access is still needed, open a new request (\`timebox new\`).`,
    });
    await gh.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', {
      ...repo,
      pull_number: p.number,
      state: 'closed',
    });
    closed.push(p.number);
  }
  return { closed, kept };
}
