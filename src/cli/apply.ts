// `timebox plan`, `timebox apply` and `timebox expire`: reconcile providers with what git says is active.

import type { Policies } from '../core/model.js';
import { type ActualAccess, type Plan, planReconcile } from '../core/reconcile.js';
import { providers } from '../providers/index.js';
import type { Activity, Provider, ProviderTarget } from '../providers/types.js';
import { rootCommit } from '../repo/history.js';
import { workingTree } from '../repo/source.js';
import { loadRepoOrFail } from './check.js';
import { colors, type Io, parseAt, repoRoot } from './context.js';
import { EXIT } from './errors.js';
import { loadLedger } from './ledger.js';

/** Seals a secret to a requester (age, to their SSH keys). Throws when the requester has no usable key. */
export interface Sealer {
  /** Checked before granting, so that nothing is granted that cannot be delivered. */
  canSeal(login: string): string | null;
  seal(login: string, secret: string): Promise<string>;
}

export interface ApplyOptions {
  repo?: string;
  ref?: string;
  at?: string;
  dryRun?: boolean;
  json?: boolean;
  only?: 'revoke';
  retries?: number;
}

interface Granted {
  file: string;
  provider: string;
  principal: string;
  expires_at: string;
  credentials: string;
}

interface Revoked {
  file: string;
  provider: string;
  principal: string;
  reason: string;
  sessions_ended: number;
  activity: Activity | null;
}

interface Failure {
  file: string;
  provider: string;
  action: 'grant' | 'revoke' | 'list';
  message: string;
}

interface Connected {
  provider: Provider;
  target: ProviderTarget;
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

  const failures: Failure[] = [];
  const targets = await connectAll(repo.policies, env, failures);
  try {
    const actual: ActualAccess[] = [];
    const seen = new Set<string>();
    for (const [key, t] of targets) {
      try {
        for (const a of await t.target.list()) {
          const id = `${key}\u0000${a.principal}`;
          if (!seen.has(id)) {
            seen.add(id);
            actual.push(a);
          }
        }
      } catch (err) {
        failures.push({
          file: '',
          provider: t.provider.id,
          action: 'list',
          message: `${key}: ${(err as Error).message}`,
        });
      }
    }
    const plan = planReconcile(ledger.grants, actual, repo.policies, at, owner);
    if (opts.only === 'revoke') plan.grant = [];
    for (const p of plan.problems) io.stderr(`warning: ${p.file}: ${p.message}\n`);

    if (opts.dryRun) {
      printPlan(io, plan, failures, opts.json ?? false);
      return failures.length > 0 ? EXIT.failed : EXIT.ok;
    }

    const revoked: Revoked[] = [];
    for (const r of plan.revoke) {
      const t = targetFor(targets, repo.policies, r.resourceId);
      if (!t) {
        failures.push({
          file: r.file,
          provider: r.provider,
          action: 'revoke',
          message: `no connection to the target of ${r.resourceId}`,
        });
        continue;
      }
      try {
        const out = await withRetries(opts.retries ?? 3, () =>
          t.target.revoke({ ...r, owner, expiresAt: null }),
        );
        revoked.push({
          file: r.file,
          provider: r.provider,
          principal: out.principal,
          reason: r.reason,
          sessions_ended: out.sessionsEnded,
          activity: out.activity,
        });
      } catch (err) {
        failures.push({
          file: r.file,
          provider: r.provider,
          action: 'revoke',
          message: (err as Error).message,
        });
      }
    }

    const granted: Granted[] = [];
    for (const g of plan.grant) {
      const resource = repo.policies.resources.get(g.resourceId);
      const t = targetFor(targets, repo.policies, g.resourceId);
      if (!resource || !t) {
        failures.push({
          file: g.file,
          provider: g.provider,
          action: 'grant',
          message: `no connection to the target of ${g.resourceId}`,
        });
        continue;
      }
      const refusal = sealer.canSeal(g.requester);
      if (refusal) {
        failures.push({
          file: g.file,
          provider: g.provider,
          action: 'grant',
          message: `${refusal}; nothing granted`,
        });
        continue;
      }
      try {
        const out = await t.target.grant({
          owner,
          file: g.file,
          grantId: g.grantId,
          requester: g.requester,
          resourceId: g.resourceId,
          resource: resource.settings,
          role: g.role,
          roleSettings: resource.roles[g.role] ?? {},
          startsAt: new Date(g.starts_at),
          expiresAt: new Date(g.expires_at),
        });
        granted.push({
          file: g.file,
          provider: g.provider,
          principal: out.principal,
          expires_at: out.expiresAt,
          credentials: await sealer.seal(g.requester, out.secret),
        });
      } catch (err) {
        failures.push({
          file: g.file,
          provider: g.provider,
          action: 'grant',
          message: (err as Error).message,
        });
      }
    }

    if (opts.json) io.stdout(`${JSON.stringify({ granted, revoked, errors: failures }, null, 2)}\n`);
    else {
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
    for (const t of targets.values()) await t.target.close();
  }
}

async function connectAll(
  policies: Policies,
  env: NodeJS.ProcessEnv,
  failures: Failure[],
): Promise<Map<string, Connected>> {
  const targets = new Map<string, Connected>();
  for (const resource of policies.resources.values()) {
    const provider = providers.get(resource.provider);
    if (!provider) continue;
    const key = provider.targetKey(resource.settings);
    if (targets.has(key) || failures.some((f) => f.action === 'list' && f.message.startsWith(`${key}:`)))
      continue;
    try {
      targets.set(key, { provider, target: await provider.connect(resource.settings, env) });
    } catch (err) {
      failures.push({
        file: '',
        provider: provider.id,
        action: 'list',
        message: `${key}: ${(err as Error).message}`,
      });
    }
  }
  return targets;
}

function targetFor(
  targets: Map<string, Connected>,
  policies: Policies,
  resourceId: string,
): Connected | undefined {
  const resource = policies.resources.get(resourceId);
  const provider = resource && providers.get(resource.provider);
  return resource && provider ? targets.get(provider.targetKey(resource.settings)) : undefined;
}

async function withRetries<T>(attempts: number, fn: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      if (i + 1 < attempts) await new Promise((r) => setTimeout(r, 200 * 2 ** i));
    }
  }
  throw last;
}

function printPlan(io: Io, plan: Plan, failures: Failure[], json: boolean): void {
  if (json) {
    io.stdout(`${JSON.stringify({ ...plan, errors: failures }, null, 2)}\n`);
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
