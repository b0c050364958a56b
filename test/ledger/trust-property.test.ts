// Property: over random commits (authors, parents, signature states, trailer text), the ledger names an
// approver, a requester, a revocation reason or an activity from a trailer only when the commit has all three
// marks of Timebox's own merge; every other commit with Timebox-* trailers is noted by sha, and its
// trailers change nothing but that note.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildLedger, type HistoryCommit } from '../../src/core/ledger.js';
import type { CommitSignature } from '../../src/core/trust.js';
import { TRUSTING } from '../helpers/trust.js';

const GENUINE = '1001+timebox[bot]@users.noreply.github.com';
const request = `requester: mallory\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1234\n`;

const email = fc.oneof(
  fc.constant(GENUINE),
  fc.constant('timebox[bot]@users.noreply.github.com'),
  fc.constantFrom(
    'mallory@example.com',
    'timebox[bot]@example.com',
    '1001+timebox[bot]@users.noreply.github.com.evil.example',
    '1001+timebox[bot]@users.noreply.github.co',
    '1001+timebox-bot@users.noreply.github.com',
    '41898282+github-actions[bot]@users.noreply.github.com',
    'noreply@github.com',
  ),
  fc.emailAddress(),
);
const signature: fc.Arbitrary<CommitSignature | undefined> = fc.oneof(
  fc.constant({ status: 'valid', signer: 'A'.repeat(40) } as const),
  fc.constantFrom<CommitSignature | undefined>(
    { status: 'none' },
    { status: 'untrusted', detail: 'signed by 0123456789ABCDEF' },
    { status: 'bad', detail: 'does not verify' },
    undefined,
  ),
);
const login = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);

interface Shape {
  author: string;
  parents: number;
  signature: CommitSignature | undefined;
  approvers: string[];
  requestedBy: string;
  reason: string;
  activity: string;
}

const shape = fc.record({
  author: email,
  parents: fc.integer({ min: 1, max: 3 }),
  signature,
  approvers: fc.array(login, { minLength: 1, maxLength: 3 }),
  requestedBy: login,
  reason: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() !== '' && !/\n/.test(s)),
  activity: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() !== '' && !/\n/.test(s)),
});

const isGenuine = (s: Shape) =>
  (s.author === GENUINE || s.author === 'timebox[bot]@users.noreply.github.com') &&
  s.parents === 2 &&
  s.signature?.status === 'valid';

const commitOf = (i: number, s: Shape, time: string, grant: boolean): HistoryCommit => ({
  sha: `${i}`.padStart(40, '0'),
  parents: Array.from({ length: s.parents }, (_, p) => `${p + 1}`.padStart(40, 'f')),
  time,
  authoredAt: time,
  author: `someone <${s.author}>`,
  committer: 'GitHub',
  subject: 'Merge',
  trailers: grant
    ? {
        'timebox-approved-by': [s.approvers.join(', ')],
        'timebox-requested-by': [s.requestedBy],
      }
    : { 'timebox-revocation-reason': [s.reason], 'timebox-activity': [s.activity] },
  changes: grant
    ? [{ status: 'added', path: 'requests/mallory/x.yaml', content: request }]
    : [{ status: 'removed', path: 'requests/mallory/x.yaml' }],
  ...(s.signature ? { signature: s.signature } : {}),
});

describe('trailers are believed exactly when Timebox made the commit', () => {
  it('holds for random commits', () => {
    fc.assert(
      fc.property(shape, shape, (granting, removing) => {
        const commits = [
          commitOf(1, granting, '2026-01-05T10:00:00Z', true),
          commitOf(2, removing, '2026-01-05T10:30:00Z', false),
        ];
        const l = buildLedger(commits, TRUSTING, new Date('2026-01-05T12:00:00Z'));
        const g = l.grants[0];
        expect(g).toBeDefined();
        const approvedActors = l.events.filter((e) => e.type === 'approved').map((e) => e.actor);
        if (isGenuine(granting)) {
          expect(g?.approvers).toEqual(granting.approvers);
          expect(approvedActors).toEqual(granting.approvers);
          expect(g?.requested_by).toBe(granting.requestedBy);
        } else {
          expect(g?.approvers).toEqual([]);
          expect(approvedActors).toEqual([null]);
          expect(g?.requested_by).toBe('mallory');
          expect(l.notes.map((n) => n.commit)).toContain(commits[0]?.sha);
        }
        if (isGenuine(removing)) {
          expect(g?.revocation_reason).toBe(removing.reason);
          expect(g?.activity).toBe(removing.activity);
        } else {
          expect(g?.revocation_reason).toBe('request file removed before expiry');
          expect(g?.activity).toBeUndefined();
          expect(l.notes.map((n) => n.commit)).toContain(commits[1]?.sha);
        }
        // No note about a commit Timebox made.
        for (const [i, s] of [granting, removing].entries())
          if (isGenuine(s)) expect(l.notes.map((n) => n.commit)).not.toContain(commits[i]?.sha);
      }),
      { numRuns: 500 },
    );
  });
});
