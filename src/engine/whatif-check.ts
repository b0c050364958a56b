// The policy-change check: on a pull request that changes what decides requests (policies, on-call schedules,
// CODEOWNERS, timebox.yaml), every request the base branch's history holds and every open request pull request
// is decided under the base's policies and under the pull request's (src/core/whatif.ts, as `timebox whatif`),
// and the `timebox / policy change` check run says what changes. It informs reviewers; it never gates (neutral).
// Git is a local repository holding the commits: the App's mirror (src/github/mirror.ts) or the Actions
// checkout (src/cli/github-actions.ts); the forge is asked only for the open pull requests, the teams the
// policies name, and to post the check run.
import { spawn } from 'node:child_process';
import type { Clock } from '../core/clock.js';
import type { Config, PullFacts } from '../core/model.js';
import {
  branchFiles,
  compareDecisions,
  type Decided,
  decideBoth,
  historyVersions,
  type RequestVersion,
} from '../core/whatif.js';
import { SCHEDULES_DIR } from '../oncall/load.js';
import { type AccessRepo, loadAccessRepo } from '../repo/access-repo.js';
import { readHistory } from '../repo/history.js';
import { loadSigningKeys } from '../repo/signing-keys.js';
import { GitError, gitRevision } from '../repo/source.js';
import type { Forge, ForgePull } from './forge.js';
import { referencedTeams } from './gather.js';
import { type PolicyReplay, whatifCheckOutput } from './whatif-check-render.js';

export const WHATIF_CHECK_NAME = 'timebox / policy change';

const CODEOWNERS_PATHS = ['.github/CODEOWNERS', 'CODEOWNERS', 'docs/CODEOWNERS'];

/**
 * The changed paths that can change a decision: policies, on-call schedules, CODEOWNERS (any of its three
 * places), timebox.yaml. A pull request that changes none of them gets no policy-change check (and costs nothing).
 */
export function decisionInputs(paths: readonly string[], config: Config): string[] {
  const policies = `${config.paths.policies}/`;
  return paths.filter(
    (p) =>
      p.startsWith(policies) ||
      p.startsWith(`${SCHEDULES_DIR}/`) ||
      CODEOWNERS_PATHS.includes(p) ||
      p === 'timebox.yaml',
  );
}

/** An open request pull request: its head commit holds the request files it proposes. */
export interface OpenPull {
  number: number;
  author: string | null;
  headSha: string;
}

export interface PolicyReplayInput {
  /** A git repository (bare mirror or checkout) holding `base`, `head` and the heads of `open`. */
  root: string;
  /** The commit whose policies are in force and whose first-parent history is replayed. */
  base: string;
  /** The commit whose policies are proposed. */
  head: string;
  open: readonly OpenPull[];
  /** When open requests are decided. */
  at: Date;
  /** Members of the teams the policies and CODEOWNERS name (read once both sides are known). */
  teams(names: string[]): Promise<PullFacts['teams']>;
}

export type { PolicyReplay };

