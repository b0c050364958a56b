// Per-pull-request serialisation: bursts coalesce into one follow-up run that sees the latest state.
import { describe, expect, it } from 'vitest';
import { KeyedRunner } from '../../src/engine/runner.js';

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { open, opened };
}

describe('KeyedRunner', () => {
  it('runs one key at a time, and a burst during a run costs one follow-up run reading the latest state', async () => {
    const runner = new KeyedRunner();
    let state = 1;
    const seen: number[] = [];
    let active = 0;
    let maxActive = 0;
    const g = gate();
    const work = async () => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      const s = state;
      if (seen.length === 0) await g.opened;
      seen.push(s);
      active -= 1;
      return s;
    };
    const first = runner.run('pr#1', work);
    state = 2;
    const second = runner.run('pr#1', work);
    state = 3;
    const third = runner.run('pr#1', work);
    expect(second).toBe(third);
    g.open();
    expect(await first).toBe(1);
    expect(await second).toBe(3);
    expect(seen).toEqual([1, 3]);
    expect(maxActive).toBe(1);
  });

  it('keys do not wait for each other, and a failed run does not block the next', async () => {
    const runner = new KeyedRunner();
    const g = gate();
    const slow = runner.run('a', async () => {
      await g.opened;
      return 'a';
    });
    expect(await runner.run('b', async () => 'b')).toBe('b');
    g.open();
    expect(await slow).toBe('a');
    await expect(runner.run('c', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await runner.run('c', async () => 'ok')).toBe('ok');
  });
});
