// What `timebox serve` does on a timer rather than on an event: for every repository the App is installed
// on, close request PRs left unapproved past `pending_ttl`, and reconcile the targets with the history
// (grant what is missing, revoke what expired, heal drift, open missing revert PRs). Runs for every
// repository at start (catching up on anything missed while it was down), then each repository again
// every `reconcile_interval`.
import type { Probot } from 'probot';
import type { Clock } from '../core/clock.js';
import type { Keeper, ReconcileReport } from '../engine/keeper.js';
import { type Notifier, noticesFor } from '../engine/notices/index.js';
import { closeStalePulls, type StaleResult } from '../engine/stale.js';
import { appBotLogin } from './app.js';
import type { GitHub } from './client.js';
import { githubForge } from './forge.js';

export interface SweepResult {
  repositories: number;
  closed: { repo: string; pulls: number[] }[];
  reconciled: ReconcileReport[];
  errors: { repo: string; message: string }[];
}

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
      const name = r.full_name;
      if (keeper && !force && !keeper.due({ owner: r.owner.login, repo: r.name })) continue;
      out.repositories += 1;
      try {
        const forge = githubForge(gh, { owner: r.owner.login, repo: r.name });
        const result: StaleResult = await closeStalePulls(forge, {
          botLogin,
          defaultBranch: r.default_branch ?? 'main',
          clock,
          notices: noticesFor(forge, botLogin, notifiers),
        });
        if (result.closed.length > 0) out.closed.push({ repo: name, pulls: result.closed });
      } catch (err) {
        // One broken repository (invalid timebox.yaml, no access) does not stop the others.
        out.errors.push({ repo: name, message: (err as Error).message });
      }
      if (!keeper) continue;
      try {
        out.reconciled.push(
          await keeper.reconcile({
            installationId: installation.id,
            repo: { owner: r.owner.login, repo: r.name },
            defaultBranch: r.default_branch ?? 'main',
          }),
        );
      } catch (err) {
        // One broken repository (invalid timebox.yaml, no access) does not stop the others.
        out.errors.push({ repo: name, message: (err as Error).message });
      }
    }
  }
  return out;
}