/** Every merged request version and every open request decided under both sides; what changes. */
export async function replayPolicyChange(input: PolicyReplayInput): Promise<PolicyReplay> {
  const [baseSource, headSource] = await Promise.all([
    gitRevision(input.root, input.base),
    gitRevision(input.root, input.head),
  ]);
  const [base, proposed] = await Promise.all([loadAccessRepo(baseSource), loadAccessRepo(headSource)]);
  if (base.errors.length > 0) return { ok: false, side: 'base', errors: base.errors };
  if (proposed.errors.length > 0) return { ok: false, side: 'proposed', errors: proposed.errors };
  // Whose merges count, and the keys that show it, come from the base: a change cannot vouch for itself.
  const signing = await loadSigningKeys(baseSource, base.config);
  if (signing.errors.length > 0) return { ok: false, side: 'base', errors: signing.errors };
  const dir = base.config.paths.requests;
  const commits = await readHistory(input.root, input.base, dir, undefined, signing.keys);
  const past = historyVersions(commits, base.config);
  const onBranch = branchFiles(commits, base.config);
  // A pull request whose head shares no history with the base (or cannot be read) is left out, and said.
  const unreadable: number[] = [];
  const read = await Promise.all(
    input.open.map((p) =>
      openPullVersions(input.root, input.base, p, dir, input.at).catch(() => {
        unreadable.push(p.number);
        return [];
      }),
    ),
  );
  const open = read.flat().filter((v) => onBranch.get(v.file) !== v.text);
  const versions = [...past, ...open];
  const teams = await input.teams(teamsNamed([base, proposed], versions));
  const decided = await decideInTurns(versions, base, proposed, teams);
  return {
    ok: true,
    result: compareDecisions(decided.before, decided.after),
    merged: past.length,
    open: open.length,
    unreadable: unreadable.sort((a, b) => a - b),
  };
}

/** Versions decided per turn of the event loop: a server deciding 100,000 versions still answers webhooks. */
const TURN = 500;

/** `decideBoth` in slices, yielding to the event loop between them (deciding is synchronous and takes seconds). */
async function decideInTurns(
  versions: readonly RequestVersion[],
  before: AccessRepo,
  after: AccessRepo,
  teams: PullFacts['teams'],
): Promise<{ before: Decided[]; after: Decided[] }> {
  const out = { before: [] as Decided[], after: [] as Decided[] };
  for (let i = 0; i < versions.length; i += TURN) {
    const part = decideBoth(versions.slice(i, i + TURN), before, after, teams);
    out.before.push(...part.before);
    out.after.push(...part.after);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return out;
}

/** Every team either side's rules or code owners of the replayed files name. */
function teamsNamed(sides: readonly AccessRepo[], versions: readonly RequestVersion[]): string[] {
  const files = [...new Set(versions.map((v) => v.file))];
  return [...new Set(sides.flatMap((s) => referencedTeams(s.policies, s.codeowners, files)))].sort();
}

/**
 * The request files an open pull request adds or changes (against its merge base with `base`), as open
 * versions: decided at `at`, opened by the pull request's author, with no approval yet (as `timebox whatif`).
 */
async function openPullVersions(
  root: string,
  base: string,
  pull: OpenPull,
  dir: string,
  at: Date,
): Promise<RequestVersion[]> {
  const diff = await git(root, [
    'diff',
    '--no-renames',
    '--name-status',
    '-z',
    `${base}...${pull.headSha}`,
    '--',
    `${dir}/`,
  ]);
  const parts = diff.split('\0').filter(Boolean);
  const versions: RequestVersion[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const path = parts[i + 1] as string;
    if ((parts[i] as string).startsWith('D') || !/\.ya?ml$/.test(path)) continue;
    const text = await git(root, ['cat-file', 'blob', `${pull.headSha}:${path}`]);
    versions.push({
      file: path,
      commit: null,
      pull: pull.number,
      at: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      text,
      ...(pull.author ? { author: pull.author } : {}),
      approvers: [],
    });
  }
  return versions;
}

function git(cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new GitError(`cannot run git: ${e.message}`)));
    child.on('close', (code) =>
      code === 0
        ? resolve(Buffer.concat(out).toString('utf8'))
        : reject(new GitError(`git ${args[0]} failed: ${Buffer.concat(err).toString('utf8').trim()}`)),
    );
  });
}

/** Where the commits come from: fetched into the App's mirror, or already in (or fetched into) a checkout. */
export interface WhatifGit {
  /** A repository holding as many of `shas` as can be had, and those it lacks. */
  prepare(shas: readonly string[]): Promise<{ root: string; missing: string[] }>;
}

