// Provisioning from an access repo's history with the forge as the judge of provenance, shared by
// `timebox serve` (src/engine/keeper.ts, on a local mirror) and Actions mode (`timebox apply` on the
// workflow's checkout): fold the ledger at a commit, keep only grants an approved, merged PR brought in
// (anything else raises a `timebox-alarm`), reconcile the targets, deliver new credentials on the PR (sealed
// to the requester's SSH keys on the forge), and say which expired files still need a revert PR. Everything
// said to people is a notice (src/engine/notices).
//
// What it remembers between runs (`ProvisionMemory`) only saves API calls: the provenance verdicts recorded
// on the merge commits (src/engine/verdicts.ts), the PR comments (markers), the alarm issues and the targets'
// tags hold the truth, so a fresh memory converges to the same state — and never re-decides a past merge.
import { simpleGit } from 'simple-git';
import { type Clock, fixedClock } from '../core/clock.js';
import { finalizeLedger, foldLedger, type Grant, type Ledger, prepareChange } from '../core/ledger.js';
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
import type { Forge, RepoRef } from './forge.js';
import { type ForgeSealer, forgeSealer } from './keys.js';
import { openAlarmTitles } from './notices/forge-notifier.js';
import type { NoticeGrant, Notices } from './notices/index.js';
import { MARK, ours } from './notices/markers.js';
import { revocationTitle } from './notices/render.js';
import type { CheckCache } from './pull-check.js';
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

export interface ProvisionInput {
  forge: Forge;
  /** Where what happens is said (the forge's comments and issues first). */
  notices: Notices;
  /** A git repository holding `tip` (a bare mirror or a checkout). */
  dir: string;
  tip: string;
  now: Date;
  /**
   * The clock, when the run is slow enough for `now` to go stale (serve: a fetch and the forge's answers take
   * seconds; meanwhile a grant may end and be revoked by its job, on this replica or another). The targets
   * are planned at the clock's time when they are changed, not at `now`, and what a run granted that has ended
   * by the time it finished is revoked before it returns: no run leaves behind a grant already over.
   */
  clock?: Clock;
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
  /** Default: the requester's SSH keys on the forge. */
  sealer?: Sealer;
}

export interface Provisioned {
  key: string;
  tip: string;
  /** The access repo's root commit: tags and role names carry it. */
  accessRepoId: string;
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
  const { dir, tip, now, log } = input;
  const key = keyOf(input.forge.repo);
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
  const accessRepoId = await rootCommit(dir, tip);

  // Provenance: only what an approved, merged PR brought in is provisioned.
  const { refused, untrusted } = await checkProvenanceOf(input, ledger);
  const trustedAll = ledger.grants.filter((g) => !untrusted.has(g.id));
  const regrant = input.only === 'revoke' ? new Set<string>() : await undelivered(input, trustedAll);
  const sealer = input.sealer
    ? null
    : forgeSealer(input.forge, { accountsOf: requestersOf(input, trustedAll) });
  const targets = await Targets.connect(policies, input.env);
  let result: ApplyResult;
  try {
    const apply = (only: 'revoke' | undefined) =>
      reconcileTargets(targets, {
        grants: trustedAll,
        policies,
        accessRepoId,
        at: input.clock?.now() ?? now,
        sealer: input.sealer ?? (sealer as ForgeSealer),
        regrant,
        ...(only ? { only } : {}),
        ...(input.dryRun ? { dryRun: true } : {}),
      });
    result = await apply(input.only);
    // Granted just as it ended (the plan was made before its end): revoked at once, by this run.
    const t = input.clock?.nowMs();
    if (t !== undefined && !input.dryRun && result.granted.some((g) => Date.parse(g.expires_at) <= t)) {
      const again = await apply('revoke');
      result = {
        ...result,
        granted: result.granted.filter((g) => !again.revoked.some((r) => r.principal === g.principal)),
        revoked: [...result.revoked, ...again.revoked],
        failures: [...result.failures, ...again.failures],
        actual: again.actual,
      };
    }
  } finally {
    await targets.close();
  }
  for (const p of result.plan.problems) log.warn({ repo: key, file: p.file }, p.message);
  const out = { key, tip, accessRepoId, config, policies, grants: ledger.grants, result, refused };
  if (input.dryRun) return { ...out, trusted: [], reverts: [] };

