// Actions mode for `timebox check`: pull request facts through the same Forge as the App's, over the
// workflow's read-only GITHUB_TOKEN, and results as workflow annotations and a step summary (the token cannot
// post checks).
import { execFile } from 'node:child_process';
import { appendFile, readFile } from 'node:fs/promises';
import type { ChangedRequestFile, Decision, PullFacts } from '../core/model.js';
import type { KnownPush } from '../engine/facts.js';
import type { Forge, ForgePull } from '../engine/forge.js';
import { asksEmergency, gatherFacts, referencedTeams } from '../engine/gather.js';
import { summaryText } from '../engine/notices/render.js';
import { decisionInputs, runWhatifCheck, WHATIF_CHECK_NAME } from '../engine/whatif-check.js';
import { statusOf, tokenClient } from '../github/client.js';
import { githubEnv, parseRepoName } from '../github/env.js';
import { githubForge } from '../github/forge.js';
import { fetchCommitsInto, tokenEnv } from '../github/mirror.js';
import { type AccessRepo, loadConfig } from '../repo/access-repo.js';
import { resolveRef } from '../repo/history.js';
import { gitRevision } from '../repo/source.js';
import { previewsOf } from '../report/previews.js';
import { annotationsOf } from '../report/pull-request.js';
import { type Io, loadTeams, repoRoot } from './context.js';
import { EXIT, UsageError } from './errors.js';
import { formatWhatif } from './whatif.js';

/**
 * The push of the event this job runs for, when it is this pull request's `synchronize` (GITHUB_EVENT_PATH: its
 * `before`, `after` and `sender`, the pusher). Who pushed is judged from GitHub's activity log of the branch,
 * which may not show a push yet when the workflow starts; this bridges that moment only. Anything else: none.
 */
export async function eventPush(io: Io, pull: number): Promise<KnownPush | undefined> {
  const path = io.env.GITHUB_EVENT_PATH;
  if (io.env.GITHUB_EVENT_NAME !== 'pull_request' || !path) return undefined;
  try {
    const event = JSON.parse(await readFile(path, 'utf8')) as {
      action?: unknown;
      number?: unknown;
      before?: unknown;
      after?: unknown;
      sender?: { login?: unknown; type?: unknown } | null;
    };
    if (event.action !== 'synchronize' || event.number !== pull) return undefined;
    if (typeof event.before !== 'string' || typeof event.after !== 'string') return undefined;
    const login = event.sender?.login;
    return {
      before: event.before,
      after: event.after,
      actor:
        typeof login === 'string'
          ? { login, type: typeof event.sender?.type === 'string' ? event.sender.type : 'User' }
          : null,
    };
  } catch {
    return undefined;
  }
}

/** The workflow's forge (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL) and pull request `n` read from it. */
async function actionsPull(io: Io, n: number): Promise<{ forge: Forge; pull: ForgePull; token: string }> {
  const env = githubEnv(io.env);
  const token = env.workflowToken;
  if (!token) throw new UsageError('--pull-request needs GITHUB_TOKEN in the environment');
  const fullName = env.repository;
  if (!fullName)
    throw new UsageError('--pull-request needs GITHUB_REPOSITORY (owner/name) in the environment');
  let ref: ReturnType<typeof parseRepoName>;
  try {
    ref = parseRepoName(fullName);
  } catch (err) {
    throw new UsageError(`GITHUB_REPOSITORY: ${(err as Error).message}`);
  }
  const forge = githubForge(tokenClient(token, env.apiUrl), ref);
  try {
    return { forge, pull: await forge.pull(n), token };
  } catch (err) {
    throw new UsageError(
      `cannot read pull request ${fullName}#${n}: ${statusOf(err) ?? ''} ${(err as Error).message}`.trim(),
    );
  }
}

export async function pullFromApi(
  io: Io,
  number: string,
  headSha: string | undefined,
  repo: AccessRepo,
  changed: ChangedRequestFile[],
  offlineTeams: PullFacts['teams'],
): Promise<{ pull: PullFacts; notes: string[] }> {
  const n = Number(number);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`--pull-request must be a PR number, not ${number}`);
  const { forge, pull } = await actionsPull(io, n);
  // A workflow token cannot read organization teams: teams come from --teams when given, else the API
  // (fail closed: an unreadable team approves nothing and is said).
  const wanted = referencedTeams(
    repo.policies,
    repo.codeowners,
    changed.map((c) => c.path),
  ).filter((t) => !(t in offlineTeams));
  const latestPush = await eventPush(io, n);
  const { facts, problems } = await gatherFacts(forge, pull, wanted, {
    ...(latestPush ? { latestPush } : {}),
    emergency: asksEmergency(changed, repo.config),
  });
  for (const p of problems) io.stderr(`warning: ${p.message}\n`);
  if (headSha && headSha !== pull.head.sha) {
    io.stderr(
      `warning: the pull request's head moved to ${pull.head.sha.slice(0, 7)}; approvals of ${headSha.slice(0, 7)} (the checked-out commit) only count\n`,
    );
  }
  return {
    pull: { ...facts, headSha: headSha ?? pull.head.sha, teams: { ...facts.teams, ...offlineTeams } },
    notes: problems.map((p) => p.message),
  };
}

