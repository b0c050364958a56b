// A logger that records entries and lets a test wait for one (ordering by events, never by timing).
import type { ChannelLogger } from '../../src/channels/router.js';

export interface Entry {
  level: 'info' | 'warn' | 'error';
  msg: string;
  obj: Record<string, unknown>;
}

export class RecordingLogger implements ChannelLogger {
  readonly entries: Entry[] = [];
  readonly #waiters: { test: (e: Entry) => boolean; resolve: (e: Entry) => void }[] = [];

  info(obj: object, msg: string) {
    this.#add({ level: 'info', msg, obj: obj as Record<string, unknown> });
  }
  warn(obj: object, msg: string) {
    this.#add({ level: 'warn', msg, obj: obj as Record<string, unknown> });
  }
  error(obj: object, msg: string) {
    this.#add({ level: 'error', msg, obj: obj as Record<string, unknown> });
  }

  /** Resolves with the first entry (already logged or yet to come) matching `test`, skipping `skip` of them. */
  next(test: (e: Entry) => boolean, skip = 0): Promise<Entry> {
    const seen = this.entries.filter(test);
    if (seen.length > skip) return Promise.resolve(seen[skip] as Entry);
    let left = skip - seen.length;
    return new Promise((resolve) =>
      this.#waiters.push({
        test: (e) => test(e) && left-- === 0,
        resolve,
      }),
    );
  }

  #add(e: Entry) {
    this.entries.push(e);
    for (const w of [...this.#waiters])
      if (w.test(e)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(e);
      }
  }
}
