// Provenance verdicts, durable: decided once, the first time Timebox sees a merge, and recorded on the merge
// commit as a check run named `timebox/provenance` (its conclusion for people, a marker in its text for
// Timebox); every later run, after a restart or in a fresh Actions job, reads the record back and never
// decides that merge again with today's reviews, teams and permissions (src/core/provenance.ts).
//
// Only records Timebox's own identity wrote count: check runs of its App (by slug, and by id when known).
// Only GitHub Apps can create check runs, so no person can forge one for `timebox serve`. In Actions mode the
// identity is `github-actions`, which every workflow of the repository shares: a recorded approval is
// therefore also checked against what cannot change after a merge (the pull request merged this commit, with
// this content, opened by the recorded requester) — see docs/decisions.md for what remains.
import type { Clock } from '../core/clock.js';
import { fixedClock } from '../core/clock.js';
import type { Decision } from '../core/model.js';
import {
  type Account,
  checkProvenance,
  type MergedPull,
  PROVENANCE_CHECK,
  type Provenance,
  type PushedChange,
  parseVerdictMarker,
  type RecordedVerdict,
  type VerdictRecord,
  verdictMarker,
  verdictOfRecords,
} from '../core/provenance.js';
import { md } from '../report/pull-request.js';
import type { Forge } from './forge.js';
import { type CheckCache, decidePull } from './pull-check.js';

/** Whose check runs are verdicts: Timebox's App (`<slug>[bot]`), or `github-actions` in Actions mode. */
export interface VerdictAuthor {
  slug: string;
  appId?: number;
}

export function verdictAuthor(botLogin: string, appId?: number): VerdictAuthor {
  return { slug: botLogin.replace(/\[bot\]$/i, ''), ...(appId !== undefined ? { appId } : {}) };
}

/** A merged pull request as provenance sees it, with who opened it and the reviewers' account ids. */
export interface MergedPullFacts extends MergedPull {
  author: Account | null;
  /** Lower-case login → account id of everyone who reviewed it. */
  reviewers: ReadonlyMap<string, number>;
}

/**
 * The merged pull requests that made `commit` (GitHub's merge, squash or last rebased commit), each decided
 * at its head, with policies from its base, as at its merge (office hours and windows of that moment; the
 * reviews, teams and permissions are those GitHub gives now, which is why this is asked once per merge).
 */
export async function mergedPullsAt(
  forge: Forge,
  commit: string,
  opts: { botLogin: string; cache?: CheckCache; teams?: Record<string, string[]> },
): Promise<MergedPullFacts[]> {
  const associated = await forge.pullsOfCommit(commit);
  const pulls: MergedPullFacts[] = [];
  // The decision and the reviewers' accounts come from the same reads: each pull's reviews and files once.
  forge = readOnce(forge, ['reviews', 'pullFiles']);
  for (const p of associated) {
    if (!p.merged_at || p.merge_commit_sha !== commit) continue;
    const pull = await forge.pull(p.number);
    const mergedAt = new Date(pull.merged_at ?? p.merged_at);
    const decided = await decidePull(
      forge,
      p.number,
      {
        botLogin: opts.botLogin,
        clock: fixedClock(mergedAt),
        ...(opts.cache ? { cache: opts.cache } : {}),
        ...(opts.teams ? { teams: opts.teams } : {}),
      },
      pull,
    );
    const [files, reviews] = await Promise.all([forge.pullFiles(p.number), forge.reviews(p.number)]);
    pulls.push({
      number: p.number,
      merged: true,
      mergeCommitSha: p.merge_commit_sha,
      headSha: pull.head.sha,
      decisions: decided.decisions,
      headBlobs: new Map(files.flatMap((f) => (f.sha ? [[f.filename, f.sha] as [string, string]] : []))),
      author: pull.user ? { id: Number(pull.user.id), login: pull.user.login } : null,
      reviewers: new Map(
        reviews.flatMap((r) => (r.user ? [[r.user.login.toLowerCase(), Number(r.user.id)]] : [])),
      ),
    });
  }
  return pulls;
}

