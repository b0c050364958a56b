// Ordering work that events and timers start: one run at a time per key, and the last push a delivery
// reported. Memory only: nothing here is the only copy of anything.
import type { KnownPush } from './facts.js';

/**
 * Runs work per key one at a time. While a run is in progress, later requests for the same key share
 * one follow-up run: it starts after the current one and reads the state as it is then, so a burst of
 * deliveries for one pull request costs at most two checks, and the last one posted is never stale.
 */
export class KeyedRunner {
  readonly #running = new Map<string, Promise<unknown>>();
  readonly #queued = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const queued = this.#queued.get(key);
    if (queued) return queued as Promise<T>;
    const running = this.#running.get(key);
    if (!running) return this.#start(key, work);
    const next = running
      .catch(() => undefined)
      .then(() => {
        this.#queued.delete(key);
        return this.#start(key, work);
      });
    this.#queued.set(key, next);
    return next;
  }

  /** Resolves when nothing runs or waits for `key` (whatever the runs gave). */
  async idle(key: string): Promise<void> {
    for (;;) {
      const p = this.#queued.get(key) ?? this.#running.get(key);
      if (!p) return;
      await p.catch(() => undefined);
    }
  }

  #start<T>(key: string, work: () => Promise<T>): Promise<T> {
    const p = work();
    this.#running.set(key, p);
    const clear = () => {
      if (this.#running.get(key) === p) this.#running.delete(key);
    };
    p.then(clear, clear);
    return p;
  }
}

/**
 * The last push each pull request's `synchronize` delivery reported (`before`, `after`, `sender`: signed by
 * the forge). Who pushed is judged from the forge's activity log of the branch, which may not show a push yet
 * when its webhook arrives; this bridges that moment only (src/engine/facts.ts `pushersFromActivity`). Memory
 * only, and bounded: after a restart the log has long caught up.
 */
export class RecentPushes {
  readonly #last = new Map<string, KnownPush>();
  constructor(readonly max = 1000) {}

  note(
    key: string,
    payload: { action?: string; before?: string; after?: string; sender?: KnownPush['actor'] },
  ): void {
    if (payload.action !== 'synchronize' || !payload.before || !payload.after) return;
    this.#last.delete(key);
    this.#last.set(key, {
      before: payload.before,
      after: payload.after,
      actor: payload.sender ? { login: payload.sender.login, type: payload.sender.type ?? 'User' } : null,
    });
    if (this.#last.size > this.max) {
      const oldest = this.#last.keys().next().value;
      if (oldest !== undefined) this.#last.delete(oldest);
    }
  }

  get(key: string): KnownPush | undefined {
    return this.#last.get(key);
  }
}
