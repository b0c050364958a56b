// `timebox check`: decide request files offline, from the working tree or against a base revision.
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { type FilesJob, readRequestFile, workersFor } from '../check/chunks.js';
import type { CheckThreads } from '../check/parallel.js';
import { type CheckInput, decideAll } from '../core/decide.js';
import type { ChangedRequestFile, Config, Decision, PullFacts, Status } from '../core/model.js';
import { type AccessRepo, loadConfig } from '../repo/access-repo.js';
import { changedSince, gitRevision, type RepoSource, workingTree } from '../repo/source.js';
import { type Io, loadRepoOrFail, loadTeams, offlinePull, parseAt, parseList, repoRoot } from './context.js';
import { EXIT, UsageError } from './errors.js';
import { formatDecisions, humanOutput, jsonFromItems, jsonOutput } from './format.js';

export { toJson } from './format.js';

export interface CheckOptions {
  repo?: string;
  base?: string;
  author?: string;
  approvedBy?: string;
  teams?: string;
  at?: string;
  json?: boolean;
  requireApproved?: boolean;
  /** Actions mode: read the PR's reviews, pushers, permissions and teams from the GitHub API. */
  pullRequest?: string;
  /** The head commit the checked-out files are from; approvals must be of it. */
  headSha?: string;
  /**
   * Worker threads beside the main thread for request files of the working tree; by default one per other
   * core from a few hundred files on (src/check/chunks.ts). Tests set it to compare with and without.
   */
  workers?: number;
}

export async function runCheck(io: Io, files: string[], opts: CheckOptions): Promise<number> {
  const root = repoRoot(io, opts.repo);
  const at = parseAt(opts.at, () => io.clock.now());
  const teams = await loadTeams(io, opts.teams);
  if (opts.base && files.length > 0)
    throw new UsageError('give either request FILES or --base REF, not both');

  let repo: AccessRepo;
  let changed: ChangedRequestFile[];
  let changedPaths: string[] = [];
  /** Set when the files are many: they are read and decided by every core (src/check/parallel.ts). */
  let parallel: { paths: string[]; threads: CheckThreads } | null = null;
  const tree = workingTree(root);
  if (opts.base) {
    const base = await gitRevision(root, opts.base);
    repo = await loadRepoOrFail(io, base);
    const { mergeBase, changes } = await changedSince(root, opts.base);
    const before = await gitRevision(root, mergeBase);
    // The App's reading of a change (src/engine/changes.ts): removals carry the text they remove.
    const { requestChanges } = await import('../engine/changes.js');
    let failure: unknown;
    const found = await requestChanges(changes, repo.config, {
      before: (path) => before.read(path),
      after: async (c) => {
        try {
          return (await tree.read(c.path)) ?? '';
        } catch (err) {
          failure ??= err;
          throw err;
        }
      },
    });
    if (failure) throw failure;
    changedPaths = found.paths;
    changed = found.requests;
    io.stderr(
      `policies and CODEOWNERS from ${base.label}; ${changed.length} request file(s) changed since it\n`,
    );
  } else {
    // The files are listed first (timebox.yaml alone says where), so that worker threads, when the files
    // are many, load the policies on the other cores while this thread loads them too.
    const { config } = await loadConfig(tree);
    const paths = await requestPaths(io, root, tree, config, files);
    const workers = opts.pullRequest ? 0 : (opts.workers ?? workersFor(paths.length));
    if (workers > 0) {
      const { CheckThreads } = await import('../check/parallel.js');
      parallel = { paths, threads: CheckThreads.start(root, workers) };
    }
    try {
      repo = await loadRepoOrFail(io, tree);
    } catch (err) {
      await parallel?.threads.stop();
      throw err;
    }
    changed = parallel ? [] : readRequestFiles(root, paths);
  }

  const { pull, notes } = await pullFacts(io, opts, repo, changed, teams, at);
  const input: CheckInput = {
    files: changed,
    changedPaths,
    pull,
    policies: repo.policies,
    codeowners: repo.codeowners,
    config: repo.config,
    at,
  };
  const actions = io.env.GITHUB_ACTIONS === 'true';
  if (parallel) {
    // Threads write their part of the output (unless Actions needs the decisions themselves).
    const render = actions ? undefined : { json: opts.json ?? false, color: io.color };
    const job: FilesJob = {
      root,
      paths: parallel.paths,
      changedPaths,
      pull,
      atMs: at.getTime(),
      ...(render ? { render } : {}),
    };
    const outcome = await parallel.threads.run(job, repo);
    if (!outcome.ok) throw unreadable(outcome.failure.path, outcome.failure.code);
    if (outcome.rendered) {
      io.stdout(
        opts.json ? jsonFromItems(outcome.rendered) : humanOutput(outcome.rendered, outcome.statuses),
      );
      return exitCode(outcome.statuses, opts.requireApproved ?? false);
    }
    return report(io, opts, outcome.decisions, repo, root, pull.headSha, notes);
  }
  return report(io, opts, decideAll(input), repo, root, pull.headSha, notes);
}

