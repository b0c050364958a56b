// Reading a pull request's facts from the GitHub API: changed request files, reviews, pushers, live
// permissions and team memberships. Everything is re-read on every event, so a redelivered or
// out-of-order webhook decides on the current state, never on the payload's.

import { type CodeOwners, ownersOf } from '../core/codeowners.js';
import { isRequestPath } from '../core/decide.js';
import type { ChangedRequestFile, Config, Permission, Policies, PullFacts } from '../core/model.js';
import type { RepoSource } from '../repo/source.js';
import { type GitHub, parseRepoName, type RepoRef, statusOf } from './client.js';
import {
  type ApiActivity,
  type ApiCommit,
  type ApiReview,
  type KnownPush,
  type PushersResult,
  permissionFrom,
  pullFacts,
  pushersFromActivity,
} from './facts.js';
import { readBlob } from './source.js';

export interface PullRef extends RepoRef {
  number: number;
}

export interface ApiPull {
  number: number;
  state: string;
  title: string;
  draft?: boolean;
  merged?: boolean | null;
  user: { login: string; type?: string } | null;
  /** `repo` is the repository the branch lives in (a fork's, or null when the fork is gone). */
  head: { sha: string; ref: string; repo?: { full_name: string } | null };
  base: { sha: string; ref: string };
  merged_at?: string | null;
  closed_at?: string | null;
  /** Counts GitHub reports; the lists it serves stop at 250 commits and 3,000 files. */
  commits?: number;
  changed_files?: number;
}

export interface ChangedFiles {
  /** Every path the PR touches (both sides of a rename). */
  paths: string[];
  requests: ChangedRequestFile[];
  /** Request files that could not be read (too large, vanished): decided invalid with this message. */
  unreadable: { path: string; message: string }[];
  /** GitHub listed fewer files than the PR changes: what else it changes is unknown. */
  truncated: boolean;
}

export async function getPull(gh: GitHub, ref: PullRef): Promise<ApiPull> {
  const { data } = await gh.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', {
    owner: ref.owner,
    repo: ref.repo,
    pull_number: ref.number,
  });
  return data;
}

export type ApiFile = Awaited<ReturnType<typeof listFiles>>[number];

/** The PR's changed files as GitHub lists them (at most 3,000). */
export function listFiles(gh: GitHub, ref: PullRef) {
  return gh.paginate('GET /repos/{owner}/{repo}/pulls/{pull_number}/files', {
    owner: ref.owner,
    repo: ref.repo,
    pull_number: ref.number,
    per_page: 100,
  });
}

/**
 * The request files among a PR's changed files, with their text. A rename is a removal of the old path and
 * an addition of the new one, as `timebox check --base` sees it.
 */
export async function changedFiles(
  gh: GitHub,
  ref: PullRef,
  base: RepoSource,
  config: Config,
  files: readonly ApiFile[],
  expected?: number,
): Promise<ChangedFiles> {
  const repo = { owner: ref.owner, repo: ref.repo };
  const paths = new Set<string>();
  const requests: ChangedRequestFile[] = [];
  const unreadable: ChangedFiles['unreadable'] = [];
  const removed = async (path: string): Promise<void> => {
    const content = await base.read(path).catch(() => null);
    requests.push({ path, status: 'removed', ...(content === null ? {} : { previous: { content } }) });
  };
  await Promise.all(
    files.map(async (f) => {
      paths.add(f.filename);
      if (f.previous_filename) paths.add(f.previous_filename);
      if (f.status === 'unchanged') return;
      if (f.status === 'renamed' && f.previous_filename && isRequestPath(f.previous_filename, config)) {
        await removed(f.previous_filename);
      }
      if (!isRequestPath(f.filename, config)) return;
      if (f.status === 'removed') return removed(f.filename);
      try {
        if (!f.sha) throw new Error(`${f.filename}: GitHub gave no blob for this file`);
        const content = await readBlob(gh, repo, f.sha, f.filename);
        requests.push({ path: f.filename, status: f.status === 'added' ? 'added' : 'modified', content });
      } catch (err) {
        unreadable.push({ path: f.filename, message: (err as Error).message });
      }
    }),
  );
  const byPath = (a: { path: string }, b: { path: string }) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
  return {
    paths: [...paths].sort(),
    requests: requests.sort(byPath),
    unreadable: unreadable.sort(byPath),
    truncated: expected !== undefined && expected > files.length,
  };
}

