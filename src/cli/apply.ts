// `timebox plan`, `timebox apply` and `timebox expire`: reconcile providers with what git says is active.

import type { Plan } from '../core/reconcile.js';
import { type Failure, reconcileTargets, type Sealer, Targets } from '../providers/reconcile.js';
import { rootCommit } from '../repo/history.js';
import { workingTree } from '../repo/source.js';
import { loadRepoOrFail } from './check.js';
import { colors, type Io, parseAt, repoRoot } from './context.js';
import { EXIT } from './errors.js';
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
}

export async function runApply(
  io: Io,
  opts: ApplyOptions,
  sealer: Sealer,
  env: NodeJS.ProcessEnv = io.env,
): Promise<number> {
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

    if (opts.json) {
      const out = {
        granted: granted.map(({ grantId: _, requester: __, ...g }) => g),
        revoked: revoked.map(({ grantId: _, ...r }) => r),
        errors: failures.map(({ grantId: _, noKeys: __, ...f }) => f),
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
    return failures.length > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await targets.close();
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
