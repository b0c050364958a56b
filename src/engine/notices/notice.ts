// Everything Timebox tells people, as data: the engine emits notices, src/engine/notices/render.ts turns
// them into text (one place), and notifiers deliver them (the pull request comment/issue notifier first;
// chat or mail would be others). A notice names what happened, never how it is shown.
import type { Decision } from '../../core/model.js';
import type { PermissionPreview } from '../../providers/types.js';

/** The grant a notice is about, as the requester asked for it. */
export interface NoticeGrant {
  id: string;
  file: string;
  requester: string;
  role: string;
  resource: string;
}

export type Notice =
  /** The decision on a pull request, updated in place. `refused`: nothing could be decided, and why. */
  | {
      kind: 'pull-summary';
      pull: number;
      headSha: string;
      decisions: readonly Decision[];
      previews: ReadonlyMap<string, PermissionPreview>;
      notes: readonly string[];
    }
  | { kind: 'pull-refused'; pull: number; reason: string }
  /** Access granted: credentials sealed to the requester's keys. */
  | {
      kind: 'granted';
      pull: number;
      grant: NoticeGrant;
      principal: string;
      credentials: string;
      expiresAt: number;
      at: number;
    }
  /** Nothing granted: the requester has no key to seal the credentials to. */
  | { kind: 'no-keys'; pull: number | null; grant: NoticeGrant }
  /** Nothing granted: the requester's login names another account now. */
  | { kind: 'identity-refused'; pull: number | null; grant: NoticeGrant; commit: string; why: string }
  /** Access ends soon. */
  | { kind: 'reminder'; pull: number; grant: NoticeGrant; endsAt: number; at: number }
  /**
   * A revocation failed; it is retried until verified. `grant` and `pull` (the request's pull request), when the
   * emitter knows them, let the channels route the alarm by resource and thread it with the request.
   */
  | { kind: 'revocation-failing'; file: string; message: string; grant?: NoticeGrant; pull?: number | null }
  /** A revocation that had failed (or may have) is verified; `known`: an alarm is known to be open. */
  | { kind: 'revocation-verified'; file: string }
  /** A request file reached the default branch without an approved pull request: nothing is granted. */
  | { kind: 'provenance-refused'; commit: string; file: string; reason: string }
  /**
   * Access ended and the request file was removed through a pull request (itself the record on the forge).
   * `reason` is `expired` at the end of the window. `grant` and `requestPull` (the pull request that asked for
   * the access), when the emitter knows them, let the channels update the request's message in place.
   */
  | {
      kind: 'reverted';
      file: string;
      reason: string;
      pull: number;
      merged?: string;
      activity?: string;
      grant?: NoticeGrant;
      requestPull?: number | null;
    }
  /** A pull request on a revert branch that Timebox will not merge, and why. */
  | { kind: 'revert-ignored'; pull: number; why: string }
  /** An unapproved request pull request closed after `pending_ttl`. */
  | {
      kind: 'stale-closed';
      pull: number;
      ttl: string;
      files: readonly { file: string; status: string }[];
    }
  | BreakGlassNotice
  | UnratifiedNotice;

/**
 * Break-glass (SPEC "Break-glass"): an emergency request was merged and approved before its approvals, under
 * `rule`; they must ratify it on the merged pull request by `ratifyBy`. Every routed channel is alerted.
 */
export type BreakGlassNotice = {
  kind: 'break-glass';
  /** The merged request pull request (where the approvals must ratify it). */
  pull: number;
  grant: NoticeGrant;
  /** The allow rule whose `break_glass` approved it. */
  rule: string;
  /** The request's `reason:`. */
  reason: string;
  /** Epoch ms: the merge + `ratify_within`. */
  ratifyBy: number;
  /** Who must still approve (logins, `@org/team`, "a code owner of …"), as the ratification report says. */
  ratifiers: readonly string[];
  /** Epoch ms: when the access ends, when known. */
  expiresAt?: number;
  at: number;
};

/**
 * A break-glass access was not ratified by `ratifyBy`: it is revoked and a `timebox-alarm` issue opened
 * (`unratifiedTitle`); the requester's next emergency request is denied until a code owner of `policies/`
 * closes it.
 */
export type UnratifiedNotice = {
  kind: 'unratified';
  pull: number;
  grant: NoticeGrant;
  rule: string;
  ratifyBy: number;
  /** The approvals that were still missing, in words. */
  missing: readonly string[];
  at: number;
};

export type NoticeKind = Notice['kind'];
