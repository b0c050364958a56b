// Provisioning from an access repo's history with GitHub as the judge of provenance, shared by
// `timebox serve` (src/github/keeper.ts, on a local mirror) and Actions mode (`timebox apply` on the
// workflow's checkout): fold the ledger at a commit, keep only grants an approved, merged PR brought in
// (anything else raises a `timebox-alarm`), reconcile the targets, deliver new credentials on the PR (sealed
// to the requester's GitHub SSH keys), and say which expired files still need a revert PR.
//
// What it remembers between runs (`ProvisionMemory`) only saves API calls: the provenance verdicts recorded
// on the merge commits (src/github/verdicts.ts), the PR comments (markers), the alarm issues and the targets'
// tags hold the truth, so a fresh memory converges to the same state — and never re-decides a past merge.
import { simpleGit } from 'simple-git';
import { finalizeLedger, foldLedger, type Grant, prepareChange } from '../core/ledger.js';
import type { Config, Policies } from '../core/model.js';
import type { Account } from '../core/provenance.js';
import {
  type ApplyResult,
  type Failure,
  type Granted,
  reconcileTargets,
  type Sealer,
  Targets,
} from '../providers/reconcile.js';
import { loadAccessRepo } from '../repo/access-repo.js';
import { cachedHistory, rootCommit } from '../repo/history.js';
import { gitRevision } from '../repo/source.js';
import { md, mention } from '../report/pull-request.js';
import { clearAlarmIssue, openAlarms, raiseAlarmIssue } from './alarms.js';
import type { GitHub, RepoRef } from './client.js';
import { type GitHubSealer, githubSealer } from './keys.js';
import type { CheckCache } from './pull-check.js';
import { raiseAlarm } from './push.js';
import { settleProvenance, verdictAuthor } from './verdicts.js';

export interface Verdict {
  ok: boolean;
  /** The PR that merged it, when one did. */
  pull: number | null;
  reason?: string;
  /** The account that opened the PR (the requester): credentials are sealed to this account's keys only. */
  requester?: Account | null;
}

/** Structured log lines (pino's shape; the CLI adapts it to stderr). */
export interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What one process remembers between runs, keyed `owner/repo#grant-id`. */
export class ProvisionMemory {
  readonly verdicts = new Map<string, Verdict>();
  /** Grants whose credentials comment exists. */
  readonly delivered = new Set<string>();
  /** Grants whose requester was told they have no key. */
  readonly told = new Set<string>();
  /** Grants refused because their login now names another account (comment and alarm made). */
  readonly impostors = new Set<string>();
  /** Open alarms raised by this process (`provenance#…`, `revoke#…`). */
  readonly alarmed = new Set<string>();
}

export const MARK = {
  credentials: (id: string) => `<!-- timebox:credentials ${id} -->`,
  noKeys: (id: string) => `<!-- timebox:no-keys ${id} -->`,
  identity: (id: string) => `<!-- timebox:identity ${id} -->`,
  reminder: (id: string) => `<!-- timebox:reminder ${id} -->`,
};

export interface ProvisionInput {
  gh: GitHub;
  repo: RepoRef;
  /** A git repository holding `tip` (a bare mirror or a checkout). */
  dir: string;
  tip: string;
  now: Date;
  /** Provider secrets. */
  env: NodeJS.ProcessEnv;
  /** Whose comments and provenance records are Timebox's (`<slug>[bot]`, or `github-actions[bot]` in Actions). */
  botLogin: string;
  /** The App's id, when known: provenance records must carry it too. */
  appId?: number;
  memory: ProvisionMemory;
  log: Log;
  cache?: CheckCache;
  /** Team members known without the API (Actions mode). */
  teams?: Record<string, string[]>;
  only?: 'revoke';
  dryRun?: boolean;
  /** Default: the requester's SSH keys on GitHub. */
  sealer?: Sealer;
}

export interface Provisioned {
  key: string;
  tip: string;
  owner: string;
  config: Config;
  policies: Policies;
  /** Every grant of the ledger. */
  grants: Grant[];
  /** Grants active now or later that passed provenance. */
  trusted: Grant[];
  result: ApplyResult;
  /** Active grants refused for their provenance (an alarm is open for each). */
  refused: { file: string; grantId: string; reason: string }[];
  /** Files whose access ended at expiry, revoked and verified, still in the tree: each wants a revert PR. */
  reverts: { file: string; activity?: string; pull?: number }[];
}