export interface WhatifCheckOptions {
  git: WhatifGit;
  clock: Clock;
  /** Team members known without the API (Actions: `--teams`); the rest are read from the forge. */
  teams?: Readonly<Record<string, string[]>>;
  warn?: (message: string) => void;
  /** Post the check run (the App); without it the outcome is only returned (Actions writes a step summary). */
  post?: boolean;
}

export interface WhatifCheckResult {
  conclusion: 'neutral';
  title: string;
  summary: string;
  replay?: PolicyReplay;
  checkRunId?: number;
  /** Open pull requests whose heads could not be read (not replayed). */
  unread: number[];
}

/**
 * The policy-change check of pull request `pull`: the base's history and the open request pull requests into
 * `pull.base.ref`, replayed under `pull.base.sha`'s policies and `pull.head.sha`'s. Forge requests: the open
 * pull requests (one page per 100), one per team the policies name that `teams` does not know, the check run.
 */
export async function runWhatifCheck(
  forge: Forge,
  pull: ForgePull,
  opts: WhatifCheckOptions,
): Promise<WhatifCheckResult> {
  const others = (await forge.openPulls(pull.base.ref)).filter(
    (p) => p.number !== pull.number && p.state === 'open',
  );
  const { root, missing } = await opts.git.prepare([
    pull.base.sha,
    pull.head.sha,
    ...others.map((p) => p.head.sha),
  ]);
  const unread = others.filter((p) => missing.includes(p.head.sha)).map((p) => p.number);
  const notes = unread.map(
    (n) => `Open pull request #${n} was not replayed: its head commit could not be fetched.`,
  );
  let replay: PolicyReplay | undefined;
  let failure: string | undefined;
  if (missing.includes(pull.base.sha) || missing.includes(pull.head.sha)) {
    failure = `The commits of this pull request (base ${pull.base.sha.slice(0, 7)}, head ${pull.head.sha.slice(0, 7)}) could not be fetched.`;
  } else {
    try {
      replay = await replayPolicyChange({
        root,
        base: pull.base.sha,
        head: pull.head.sha,
        open: others
          .filter((p) => !missing.includes(p.head.sha))
          .map((p) => ({ number: p.number, author: p.user?.login ?? null, headSha: p.head.sha })),
        at: opts.clock.now(),
        teams: (names) => teamsOf(forge, names, opts),
      });
    } catch (err) {
      failure = `Replaying the history failed: ${(err as Error).message}`;
    }
  }
  if (replay?.ok)
    for (const n of replay.unreadable)
      notes.push(`Open pull request #${n} was not replayed: its head shares no history with the base.`);
  if (failure) opts.warn?.(failure);
  const output = whatifCheckOutput({ pull, replay, failure, notes, branch: pull.base.ref });
  const out: WhatifCheckResult = { conclusion: 'neutral', ...output, unread, ...(replay ? { replay } : {}) };
  if (opts.post === false) return out;
  const checkRunId = await forge.createCheckRun({
    name: WHATIF_CHECK_NAME,
    headSha: pull.head.sha,
    conclusion: 'neutral',
    completedAt: opts.clock.now().toISOString(),
    title: output.title,
    summary: output.summary,
  });
  return { ...out, checkRunId };
}

/** Team members: known ones as given, the rest from the forge (a team it cannot show approves nobody). */
async function teamsOf(
  forge: Forge,
  names: string[],
  opts: Pick<WhatifCheckOptions, 'teams' | 'warn'>,
): Promise<PullFacts['teams']> {
  const known = opts.teams ?? {};
  const out: Record<string, string[]> = { ...known };
  await Promise.all(
    names
      .filter((t) => !Object.hasOwn(known, t))
      .map(async (team) => {
        try {
          const members = await forge.teamMembers(team);
          if (members === null) opts.warn?.(`${team} is not visible; it approves nobody here`);
          out[team] = members ?? [];
        } catch (err) {
          out[team] = [];
          opts.warn?.(
            `cannot read the members of ${team} (${(err as Error).message}); it approves nobody here`,
          );
        }
      }),
  );
  return out;
}
