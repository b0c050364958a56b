// Provenance on push: every request file added or changed on the default branch must come from a merged
// pull request whose approvals satisfied the policy at its head commit, with exactly the content that was
// decided. Anything else (a direct push, an admin bypass, a squash that changed the file) provisions
// nothing and raises an alarm. Removals always pass: narrowing access is always allowed. Pure.
import type { Decision } from './model.js';

export interface PushedChange {
  path: string;
  status: 'added' | 'modified' | 'removed';
  /** Blob id of the file in the pushed commit (null when removed). */
  blob: string | null;
}

export interface MergedPull {
  number: number;
  merged: boolean;
  /** The commit GitHub made (merge or squash), or the head itself for a rebase/fast-forward. */
  mergeCommitSha: string | null;
  headSha: string;
  /** Decisions at the head commit, with policies from the base the PR merged into. */
  decisions: readonly Decision[];
  /** Blob id of each file at the head commit. */
  headBlobs: ReadonlyMap<string, string>;
}

export type Provenance =
  | { path: string; ok: true; pull: number | null }
  | { path: string; ok: false; pull: number | null; reason: string };

export function checkProvenance(
  commit: string,
  changes: readonly PushedChange[],
  pulls: readonly MergedPull[],
): Provenance[] {
  const pull = pulls.find((p) => p.merged && p.mergeCommitSha === commit) ?? null;
  const number = pull?.number ?? null;
  return changes.map((c): Provenance => {
    if (c.status === 'removed') return { path: c.path, ok: true, pull: number };
    if (!pull) {
      return {
        path: c.path,
        ok: false,
        pull: null,
        reason: `${c.path} was ${c.status} by ${commit.slice(0, 7)}, which no merged pull request made (a direct push or a bypass of branch protection)`,
      };
    }
    const d = pull.decisions.find((x) => x.file === c.path);
    if (d?.status !== 'approved') {
      return {
        path: c.path,
        ok: false,
        pull: number,
        reason: `${c.path} was merged in #${pull.number} while ${d ? d.status : 'not decided'} at its head ${pull.headSha.slice(0, 7)}${d?.reasons[0] ? ` (${d.reasons[0].rule}: ${d.reasons[0].message})` : ''}`,
      };
    }
    const decided = pull.headBlobs.get(c.path);
    if (!decided || decided !== c.blob) {
      return {
        path: c.path,
        ok: false,
        pull: number,
        reason: `${c.path} as merged by ${commit.slice(0, 7)} (${(c.blob ?? 'none').slice(0, 7)}) is not what #${pull.number} decided at ${pull.headSha.slice(0, 7)} (${(decided ?? 'none').slice(0, 7)})`,
      };
    }
    return { path: c.path, ok: true, pull: number };
  });
}

// ---- the durable record ------------------------------------------------------------------------------------
//
// A provenance verdict is decided once, the first time Timebox sees a merge, and recorded on the merge
// commit (a check run, src/engine/verdicts.ts). Every later run reads it back instead of deciding again:
// reviews, team membership and permissions change after a merge, and a past merge must never be judged with
// today's facts (an admin-merged request whose approver joins the team later stays refused; a legitimate
// grant whose approver leaves the team stays granted).

/** The name of the check run that carries a verdict. */
export const PROVENANCE_CHECK = 'timebox/provenance';

export interface Account {
  /** GitHub's account id: what a person is. A login can be renamed and then taken by someone else. */
  id: number;
  /** The login when the verdict was decided. */
  login: string;
}

/** A verdict as recorded on the merge commit (version 1 of the marker). */
export interface RecordedVerdict {
  verdict: 'approved' | 'refused';
  /** The request file. */
  file: string;
  /** Its blob at `commit`: what was decided. */
  blob: string | null;
  /** The commit the verdict is about (the merge commit GitHub made for the pull request). */
  commit: string;
  pull: number | null;
  /** Who opened the pull request (the requester): credentials go to this account and no other. */
  requester: Account | null;
  /** Whose approvals counted, by account. */
  approvers: Account[];
  /** RFC 3339: when the verdict was decided (first sight). */
  decided_at: string;
  reason?: string;
}

const MARKER = /<!-- timebox:provenance v1 (\{.*?\}) -->/s;

/**
 * The machine-readable marker of a verdict, for a check run's `output.text`. `<` and `>` are written as JSON
 * escapes, so no value (a reason quoting a file name) can end the HTML comment early.
 */
export function verdictMarker(v: RecordedVerdict): string {
  const json = JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e');
  return `<!-- timebox:provenance v1 ${json} -->`;
}

/**
 * The verdict in a check run's text, or `{ unreadable }` when the marker is missing or malformed: a record
 * Timebox wrote but cannot read refuses (it is never a reason to decide again).
 */
export function parseVerdictMarker(
  text: string | null | undefined,
): RecordedVerdict | { unreadable: string } {
  const m = MARKER.exec(text ?? '');
  if (!m?.[1]) return { unreadable: 'no provenance marker' };
  let v: unknown;
  try {
    v = JSON.parse(m[1]);
  } catch {
    return { unreadable: 'the provenance marker is not JSON' };
  }
  const o = v as Record<string, unknown> | null;
  const account = (a: unknown): a is Account =>
    !!a &&
    typeof a === 'object' &&
    Number.isSafeInteger((a as Account).id) &&
    typeof (a as Account).login === 'string';
  if (
    !o ||
    typeof o !== 'object' ||
    (o.verdict !== 'approved' && o.verdict !== 'refused') ||
    typeof o.file !== 'string' ||
    !(o.blob === null || typeof o.blob === 'string') ||
    typeof o.commit !== 'string' ||
    !(o.pull === null || Number.isSafeInteger(o.pull)) ||
    !(o.requester === null || account(o.requester)) ||
    !Array.isArray(o.approvers) ||
    !o.approvers.every(account) ||
    typeof o.decided_at !== 'string' ||
    !(o.reason === undefined || typeof o.reason === 'string')
  ) {
    return { unreadable: 'the provenance marker does not have the expected fields' };
  }
  return o as unknown as RecordedVerdict;
}

/** One record as read back: which check run it is (ids grow with time), and what it says. */
export interface VerdictRecord {
  id: number;
  verdict: RecordedVerdict | { unreadable: string };
  /** The file the record names outside the marker (the check run's `external_id`). */
  file: string;
}

/**
 * The verdict that holds for `file` (with blob `blob`) at `commit`: the earliest record Timebox wrote for it,
 * so that two runs that both decided at first sight agree on the first one. An unreadable record, or one
 * whose marker does not match the commit, file and blob it sits on, refuses. Null: never decided.
 */
export function verdictOfRecords(
  records: readonly VerdictRecord[],
  commit: string,
  file: string,
  blob: string | null,
): RecordedVerdict | null {
  const mine = records.filter((r) => r.file === file).sort((a, b) => a.id - b.id);
  const first = mine[0];
  if (!first) return null;
  const v = first.verdict;
  const refused = (reason: string): RecordedVerdict => ({
    verdict: 'refused',
    file,
    blob,
    commit,
    pull: 'unreadable' in v ? null : v.pull,
    requester: null,
    approvers: [],
    decided_at: 'unreadable' in v ? new Date(0).toISOString() : v.decided_at,
    reason,
  });
  if ('unreadable' in v) return refused(`the recorded provenance verdict cannot be read (${v.unreadable})`);
  if (v.commit !== commit || v.file !== file || v.blob !== blob)
    return refused('the recorded provenance verdict is about another commit, file or content');
  return v;
}
