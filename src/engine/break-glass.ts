// Ratification of a break-glass access (SPEC "Break-glass"; docs/decisions.md "Break-glass: the engine side").
// An emergency request approved before its approvals is merged with `Timebox-Break-Glass: <ratify_by> <file>
// (rule …)`; from then on the approvals its rule normally needs must be given on the merged pull request by
// `ratify_by`. This module answers "is it ratified?" by deciding the merged pull request again, as at its
// merge, with the same counting rules (no requester, no pushers, head commit only, CODEOWNERS) over the
// reviews submitted by `ratify_by` only — so the answer is the same whenever it is asked, after a restart
// too — and carries out what follows when it is not: the alarm issue (one per request file, looked for
// among open and closed alarms before one is opened) and the `unratified` notice.
import { fixedClock } from '../core/clock.js';
import type { Grant } from '../core/ledger.js';
import type { Decision, StepReport } from '../core/model.js';
import type { Forge, ForgeReview } from './forge.js';
import type { NoticeGrant, Notices } from './notices/index.js';
import { ALARM_LABEL } from './notices/markers.js';
import { unratifiedTitle } from './notices/render.js';
import { type CheckCache, decidePull } from './pull-check.js';

/** A break-glass grant the engine watches: the ledger's grant (with `break_glass`) and its pull request. */
export interface GlassWatch {
  grant: Grant & { break_glass: NonNullable<Grant['break_glass']> };
  pull: number;
}

export type Ratification =
  /** Every approval its rule needs was given on the merged pull request by `ratify_by`. */
  | { state: 'ratified'; by: string[]; at: string }
  /** Not yet, and `ratify_by` has not come. */
  | { state: 'waiting'; missing: string[] }
  /** `ratify_by` has passed without them. */
  | { state: 'unratified'; missing: string[] };

export interface RatifyOptions {
  botLogin: string;
  /** Now, for "has ratify_by passed". */
  nowMs: number;
  cache?: CheckCache;
}

