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