const keyOf = (repo: RepoRef) => `${repo.owner}/${repo.repo}`;

export async function provision(input: ProvisionInput): Promise<Provisioned> {
  const { gh, repo, dir, tip, now, memory, log } = input;
  const key = keyOf(repo);
  const access = await loadAccessRepo(await gitRevision(dir, tip));
  if (access.errors.length > 0) {
    const first = access.errors[0];
    throw new Error(
      `${key}@${tip.slice(0, 7)}: the policies are invalid (${first?.file}:${first?.line}: ${first?.message}); nothing is granted until they are fixed`,
    );
  }
  const { config, policies } = access;
  const history = await cachedHistory(dir, tip, config.paths.requests, { prepare: prepareChange(config) });
  const ledger = finalizeLedger(foldLedger(history.commits, config), now, { events: false });
  const owner = await rootCommit(dir, tip);

  // Provenance: only what an approved, merged PR brought in is provisioned.
  const t = now.getTime();
  const activeNow = (g: Grant) => Date.parse(g.starts_at) <= t && t < Date.parse(g.ends_at);
  const refused: Provisioned['refused'] = [];
  const untrusted = new Set<string>();
  for (const g of ledger.grants) {
    if (!activeNow(g) && !(Date.parse(g.starts_at) > t)) continue;
    let v: Verdict;
    try {
      v = await verdictOf(input, g);
    } catch (err) {
      // GitHub could not tell: nothing is granted for it this time; the next run asks again.
      untrusted.add(g.id);
      log.warn({ repo: key, grant: g.id }, `cannot check provenance of ${g.file}: ${(err as Error).message}`);
      continue;
    }
    if (v.ok) continue;
    untrusted.add(g.id);
    refused.push({ file: g.file, grantId: g.id, reason: v.reason ?? 'not approved' });
    const alarmKey = `provenance#${key}#${g.id}`;
    if (!memory.alarmed.has(alarmKey) && !input.dryRun) {
      await raiseAlarm(gh, repo, g.commit, g.file, v.reason ?? 'not approved through a pull request');
      memory.alarmed.add(alarmKey);
    }
  }
  const trustedAll = ledger.grants.filter((g) => !untrusted.has(g.id));

  // Credentials that were granted but never delivered (a crash between the two) are granted again.
  const regrant = new Set<string>();
  if (input.only !== 'revoke') {
    for (const g of trustedAll) {
      if (!activeNow(g) || memory.delivered.has(`${key}#${g.id}`)) continue;
      const pull = memory.verdicts.get(`${key}#${g.id}`)?.pull ?? null;
      if (pull !== null && (await hasMarker(gh, repo, pull, MARK.credentials(g.id), input.botLogin))) {
        memory.delivered.add(`${key}#${g.id}`);
        continue;
      }
      regrant.add(g.id);
    }
  }

  // Credentials go to the account that opened the PR, read from the verdict: the keys of a login are read only
  // while that login still belongs to it (a renamed requester's old login may have been taken since).
  const accounts = new Map<string, number[]>();
  for (const g of trustedAll) {
    if (!activeNow(g) && !(Date.parse(g.starts_at) > t)) continue;
    // No recorded account: -1, which no account has (the login is then refused, alone or beside another id).
    const id = memory.verdicts.get(`${key}#${g.id}`)?.requester?.id ?? -1;
    const login = g.requester.toLowerCase();
    if (!accounts.get(login)?.includes(id)) accounts.set(login, [...(accounts.get(login) ?? []), id]);
  }
  const github: GitHubSealer | null = input.sealer
    ? null
    : githubSealer(gh, { accountsOf: (login) => accounts.get(login.toLowerCase()) ?? [] });
  const targets = await Targets.connect(policies, input.env);
  let result: ApplyResult;
  try {
    result = await reconcileTargets(targets, {
      grants: trustedAll,
      policies,
      owner,
      at: now,
      sealer: input.sealer ?? (github as GitHubSealer),
      regrant,
      ...(input.only ? { only: input.only } : {}),
      ...(input.dryRun ? { dryRun: true } : {}),
    });
  } finally {
    await targets.close();
  }
  for (const p of result.plan.problems) log.warn({ repo: key, file: p.file }, p.message);
  const out = { key, tip, owner, config, policies, grants: ledger.grants, result, refused };
  if (input.dryRun) return { ...out, trusted: [], reverts: [] };

  for (const g of result.granted) await deliver(input, ledger.grants, g);
  for (const f of result.failures) {
    const grant = f.grantId ? ledger.grants.find((g) => g.id === f.grantId) : undefined;
    const impostor = grant && github?.refusedIdentities.get(grant.requester.toLowerCase());
    if (f.action === 'grant' && grant && impostor) await refuseIdentity(input, grant, impostor);
    else if (f.action === 'grant' && f.noKeys && f.grantId) await tellNoKeys(input, f, ledger.grants);
    else if (f.action === 'revoke' && f.file) await revocationFailing(input, f.file, f.message);
    else log.error({ repo: key, file: f.file, action: f.action }, f.message);
  }
  // Alarms for what was just revoked are closed, also those raised before a restart (one listing).
  if (result.revoked.length > 0) {
    let open = new Set<string>();
    try {
      open = new Set((await openAlarms(gh, repo)).map((i) => i.title));
    } catch (err) {
      log.warn({ repo: key }, `cannot list the alarms: ${(err as Error).message}`);
    }
    for (const r of result.revoked)
      await revocationVerified(input, r.file, open.has(revocationTitle(r.file)));
  }

  // Files whose access ended at expiry but are still in the tree are removed, once nothing is left on a
  // target: just revoked, or revoked before a restart, or a revert PR that failed before.
  const held = new Set(
    result.actual
      .filter((a) => a.owner === owner && !result.revoked.some((r) => r.principal === a.principal))
      .map((a) => a.file),
  );
  const latest = new Map<string, Grant>();
  for (const g of ledger.grants) latest.set(g.file, g);
  const reverts: Provisioned['reverts'] = [];
  for (const g of latest.values()) {
    if (g.state !== 'expired' || held.has(g.file)) continue;
    const activity = result.revoked.find((r) => r.file === g.file && r.activity)?.activity?.summary;
    const pull = ledger.grants
      .filter((x) => x.file === g.file)
      .map((x) => memory.verdicts.get(`${key}#${x.id}`)?.pull)
      .find((p) => typeof p === 'number');
    reverts.push({ file: g.file, ...(activity ? { activity } : {}), ...(pull ? { pull } : {}) });
  }
  return { ...out, trusted: trustedAll.filter((g) => activeNow(g) || Date.parse(g.starts_at) > t), reverts };
}