/**
 * `forge` with the `methods` (reads of one pull request by its number) answered once per number: a second
 * call shares the first one's answer. Only for the span of one decision.
 */
function readOnce(forge: Forge, methods: readonly ('reviews' | 'pullFiles')[]): Forge {
  const kept = new Map<string, Promise<unknown>>();
  return new Proxy(forge, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (!(methods as readonly (string | symbol)[]).includes(prop))
        return (value as (...a: unknown[]) => unknown).bind(target);
      return (n: number) => {
        const k = `${String(prop)} ${n}`;
        let p = kept.get(k);
        if (!p) {
          p = (value as (n: number) => Promise<unknown>).call(target, n);
          kept.set(k, p);
        }
        return p;
      };
    },
  });
}

/** The verdict records on `commit` that Timebox's own identity wrote (anyone else's are not looked at). */
export async function readVerdictRecords(
  forge: Forge,
  commit: string,
  author: VerdictAuthor,
): Promise<VerdictRecord[]> {
  const runs = await forge.checkRuns(commit, PROVENANCE_CHECK, author.appId);
  return runs
    .filter(
      (r) =>
        r.head_sha === commit &&
        r.name === PROVENANCE_CHECK &&
        r.app?.slug === author.slug &&
        (author.appId === undefined || Number(r.app?.id) === author.appId),
    )
    .map((r) => ({ id: r.id, file: r.external_id ?? '', verdict: parseVerdictMarker(r.text) }));
}

/** Writes a verdict on its commit: `success` or `failure` for people, the marker for Timebox. */
export async function recordVerdict(forge: Forge, v: RecordedVerdict): Promise<void> {
  const approved = v.verdict === 'approved';
  const what = v.pull ? `#${v.pull}` : 'no pull request';
  const summary = approved
    ? `\`${md(v.file)}\` came through ${what}, approved by ${v.approvers.map((a) => md(a.login)).join(', ') || 'the policy'}; requested by ${md(v.requester?.login ?? 'nobody')} (GitHub account ${v.requester?.id ?? '?'}).`
    : `\`${md(v.file)}\` was refused: ${md(v.reason ?? 'not approved through a pull request')}. Nothing is granted for it; a new approved pull request that changes the file is needed.`;
  await forge.createCheckRun({
    name: PROVENANCE_CHECK,
    headSha: v.commit,
    externalId: v.file,
    conclusion: approved ? 'success' : 'failure',
    startedAt: v.decided_at,
    completedAt: v.decided_at,
    title: approved ? `Provenance: ${v.file} approved` : `Provenance: ${v.file} refused`,
    summary: `${summary}\n\nDecided at ${v.decided_at}, once; Timebox reads this record instead of deciding again.`,
    text: verdictMarker(v),
  });
}

/** A change's provenance, with the requester's account when it was approved. */
export type Settled = Provenance & {
  requester: Account | null;
  /** `recorded`: read back from an earlier run; `decided`: decided now (first sight). */
  source: 'recorded' | 'decided';
};

export interface SettleOptions {
  botLogin: string;
  author: VerdictAuthor;
  /** When a first-sight verdict is decided (its `decided_at`). */
  clock: Clock;
  cache?: CheckCache;
  teams?: Record<string, string[]>;
  /** Decide without recording (`--dry-run`). */
  dryRun?: boolean;
}

/**
 * The provenance of each change `commit` brought: the recorded verdict when there is one, otherwise decided
 * now from the merged pull request and recorded (first sight). Removals always pass and are not recorded.
 * After recording, the records are read again and the earliest wins, so that two runs deciding at once agree.
 */
