// What `timebox serve` does on a timer rather than on an event: for every repository the App is installed
// on, close request PRs left unapproved past `pending_ttl`, and reconcile the targets with the history
// (grant what is missing, revoke what expired, heal drift, open missing revert PRs). Runs for every
// repository at start (catching up on anything missed while it was down), then each repository again
// every `reconcile_interval`.
import type { Probot } from 'probot';
import type { Clock } from '../core/clock.js';
import type { Keeper } from '../engine/keeper.js';
import type { Notifier } from '../engine/notices/index.js';
import { type SweepResult, sweepRepository } from '../engine/sweep.js';
import { appBotLogin } from './app.js';
import type { GitHub } from './client.js';
import { githubForge } from './forge.js';

export type { SweepResult } from '../engine/sweep.js';

/**
 * `force`: every repository now; otherwise only those whose `reconcile_interval` (timebox.yaml, default 5m)
 * has passed since their last reconcile.
 */
export async function sweepInstallations(
  probot: Probot,
  clock: Clock,
  keeper?: Keeper,
  force = true,
  notifiers: readonly Notifier[] = [],
): Promise<SweepResult> {
  const jwt = (await probot.auth()) as unknown as GitHub;
  const botLogin = await appBotLogin(probot);
  const installations = await jwt.paginate('GET /app/installations', { per_page: 100 });
  const out: SweepResult = { repositories: 0, closed: [], reconciled: [], errors: [] };
  for (const installation of installations) {
    const gh = (await probot.auth(installation.id)) as unknown as GitHub;
    const repos = await gh.paginate('GET /installation/repositories', { per_page: 100 });
    for (const r of repos) {
      const repo = { owner: r.owner.login, repo: r.name };
      if (keeper && !force && !keeper.due(repo)) continue;
      const installed = { installationId: installation.id, repo, defaultBranch: r.default_branch ?? 'main' };
      await sweepRepository(
        githubForge(gh, repo),
        installed,
        { clock, botLogin, ...(keeper ? { keeper } : {}), notifiers },
        out,
      );
    }
  }
  return out;
}