async function verdictOf(input: ProvisionInput, g: Grant): Promise<Verdict> {
  const vkey = `${keyOf(input.repo)}#${g.id}`;
  const known = input.memory.verdicts.get(vkey);
  if (known) return known;
  const blob = (
    await simpleGit(input.dir).raw(['rev-parse', '--verify', '--end-of-options', `${g.commit}:${g.file}`])
  ).trim();
  // The verdict recorded on the merge commit, or (first sight) decided as at the merge and recorded.
  const [p] = await settleProvenance(
    input.gh,
    input.repo,
    g.commit,
    [{ path: g.file, status: g.extends ? 'modified' : 'added', blob }],
    {
      botLogin: input.botLogin,
      author: verdictAuthor(input.botLogin, input.appId),
      now: () => input.now,
      ...(input.cache ? { cache: input.cache } : {}),
      ...(input.teams ? { teams: input.teams } : {}),
      ...(input.dryRun ? { dryRun: true } : {}),
    },
  );
  const v: Verdict = p?.ok
    ? { ok: true, pull: p.pull, requester: p.requester }
    : { ok: false, pull: p?.pull ?? null, reason: p && !p.ok ? p.reason : 'not decided' };
  // A verdict decided without being recorded (`--dry-run`) is not remembered.
  if (!input.dryRun || p?.source === 'recorded') input.memory.verdicts.set(vkey, v);
  return v;
}