/** `::error file=…,line=…::message`, escaped as the runner expects. */
export function workflowCommand(
  level: 'error' | 'warning' | 'notice',
  props: Record<string, string | number>,
  message: string,
): string {
  const data = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const prop = (s: string) => data(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
  const list = Object.entries(props)
    .map(([k, v]) => `${k}=${prop(String(v))}`)
    .join(',');
  return `::${level}${list ? ` ${list}` : ''}::${data(message)}\n`;
}

export async function reportToActions(
  io: Io,
  decisions: Decision[],
  repo: AccessRepo,
  headSha: string,
  /** The access repo's root commit; without it the summary has no permission preview. */
  owner: string | null,
  /** What failed closed while reading the pull request (unknown pushers, unreadable teams). */
  notes: readonly string[] = [],
): Promise<void> {
  for (const note of notes) io.stdout(workflowCommand('warning', { title: 'timebox' }, note));
  for (const batch of annotationsOf(decisions)) {
    for (const a of batch) {
      io.stdout(
        workflowCommand(
          a.annotation_level === 'failure' ? 'error' : a.annotation_level,
          {
            file: a.path,
            line: a.start_line,
            ...(a.start_column ? { col: a.start_column } : {}),
            title: a.title,
          },
          a.message,
        ),
      );
    }
  }
  const summaryFile = io.env.GITHUB_STEP_SUMMARY;
  if (summaryFile) {
    const previews = owner ? previewsOf(decisions, repo.policies, owner, headSha) : new Map();
    await appendFile(summaryFile, summaryText({ decisions, previews, headSha, notes }));
  }
}

export interface WhatifActionsOptions {
  repo?: string;
  /** The base branch as the checkout has it (`origin/main`): its policies are in force, its history replayed. */
  base: string;
  pullRequest: string;
  teams?: string;
}

/**
 * `timebox whatif --base origin/<base> --pull-request N` in a workflow (action.yml `command: whatif`): the
 * policy-change check of the App (src/engine/whatif-check.ts) on the checkout of the pull request's head, which
 * must hold the base's whole history (fetch-depth: 0). Open request pull requests are read with GITHUB_TOKEN and
 * their heads fetched into the checkout by commit. The outcome is a notice, the step summary and the list on
 * stdout; the job is the check (`timebox / policy change`), and it passes whatever changes: it informs the review.
 * A pull request that changes nothing that decides requests costs no API request.
 */
export async function runWhatifActions(io: Io, opts: WhatifActionsOptions): Promise<number> {
  const n = Number(opts.pullRequest);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`--pull-request must be a PR number, not ${opts.pullRequest}`);
  const root = repoRoot(io, opts.repo);
  const teams = await loadTeams(io, opts.teams);
  const { tip: base } = await resolveRef(root, opts.base);
  const { tip: head } = await resolveRef(root, 'HEAD');
  const { config } = await loadConfig(await gitRevision(root, base));
  const changed = (
    await gitOut(root, ['diff', '--no-renames', '--name-only', '-z', `${base}...${head}`, '--'])
  )
    .split('\0')
    .filter(Boolean);
  const summaryFile = io.env.GITHUB_STEP_SUMMARY;
  if (decisionInputs(changed, config).length === 0) {
    const line =
      'This pull request changes nothing that decides requests (policies, schedules, CODEOWNERS, timebox.yaml): nothing to replay.';
    io.stdout(`${line}\n`);
    if (summaryFile) await appendFile(summaryFile, `## ${WHATIF_CHECK_NAME}\n\n${line}\n`);
    return EXIT.ok;
  }
  const { forge, pull, token } = await actionsPull(io, n);
  // What is decided is what was checked out: the base as fetched, the head as checked out.
  const checked: ForgePull = {
    ...pull,
    base: { ...pull.base, sha: base },
    head: { ...pull.head, sha: head },
  };
  const out = await runWhatifCheck(forge, checked, {
    clock: io.clock,
    teams,
    post: false,
    git: {
      prepare: async (shas) => ({
        root,
        missing: await fetchCommitsInto(root, 'origin', shas, tokenEnv(token)),
      }),
    },
    warn: (message) => io.stdout(workflowCommand('warning', { title: WHATIF_CHECK_NAME }, message)),
  });
  io.stdout(workflowCommand('notice', { title: WHATIF_CHECK_NAME }, out.title));
  if (out.replay?.ok) io.stdout(formatWhatif(io, out.replay.result));
  if (summaryFile) await appendFile(summaryFile, `## ${WHATIF_CHECK_NAME}\n\n${out.summary}\n`);
  return EXIT.ok;
}

function gitOut(cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, maxBuffer: 64 << 20 }, (err, stdout) =>
      err ? reject(new UsageError(`git ${args[0]} failed: ${err.message}`)) : resolve(stdout),
    );
  });
}
