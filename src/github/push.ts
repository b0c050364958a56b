// Provenance on push to the default branch: every request file added or changed must come from a merged
// pull request that was approved at its head, with the content that was decided (src/core/provenance.ts).
// Anything else raises a `timebox-alarm` issue naming the commit and the file. Provisioning is only ever
// done for what passes. Each verdict is decided once and recorded on the commit (src/github/verdicts.ts):
// a redelivered push reads it back instead of judging the merge again with today's reviews and teams.
import { isRequestPath } from '../core/decide.js';
import type { Config } from '../core/model.js';
import type { PushedChange } from '../core/provenance.js';
import { loadConfig } from '../repo/access-repo.js';
import { md } from '../report/pull-request.js';
import { raiseAlarmIssue } from './alarms.js';
import type { GitHub, RepoRef } from './client.js';
import type { CheckCache } from './pull-check.js';
import { githubSource } from './source.js';
import { type Settled, settleProvenance, verdictAuthor } from './verdicts.js';

export { ALARM_LABEL } from './alarms.js';

export interface PushInput {
  ref: string;
  before: string;
  after: string;
  defaultBranch: string;
}

export interface PushResult {
  skipped?: string;
  /** Each change's verdict: read back from its record on the commit, or decided now and recorded. */
  provenance: Settled[];
  /** Issues opened (numbers); an alarm already open for the same commit and file is not repeated. */
  alarms: number[];
}

const ZERO = /^0{40}$/;

export async function checkPush(
  gh: GitHub,
  repo: RepoRef,
  push: PushInput,
  opts: { now?: () => Date; botLogin: string; cache?: CheckCache; appId?: number },
): Promise<PushResult> {
  if (push.ref !== `refs/heads/${push.defaultBranch}`)
    return { skipped: `not the default branch`, provenance: [], alarms: [] };
  if (ZERO.test(push.after)) return { skipped: 'branch deleted', provenance: [], alarms: [] };
  const config: Config = (await loadConfig(githubSource(gh, repo, push.after))).config;
  const changes = await pushedRequestChanges(gh, repo, push, config);
  if (changes.length === 0) return { provenance: [], alarms: [] };

  // Read back when a verdict was recorded (a redelivery, another replica); decided and recorded otherwise.
  const provenance = await settleProvenance(gh, repo, push.after, changes, {
    botLogin: opts.botLogin,
    author: verdictAuthor(opts.botLogin, opts.appId),
    now: opts.now ?? (() => new Date()),
    ...(opts.cache ? { cache: opts.cache } : {}),
  });
  const alarms: number[] = [];
  for (const p of provenance) {
    if (p.ok) continue;
    const n = await raiseAlarm(gh, repo, push.after, p.path, p.reason);
    if (n !== null) alarms.push(n);
  }
  return { provenance, alarms };
}

/** Request files the push changed, with their blob at `after` (a new branch compares with nothing). */
async function pushedRequestChanges(
  gh: GitHub,
  repo: RepoRef,
  push: PushInput,
  config: Config,
): Promise<PushedChange[]> {
  if (ZERO.test(push.before)) {
    // The default branch was created by this push: everything in it is new.
    const source = githubSource(gh, repo, push.after);
    const paths = await source.list(config.paths.requests);
    const { data } = await gh.request('GET /repos/{owner}/{repo}/git/trees/{tree_sha}', {
      ...repo,
      tree_sha: push.after,
      recursive: '1',
    });
    const blobs = new Map(data.tree.map((e) => [e.path ?? '', e.sha ?? '']));
    return paths.map((path) => ({ path, status: 'added', blob: blobs.get(path) ?? null }));
  }
  const { data } = await gh.request('GET /repos/{owner}/{repo}/compare/{basehead}', {
    ...repo,
    basehead: `${push.before}...${push.after}`,
  });
  const out: PushedChange[] = [];
  for (const f of data.files ?? []) {
    if (f.status === 'renamed' && f.previous_filename && isRequestPath(f.previous_filename, config)) {
      out.push({ path: f.previous_filename, status: 'removed', blob: null });
    }
    if (!isRequestPath(f.filename, config)) continue;
    if (f.status === 'removed') out.push({ path: f.filename, status: 'removed', blob: null });
    else
      out.push({
        path: f.filename,
        status: f.status === 'added' || f.status === 'renamed' ? 'added' : 'modified',
        blob: f.sha ?? null,
      });
  }
  return out;
}

/** Opens one `timebox-alarm` issue per commit and file (an open one with the same title is not repeated). */
export async function raiseAlarm(
  gh: GitHub,
  repo: RepoRef,
  commit: string,
  path: string,
  reason: string,
): Promise<number | null> {
  const title = `Timebox alarm: ${path} at ${commit.slice(0, 7)} was not approved through a pull request`;
  const body = [
    `Timebox refused to provision \`${path.replace(/`/g, "'")}\` from commit ${commit}:`,
    '',
    `> ${md(reason)}`,
    '',
    'Nothing was granted for it. Revert the commit (or remove the file) and request the access through a pull request.',
  ].join('\n');
  return raiseAlarmIssue(gh, repo, title, body);
}