// ---- talking to the requester ----------------------------------------------------------------------------

async function deliver(input: ProvisionInput, grants: Grant[], g: Granted): Promise<void> {
  const key = keyOf(input.repo);
  const pull = input.memory.verdicts.get(`${key}#${g.grantId}`)?.pull ?? null;
  const grant = grants.find((x) => x.id === g.grantId);
  if (pull === null || !grant) {
    input.log.error(
      { repo: key, file: g.file },
      `granted ${g.file} but know no PR to deliver its credentials on`,
    );
    return;
  }
  const expires = Date.parse(g.expires_at);
  const body = [
    MARK.credentials(g.grantId),
    `**Granted.** ${mention(grant.requester)} has **${md(grant.role)}** on **${md(grant.resource)}** until **${utc(expires)}** (${relative(expires - input.now.getTime())}), as \`${md(g.principal)}\`.`,
    '',
    'Credentials, sealed to your SSH keys on GitHub (only your private key opens them):',
    '',
    '```',
    g.credentials.trimEnd(),
    '```',
    '',
    `Save the block to a file and open it with \`timebox creds FILE\` or \`age -d -i ~/.ssh/id_ed25519 FILE\`. At expiry Timebox revokes the access, ends live sessions and removes \`${md(g.file)}\` with a pull request.`,
  ].join('\n');
  await input.gh.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    ...input.repo,
    issue_number: pull,
    body,
  });
  input.memory.delivered.add(`${key}#${g.grantId}`);
  input.log.info(
    { repo: key, file: g.file, pull, principal: g.principal },
    `granted ${g.file} until ${g.expires_at}`,
  );
}

async function tellNoKeys(input: ProvisionInput, f: Failure, grants: Grant[]): Promise<void> {
  const id = f.grantId as string;
  const grant = grants.find((g) => g.id === id);
  const k = `${keyOf(input.repo)}#${id}`;
  if (input.memory.told.has(k)) return;
  const pull = input.memory.verdicts.get(k)?.pull ?? null;
  if (pull !== null && !(await hasMarker(input.gh, input.repo, pull, MARK.noKeys(id), input.botLogin))) {
    await input.gh.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
      ...input.repo,
      issue_number: pull,
      body: [
        MARK.noKeys(id),
        `**Nothing granted yet.** ${mention(grant?.requester ?? '')} has no \`ssh-ed25519\` or \`ssh-rsa\` key on GitHub, so there is nothing to seal the credentials to.`,
        '',
        `Add one at https://github.com/settings/keys (\`ssh-keygen -t ed25519\` makes one). Timebox tries again at its next reconcile, within minutes, and grants **${md(grant?.role ?? '')}** on **${md(grant?.resource ?? '')}** then.`,
      ].join('\n'),
    });
  }
  input.memory.told.add(k);
  input.log.warn({ repo: keyOf(input.repo), file: f.file }, f.message);
}

/**
 * The login in the request no longer names the account that opened the pull request (renamed, and perhaps
 * taken by someone else): nothing is granted, the PR says why (once, by marker) and an alarm is raised.
 */
async function refuseIdentity(input: ProvisionInput, grant: Grant, why: string): Promise<void> {
  const key = keyOf(input.repo);
  const k = `${key}#${grant.id}`;
  input.log.error({ repo: key, file: grant.file }, `nothing granted for ${grant.file}: ${why}`);
  if (input.memory.impostors.has(k)) return;
  const pull = input.memory.verdicts.get(k)?.pull ?? null;
  if (
    pull !== null &&
    !(await hasMarker(input.gh, input.repo, pull, MARK.identity(grant.id), input.botLogin))
  ) {
    await input.gh.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
      ...input.repo,
      issue_number: pull,
      body: [
        MARK.identity(grant.id),
        `**Nothing granted.** ${md(why)}.`,
        '',
        `Timebox seals credentials only to the GitHub account that opened this pull request. If that account was renamed, request the access again under its new login (\`requester:\` must be the new login).`,
      ].join('\n'),
    });
  }
  await raiseAlarmIssue(
    input.gh,
    input.repo,
    `Timebox alarm: ${grant.file} — the requester's login now names another GitHub account`,
    `Timebox refused to grant \`${md(grant.file)}\` (commit ${grant.commit}):\n\n> ${md(why)}\n\nNothing was granted and no credentials were sealed. Check who holds the login now; the original requester can ask again under their new login.`,
  );
  input.memory.impostors.add(k);
}