/** Prints `decisions` (and in Actions reports them to the run) and says the exit code. */
async function report(
  io: Io,
  opts: CheckOptions,
  decisions: Decision[],
  repo: AccessRepo,
  root: string,
  headSha: PullFacts['headSha'],
  notes: string[],
): Promise<number> {
  if (io.env.GITHUB_ACTIONS === 'true') {
    // Role names in previews hash the access repo's root commit, as `timebox apply` does.
    const [{ rootCommit }, { reportToActions }] = await Promise.all([
      import('../repo/history.js'),
      import('./github-actions.js'),
    ]);
    const accessRepoId = await rootCommit(root, opts.base ?? 'HEAD').catch(() => null);
    await reportToActions(io, decisions, repo, headSha, accessRepoId, notes);
  }
  if (opts.json) io.stdout(jsonOutput(decisions));
  else io.stdout(formatDecisions(decisions, io));
  return exitCode(
    decisions.map((d) => d.status),
    opts.requireApproved ?? false,
  );
}

/** Who opened and approved: from `--author`/`--approved-by`, or with `--pull-request` from the GitHub API. */
async function pullFacts(
  io: Io,
  opts: CheckOptions,
  repo: AccessRepo,
  changed: ChangedRequestFile[],
  teams: PullFacts['teams'],
  at: Date,
): Promise<{ pull: PullFacts; notes: string[] }> {
  if (!opts.pullRequest) {
    return { pull: offlinePull(opts.author, parseList(opts.approvedBy), teams, at), notes: [] };
  }
  if (!opts.base) throw new UsageError('--pull-request needs --base (the PR’s base branch)');
  if (opts.approvedBy) throw new UsageError('give either --approved-by or --pull-request, not both');
  // The GitHub client is loaded only when asked for: a local `check` loads no @octokit module.
  const { pullFromApi } = await import('./github-actions.js');
  return pullFromApi(io, opts.pullRequest, opts.headSha, repo, changed, teams);
}

/** `check FILES` (or every request file): the repository paths of the files in the working tree. */
async function requestPaths(
  io: Io,
  root: string,
  tree: RepoSource,
  config: Config,
  files: string[],
): Promise<string[]> {
  return files.length > 0
    ? files.map((f) => toRepoPath(root, resolve(io.cwd, f), f))
    : (await tree.list(config.paths.requests)).filter((p) => p.endsWith('.yaml') || p.endsWith('.yml'));
}

/** The files as they are in the working tree, each as added; the first that cannot be read is a usage error. */
function readRequestFiles(root: string, paths: string[]): ChangedRequestFile[] {
  const changed: ChangedRequestFile[] = [];
  for (const path of paths) {
    const read = readRequestFile(root, path);
    if ('code' in read) throw unreadable(path, read.code);
    changed.push(read);
  }
  return changed;
}

const unreadable = (path: string, code: string) =>
  new UsageError(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code}`);

function exitCode(statuses: Status[], requireApproved: boolean): number {
  if (statuses.some((s) => s === 'denied' || s === 'invalid')) return EXIT.failed;
  if (requireApproved && statuses.includes('pending')) return EXIT.failed;
  return EXIT.ok;
}

function toRepoPath(root: string, abs: string, given: string): string {
  const rel = relative(root, abs);
  if (rel.startsWith('..') || isAbsolute(rel))
    throw new UsageError(`${given} is outside the access repo ${root}`);
  return rel.split(sep).join('/');
}
