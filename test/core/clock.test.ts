import { afterEach, describe, expect, it, vi } from 'vitest';
import { fixedClock, ManualClock, shiftedClock, systemClock } from '../../src/core/clock.js';

afterEach(() => vi.useRealTimers());

describe('clock', () => {
  it('systemClock follows fake timers, so tests can drive anything built on it', async () => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
    expect(systemClock.now().toISOString()).toBe('2026-01-01T00:00:00.000Z');
    const fired: string[] = [];
    systemClock.after(1000, () => fired.push(systemClock.now().toISOString()));
    const every = systemClock.every(400, () => fired.push('tick'));
    await vi.advanceTimersByTimeAsync(1000);
    every.cancel();
    await vi.advanceTimersByTimeAsync(1000);
    expect(fired).toEqual(['tick', 'tick', '2026-01-01T00:00:01.000Z']);
  });

  it('after() waits longer than setTimeout can (2^31 ms) by re-arming', async () => {
    vi.useFakeTimers({ now: 0 });
    let fired = false;
    systemClock.after(2 ** 31 + 5000, () => {
      fired = true;
    });
    await vi.advanceTimersByTimeAsync(2 ** 31 - 1);
    expect(fired).toBe(false);
    await vi.advanceTimersByTimeAsync(5001);
    expect(fired).toBe(true);
  });

  it('sleep rejects when aborted and cancels its timer', async () => {
    const c = new ManualClock('2026-01-01T00:00:00Z');
    const ac = new AbortController();
    const p = c.sleep(10_000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    expect(c.pending).toBe(0);
  });

  it('ManualClock fires timers in time order, each seeing its own due time', async () => {
    const c = new ManualClock('2026-01-01T00:00:00Z');
    const seen: string[] = [];
    c.after(3000, () => seen.push(`b@${c.nowMs() % 100_000}`));
    c.after(1000, () => seen.push(`a@${c.nowMs() % 100_000}`));
    const t = c.every(2000, () => seen.push(`e@${c.nowMs() % 100_000}`));
    await c.advance(4500);
    t.cancel();
    await c.advance(10_000);
    expect(seen).toEqual(['a@1000', 'e@2000', 'b@3000', 'e@4000']);
    expect(c.now().toISOString()).toBe('2026-01-01T00:00:14.500Z');
  });

  it('shiftedClock and fixedClock over a ManualClock keep its timers (methods on its prototype)', async () => {
    const base = new ManualClock(0);
    const shifted = shiftedClock(base, () => 1000);
    const fixed = fixedClock(5, base);
    const fired: string[] = [];
    shifted.after(10, () => fired.push(`shifted@${shifted.nowMs()}`));
    fixed.after(20, () => fired.push(`fixed@${fixed.nowMs()}`));
    await base.advance(20);
    expect(fired).toEqual(['shifted@1010', 'fixed@5']);
  });

  it('shiftedClock and fixedClock move only what now() reports', () => {
    const base = new ManualClock(1_000_000);
    let offset = 5;
    const s = shiftedClock(base, () => offset);
    expect(s.nowMs()).toBe(1_000_005);
    offset = 10;
    expect(s.now().getTime()).toBe(1_000_010);
    expect(fixedClock('2026-05-05T05:05:05Z', base).now().toISOString()).toBe('2026-05-05T05:05:05.000Z');
    expect(() => fixedClock('nope')).toThrow('not a time');
  });
});
