// What the channel tests share: the one request they follow — alice's read on prod-db, asked in pull request 42
// of acme/access — the notices the engine emits about it, from the pull request summary to the revert at its
// end, and how a delivery fails.
import { expect } from 'vitest';
import { DeliveryError } from '../../src/channels/message.js';
import type { Decision } from '../../src/core/model.js';
import type { Notice, NoticeGrant } from '../../src/engine/notices/notice.js';

export const FILE = 'requests/alice/2026-12-01-prod-db-read.yaml';
/** What the channels thread a request's messages on: the repository, the pull request and the file. */
export const KEY = `acme/access#42:${FILE}`;
export const GRANT: NoticeGrant = {
  id: 'g1',
  file: FILE,
  requester: 'alice',
  role: 'read',
  resource: 'prod-db',
};
/** When it is granted. */
export const AT = Date.parse('2026-12-01T12:00:00Z');
const HOUR = 3600_000;

type NoticeOf<K extends Notice['kind']> = Extract<Notice, { kind: K }>;

/** The pull request summary with the request in `status`. */
export function summary(status: Decision['status']): Notice {
  const d: Decision = {
    file: FILE,
    status,
    change: 'added',
    request: {
      requester: 'alice',
      resource: 'prod-db',
      role: 'read',
      duration: '2h',
      reason: 'INC-7 totals',
    },
    rule: null,
    errors: [],
    reasons: [],
    approvals: null,
    window: null,
  };
  return { kind: 'pull-summary', pull: 42, headSha: 'abc', decisions: [d], previews: new Map(), notes: [] };
}

/** Granted at AT for two hours, with these sealed credentials. */
export const granted = (credentials: string): NoticeOf<'granted'> => ({
  kind: 'granted',
  pull: 42,
  grant: GRANT,
  principal: 'tb_alice_1',
  credentials,
  expiresAt: AT + 2 * HOUR,
  at: AT,
});

export const reminder: NoticeOf<'reminder'> = {
  kind: 'reminder',
  pull: 42,
  grant: GRANT,
  endsAt: AT + 2 * HOUR,
  at: AT,
};

/** The revert at the end, as the engine emits it today: the file only. */
export const reverted: NoticeOf<'reverted'> = {
  kind: 'reverted',
  file: FILE,
  reason: 'expired',
  pull: 57,
  merged: 'f00',
};

/** A break-glass grant at AT under rule sre-emergency, to be ratified by @acme/dba within four hours. */
export const breakGlass = (extra: Partial<NoticeOf<'break-glass'>> = {}): NoticeOf<'break-glass'> => ({
  kind: 'break-glass',
  pull: 42,
  grant: GRANT,
  rule: 'sre-emergency',
  reason: 'INC-9 orders stuck',
  ratifyBy: AT + 4 * HOUR,
  ratifiers: ['@acme/dba'],
  at: AT,
  ...extra,
});

/** The same break-glass grant, not ratified in time; noticed at `at`. */
export const unratified = (at: number): NoticeOf<'unratified'> => ({
  kind: 'unratified',
  pull: 42,
  grant: GRANT,
  rule: 'sre-emergency',
  ratifyBy: AT + 4 * HOUR,
  missing: ['1 of @acme/dba'],
  at,
});

/** The DeliveryError a channel's delivery fails with (and a failed assertion if it succeeds or fails otherwise). */
export async function deliveryFailure(p: Promise<unknown>): Promise<DeliveryError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DeliveryError);
  return error as DeliveryError;
}
