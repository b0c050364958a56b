// `timebox plan`, `timebox apply` and `timebox expire`: reconcile providers with what git says is active.
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { activeAt, type Ledger } from '../core/ledger.js';

import type { Plan } from '../core/reconcile.js';
import type { Forge } from '../engine/forge.js';
import { noticesFor } from '../engine/notices/index.js';
import { ProvisionMemory, provision } from '../engine/provision.js';
import { revertRequest } from '../engine/revert.js';
import { githubEnv, parseRepoName } from '../github/env.js';
import {
  type ApplyResult,
  type Failure,
  reconcileTargets,
  type Sealer,
  Targets,
} from '../providers/reconcile.js';
import { resolveRef, rootCommit } from '../repo/history.js';
import { GitError, gitRevision } from '../repo/source.js';
import { colors, type Io, loadLedger, loadRepoOrFail, loadTeams, parseAt, repoRoot } from './context.js';
import { EXIT, failureExit, UsageError } from './errors.js';

export type { Sealer } from '../providers/reconcile.js';

export interface ApplyOptions {
  repo?: string;
  ref?: string;
  at?: string;
  dryRun?: boolean;
  json?: boolean;
  only?: 'revoke';
  retries?: number;
  /** Ignore GITHUB_TOKEN: trust the checked-out history. */
  offline?: boolean;
  /** GitHub mode: open (and merge) a revert PR for each expired file. */
  openPr?: boolean;
  /** GitHub mode: team members (a workflow token cannot read teams). */
  teams?: string;
  /** Whether `--keys` was given (GitHub mode seals to the keys on GitHub otherwise). */
  keys?: string;
  /** Offline, without `--json`: where sealed credentials are written (default: `<git dir>/timebox-credentials`). */
  credsDir?: string;
}

/**
 * GitHub mode when the workflow's token and repository are in the environment (and not `--offline`): the
 * same Forge as the App's, over the workflow's token.
 */
async function githubMode(io: Io, opts: ApplyOptions): Promise<Forge | null> {
  const env = githubEnv(io.env);
  const token = env.workflowToken;
  const fullName = env.repository;
  if (opts.offline || !token || !fullName) {
    if (opts.openPr) throw new UsageError('--open-pr needs GITHUB_TOKEN and GITHUB_REPOSITORY (owner/name)');
    return null;
  }
  let repo: ReturnType<typeof parseRepoName>;
  try {
    repo = parseRepoName(fullName);
  } catch (err) {
    throw new UsageError(`GITHUB_REPOSITORY: ${(err as Error).message}`);
  }
  const [{ tokenClient }, { githubForge }] = await Promise.all([
    import('../github/client.js'),
    import('../github/forge.js'),
  ]);
  return githubForge(tokenClient(token, env.apiUrl), repo);
}

export async function runApply(
  io: Io,
  opts: ApplyOptions,
  sealer: Sealer,
  env: NodeJS.ProcessEnv = io.env,
): Promise<number> {
  const forge = await githubMode(io, opts);
  if (forge) return runApplyWithGitHub(io, opts, forge, opts.keys ? sealer : undefined, env);
  const now = io.clock.now();
  const at = parseAt(opts.at, () => now);
  const root = repoRoot(io, opts.repo);
  const ref = await offlineRef(root, opts.ref);
  const credsDir = opts.json || opts.dryRun ? null : await credentialsDir(io, root, opts.credsDir);
  // Policies, like the history, come from the ref: never from whatever the working tree holds.
  const repo = await loadRepoOrFail(io, await gitRevision(root, ref.name));
  const accessRepoId = await rootCommit(root, ref.name);
  const ledger = await loadLedger(io, { ...opts, ref: ref.name }, at.getTime() > now.getTime() ? at : now, {
    events: false,
  });
  io.stderr(`offline: trusting the history of ${ref.name}${ref.why} (no pull request provenance check)\n`);
  if (!opts.dryRun) warnAhead(io, ledger, now, at, opts.only === 'revoke');

  const targets = await Targets.connect(repo.policies, env);
  try {
    const { plan, granted, revoked, failures } = await reconcileTargets(targets, {
      grants: ledger.grants,
      policies: repo.policies,
      accessRepoId,
      at,
      sealer,
      ...(opts.only ? { only: opts.only } : {}),
      ...(opts.dryRun ? { dryRun: true } : {}),
      ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
    });
    for (const p of plan.problems) io.stderr(`warning: ${p.file}: ${p.message}\n`);

    if (opts.dryRun) {
      printPlan(io, plan, failures, opts.json ?? false);
      return failureExit(failures);
    }

    const written = credsDir ? await writeCredentials(io, credsDir, granted) : 0;
    printResult(io, opts, { plan, granted, revoked, failures });
    return written < 0 ? Math.max(EXIT.failed, failureExit(failures)) : failureExit(failures);
  } finally {
    await targets.close();
  }
}

