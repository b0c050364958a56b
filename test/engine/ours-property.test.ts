// The "is this comment ours" rule over many comment histories (fast-check): whatever others posted before —
// humans, other bots, a human named like our bot, our bot in another case, markers at the start or quoted —
// the summary upsert and the reminder's "said once" never edit or count a comment that is not ours.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { noticesFor } from '../../src/engine/notices/index.js';
import { COMMENT_MARKER, isOurs, MARK } from '../../src/engine/notices/markers.js';
import { MemoryForge } from '../examples/forge-memory/index.js';

const BOT = 'timebox[bot]';
const RUNS = Number(process.env.TIMEBOX_FUZZ_RUNS ?? 100);
const grant = {
  id: 'requests/alice/a.yaml@abc',
  file: 'requests/alice/a.yaml',
  requester: 'alice',
  role: 'read-only',
  resource: 'orders-db',
};

const author = fc.constantFrom(
  { login: 'timebox[bot]', type: 'Bot' },
  { login: 'TIMEBOX[bot]', type: 'Bot' },
  { login: 'timebox[bot]', type: 'User' },
  { login: 'timebox', type: 'Bot' },
  { login: 'timebox[bot]x', type: 'Bot' },
  { login: 'evil-app[bot]', type: 'Bot' },
  { login: 'github-actions[bot]', type: 'Bot' },
  { login: 'mallory', type: 'User' },
);
const marker = fc.constantFrom(COMMENT_MARKER, MARK.reminder(grant.id), '');
const body = fc
  .tuple(fc.constantFrom('', '> ', ' ', 'x'), marker, fc.string({ maxLength: 12 }))
  .map(([lead, m, rest]) => `${lead}${m}\n${rest}`);
const history = fc.array(fc.record({ user: author, body }), { maxLength: 8 });

const oursByHand = (c: { user: { login: string; type: string }; body: string }, m: string) =>
  c.user.type === 'Bot' && c.user.login.toLowerCase() === BOT && c.body.startsWith(m);

describe('ours, over many comment histories', () => {
  it('isOurs is exactly: our login in any case, of type Bot, marker at the start', () => {
    fc.assert(
      fc.property(author, body, marker, (user, text, m) => {
        expect(isOurs({ user, body: text }, BOT, m)).toBe(oursByHand({ user, body: text }, m));
      }),
      { numRuns: RUNS * 10 },
    );
  });

  it('the summary upsert edits only a comment of ours, and the reminder counts only ours', async () => {
    await fc.assert(
      fc.asyncProperty(history, async (before) => {
        const forge = new MemoryForge();
        for (const c of before) forge.postAs(7, c.body, c.user);
        const emit = noticesFor(forge, BOT).emit;
        await emit({ kind: 'pull-refused', pull: 7, reason: 'broken policies' });
        const reminded = await emit({
          kind: 'reminder',
          pull: 7,
          grant,
          endsAt: Date.parse('2026-03-01T14:00:00Z'),
          at: Date.parse('2026-03-01T13:45:00Z'),
        });
        const after = await forge.comments(7);
        // Nothing anyone else wrote changed.
        before.forEach((c, i) => {
          if (!oursByHand(c, COMMENT_MARKER)) expect(after[i]?.body).toBe(c.body);
        });
        // The summary is in a comment of ours.
        expect(
          after.some((c) => oursByHand(c as never, COMMENT_MARKER) && c.body?.includes('broken policies')),
        ).toBe(true);
        // The reminder was posted unless one of ours already said it.
        const saidBefore = before.some((c) => oursByHand(c, MARK.reminder(grant.id)));
        expect(reminded.posted).toBe(!saidBefore);
      }),
      { numRuns: RUNS },
    );
  });
});
