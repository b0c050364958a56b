// `timebox plan`, `timebox apply` and `timebox expire`: reconcile providers with what git says is active.

import type { Plan } from '../core/reconcile.js';
import { type GitHub, parseRepoName, type RepoRef, tokenClient } from '../github/client.js';
import { ProvisionMemory, provision } from '../github/provision.js';
import { revertRequest } from '../github/revert.js';
import {
  type ApplyResult,
  type Failure,
  reconcileTargets,
  type Sealer,
  Targets,
} from '../providers/reconcile.js';
import { resolveRef, rootCommit } from '../repo/history.js';
import { workingTree } from '../repo/source.js';
import { loadRepoOrFail } from './check.js';
import { colors, type Io, loadTeams, parseAt, repoRoot } from './context.js';
import { EXIT, UsageError } from './errors.js';
import { loadLedger } from './ledger.js';

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
}

/** GitHub mode when the workflow's token and repository are in the environment (and not `--offline`). */
function githubMode(io: Io, opts: ApplyOptions): { gh: GitHub; repo: RepoRef } | null {
  const token = io.env.GITHUB_TOKEN;
  const fullName = io.env.GITHUB_REPOSITORY;
  if (opts.offline || !token || !fullName) {
    if (opts.openPr) throw new UsageError('--open-pr needs GITHUB_TOKEN and GITHUB_REPOSITORY (owner/name)');
    return null;
  }
  let repo: RepoRef;
  try {
    repo = parseRepoName(fullName);
  } catch (err) {
    throw new UsageError(`GITHUB_REPOSITORY: ${(err as Error).message}`);
  }
  return { gh: tokenClient(token, io.env.GITHUB_API_URL), repo };
}

export async function runApply(
  io: Io,
  opts: ApplyOptions,
  sealer: Sealer,
  env: NodeJS.ProcessEnv = io.env,
): Promise<number> {
  const github = githubMode(io, opts);
  if (github) return runApplyWithGitHub(io, opts, github, opts.keys ? sealer : undefined, env);
  const now = new Date();
  const at = parseAt(opts.at, () => now);
  const repo = await loadRepoOrFail(io, workingTree(repoRoot(io, opts.repo)));
  const owner = await rootCommit(repoRoot(io, opts.repo), opts.ref ?? 'HEAD');
  const ledger = await loadLedger(io, opts, at.getTime() > now.getTime() ? at : now, { events: false });
  io.stderr(
    `offline: trusting the history of ${opts.ref ?? 'HEAD'} as checked out (no pull request provenance check)\n`,
  );

  const targets = await Targets.connect(repo.policies, env);
  try {
    const { plan, granted, revoked, failures } = await reconcileTargets(targets, {
      grants: ledger.grants,
      policies: repo.policies,
      owner,
      at,
      sealer,
      ...(opts.only ? { only: opts.only } : {}),
      ...(opts.dryRun ? { dryRun: true } : {}),
      ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
    });
    for (const p of plan.problems) io.stderr(`warning: ${p.file}: ${p.message}\n`);

    if (opts.dryRun) {
      printPlan(io, plan, failures, opts.json ?? false);
      return failures.length > 0 ? EXIT.failed : EXIT.ok;
    }

    printResult(io, opts, { plan, granted, revoked, failures });
    return failures.length > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await targets.close();
  }
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
  for (const f of failures) io.stderr(`ALARM: ${f.action} ${f.file || f.provider} failed: ${f.message}\n`);
}

/**
 * Actions mode (`timebox-apply.yml`, `timebox-expire.yml`): the checked-out history, but only grants an
 * approved, merged PR brought in (others raise a `timebox-alarm`), credentials sealed to the requesters'
 * GitHub keys and posted on their PRs, and with `--open-pr` a revert PR for each expired file.
 */
async function runApplyWithGitHub(
  io: Io,
  opts: ApplyOptions,
  { gh, repo }: { gh: GitHub; repo: RepoRef },
  sealer: Sealer | undefined,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const root = repoRoot(io, opts.repo);
  const at = parseAt(opts.at, () => new Date());
  const { tip } = await resolveRef(root, opts.ref ?? 'HEAD');
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
  const done = await provision({
    gh,
    repo,
    dir: root,
    tip,
    now: at,
    env,
    botLogin: io.env.TIMEBOX_BOT_LOGIN || 'github-actions[bot]',
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
    return done.result.failures.length > 0 ? EXIT.failed : EXIT.ok;
  }
  const reverted: { file: string; pull?: number; merged?: string; error?: string }[] = [];
  if (opts.openPr) {
    const branch = io.env.GITHUB_REF_NAME || 'main';
    for (const r of done.reverts) {
      try {
        const out = await revertRequest(gh, repo, {
          file: r.file,
          reason: 'expired',
          defaultBranch: branch,
          botLogin: io.env.TIMEBOX_BOT_LOGIN || 'github-actions[bot]',
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
  return failed > 0 ? EXIT.failed : EXIT.ok;
}
