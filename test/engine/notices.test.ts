// Notices: the one "is this comment ours" rule, adversarially (anyone can paste a marker), and the forge
// notifier's upsert / said-once / alarm behaviour built on it.
import { describe, expect, it } from 'vitest';
import { forgeNotifier, hasOurComment } from '../../src/engine/notices/forge-notifier.js';
import { noticesFor } from '../../src/engine/notices/index.js';
import { COMMENT_MARKER, isOurs, MARK, ours } from '../../src/engine/notices/markers.js';
import { notices } from '../../src/engine/notices/notifier.js';
import { renderNotice } from '../../src/engine/notices/render.js';
import { MemoryForge } from '../examples/forge-memory/index.js';

const BOT = 'timebox[bot]';
const grant = {
  id: 'requests/alice/a.yaml@abc',
  file: 'requests/alice/a.yaml',
  requester: 'alice',
  role: 'read-only',
  resource: 'orders-db',
};

describe('isOurs: exactly our bot login (any case), of type Bot, with the marker at the start', () => {
  const body = `${MARK.credentials(grant.id)}\n-----BEGIN AGE ENCRYPTED FILE-----`;
  it.each([
    ['our bot', { login: 'timebox[bot]', type: 'Bot' }, true],
    ['our bot, other case', { login: 'TimeBox[bot]', type: 'Bot' }, true],
    ['a human named like our bot', { login: 'timebox[bot]', type: 'User' }, false],
    ['a human', { login: 'mallory', type: 'User' }, false],
    ['another bot', { login: 'evil-app[bot]', type: 'Bot' }, false],
    ['the Actions bot (not ours here)', { login: 'github-actions[bot]', type: 'Bot' }, false],
    ['a look-alike login', { login: 'timebox[bot]x', type: 'Bot' }, false],
    ['no user (deleted account)', null, false],
  ])('%s → %s', (_, user, expected) => {
    expect(isOurs({ body, user }, BOT, MARK.credentials(grant.id))).toBe(expected);
  });

  it('needs the marker at the start, not quoted inside', () => {
    const user = { login: BOT, type: 'Bot' };
    expect(isOurs({ body: `> ${COMMENT_MARKER}`, user }, BOT, COMMENT_MARKER)).toBe(false);
    expect(isOurs({ body: COMMENT_MARKER, user }, BOT, COMMENT_MARKER)).toBe(true);
    expect(ours([{ body: COMMENT_MARKER, user }], [BOT, 'github-actions[bot]'], COMMENT_MARKER)).toHaveLength(
      1,
    );
  });
});

describe('the forge notifier never takes a look-alike comment for its own', () => {
  it("upserts its summary beside a human's and another bot's comment carrying the marker, editing neither", async () => {
    const forge = new MemoryForge();
    const human = forge.postAs(7, `${COMMENT_MARKER}\nApproved, trust me`, {
      login: 'mallory',
      type: 'User',
    });
    const other = forge.postAs(7, `${COMMENT_MARKER}\nApproved`, { login: 'evil-app[bot]', type: 'Bot' });
    const emit = noticesFor(forge, BOT).emit;
    const first = await emit({ kind: 'pull-refused', pull: 7, reason: 'broken policies' });
    expect(first.commentId).not.toBe(human);
    expect(first.commentId).not.toBe(other);
    const again = await emit({ kind: 'pull-refused', pull: 7, reason: 'broken policies' });
    expect(again).toMatchObject({ commentId: first.commentId, changed: false });
    const edited = await emit({ kind: 'pull-refused', pull: 7, reason: 'still broken' });
    expect(edited).toMatchObject({ commentId: first.commentId, changed: true });
    const bodies = (await forge.comments(7)).map((c) => c.body);
    expect(bodies).toEqual([
      `${COMMENT_MARKER}\nApproved, trust me`,
      `${COMMENT_MARKER}\nApproved`,
      expect.stringContaining('still broken'),
    ]);
  });

  it('says a reminder once, even when someone else posted its marker first', async () => {
    const forge = new MemoryForge();
    forge.postAs(3, MARK.reminder(grant.id), { login: 'mallory', type: 'User' });
    expect(await hasOurComment(forge, 3, MARK.reminder(grant.id), BOT)).toBe(false);
    const n = {
      kind: 'reminder',
      pull: 3,
      grant,
      endsAt: Date.parse('2026-03-01T14:00:00Z'),
      at: Date.parse('2026-03-01T13:45:00Z'),
    } as const;
    const emit = noticesFor(forge, BOT).emit;
    expect((await emit(n)).posted).toBe(true);
    expect((await emit(n)).posted).toBe(false);
    expect(await hasOurComment(forge, 3, MARK.reminder(grant.id), BOT)).toBe(true);
    expect(await forge.comments(3)).toHaveLength(2);
  });

  it('opens one alarm issue per title and closes it with a comment when verified', async () => {
    const forge = new MemoryForge();
    const emit = notices([forgeNotifier(forge, BOT)]).emit;
    const failing = {
      kind: 'revocation-failing',
      file: 'requests/alice/a.yaml',
      message: 'connection refused',
    } as const;
    const { issue } = await emit(failing);
    expect(issue).toBeTypeOf('number');
    expect((await emit(failing)).issue).toBeNull();
    expect((await emit({ kind: 'revocation-verified', file: 'requests/alice/a.yaml' })).closed).toBe(issue);
    expect(forge.issues.map((i) => i.open)).toEqual([false]);
    expect((await forge.comments(issue as number))[0]?.body).toContain('verified');
  });
});

describe('rendering', () => {
  it('escapes what requesters wrote and mentions only valid logins', () => {
    const r = renderNotice({
      kind: 'no-keys',
      pull: 1,
      grant: { ...grant, requester: 'alice <img src=x>', role: '**all**' },
    });
    expect(r.comment?.body).not.toContain('<img');
    expect(r.comment?.body).not.toContain('@alice');
    expect(r.comment?.body).toContain('\\*\\*all\\*\\*');
  });
});