/** `@org/team` names that policies or the changed files' CODEOWNERS refer to (lower-case). */
export function referencedTeams(
  policies: Policies,
  codeowners: CodeOwners | null,
  paths: string[],
): string[] {
  const out = new Set<string>();
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      if (/^@[^/\s]+\/[^/\s]+$/.test(v)) out.add(v.toLowerCase());
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(policies.rules);
  for (const p of paths) for (const o of ownersOf(codeowners, p).owners) visit(o);
  return [...out].sort();
}

export interface FactsProblem {
  message: string;
}

export interface GatherOptions {
  /** The push of the `synchronize` delivery being handled: GitHub's activity log may not show it yet. */
  latestPush?: KnownPush;
  /** Timebox's own login (`<slug>[bot]`): its pushes are known. */
  ownBot?: string;
}

/** Updates of one branch read from GitHub's activity log at most; past them, who pushed is unknown. */
const MAX_ACTIVITY = 1000;

/**
 * Who pushed to the pull request's branch, from GitHub's activity log of it (`pushersFromActivity`). The log is
 * read from the repository the branch lives in; a fork Timebox cannot read leaves who pushed unknown.
 */
export async function pushersOf(
  gh: GitHub,
  pull: ApiPull,
  options: GatherOptions = {},
): Promise<PushersResult> {
  const ref = `refs/heads/${pull.head.ref}`;
  const home = pull.head.repo?.full_name;
  if (!home) return { pushers: [], unknown: `the repository of the branch ${pull.head.ref} is gone` };
  const activity: ApiActivity[] = [];
  let more = false;
  try {
    const pages = gh.paginate.iterator('GET /repos/{owner}/{repo}/activity', {
      ...parseRepoName(home),
      ref,
      per_page: 100,
    });
    for await (const page of pages) {
      activity.push(...(page.data as ApiActivity[]));
      if (activity.length >= MAX_ACTIVITY) {
        more = true;
        break;
      }
    }
  } catch (err) {
    return {
      pushers: [],
      unknown: `GitHub's activity log of ${home} ${ref} cannot be read (${[statusOf(err), (err as Error).message].filter(Boolean).join(' ')})`,
    };
  }
  const result = pushersFromActivity({
    head: pull.head.sha,
    ref,
    activity,
    until: pull.merged_at ?? pull.closed_at ?? null,
    ...(options.latestPush ? { latest: options.latestPush } : {}),
    ...(options.ownBot ? { ownBot: options.ownBot } : {}),
  });
  if (result.unknown && more)
    result.unknown += ` (Timebox reads the newest ${MAX_ACTIVITY} updates of a branch)`;
  return result;
}

/** What to do when who pushed is unknown, said with the reason on the pull request. */
export function pushersRemedy(unknown: string): string {
  return `who pushed to this pull request is unknown: ${unknown}. No approval counts. If the push was made just now, the next event (a review, an edit) decides again; otherwise push the changes yourself to a new branch and open a new pull request from it.`;
}