export async function settleProvenance(
  forge: Forge,
  commit: string,
  changes: readonly PushedChange[],
  opts: SettleOptions,
): Promise<Settled[]> {
  const records = await readVerdictRecords(forge, commit, opts.author);
  const out = new Map<string, Settled>();
  const undecided: PushedChange[] = [];
  for (const c of changes) {
    if (c.status === 'removed') {
      out.set(c.path, { path: c.path, ok: true, pull: null, requester: null, source: 'decided' });
      continue;
    }
    const v = verdictOfRecords(records, commit, c.path, c.blob);
    if (v) out.set(c.path, await fromRecord(forge, v));
    else undecided.push(c);
  }
  if (undecided.length > 0) {
    const pulls = await mergedPullsAt(forge, commit, opts);
    const decidedAt = opts.clock.now().toISOString();
    const decided = checkProvenance(commit, undecided, pulls);
    for (const p of decided) {
      const change = undecided.find((c) => c.path === p.path);
      const pull = pulls.find((x) => x.number === p.pull);
      const v = toRecord(p, commit, change?.blob ?? null, pull, decidedAt);
      if (opts.dryRun) {
        out.set(p.path, settledOf(v, 'decided'));
        continue;
      }
      await recordVerdict(forge, v);
    }
    if (!opts.dryRun) {
      const again = await readVerdictRecords(forge, commit, opts.author);
      for (const c of undecided) {
        const v = verdictOfRecords(again, commit, c.path, c.blob);
        // GitHub answered the write but does not list it: say so rather than trust what was not kept.
        if (!v) throw new Error(`the provenance verdict for ${c.path} on ${commit.slice(0, 7)} was not kept`);
        out.set(c.path, v.decided_at === decidedAt ? settledOf(v, 'decided') : await fromRecord(forge, v));
      }
    }
  }
  return changes.map((c) => out.get(c.path) as Settled);
}

function toRecord(
  p: Provenance,
  commit: string,
  blob: string | null,
  pull: MergedPullFacts | undefined,
  decidedAt: string,
): RecordedVerdict {
  const approvers = p.ok
    ? approversOf(
        pull?.decisions.find((d) => d.file === p.path),
        pull,
      )
    : [];
  return {
    verdict: p.ok ? 'approved' : 'refused',
    file: p.path,
    blob,
    commit,
    pull: p.pull,
    requester: pull?.author ?? null,
    approvers,
    decided_at: decidedAt,
    ...(p.ok ? {} : { reason: p.reason }),
  };
}

function approversOf(d: Decision | undefined, pull: MergedPullFacts | undefined): Account[] {
  const logins = new Set((d?.approvals?.steps ?? []).flatMap((s) => s.approvers.map((a) => a.toLowerCase())));
  return [...logins].flatMap((login) => {
    const id = pull?.reviewers.get(login);
    return id === undefined ? [] : [{ id, login }];
  });
}

function settledOf(v: RecordedVerdict, source: Settled['source']): Settled {
  if (v.verdict === 'approved')
    return { path: v.file, ok: true, pull: v.pull, requester: v.requester, source };
  return {
    path: v.file,
    ok: false,
    pull: v.pull,
    reason: v.reason ?? 'refused',
    requester: v.requester,
    source,
  };
}

/**
 * A recorded verdict as it holds now. A refusal stands as written. An approval stands if what cannot change
 * after a merge still agrees with it: the pull request it names merged this very commit, with this blob at
 * its head, opened by the recorded requester's account. (A record forged by another workflow in Actions mode
 * cannot turn a direct push, or someone else's pull request, into an approval.)
 */
async function fromRecord(forge: Forge, v: RecordedVerdict): Promise<Settled> {
  if (v.verdict === 'refused') return settledOf(v, 'recorded');
  const refused = (why: string): Settled =>
    settledOf(
      { ...v, verdict: 'refused', reason: `the recorded approval does not hold: ${why}` },
      'recorded',
    );
  if (v.pull === null || !v.requester) return refused('it names no pull request or requester');
  const pull = await forge.pull(v.pull);
  if (!pull.merged_at || pull.merge_commit_sha !== v.commit)
    return refused(`#${v.pull} did not merge ${v.commit.slice(0, 7)}`);
  if (Number(pull.user?.id) !== v.requester.id)
    return refused(`#${v.pull} was not opened by account ${v.requester.id}`);
  const files = await forge.pullFiles(v.pull);
  const blob = files.find((f) => f.filename === v.file)?.sha ?? null;
  if (blob !== v.blob) return refused(`#${v.pull} did not bring this content of ${v.file}`);
  return settledOf(v, 'recorded');
}