  await tellOutcome(input, ledger.grants, result, sealer);
  const t = now.getTime();
  return {
    ...out,
    trusted: trustedAll.filter((g) => activeAt(g, t) || Date.parse(g.starts_at) > t),
    reverts: revertsDue(input, ledger.grants, result, accessRepoId),
  };
}

const activeAt = (g: Grant, t: number) => Date.parse(g.starts_at) <= t && t < Date.parse(g.ends_at);
const activeOrLater = (g: Grant, t: number) => activeAt(g, t) || Date.parse(g.starts_at) > t;

/** Each grant active now or later, judged for provenance; refused ones raise an alarm (once per process). */
async function checkProvenanceOf(
  input: ProvisionInput,
  ledger: Ledger,
): Promise<{ refused: Provisioned['refused']; untrusted: Set<string> }> {
  const key = keyOf(input.forge.repo);
  const t = input.now.getTime();
  const refused: Provisioned['refused'] = [];
  const untrusted = new Set<string>();
  for (const g of ledger.grants) {
    if (!activeOrLater(g, t)) continue;
    let v: Verdict;
    try {
      v = await verdictOf(input, g);
    } catch (err) {
      // The forge could not tell: nothing is granted for it this time; the next run asks again.
      untrusted.add(g.id);
      input.log.warn(
        { repo: key, grant: g.id },
        `cannot check provenance of ${g.file}: ${(err as Error).message}`,
      );
      continue;
    }
    if (v.ok) continue;
    untrusted.add(g.id);
    refused.push({ file: g.file, grantId: g.id, reason: v.reason ?? 'not approved' });
    const alarmKey = `provenance#${key}#${g.id}`;
    if (!input.memory.alarmed.has(alarmKey) && !input.dryRun) {
      await input.notices.emit({
        kind: 'provenance-refused',
        commit: g.commit,
        file: g.file,
        reason: v.reason ?? 'not approved through a pull request',
      });
      input.memory.alarmed.add(alarmKey);
    }
  }
  return { refused, untrusted };
}

/**
 * Credentials that were granted but never delivered (a crash between the two) are granted again. A pull
 * request's comments are read once, together, however many of its grants are asked about.
 */
async function undelivered(input: ProvisionInput, trusted: Grant[]): Promise<Set<string>> {
  const key = keyOf(input.forge.repo);
  const t = input.now.getTime();
  const asked = trusted
    .filter((g) => activeAt(g, t) && !input.memory.delivered.has(`${key}#${g.id}`))
    .map((g) => ({ id: g.id, pull: input.memory.verdicts.get(`${key}#${g.id}`)?.pull ?? null }));
  const pulls = [...new Set(asked.flatMap((a) => (a.pull === null ? [] : [a.pull])))];
  const comments = new Map(
    await Promise.all(pulls.map(async (n) => [n, await input.forge.comments(n)] as const)),
  );
  const regrant = new Set<string>();
  for (const a of asked) {
    const list = a.pull === null ? [] : (comments.get(a.pull) ?? []);
    if (ours(list, input.botLogin, MARK.credentials(a.id)).length > 0)
      input.memory.delivered.add(`${key}#${a.id}`);
    else regrant.add(a.id);
  }
  return regrant;
}

/**
 * Credentials go to the account that opened the PR, read from the verdict: the keys of a login are read only
 * while that login still belongs to it (a renamed requester's old login may have been taken since).
 */
