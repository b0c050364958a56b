// The expiry scheduler on a simulated clock: on time (never early), catch-up after a restart, reminders,
// retries until verified with alarms, and no revocation dropped or done twice.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExpiryScheduler, type ScheduledGrant } from '../../src/scheduler/expiry.js';

const T0 = Date.parse('2026-01-07T10:00:00Z');
const MIN = 60_000;
const grant = (n: number, expiresAt: number): ScheduledGrant => ({
  id: `requests/u${n}.yaml@c${n}`,
  file: `requests/u${n}.yaml`,
  expiresAt,
});

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

function recorder() {
  const revoked: [string, number][] = [];
  const reminded: [string, number][] = [];
  const alarms: [string, number, number][] = [];
  const recovered: [string, number][] = [];
  let failuresLeft = new Map<string, number>();
  const actions = {
    revoke: async (g: ScheduledGrant) => {
      const left = failuresLeft.get(g.id) ?? 0;
      if (left > 0) {
        failuresLeft.set(g.id, left - 1);
        throw new Error('connection refused');
      }
      revoked.push([g.id, Date.now()]);
    },
    remind: async (g: ScheduledGrant) => {
      reminded.push([g.id, Date.now()]);
    },
    alarm: (g: ScheduledGrant, _e: unknown, attempts: number, wait: number) => {
      alarms.push([g.id, attempts, wait]);
    },
    recovered: (g: ScheduledGrant, attempts: number) => {
      recovered.push([g.id, attempts]);
    },
  };
  return {
    actions,
    revoked,
    reminded,
    alarms,
    recovered,
    failTimes(id: string, n: number) {
      failuresLeft = new Map([...failuresLeft, [id, n]]);
    },
  };
}

describe('ExpiryScheduler', () => {
  it('revokes each grant at its expiry, not a millisecond before', async () => {
    const r = recorder();
    const s = new ExpiryScheduler(r.actions, { reminderMs: 0 });
    s.sync([grant(1, T0 + 2 * MIN), grant(2, T0 + 1 * MIN)]);
    await vi.advanceTimersByTimeAsync(MIN - 1);
    expect(r.revoked).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.revoked).toEqual([['requests/u2.yaml@c2', T0 + MIN]]);
    await vi.advanceTimersByTimeAsync(MIN);
    expect(r.revoked.map(([id, at]) => [id, at - T0])).toEqual([
      ['requests/u2.yaml@c2', MIN],
      ['requests/u1.yaml@c1', 2 * MIN],
    ]);
    s.stop();
  });

  it('catches up at once on grants that expired while it was down, and never revokes one twice', async () => {
    const r = recorder();
    const s = new ExpiryScheduler(r.actions, { reminderMs: 0 });
    const missed = grant(1, T0 - 30 * MIN);
    s.sync([missed, grant(2, T0 + MIN)]);
    await vi.advanceTimersByTimeAsync(0);
    expect(r.revoked).toEqual([[missed.id, T0]]);
    s.sync([missed, grant(2, T0 + MIN)]);
    await vi.advanceTimersByTimeAsync(2 * MIN);
    expect(r.revoked.map(([id]) => id)).toEqual([missed.id, 'requests/u2.yaml@c2']);
    s.stop();
  });

  it('reminds 15 minutes before, once, and not after a grant was revoked', async () => {
    const r = recorder();
    const s = new ExpiryScheduler(r.actions);
    s.sync([grant(1, T0 + 60 * MIN), grant(2, T0 + 5 * MIN)]);
    await vi.advanceTimersByTimeAsync(0);
    // u2 has less than 15 minutes left: reminded now.
    expect(r.reminded).toEqual([['requests/u2.yaml@c2', T0]]);
    await vi.advanceTimersByTimeAsync(45 * MIN);
    expect(r.reminded.map(([id, at]) => [id, (at - T0) / MIN])).toEqual([
      ['requests/u2.yaml@c2', 0],
      ['requests/u1.yaml@c1', 45],
    ]);
    s.sync([grant(1, T0 + 60 * MIN)]);
    await vi.advanceTimersByTimeAsync(20 * MIN);
    expect(r.reminded).toHaveLength(2);
    s.stop();
  });

  it('retries a failing revocation with backoff, raising an alarm each time, until it is verified', async () => {
    const r = recorder();
    const g = grant(1, T0 + MIN);
    r.failTimes(g.id, 3);
    const s = new ExpiryScheduler(r.actions, { reminderMs: 0, retryMs: [1000, 5000] });
    s.sync([g]);
    await vi.advanceTimersByTimeAsync(MIN);
    expect(r.alarms).toEqual([[g.id, 1, 1000]]);
    // The ledger no longer lists it (the file was removed meanwhile): a failing revocation is kept anyway.
    s.sync([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.alarms.at(-1)).toEqual([g.id, 2, 5000]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(r.alarms.at(-1)).toEqual([g.id, 3, 5000]);
    expect(r.revoked).toEqual([]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(r.revoked).toEqual([[g.id, T0 + MIN + 11_000]]);
    expect(r.recovered).toEqual([[g.id, 3]]);
    expect(s.scheduled()).toEqual([]);
    s.stop();
  });

  it('drops a grant the ledger no longer lists (removed early), and reschedules a changed expiry', async () => {
    const r = recorder();
    const s = new ExpiryScheduler(r.actions, { reminderMs: 0 });
    s.sync([grant(1, T0 + MIN), grant(2, T0 + MIN)]);
    s.sync([grant(2, T0 + 3 * MIN)]);
    await vi.advanceTimersByTimeAsync(2 * MIN);
    expect(r.revoked).toEqual([]);
    await vi.advanceTimersByTimeAsync(MIN);
    expect(r.revoked).toEqual([['requests/u2.yaml@c2', T0 + 3 * MIN]]);
    s.stop();
  });

  it('revokes 200 grants of the same minute without dropping one, at most `concurrency` at a time', async () => {
    let active = 0;
    let peak = 0;
    const done: string[] = [];
    const s = new ExpiryScheduler(
      {
        revoke: async (g) => {
          active += 1;
          peak = Math.max(peak, active);
          await new Promise((resolve) => setTimeout(resolve, 50));
          active -= 1;
          done.push(g.id);
        },
      },
      { reminderMs: 0, concurrency: 8 },
    );
    s.sync(Array.from({ length: 200 }, (_, i) => grant(i, T0 + MIN + (i % 60) * 1000)));
    await vi.advanceTimersByTimeAsync(3 * MIN);
    await s.idle();
    expect(new Set(done).size).toBe(200);
    expect(done).toHaveLength(200);
    expect(peak).toBeLessThanOrEqual(8);
    s.stop();
  });

  it('waits longer than setTimeout can (a grant expiring in 30 days)', async () => {
    const r = recorder();
    const s = new ExpiryScheduler(r.actions, { reminderMs: 0 });
    s.sync([grant(1, T0 + 30 * 24 * 60 * MIN)]);
    await vi.advanceTimersByTimeAsync(30 * 24 * 60 * MIN - 1);
    expect(r.revoked).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.revoked).toHaveLength(1);
    s.stop();
  });
});