/** Reviews, pushers, live permissions of the approvers and members of the referenced teams. */
export async function gatherFacts(
  gh: GitHub,
  ref: PullRef,
  pull: ApiPull,
  /** May still be coming (it needs the policies): reviews and commits are read meanwhile. */
  teamNames: string[] | Promise<string[]>,
  options: GatherOptions = {},
): Promise<{ facts: PullFacts; problems: FactsProblem[] }> {
  const repo = { owner: ref.owner, repo: ref.repo };
  const pullParams = { ...repo, pull_number: ref.number, per_page: 100 };
  const problems: FactsProblem[] = [];
  const [reviews, commits, pushed] = await Promise.all([
    gh.paginate('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews', pullParams),
    gh.paginate('GET /repos/{owner}/{repo}/pulls/{pull_number}/commits', pullParams),
    pushersOf(gh, pull, options),
  ]);
  // GitHub lists at most 250 commits: the identities of the others are unknown, so nobody's approval can count.
  if (pushed.unknown) problems.push({ message: pushersRemedy(pushed.unknown) });
  if ((pull.commits ?? 0) > commits.length) {
    problems.push({
      message: `the pull request has ${pull.commits} commits and GitHub lists ${commits.length}; who authored the others is unknown, so no approval counts (squash it)`,
    });
    pushed.unknown ??= `GitHub lists ${commits.length} of its ${pull.commits} commits`;
  }
  // Only people who approved can need write access; everyone else's permission does not matter.
  const approvers = new Set<string>();
  for (const r of reviews) {
    if (r.state === 'APPROVED' && r.user && r.user.type !== 'Bot') approvers.add(r.user.login);
  }
  const permissions: Record<string, Permission> = {};
  await Promise.all(
    [...approvers].map(async (login) => {
      try {
        const { data } = await gh.request('GET /repos/{owner}/{repo}/collaborators/{username}/permission', {
          ...repo,
          username: login,
        });
        permissions[login] = permissionFrom(data);
      } catch (err) {
        // Not a collaborator (404) means no write access; anything else is said, and fails closed too.
        permissions[login] = 'none';
        if (statusOf(err) !== 404) {
          problems.push({ message: `could not read ${login}'s permission: ${(err as Error).message}` });
        }
      }
    }),
  );
  const teams: Record<string, string[]> = {};
  await Promise.all(
    (await teamNames).map(async (name) => {
      const [org = '', slug = ''] = name.slice(1).split('/');
      try {
        const members = await gh.paginate('GET /orgs/{org}/teams/{team_slug}/members', {
          org,
          team_slug: slug,
          per_page: 100,
        });
        teams[name] = members.map((m) => m.login);
      } catch (err) {
        // A team that does not exist (or cannot be read) approves nobody: fail closed, and say so.
        problems.push({
          message:
            statusOf(err) === 404
              ? `team ${name} does not exist or is not visible to Timebox; it approves nothing`
              : `could not read the members of ${name} (${(err as Error).message}); it approves nothing`,
        });
      }
    }),
  );
  const facts = pullFacts({
    author: pull.user?.login ?? '',
    headSha: pull.head.sha,
    reviews: reviews as ApiReview[],
    commits: commits as ApiCommit[],
    pushed,
    permissions,
    teams,
  });
  return { facts, problems };
}

/**
 * The access repo's root commit (tags and role names carry it), from the last page of the commit list.
 * With several roots, GitHub's oldest is taken; `timebox apply` takes the smallest sha (docs/github-app.md).
 */
export async function rootCommitOf(gh: GitHub, repo: RepoRef, ref: string): Promise<string> {
  const first = await gh.request('GET /repos/{owner}/{repo}/commits', { ...repo, sha: ref, per_page: 1 });
  const last = /[?&]page=(\d+)[^>]*>;\s*rel="last"/.exec(first.headers.link ?? '')?.[1];
  const data = last
    ? (
        await gh.request('GET /repos/{owner}/{repo}/commits', {
          ...repo,
          sha: ref,
          per_page: 1,
          page: Number(last),
        })
      ).data
    : first.data;
  const sha = data[data.length - 1]?.sha;
  if (!sha) throw new Error(`${repo.owner}/${repo.repo}: ${ref} has no commits`);
  return sha;
}