function requestersOf(input: ProvisionInput, trusted: Grant[]): (login: string) => readonly number[] {
  const key = keyOf(input.forge.repo);
  const t = input.now.getTime();
  const accounts = new Map<string, number[]>();
  for (const g of trusted) {
    if (!activeOrLater(g, t)) continue;
    // No recorded account: -1, which no account has (the login is then refused, alone or beside another id).
    const id = input.memory.verdicts.get(`${key}#${g.id}`)?.requester?.id ?? -1;
    const login = g.requester.toLowerCase();
    if (!accounts.get(login)?.includes(id)) accounts.set(login, [...(accounts.get(login) ?? []), id]);
  }
  return (login) => accounts.get(login.toLowerCase()) ?? [];
}

/** Credentials on the PRs, what failed said where it matters, alarms of verified revocations closed. */
async function tellOutcome(
  input: ProvisionInput,
  grants: Grant[],
  result: ApplyResult,
  sealer: ForgeSealer | null,
): Promise<void> {
  const key = keyOf(input.forge.repo);
  for (const g of result.granted) await deliver(input, grants, g);
  for (const f of result.failures) {
    const grant = f.grantId ? grants.find((g) => g.id === f.grantId) : undefined;
    const impostor = grant && sealer?.refusedIdentities.get(grant.requester.toLowerCase());
    if (f.action === 'grant' && grant && impostor) await refuseIdentity(input, grant, impostor);
    else if (f.action === 'grant' && f.noKeys && f.grantId) await tellNoKeys(input, f, grants);
    else if (f.action === 'revoke' && f.file) await revocationFailing(input, f.file, f.message);
    else input.log.error({ repo: key, file: f.file, action: f.action }, f.message);
  }
  // Alarms for what was just revoked are closed, also those raised before a restart (one listing).
  if (result.revoked.length > 0) {
    let open = new Set<string>();
    try {
      open = await openAlarmTitles(input.forge);
    } catch (err) {
      input.log.warn({ repo: key }, `cannot list the alarms: ${(err as Error).message}`);
    }
    for (const r of result.revoked)
      await revocationVerified(input, r.file, open.has(revocationTitle(r.file)));
  }
}

/**
 * Files whose access ended at expiry but are still in the tree are removed, once nothing is left on a
 * target: just revoked, or revoked before a restart, or a revert PR that failed before.
 */
function revertsDue(
  input: ProvisionInput,
  grants: Grant[],
  result: ApplyResult,
  accessRepoId: string,
): Provisioned['reverts'] {
  const key = keyOf(input.forge.repo);
  const held = new Set(
    result.actual
      .filter(
        (a) => a.accessRepoId === accessRepoId && !result.revoked.some((r) => r.principal === a.principal),
      )
      .map((a) => a.file),
  );
  const latest = new Map<string, Grant>();
  for (const g of grants) latest.set(g.file, g);
  const reverts: Provisioned['reverts'] = [];
  for (const g of latest.values()) {
    if (g.state !== 'expired' || held.has(g.file)) continue;
    const activity = result.revoked.find((r) => r.file === g.file && r.activity)?.activity?.summary;
    const pull = grants
      .filter((x) => x.file === g.file)
      .map((x) => input.memory.verdicts.get(`${key}#${x.id}`)?.pull)
      .find((p) => typeof p === 'number');
    reverts.push({ file: g.file, ...(activity ? { activity } : {}), ...(pull ? { pull } : {}) });
  }
  return reverts;
}