/** The forge as it stood at `byMs` for reviews: only reviews submitted by then count. */
function reviewsUntil(forge: Forge, byMs: number): Forge {
  return new Proxy(forge, {
    get(target, prop) {
      if (prop === 'reviews') {
        return async (n: number): Promise<ForgeReview[]> =>
          (await target.reviews(n)).filter((r) => !r.submitted_at || Date.parse(r.submitted_at) <= byMs);
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** What is still missing of a decision's approvals, in words. */
function missingOf(d: Decision | undefined): string[] {
  const report = d?.break_glass?.ratification ?? d?.approvals;
  if (!d || !report) return ['a decision on the merged pull request'];
  const out = report.steps
    .filter((s: StepReport) => !s.filled && s.approvers.length < s.count)
    .map((s) => `${s.count - s.approvers.length} from ${s.from.join(', ')}`);
  if (!report.codeowners.satisfied)
    out.push(`a code owner of ${d.file} (${report.codeowners.owners.join(', ') || 'none listed'})`);
  return out;
}

/** Decides the merged pull request again as at its merge, with the reviews given by `ratify_by`. */
export async function ratification(forge: Forge, w: GlassWatch, opts: RatifyOptions): Promise<Ratification> {
  const byMs = Date.parse(w.grant.break_glass.ratify_by);
  const until = reviewsUntil(forge, byMs);
  const decided = await decidePull(until, w.pull, {
    botLogin: opts.botLogin,
    clock: fixedClock(w.grant.merged_at),
    ...(opts.cache ? { cache: opts.cache } : {}),
  });
  const d = decided.decisions.find((x) => x.file === w.grant.file);
  const report = d?.approvals;
  if (d?.status === 'approved' && !d.break_glass && report?.satisfied && report.codeowners.satisfied) {
    const reviews = await until.reviews(w.pull);
    const by = ratifiers(d, reviews, w.grant.requester);
    const times = reviews
      .filter((r) => r.user && by.includes(r.user.login) && r.state === 'APPROVED' && r.submitted_at)
      .map((r) => Date.parse(r.submitted_at as string));
    const at = new Date(times.length > 0 ? Math.max(...times) : opts.nowMs).toISOString();
    return { state: 'ratified', by, at: at.replace(/\.000Z$/, 'Z') };
  }
  const missing = missingOf(d);
  return opts.nowMs >= byMs ? { state: 'unratified', missing } : { state: 'waiting', missing };
}

/** Who ratified: the steps' approvers, and the approving code owners named as people. */
function ratifiers(d: Decision, reviews: readonly ForgeReview[], requester: string): string[] {
  const by = new Set<string>();
  for (const s of d.approvals?.steps ?? []) for (const a of s.approvers) by.add(a);
  const owners = new Set(
    (d.approvals?.codeowners.owners ?? []).map((o) => o.replace(/^@/, '').toLowerCase()),
  );
  const ignored = new Set((d.approvals?.ignored ?? []).map((i) => i.login.toLowerCase()));
  for (const r of reviews) {
    const login = r.user?.login;
    if (!login || r.state !== 'APPROVED' || login.toLowerCase() === requester.toLowerCase()) continue;
    if (owners.has(login.toLowerCase()) && !ignored.has(login.toLowerCase())) by.add(login);
  }
  return [...by].sort();
}

const noticeGrant = (g: Grant): NoticeGrant => ({
  id: g.id,
  file: g.file,
  requester: g.requester,
  role: g.role,
  resource: g.resource,
});

/** Tells every channel (and the pull request, once) that access was given by break-glass. */
export async function announceBreakGlass(
  notices: Notices,
  w: GlassWatch,
  ratifiersWanted: string[],
  nowMs: number,
) {
  await notices.emit({
    kind: 'break-glass',
    pull: w.pull,
    grant: noticeGrant(w.grant),
    rule: w.grant.break_glass.rule,
    reason: w.grant.reason,
    ratifyBy: Date.parse(w.grant.break_glass.ratify_by),
    ratifiers: ratifiersWanted,
    expiresAt: Date.parse(w.grant.ends_at),
    at: nowMs,
  });
}

/**
 * The alarm of an unratified access, once: when Timebox already opened one for this request file (open, or
 * closed by a code owner since), nothing is opened again. Returns whether the notice was emitted now.
 */
export async function raiseUnratified(
  forge: Forge,
  notices: Notices,
  w: GlassWatch,
  missing: readonly string[],
  nowMs: number,
): Promise<boolean> {
  const title = unratifiedTitle(w.grant.requester, w.grant.file);
  if ((await forge.labelledIssues(ALARM_LABEL)).some((i) => i.title === title)) return false;
  await notices.emit({
    kind: 'unratified',
    pull: w.pull,
    grant: noticeGrant(w.grant),
    rule: w.grant.break_glass.rule,
    ratifyBy: Date.parse(w.grant.break_glass.ratify_by),
    missing,
    at: nowMs,
  });
  return true;
}

/** A grant that may be break-glass: the latest of its file, still on the branch, with a known pull request. */
export interface GlassCandidate {
  grant: Grant;
  pull: number;
}

/** How long after its merge a grant removed early is still looked at (its alarm is owed even so). */
export const EARLY_REMOVAL_WATCH_MS = 7 * 24 * 3_600_000;

/**
 * The grants whose break-glass may still need settling: the latest grant of each file, running or expired
 * but not yet reverted, or removed early by a person within `EARLY_REMOVAL_WATCH_MS` of its merge (removing
 * the file does not escape the ratification), and not recorded as settled. Whether each is break-glass is
 * `glassMark`'s to say.
 */
export function candidates(
  grants: readonly Grant[],
  pullOf: (g: Grant) => number | null,
  nowMs: number,
): GlassCandidate[] {
  const latest = new Map<string, Grant>();
  for (const g of grants) latest.set(g.file, g);
  const out: GlassCandidate[] = [];
  for (const g of latest.values()) {
    if (g.state === 'replaced' || g.reverted) continue;
    if (g.state === 'revoked' && nowMs - Date.parse(g.merged_at) > EARLY_REMOVAL_WATCH_MS) continue;
    if (g.break_glass?.ratified || g.break_glass?.unratified) continue;
    // Only a request that said `emergency: true` can have skipped its approvals: deciding every other
    // merged pull request again would cost a dozen GitHub requests per file on every push.
    if (!g.emergency && !g.break_glass) continue;
    const pull = g.pull_request ?? pullOf(g);
    if (pull !== null) out.push({ grant: g, pull });
  }
  return out;
}

/**
 * Whether the grant was approved by break-glass, and until when it must be ratified: its merge's trailer when the
 * ledger believed it, else its pull request decided again as at the merge with the reviews given by then (so a
 * merge made by a person, whose message says nothing, is known too). Null: an ordinary approval.
 */
export async function glassMark(
  forge: Forge,
  c: GlassCandidate,
  opts: { botLogin: string; cache?: CheckCache },
): Promise<GlassWatch | null> {
  const known = c.grant.break_glass;
  if (known) return { grant: { ...c.grant, break_glass: known }, pull: c.pull };
  const mergedMs = Date.parse(c.grant.merged_at);
  const decided = await decidePull(reviewsUntil(forge, mergedMs), c.pull, {
    botLogin: opts.botLogin,
    clock: fixedClock(mergedMs),
    ...(opts.cache ? { cache: opts.cache } : {}),
  });
  const bg = decided.decisions.find((d) => d.file === c.grant.file && d.status === 'approved')?.break_glass;
  if (!bg) return null;
  return { grant: { ...c.grant, break_glass: { rule: bg.rule, ratify_by: bg.ratify_by } }, pull: c.pull };
}
