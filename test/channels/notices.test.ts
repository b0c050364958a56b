// The engine's notices through the channels: what maps to a message, that credentials never do, and that the
// engine's `emit` (which awaits each notifier) is not held up by a stuck channel.
import { describe, expect, it } from 'vitest';
import { type Channel, type ChannelMessage, findSecret } from '../../src/channels/message.js';
import { channelsNotifier, toChannelMessages } from '../../src/channels/notices.js';
import { ChannelRouter } from '../../src/channels/router.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Decision } from '../../src/core/model.js';
import type { Notice } from '../../src/engine/notices/notice.js';
import { notices } from '../../src/engine/notices/notifier.js';
import { RecordingLogger } from './log.js';

const CTX = { repo: 'acme/access' };
const GRANT = {
  id: 'g1',
  file: 'requests/alice-prod-db.yaml',
  requester: 'alice',
  role: 'read',
  resource: 'prod-db',
};
const SEALED =
  '-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IHNzaC1lZDI1NTE5\n-----END AGE ENCRYPTED FILE-----';
const granted: Notice = {
  kind: 'granted',
  pull: 42,
  grant: GRANT,
  principal: 'tb_alice_1',
  credentials: SEALED,
  expiresAt: Date.parse('2026-12-01T14:00:00Z'),
  at: Date.parse('2026-12-01T12:00:00Z'),
};

function decision(status: Decision['status'], extra: Partial<Decision> = {}): Decision {
  return {
    file: GRANT.file,
    status,
    change: 'added',
    request: { requester: 'alice', resource: 'prod-db', role: 'read', duration: '2h', reason: 'INC-7' },
    rule: null,
    errors: [],
    reasons: [],
    approvals: null,
    window: null,
    ...extra,
  };
}
function summary(...decisions: Decision[]): Notice {
  return { kind: 'pull-summary', pull: 42, headSha: 'abc', decisions, previews: new Map(), notes: [] };
}

describe('notices as channel messages', () => {
  it('a grant says that credentials exist, never what they are', () => {
    const [m] = toChannelMessages(granted, CTX);
    expect(m).toEqual({
      key: 'acme/access#42:requests/alice-prod-db.yaml',
      event: 'granted',
      resource: 'prod-db',
      requester: 'alice',
      title: 'Access granted: alice → prod-db (read)',
      text: 'alice has read on prod-db as tb_alice_1. The credentials are sealed on the pull request.',
      fields: { Role: 'read', Until: '2026-12-01T14:00:00Z', Principal: 'tb_alice_1' },
      url: 'https://github.com/acme/access/pull/42',
    });
    expect(JSON.stringify(m)).not.toContain('AGE ENCRYPTED');
    expect(findSecret(m as ChannelMessage)).toBeUndefined();
  });

  it('a summary maps pending to opened and approved to approved, one message per request file', () => {
    const other = decision('approved', { file: 'requests/bob.yaml' });
    const events = toChannelMessages(summary(decision('pending'), other), CTX).map((m) => [m.key, m.event]);
    expect(events).toEqual([
      ['acme/access#42:requests/alice-prod-db.yaml', 'opened'],
      ['acme/access#42:requests/bob.yaml', 'approved'],
    ]);
    expect(toChannelMessages(summary(decision('denied'), decision('invalid')), CTX)).toEqual([]);
    expect(toChannelMessages(summary(decision('approved', { change: 'removed' })), CTX)).toEqual([]);
    expect(toChannelMessages({ kind: 'revocation-verified', file: GRANT.file }, CTX)).toEqual([]);
  });
});

describe('the channels notifier in the engine’s list', () => {
  it('sends a request’s event once even when the summary is emitted again', async () => {
    const got: ChannelMessage[] = [];
    const channel: Channel = { id: 'c', deliver: async (m) => void got.push(m) };
    const router = new ChannelRouter({
      routes: [{ channel }],
      clock: new ManualClock(0),
      logger: new RecordingLogger(),
    });
    const n = channelsNotifier(router, CTX);
    const rendered = { text: '' };
    for (const notice of [
      summary(decision('pending')),
      summary(decision('pending')),
      summary(decision('approved')),
    ])
      await n.notify(notice, rendered);
    await router.drain();
    expect(got.map((m) => m.event)).toEqual(['opened', 'approved']);
  });

  it('lets the engine’s emit return while a channel is stuck', async () => {
    let started = false;
    let delivered = false;
    let finish: () => void = () => {};
    const stuck: Channel = {
      id: 'stuck',
      deliver: () =>
        new Promise<void>((resolve) => {
          started = true;
          finish = () => {
            delivered = true;
            resolve();
          };
        }),
    };
    const router = new ChannelRouter({
      routes: [{ channel: stuck }],
      clock: new ManualClock(0),
      logger: new RecordingLogger(),
    });
    const emitted = await notices([channelsNotifier(router, CTX)]).emit(granted);
    expect(emitted).toEqual({});
    while (!started) await new Promise<void>((r) => setImmediate(r));
    // emit has returned; the channel is still delivering.
    expect(delivered).toBe(false);
    finish();
    await router.drain();
    expect(delivered).toBe(true);
  });
});
