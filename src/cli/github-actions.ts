// Actions mode for `timebox check`: pull request facts through the same Forge as the App's, over the
// workflow's read-only GITHUB_TOKEN, and results as workflow annotations and a step summary (the token cannot
// post checks).
import { appendFile, readFile } from 'node:fs/promises';
import type { ChangedRequestFile, Decision, PullFacts } from '../core/model.js';
import type { KnownPush } from '../engine/facts.js';
import type { ForgePull } from '../engine/forge.js';
import { asksEmergency, gatherFacts, referencedTeams } from '../engine/gather.js';
import { summaryText } from '../engine/notices/render.js';
import { statusOf, tokenClient } from '../github/client.js';
import { githubEnv, parseRepoName } from '../github/env.js';
import { githubForge } from '../github/forge.js';
import type { AccessRepo } from '../repo/access-repo.js';
import { previewsOf } from '../report/previews.js';
import { annotationsOf } from '../report/pull-request.js';
import type { Io } from './context.js';
import { UsageError } from './errors.js';

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
  let pull: ForgePull;
  try {
    pull = await forge.pull(n);
  } catch (err) {
    throw new UsageError(
      `cannot read pull request ${fullName}#${n}: ${statusOf(err) ?? ''} ${(err as Error).message}`.trim(),
    );
  }
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