async function verdictOf(input: ProvisionInput, g: Grant): Promise<Verdict> {
  const vkey = `${keyOf(input.forge.repo)}#${g.id}`;
  const known = input.memory.verdicts.get(vkey);
  if (known) return known;
  const blob = (
    await simpleGit(input.dir).raw(['rev-parse', '--verify', '--end-of-options', `${g.commit}:${g.file}`])
  ).trim();
  // The verdict recorded on the merge commit, or (first sight) decided as at the merge and recorded.
  const [p] = await settleProvenance(
    input.forge,
    g.commit,
    [{ path: g.file, status: g.extends ? 'modified' : 'added', blob }],
    {
      botLogin: input.botLogin,
      author: verdictAuthor(input.botLogin, input.appId),
      clock: fixedClock(input.now),
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

export function noticeGrant(g: Grant): NoticeGrant {
  return { id: g.id, file: g.file, requester: g.requester, role: g.role, resource: g.resource };
}

async function deliver(input: ProvisionInput, grants: Grant[], g: Granted): Promise<void> {
  const key = keyOf(input.forge.repo);
  const pull = input.memory.verdicts.get(`${key}#${g.grantId}`)?.pull ?? null;
  const grant = grants.find((x) => x.id === g.grantId);
  if (pull === null || !grant) {
    input.log.error(
      { repo: key, file: g.file },
      `granted ${g.file} but know no PR to deliver its credentials on`,
    );
    return;
  }
  await input.notices.emit({
    kind: 'granted',
    pull,
    grant: noticeGrant(grant),
    principal: g.principal,
    credentials: g.credentials,
    expiresAt: Date.parse(g.expires_at),
    at: input.now.getTime(),
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
  const k = `${keyOf(input.forge.repo)}#${id}`;
  if (input.memory.told.has(k)) return;
  const pull = input.memory.verdicts.get(k)?.pull ?? null;
  await input.notices.emit({
    kind: 'no-keys',
    pull,
    grant: grant ? noticeGrant(grant) : { id, file: f.file, requester: '', role: '', resource: '' },
  });
  input.memory.told.add(k);
  input.log.warn({ repo: keyOf(input.forge.repo), file: f.file }, f.message);
}

/**
 * The login in the request no longer names the account that opened the pull request (renamed, and perhaps
 * taken by someone else): nothing is granted, the PR says why (once, by marker) and an alarm is raised.
 */
async function refuseIdentity(input: ProvisionInput, grant: Grant, why: string): Promise<void> {
  const key = keyOf(input.forge.repo);
  const k = `${key}#${grant.id}`;
  input.log.error({ repo: key, file: grant.file }, `nothing granted for ${grant.file}: ${why}`);
  if (input.memory.impostors.has(k)) return;
  const pull = input.memory.verdicts.get(k)?.pull ?? null;
  await input.notices.emit({
    kind: 'identity-refused',
    pull,
    grant: noticeGrant(grant),
    commit: grant.commit,
    why,
  });
  input.memory.impostors.add(k);
}

/** The reminder before expiry, once per grant (the marker says whether it was sent). */
export async function remind(notices: Notices, grant: Grant, pull: number, now: Date): Promise<boolean> {
  const { posted } = await notices.emit({
    kind: 'reminder',
    pull,
    grant: noticeGrant(grant),
    endsAt: Date.parse(grant.ends_at),
    at: now.getTime(),
  });
  return posted === true;
}

// ---- revocation alarms -------------------------------------------------------------------------------------

type AlarmInput = Pick<ProvisionInput, 'forge' | 'notices' | 'memory' | 'log'>;

/** Opens the `timebox-alarm` for a failing revocation (once). */
export async function revocationFailing(input: AlarmInput, file: string, message: string): Promise<void> {
  const k = `revoke#${keyOf(input.forge.repo)}#${file}`;
  input.log.error({ repo: keyOf(input.forge.repo), file }, `revoking ${file} failed: ${message}`);
  if (input.memory.alarmed.has(k)) return;
  try {
    await input.notices.emit({ kind: 'revocation-failing', file, message });
    input.memory.alarmed.add(k);
  } catch (err) {
    input.log.error({ file }, `cannot raise the alarm for ${file}: ${(err as Error).message}`);
  }
}

/** Closes the alarm of a revocation that went through (when this process, or an earlier one, raised it). */
export async function revocationVerified(
  input: AlarmInput,
  file: string,
  /** Close it even if this process did not raise it (it is known to be open). */
  always = false,
): Promise<void> {
  const k = `revoke#${keyOf(input.forge.repo)}#${file}`;
  if (!input.memory.alarmed.delete(k) && !always) return;
  try {
    await input.notices.emit({ kind: 'revocation-verified', file });
  } catch (err) {
    input.log.warn({ file }, `cannot close the alarm: ${(err as Error).message}`);
  }
}