/** The reminder before expiry, once per grant (the marker says whether it was sent). */
export async function remind(
  gh: GitHub,
  repo: RepoRef,
  grant: Grant,
  pull: number,
  botLogin: string,
  now: Date,
): Promise<boolean> {
  if (await hasMarker(gh, repo, pull, MARK.reminder(grant.id), botLogin)) return false;
  const expires = Date.parse(grant.ends_at);
  await gh.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    ...repo,
    issue_number: pull,
    body: [
      MARK.reminder(grant.id),
      `${mention(grant.requester)}, your **${md(grant.role)}** on **${md(grant.resource)}** ends at **${utc(expires)}** (${relative(expires - now.getTime())}).`,
      `To keep it, open a pull request that edits \`${md(grant.file)}\` (an extension is approved like a request).`,
    ].join('\n'),
  });
  return true;
}

// ---- revocation alarms -------------------------------------------------------------------------------------

const revocationTitle = (file: string) => `Timebox alarm: revoking ${file} is failing`;

/** Opens the `timebox-alarm` for a failing revocation (once). */
export async function revocationFailing(
  input: Pick<ProvisionInput, 'gh' | 'repo' | 'memory' | 'log'>,
  file: string,
  message: string,
): Promise<void> {
  const k = `revoke#${keyOf(input.repo)}#${file}`;
  input.log.error({ repo: keyOf(input.repo), file }, `revoking ${file} failed: ${message}`);
  if (input.memory.alarmed.has(k)) return;
  try {
    await raiseAlarmIssue(
      input.gh,
      input.repo,
      revocationTitle(file),
      `Timebox could not revoke the access granted by \`${md(file)}\`:\n\n> ${md(message)}\n\nIt keeps retrying until the revocation is verified, and closes this issue then. Until then the access may still work (a native expiry such as PostgreSQL's \`VALID UNTIL\` still bounds it).`,
    );
    input.memory.alarmed.add(k);
  } catch (err) {
    input.log.error({ file }, `cannot raise the alarm for ${file}: ${(err as Error).message}`);
  }
}

/** Closes the alarm of a revocation that went through (when this process, or an earlier one, raised it). */
export async function revocationVerified(
  input: Pick<ProvisionInput, 'gh' | 'repo' | 'memory' | 'log'>,
  file: string,
  /** Close it even if this process did not raise it (it is known to be open). */
  always = false,
): Promise<void> {
  const k = `revoke#${keyOf(input.repo)}#${file}`;
  if (!input.memory.alarmed.delete(k) && !always) return;
  try {
    await clearAlarmIssue(
      input.gh,
      input.repo,
      revocationTitle(file),
      'The revocation went through and was verified: nothing is left on the target.',
    );
  } catch (err) {
    input.log.warn({ file }, `cannot close the alarm: ${(err as Error).message}`);
  }
}

/** Whether `botLogin` already commented with `marker` on the PR. */
export async function hasMarker(
  gh: GitHub,
  repo: RepoRef,
  pull: number,
  marker: string,
  botLogin: string,
): Promise<boolean> {
  const comments = await gh.paginate('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    ...repo,
    issue_number: pull,
    per_page: 100,
  });
  return comments.some((c) => c.user?.login === botLogin && (c.body ?? '').startsWith(marker));
}

export function utc(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/:\d\d\.\d{3}Z$/, ' UTC')
    .replace('T', ' ');
}

/** `in 2 hours`, `in 15 minutes`, `now`. */
export function relative(ms: number): string {
  if (ms <= 30_000) return 'now';
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `in ${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.round(minutes / 6) / 10;
  if (hours < 48) return `in ${hours} hour${hours === 1 ? '' : 's'}`;
  const days = Math.round(hours / 2.4) / 10;
  return `in ${days} days`;
}