const git = async (root: string, args: string[]): Promise<string | null> => {
  try {
    return (await promisify(execFile)('git', args, { cwd: root, encoding: 'utf8' })).stdout.trim();
  } catch {
    return null;
  }
};
const commitOf = (root: string, ref: string) =>
  git(root, ['rev-parse', '--verify', '-q', '--end-of-options', `${ref}^{commit}`]);

/** The commit each of `refs` names (null where none), in one `git cat-file --batch-check`. */
function commitsOf(root: string, refs: readonly string[]): Promise<(string | null)[]> {
  return new Promise((done) => {
    const child = execFile(
      'git',
      ['cat-file', '--batch-check=%(objectname) %(objecttype)'],
      { cwd: root, encoding: 'utf8' },
      (err, stdout) => {
        const lines = err ? [] : stdout.split('\n');
        done(refs.map((_, i) => /^([0-9a-f]{40}|[0-9a-f]{64}) commit$/.exec(lines[i] ?? '')?.[1] ?? null));
      },
    );
    child.stdin?.on('error', () => {});
    child.stdin?.end(refs.map((r) => `${r}^{commit}\n`).join(''));
  });
}

/**
 * The ref offline apply trusts: `--ref` as given, else the default branch (origin/HEAD, else main, else
 * master), and then only when it is what is checked out: an unmerged branch's requests are never provisioned
 * just because its checkout is the current directory.
 */
export async function offlineRef(
  root: string,
  given: string | undefined,
): Promise<{ name: string; why: string }> {
  if (given !== undefined) {
    if (!(await commitOf(root, given))) throw new GitError(`--ref ${given}: unknown git revision in ${root}`);
    return { name: given, why: ' (--ref)' };
  }
  const origin = await git(root, ['symbolic-ref', '-q', '--short', 'refs/remotes/origin/HEAD']);
  // Two git processes in all: each one costs a fork of this process.
  const candidates = [origin, 'main', 'master'].filter(
    (c): c is string => typeof c === 'string' && c !== '' && !/\s/.test(c),
  );
  const commits = await commitsOf(root, [...candidates, 'HEAD']);
  const at = commits.findIndex((c, i) => i < candidates.length && c !== null);
  const name = at === -1 ? null : (candidates[at] as string);
  if (!name)
    throw new UsageError(
      'no default branch (origin/HEAD, main or master) to trust: pass --ref with the branch that holds the merged requests',
    );
  const [head, tip] = [commits[candidates.length] ?? null, commits[at] ?? null];
  if (head !== tip) {
    const branch = (await git(root, ['symbolic-ref', '-q', '--short', 'HEAD'])) ?? 'a detached HEAD';
    const local = name.startsWith('origin/') ? name.slice('origin/'.length) : name;
    throw new UsageError(
      `the checkout (${branch} at ${head?.slice(0, 7) ?? '?'}) is not the default branch ${name} (${tip?.slice(0, 7)}): ` +
        `offline, only the default branch's history is provisioned, never an unmerged branch. ` +
        `Check it out (git switch ${local}${local === name ? '' : ' && git pull --ff-only'}), or pass --ref ${name} ` +
        `(or --ref REF to trust another ref on purpose)`,
    );
  }
  return { name, why: ` (the default branch, checked out)` };
}

/**
 * `--at` ahead of now acts as if that time had come: grants that git still holds now but that end before
 * `--at` are revoked early (and a later run without `--at` grants them again, with new credentials), and,
 * for apply, grants that start before `--at` are made early. Said before anything is done.
 */
function warnAhead(io: Io, ledger: Ledger, now: Date, at: Date, revokeOnly: boolean): void {
  if (at.getTime() <= now.getTime()) return;
  const key = (g: { id: string }) => g.id;
  const later = new Set(activeAt(ledger, at).map(key));
  const current = activeAt(ledger, now);
  const currentIds = new Set(current.map(key));
  const early = current.filter((g) => !later.has(key(g))).length;
  const soon = revokeOnly ? 0 : [...later].filter((id) => !currentIds.has(id)).length;
  if (early + soon === 0) return;
  const c = colors(io);
  const parts = [
    early > 0
      ? `${early} grant(s) that git still holds now will be REVOKED EARLY (live sessions ended); the next run without --at grants them again, with new passwords`
      : '',
    soon > 0 ? `${soon} grant(s) that start later will be GRANTED NOW` : '',
  ].filter(Boolean);
  io.stderr(
    `${c.bold(c.red('WARNING'))}: --at ${at.toISOString()} is in the future: ${parts.join('; ')}. Preview with --dry-run.\n`,
  );
}

