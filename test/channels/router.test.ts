// The notifier never blocks or delays its caller (SPEC: a failing channel never blocks a grant or a
// revocation): shown by the order of events, never by timing.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type Channel,
  type ChannelMessage,
  type DeliveryContext,
  DeliveryError,
  findSecret,
  NOTIFY_EVENTS,
} from '../../src/channels/message.js';
import { ChannelRouter, type Route } from '../../src/channels/router.js';
import { ManualClock } from '../../src/core/clock.js';
import { message } from './fixtures.js';
import { RecordingLogger } from './log.js';

/** A channel whose deliveries the test settles one by one. */
class ScriptedChannel implements Channel {
  readonly calls: {
    message: ChannelMessage;
    context?: DeliveryContext;
    settle: (error?: unknown) => void;
  }[] = [];
  readonly delivered: ChannelMessage[] = [];
  readonly #waiters: (() => void)[] = [];
  constructor(readonly id: string) {}

  deliver(message: ChannelMessage, context?: DeliveryContext): Promise<void> {
    return new Promise((resolve, reject) => {
      this.calls.push({
        message,
        ...(context ? { context } : {}),
        settle: (error) => {
          if (error === undefined) {
            this.delivered.push(message);
            resolve();
          } else reject(error);
        },
      });
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** Resolves once the channel has been called `n` times. */
  async called(n: number): Promise<void> {
    while (this.calls.length < n) await new Promise<void>((r) => this.#waiters.push(r));
  }

  call(i: number) {
    const c = this.calls[i];
    if (!c) throw new Error(`no call ${i}`);
    return c;
  }
}

/** A channel that delivers at once, recording what it got. */
class InstantChannel implements Channel {
  readonly delivered: ChannelMessage[] = [];
  constructor(readonly id: string) {}
  async deliver(message: ChannelMessage) {
    this.delivered.push(message);
  }
}

function setup(routes: Route[], extra: Partial<ConstructorParameters<typeof ChannelRouter>[0]> = {}) {
  const clock = new ManualClock('2026-12-01T12:00:00Z');
  const log = new RecordingLogger();
  const notifier = new ChannelRouter({ routes, clock, logger: log, ...extra });
  return { clock, log, notifier };
}

describe('routing', () => {
  it('selects channels by resource glob and event, each channel once', async () => {
    const prod = new InstantChannel('prod');
    const all = new InstantChannel('all');
    const breakGlass = new InstantChannel('bg');
    const { notifier } = setup([
      { channel: prod, resources: ['prod-*'] },
      { channel: prod, resources: ['*-db'] },
      { channel: all },
      { channel: breakGlass, events: ['break_glass', 'unratified'], resources: ['prod-*', 'billing'] },
    ]);
    expect(notifier.dispatch(message('granted'))).toBe(2);
    expect(notifier.dispatch(message('unratified', { resource: 'billing' }))).toBe(2);
    expect(notifier.dispatch(message('opened', { resource: 'staging-cache' }))).toBe(1);
    await notifier.drain();
    expect(prod.delivered.map((m) => m.event)).toEqual(['granted']);
    expect(breakGlass.delivered.map((m) => m.resource)).toEqual(['billing']);
    expect(all.delivered).toHaveLength(3);
  });

  it('alerts every channel of a break-glass at once, whatever its resources: and events:', async () => {
    const prod = new InstantChannel('prod');
    const grants = new InstantChannel('grants');
    const other = new InstantChannel('other');
    const { notifier } = setup([
      { channel: prod, resources: ['prod-*'] },
      { channel: grants, events: ['granted', 'expired'] },
      { channel: other, resources: ['staging-*'], events: ['opened'] },
    ]);
    expect(notifier.dispatch(message('break_glass', { resource: 'billing' }))).toBe(3);
    // Only break_glass: the other alarms follow the filters.
    expect(notifier.dispatch(message('unratified', { resource: 'billing' }))).toBe(0);
    expect(notifier.dispatch(message('revocation_failing', { resource: 'billing' }))).toBe(0);
    await notifier.drain();
    for (const c of [prod, grants, other]) expect(c.delivered.map((m) => m.event)).toEqual(['break_glass']);
  });

  it('routes nothing when nothing matches', async () => {
    const { notifier, log } = setup([{ channel: new InstantChannel('x'), events: ['expired'] }]);
    expect(notifier.dispatch(message('opened'))).toBe(0);
    await notifier.drain();
    expect(log.entries).toEqual([]);
  });
});

describe('never blocking', () => {
  it('returns to the caller while a channel hangs; the caller does not wait for it', async () => {
    const stuck = new ScriptedChannel('stuck');
    const quick = new InstantChannel('quick');
    const { notifier } = setup([{ channel: stuck }, { channel: quick }]);
    const events: string[] = [];

    // What a grant looks like to the notifier: provision, notify, return.
    async function grant(): Promise<string> {
      events.push('provisioned');
      notifier.dispatch(message('granted'));
      events.push('notified');
      return 'granted';
    }
    await expect(grant()).resolves.toBe('granted');
    events.push('grant returned');
    await stuck.called(1);
    events.push('stuck channel called');
    expect(events).toEqual(['provisioned', 'notified', 'grant returned', 'stuck channel called']);

    // The grant is done, the stuck channel still is not, and the other channel was not held up by it.
    void notifier.drain().then(() => events.push('drained'));
    await quickDelivered(quick);
    expect(stuck.delivered).toEqual([]);
    expect(events).not.toContain('drained');
    stuck.call(0).settle();
    await notifier.drain();
    expect(stuck.delivered.map((m) => m.event)).toEqual(['granted']);
  });

  it('never throws, even for a message it cannot handle', async () => {
    const { notifier, log } = setup([{ channel: new InstantChannel('x') }]);
    expect(notifier.dispatch({ ...message('opened'), fields: null as never })).toBe(0);
    expect(log.entries.map((e) => e.msg)).toEqual(['notification not queued']);
    const throwing: Channel = {
      id: 'throws',
      deliver() {
        throw new Error('synchronous bug');
      },
    };
    const t = setup([{ channel: throwing }], { attempts: 1 });
    expect(t.notifier.dispatch(message('opened'))).toBe(1);
    await t.notifier.drain();
    expect(t.log.entries.map((e) => [e.level, e.obj.error])).toEqual([['error', 'Error: synchronous bug']]);
  });

  it('retries a failing channel with backoff, logs each failure, and later messages still get through', async () => {
    const flaky = new ScriptedChannel('flaky');
    const { notifier, log, clock } = setup([{ channel: flaky }], { baseDelayMs: 1000 });
    notifier.dispatch(message('opened'));
    notifier.dispatch(message('approved'));

    await flaky.called(1);
    flaky.call(0).settle(new DeliveryError('Slack: HTTP 503', true));
    const warned = await log.next((e) => e.level === 'warn');
    expect(warned).toMatchObject({
      msg: 'notification failed; will retry',
      obj: { channel: 'flaky', key: 'acme/access#42', event: 'opened', attempt: 1, retryInMs: 1000 },
    });
    await clock.advance(1000);
    await flaky.called(2);
    expect(flaky.call(1).message.event).toBe('opened');
    expect(flaky.call(1).context?.id).toBe(flaky.call(0).context?.id);
    expect(flaky.call(1).context?.attempt).toBe(2);
    flaky.call(1).settle();
    // Order per channel is kept: "approved" only after "opened" is done.
    await flaky.called(3);
    expect(flaky.call(2).message.event).toBe('approved');
    expect(flaky.call(2).context?.id).not.toBe(flaky.call(0).context?.id);
    flaky.call(2).settle();
    await notifier.drain();
    expect(flaky.delivered.map((m) => m.event)).toEqual(['opened', 'approved']);
    expect(log.entries.map((e) => e.msg)).toEqual([
      'notification failed; will retry',
      'notification delivered after retrying',
    ]);
  });

  it('gives up on a hung attempt after its timeout (aborting it), retries, and moves on', async () => {
    const hung = new ScriptedChannel('hung');
    const { notifier, log, clock } = setup([{ channel: hung }], {
      attemptTimeoutMs: 30_000,
      baseDelayMs: 1000,
    });
    notifier.dispatch(message('granted'));
    notifier.dispatch(message('expired'));
    await hung.called(1);
    const signal = hung.call(0).context?.signal;
    expect(signal?.aborted).toBe(false);
    await clock.advance(30_000);
    const warned = await log.next((e) => e.level === 'warn');
    expect(warned.obj.error).toBe('DeliveryError: no answer within 30000 ms');
    expect(signal?.aborted).toBe(true);
    // The abandoned attempt settling late changes nothing (and raises no unhandled rejection).
    hung.call(0).settle(new Error('late failure'));
    await clock.advance(1000);
    await hung.called(2);
    hung.call(1).settle();
    await hung.called(3);
    expect(hung.call(2).message.event).toBe('expired');
    hung.call(2).settle();
    await notifier.drain();
    expect(hung.delivered.map((m) => m.event)).toEqual(['granted', 'expired']);
  });

  it('does not retry what cannot succeed, and honours a requested wait', async () => {
    const c = new ScriptedChannel('c');
    const { notifier, log, clock } = setup([{ channel: c }], { baseDelayMs: 1000, maxDelayMs: 60_000 });
    notifier.dispatch(message('opened'));
    await c.called(1);
    c.call(0).settle(new DeliveryError('Slack: channel_not_found', false));
    await log.next((e) => e.level === 'error');
    notifier.dispatch(message('approved'));
    await c.called(2);
    c.call(1).settle(new DeliveryError('Slack: rate limited', true, 20_000));
    expect((await log.next((e) => e.level === 'warn')).obj.retryInMs).toBe(20_000);
    await clock.advance(20_000);
    await c.called(3);
    c.call(2).settle(new DeliveryError('Slack: rate limited', true, 3_600_000));
    expect((await log.next((e) => e.level === 'warn', 1)).obj.retryInMs).toBe(60_000);
    await clock.advance(60_000);
    await c.called(4);
    c.call(3).settle();
    await notifier.drain();
    expect(c.delivered.map((m) => m.event)).toEqual(['approved']);
    expect(log.entries[0]).toMatchObject({ level: 'error', msg: 'notification not delivered' });
  });

  it('bounds each queue, dropping the oldest waiting message and saying so', async () => {
    const c = new ScriptedChannel('c');
    const { notifier, log } = setup([{ channel: c }], { queueLimit: 2 });
    notifier.dispatch(message('opened'));
    await c.called(1);
    // "opened" is in flight; two may wait.
    for (const event of ['approved', 'granted', 'reminder'] as const) notifier.dispatch(message(event));
    expect(log.entries.map((e) => [e.msg, e.obj.event])).toEqual([
      ['notification queue full; dropped the oldest waiting notification', 'approved'],
    ]);
    c.call(0).settle();
    await c.called(2);
    c.call(1).settle();
    await c.called(3);
    c.call(2).settle();
    await notifier.drain();
    expect(c.delivered.map((m) => m.event)).toEqual(['opened', 'granted', 'reminder']);
  });

  it('keeps the order of a channel’s messages however they arrive', async () => {
    const c = new ScriptedChannel('c');
    const { notifier } = setup([{ channel: c }]);
    notifier.dispatch(message('opened'));
    await c.called(1);
    notifier.dispatch(message('approved'));
    notifier.dispatch(message('granted'));
    c.call(0).settle();
    // Dispatched while the worker is between jobs.
    notifier.dispatch(message('reminder'));
    notifier.dispatch(message('expired'));
    for (let i = 1; i < 5; i++) {
      await c.called(i + 1);
      c.call(i).settle();
    }
    await notifier.drain();
    expect(c.delivered.map((m) => m.event)).toEqual(['opened', 'approved', 'granted', 'reminder', 'expired']);
  });

  it('survives a logger that throws', async () => {
    const c = new InstantChannel('c');
    const throwing = {
      info() {
        throw new Error('log down');
      },
      warn() {
        throw new Error('log down');
      },
      error() {
        throw new Error('log down');
      },
    };
    const notifier = new ChannelRouter({
      routes: [{ channel: c }],
      clock: new ManualClock(0),
      logger: throwing,
    });
    expect(notifier.dispatch(message('granted', { text: 'password=hunter2hunter2' }))).toBe(0);
    expect(notifier.dispatch({ ...message('opened'), fields: null as never })).toBe(0);
    expect(notifier.dispatch(message('opened'))).toBe(1);
    await notifier.drain();
    expect(c.delivered).toHaveLength(1);
  });

  it('accepts nothing after close, and close waits for what was queued', async () => {
    const c = new InstantChannel('c');
    const { notifier, log } = setup([{ channel: c }]);
    notifier.dispatch(message('opened'));
    await notifier.close();
    expect(notifier.dispatch(message('approved'))).toBe(0);
    expect(c.delivered.map((m) => m.event)).toEqual(['opened']);
    expect(log.entries.map((e) => e.msg)).toEqual(['notification router closed; notification dropped']);
  });
});

describe('no secrets in notices', () => {
  it('refuses a message that looks like it carries a credential, saying where but not what', async () => {
    const c = new InstantChannel('c');
    const { notifier, log } = setup([{ channel: c }]);
    const leaks: Partial<ChannelMessage>[] = [
      { text: 'Connect with password=hunter2hunter2' },
      { text: 'postgres://alice:Xy7pQ2@db.internal:5432/app' },
      { text: '-----BEGIN AGE ENCRYPTED FILE-----\nYWdl...' },
      { text: '-----BEGIN OPENSSH PRIVATE KEY-----' },
      { title: 'token xoxb-1234567890-abcdefghij' },
      { text: 'ghp_0123456789abcdefghijABCDEFGHIJ0123' },
      { fields: { Password: 'x' } },
      { fields: { Note: 'AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQ' } },
      { url: 'https://bob:pw@example.com/x' },
    ];
    for (const leak of leaks)
      expect(notifier.dispatch(message('granted', leak)), JSON.stringify(leak)).toBe(0);
    await notifier.drain();
    expect(c.delivered).toEqual([]);
    expect(log.entries).toHaveLength(leaks.length);
    for (const e of log.entries) {
      expect(e.msg).toBe('notification refused: it looks like it carries a secret');
      expect(JSON.stringify(e)).not.toMatch(/hunter2|Xy7pQ2|xoxb-|ghp_|AGE-SECRET|bob:pw/);
    }
  });

  it('passes every ordinary notice', () => {
    for (const event of NOTIFY_EVENTS) expect(findSecret(message(event))).toBeUndefined();
    expect(
      findSecret(message('granted', { text: 'Your credentials are sealed on the PR (age).' })),
    ).toBeUndefined();
  });
});

describe('the channels read no wall clock', () => {
  it('has no Date.now, new Date() or bare timers in src/channels (the Clock is injected)', () => {
    const dir = new URL('../../src/channels/', import.meta.url);
    for (const name of readdirSync(dir)) {
      const text = readFileSync(new URL(name, dir), 'utf8');
      expect(text, name).not.toMatch(/Date\.now\(|new Date\(\)|\bset(Timeout|Interval|Immediate)\(/);
    }
  });
});

async function quickDelivered(quick: InstantChannel) {
  while (quick.delivered.length === 0) await new Promise<void>((r) => setImmediate(r));
}
