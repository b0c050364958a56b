// The one clock. Entry points (the CLI, `serve`, the demo, the Action) make one and pass it down; nothing
// else in src/ reads the wall clock or arms a bare timer, so every time-dependent path can be driven by a
// test clock, and the demo can move time forward for everything at once.
//
// `systemClock` looks up `Date` and the timer functions when called (never caches them at load), so a
// test's fake timers (vitest's `vi.useFakeTimers`) drive it too.

/** A pending timer; `cancel` is idempotent. */
export interface Timer {
  cancel(): void;
  /** Lets the process exit while this timer waits (a CLI that is done must not hang on a far expiry). */
  unref(): Timer;
}

export interface Clock {
  /** The current time. */
  now(): Date;
  /** The current time in milliseconds since the epoch. */
  nowMs(): number;
  /** Resolves after `ms` (immediately for `ms <= 0`); rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` once after `ms`. */
  after(ms: number, fn: () => void): Timer;
  /** Calls `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): Timer;
}

/** setTimeout cannot wait longer than 2^31-1 ms; `after` re-arms longer waits. */
const MAX_WAIT = 2 ** 31 - 1;

function nodeTimer(handle: ReturnType<typeof setTimeout>, clear: (h: ReturnType<typeof setTimeout>) => void) {
  const t: Timer = {
    cancel: () => clear(handle),
    unref: () => {
      handle.unref?.();
      return t;
    },
  };
  return t;
}

/** A clock that reads `nowMs` and waits on Node's timers; `systemClock` is the wall clock. */
function timersClock(nowMs: () => number): Clock {
  const clock: Clock = {
    now: () => new Date(nowMs()),
    nowMs,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const timer = clock.after(ms, () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
        const onAbort = () => {
          timer.cancel();
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    after: (ms, fn) => {
      // Re-armed in steps of at most MAX_WAIT; the current step's handle is what cancel/unref act on.
      let unrefd = false;
      let handle: ReturnType<typeof setTimeout>;
      const arm = (left: number) => {
        handle = globalThis.setTimeout(
          () => (left > MAX_WAIT ? arm(left - MAX_WAIT) : fn()),
          Math.max(0, Math.min(left, MAX_WAIT)),
        );
        if (unrefd) handle.unref?.();
      };
      arm(ms);
      const t: Timer = {
        cancel: () => globalThis.clearTimeout(handle),
        unref: () => {
          unrefd = true;
          handle.unref?.();
          return t;
        },
      };
      return t;
    },
    every: (ms, fn) => nodeTimer(globalThis.setInterval(fn, ms), (h) => globalThis.clearInterval(h)),
  };
  return clock;
}

/** `base`'s waiting methods, bound (a class clock such as `ManualClock` keeps them on its prototype). */
function timersOf(base: Clock): Pick<Clock, 'sleep' | 'after' | 'every'> {
  return {
    sleep: (ms, signal) => base.sleep(ms, signal),
    after: (ms, fn) => base.after(ms, fn),
    every: (ms, fn) => base.every(ms, fn),
  };
}

/** The wall clock. */
export const systemClock: Clock = timersClock(() => Date.now());

/**
 * `base` moved by `offsetMs()` (read at each call): the demo's fast-forward. Timers still wait real
 * milliseconds; only what `now` reports moves.
 */
export function shiftedClock(base: Clock, offsetMs: () => number): Clock {
  return {
    ...timersOf(base),
    now: () => new Date(base.nowMs() + offsetMs()),
    nowMs: () => base.nowMs() + offsetMs(),
  };
}

/** A clock that always reports `at` (for one-shot computations: `check --at`, `status --at`); timers are real. */
export function fixedClock(at: Date | string | number, base: Clock = systemClock): Clock {
  const ms = new Date(at).getTime();
  if (Number.isNaN(ms)) throw new Error(`not a time: ${String(at)}`);
  return { ...timersOf(base), now: () => new Date(ms), nowMs: () => ms };
}

/**
 * A clock that moves only when told: `advance(ms)` runs, in time order, every timer due by then. For tests
 * and the forge double; never reads the wall clock.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void; every?: number }>();

  constructor(start: Date | string | number) {
    this.#now = new Date(start).getTime();
    if (Number.isNaN(this.#now)) throw new Error(`not a time: ${String(start)}`);
  }

  now(): Date {
    return new Date(this.#now);
  }

  nowMs(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = this.after(ms, resolve);
      signal?.addEventListener(
        'abort',
        () => {
          t.cancel();
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  after(ms: number, fn: () => void): Timer {
    return this.#add(ms, fn);
  }

  every(ms: number, fn: () => void): Timer {
    if (!(ms > 0)) throw new Error('every: the interval must be positive');
    return this.#add(ms, fn, ms);
  }

  /** Moves time forward by `ms`, firing due timers in order (each sees `now()` at its own due time). */
  async advance(ms: number): Promise<void> {
    const end = this.#now + Math.max(0, ms);
    for (;;) {
      let next: [number, { at: number; fn: () => void; every?: number }] | undefined;
      for (const entry of this.#timers)
        if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      const [id, timer] = next;
      this.#now = Math.max(this.#now, timer.at);
      if (timer.every) timer.at += timer.every;
      else this.#timers.delete(id);
      timer.fn();
      // Let promise continuations of the timer run before the next one fires.
      await new Promise<void>((r) => globalThis.setImmediate(r));
    }
    this.#now = end;
  }

  /** Moves time to `at` (never backwards). */
  async advanceTo(at: Date | string | number): Promise<void> {
    await this.advance(new Date(at).getTime() - this.#now);
  }

  /** Timers waiting. */
  get pending(): number {
    return this.#timers.size;
  }

  #add(ms: number, fn: () => void, every?: number): Timer {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn, ...(every ? { every } : {}) });
    const t: Timer = { cancel: () => void this.#timers.delete(id), unref: () => t };
    return t;
  }
}