/**
 * `--creds-dir`, or `<git dir>/timebox-credentials`: never inside what git could commit (a directory in the
 * work tree must be one git ignores).
 */
async function credentialsDir(io: Io, root: string, given: string | undefined): Promise<string> {
  if (given === undefined) {
    const gitDir = await git(root, ['rev-parse', '--absolute-git-dir']);
    if (!gitDir) throw new GitError(`${root} is not a git repository`);
    return join(gitDir, 'timebox-credentials');
  }
  const dir = resolve(io.cwd, given);
  const top = await git(root, ['rev-parse', '--show-toplevel']);
  const inside = top ? relative(top, dir) : '..';
  if (inside === '' || (!inside.startsWith('..') && !isAbsolute(inside))) {
    const ignored = await git(top as string, ['check-ignore', '-q', '--no-index', '--', `${inside}/x.age`]);
    if (ignored === null)
      throw new UsageError(
        `--creds-dir ${given} is inside the access repo's work tree and git does not ignore it: credentials could be committed. ` +
          'Choose a directory outside it, or add it to .gitignore',
      );
  }
  return dir;
}

/**
 * Each sealed credential, exactly as age armors it, to `<dir>/<request path>.age` (mode 0600). An earlier file
 * is never overwritten (it may not have been read yet): the new one gets the next free `.N.age` name, and
 * stderr says so. Returns how many were written, or -1 when one could not be (the credentials are then printed
 * to stdout instead: lost never).
 */
async function writeCredentials(
  io: Io,
  dir: string,
  granted: { file: string; requester: string; credentials: string }[],
): Promise<number> {
  let written = 0;
  let failed = false;
  for (const g of granted) {
    const base = join(dir, g.file);
    const armored = g.credentials.endsWith('\n') ? g.credentials : `${g.credentials}\n`;
    try {
      await mkdir(dirname(base), { recursive: true, mode: 0o700 });
      let path = `${base}.age`;
      let kept: string | null = null;
      for (let n = 2; ; n++) {
        try {
          const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
          try {
            await fh.writeFile(armored);
          } finally {
            await fh.close();
          }
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          kept ??= path;
          path = `${base}.${n}.age`;
        }
      }
      written++;
      io.stderr(
        `credentials for ${g.requester} (${g.file}), sealed to their SSH keys: ${path}\n` +
          `  open with: timebox creds ${path}   or: age -d -i ~/.ssh/id_ed25519 ${path}\n` +
          (kept ? `  note: an earlier credentials file for this request is kept as it was: ${kept}\n` : ''),
      );
    } catch (err) {
      failed = true;
      io.stderr(
        `ALARM: cannot write the credentials of ${g.file} under ${dir}: ${(err as Error).message}; here they are instead, save them:\n`,
      );
      io.stdout(armored);
    }
  }
  return failed ? -1 : written;
}

