// The periodic work for one repository, whatever the forge: close request pull requests left unapproved past
// `pending_ttl`, then reconcile the targets with the history (grant what is missing, revoke what expired,
// heal drift, open missing revert PRs). The forge's side only lists the repositories (src/github/sweep.ts).
import type { Clock } from '../core/clock.js';
import type { Forge } from './forge.js';
import type { InstalledRepo, Keeper, ReconcileReport } from './keeper.js';
import { type Notifier, noticesFor } from './notices/index.js';
import { closeStalePulls } from './stale.js';

export interface SweepResult {
  repositories: number;
  closed: { repo: string; pulls: number[] }[];
  reconciled: ReconcileReport[];
  errors: { repo: string; message: string }[];
}

export interface SweepContext {
  clock: Clock;
  botLogin: string;
  keeper?: Keeper;
  notifiers?: readonly Notifier[];
}

/** Sweeps one repository into `out`; one broken repository (invalid timebox.yaml, no access) stops nothing. */
export async function sweepRepository(
  forge: Forge,
  installed: InstalledRepo,
  ctx: SweepContext,
  out: SweepResult,
): Promise<void> {
  const name = `${installed.repo.owner}/${installed.repo.repo}`;
  out.repositories += 1;
  try {
    const result = await closeStalePulls(forge, {
      botLogin: ctx.botLogin,
      defaultBranch: installed.defaultBranch,
      clock: ctx.clock,
      notices: noticesFor(forge, ctx.botLogin, ctx.notifiers),
    });
    if (result.closed.length > 0) out.closed.push({ repo: name, pulls: result.closed });
  } catch (err) {
    out.errors.push({ repo: name, message: (err as Error).message });
  }
  if (!ctx.keeper) return;
  try {
    out.reconciled.push(await ctx.keeper.reconcile(installed));
  } catch (err) {
    out.errors.push({ repo: name, message: (err as Error).message });
  }
}