function printResult(
  io: Io,
  opts: ApplyOptions,
  { plan, granted, revoked, failures }: Pick<ApplyResult, 'plan' | 'granted' | 'revoked' | 'failures'>,
  extra: Record<string, unknown> = {},
): void {
  if (opts.json) {
    const out = {
      granted: granted.map(({ grantId: _, requester: __, ...g }) => g),
      revoked: revoked.map(({ grantId: _, ...r }) => r),
      errors: failures.map(({ grantId: _, noKeys: __, ...f }) => f),
      ...extra,
    };
    io.stdout(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    const c = colors(io);
    for (const g of granted)
      io.stdout(`${c.green('granted')}  ${g.file}  ${g.provider} ${g.principal} until ${g.expires_at}\n`);
    for (const r of revoked) {
      io.stdout(
        `${c.yellow('revoked')}  ${r.file}  ${r.provider} ${r.principal} (${r.reason}${r.sessions_ended ? `, ${r.sessions_ended} session(s) ended` : ''}${r.activity ? `; ${r.activity.summary}` : ''})\n`,
      );
    }
    if (granted.length + revoked.length === 0 && failures.length === 0)
      io.stdout(`nothing to do: ${plan.unchanged} grant(s) in place\n`);
  }
  for (const f of failures) {
    io.stderr(
      `ALARM: ${f.action} ${f.file || f.provider} failed: ${f.message}${f.action === 'revoke' ? ' (it stays in the plan until a run verifies it)' : ''}\n`,
    );
  }
}

function printPlan(io: Io, plan: Plan, failures: Failure[], json: boolean): void {
  if (json) {
    io.stdout(
      `${JSON.stringify({ ...plan, errors: failures.map(({ grantId: _, noKeys: __, ...f }) => f) }, null, 2)}\n`,
    );
    return;
  }
  const c = colors(io);
  for (const g of plan.grant)
    io.stdout(
      `${c.green('+ grant ')}  ${g.file}  ${g.requester}: ${g.role} on ${g.resourceId} until ${g.expires_at}${g.replaces ? ' (update)' : ''}\n`,
    );
  for (const r of plan.revoke)
    io.stdout(`${c.red('- revoke')}  ${r.file}  ${r.provider} ${r.principal} (${r.reason})\n`);
  io.stdout(`${plan.grant.length} to grant, ${plan.revoke.length} to revoke, ${plan.unchanged} unchanged\n`);
  // The preflight: what apply would fail on, said before anything is done.
  for (const f of failures)
    io.stderr(
      `${f.config ? 'error' : 'ALARM'}: ${f.action} ${f.file || f.provider} ${f.action === 'grant' ? 'would fail' : 'failed'}: ${f.message}\n`,
    );
}

/**
 * Actions mode (`timebox-apply.yml`, `timebox-expire.yml`): the checked-out history, but only grants an
 * approved, merged PR brought in (others raise a `timebox-alarm`), credentials sealed to the requesters'
 * GitHub keys and posted on their PRs, and with `--open-pr` a revert PR for each expired file.
 */
async function runApplyWithGitHub(
  io: Io,
  opts: ApplyOptions,
  forge: Forge,
  sealer: Sealer | undefined,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const { repo } = forge;
  const root = repoRoot(io, opts.repo);
  const now = io.clock.now();
  const at = parseAt(opts.at, () => now);
  const { tip } = await resolveRef(root, opts.ref ?? 'HEAD');
  if (!opts.dryRun && at.getTime() > now.getTime())
    warnAhead(io, await loadLedger(io, opts, at, { events: false }), now, at, opts.only === 'revoke');
  const teams = await loadTeams(io, opts.teams);
  const c = colors(io);
  const log = {
    info: () => {},
    warn: (_: object, msg: string) => io.stderr(`warning: ${msg}\n`),
    error: (_: object, msg: string) => io.stderr(`${c.red('error')}: ${msg}\n`),
  };
  io.stderr(
    `github: ${repo.owner}/${repo.repo}, provisioning only what approved, merged pull requests brought in\n`,
  );
  const botLogin = io.env.TIMEBOX_BOT_LOGIN || 'github-actions[bot]';
  const notices = noticesFor(forge, botLogin);
  const done = await provision({
    forge,
    notices,
    dir: root,
    tip,
    now: at,
    env,
    botLogin,
    memory: new ProvisionMemory(),
    log,
    teams,
    ...(opts.only ? { only: opts.only } : {}),
    ...(opts.dryRun ? { dryRun: true } : {}),
    ...(sealer ? { sealer } : {}),
  });
  for (const r of done.refused) io.stderr(`ALARM: ${r.file} refused: ${r.reason}\n`);
  if (opts.dryRun) {
    printPlan(io, done.result.plan, done.result.failures, opts.json ?? false);
    return failureExit(done.result.failures);
  }
  const reverted: { file: string; pull?: number; merged?: string; error?: string }[] = [];
  if (opts.openPr) {
    const branch = io.env.GITHUB_REF_NAME || 'main';
    for (const r of done.reverts) {
      try {
        const out = await revertRequest(forge, notices, {
          file: r.file,
          reason: 'expired',
          defaultBranch: branch,
          botLogin,
          ...(r.activity ? { activity: r.activity } : {}),
          ...(r.pull ? { pull: r.pull } : {}),
        });
        if (out.alreadyGone) continue;
        reverted.push({
          file: r.file,
          ...(out.pull ? { pull: out.pull } : {}),
          ...(out.merged ? { merged: out.merged } : {}),
          ...(out.mergeRefused ? { error: out.mergeRefused } : {}),
        });
        if (!opts.json)
          io.stdout(
            `${c.yellow('reverted')}  ${r.file}  PR #${out.pull}${out.merged ? ' merged' : ` not merged: ${out.mergeRefused}`}\n`,
          );
      } catch (err) {
        reverted.push({ file: r.file, error: (err as Error).message });
        io.stderr(`ALARM: revert PR for ${r.file} failed: ${(err as Error).message}\n`);
      }
    }
  }
  const { result } = done;
  printResult(io, opts, result, {
    refused: done.refused.map(({ grantId: _, ...r }) => r),
    ...(opts.openPr ? { reverted } : {}),
  });
  const failed = result.failures.length + done.refused.length + reverted.filter((r) => r.error).length;
  return failed > 0 ? Math.max(EXIT.failed, failureExit(result.failures)) : EXIT.ok;
}
