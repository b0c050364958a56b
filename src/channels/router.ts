// Routing notices to channels without ever making the engine wait for them (SPEC: "A failing channel never
// blocks a grant or a revocation: it is retried and logged"). `dispatch` only enqueues; each channel drains its
// own bounded queue in the background, one message at a time (so a request's Slack message is created before it
// is updated), with a per-attempt timeout and exponential backoff on the injected Clock.
import { randomUUID } from 'node:crypto';
import { Minimatch } from 'minimatch';
import type { Clock, Timer } from '../core/clock.js';
import {
  type Channel,
  type ChannelMessage,
  DeliveryError,
  findSecret,
  isRetryable,
  type NotifyEvent,
} from './message.js';

/** pino-compatible: a pino Logger fits. */
export interface ChannelLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A channel and what it wants to hear about; omitted filters match everything. */
export interface Route {
  channel: Channel;
  /** minimatch globs over resource ids, as in policies. */
  resources?: string[];
  events?: NotifyEvent[];
}

export interface ChannelRouterOptions {
  routes: Route[];
  clock: Clock;
  logger: ChannelLogger;
  /** Attempts per delivery, the first included. Default 6 (about 31 s of backoff at the defaults). */
  attempts?: number;
  /** First backoff; doubles after each failed attempt. Default 1 s. */
  baseDelayMs?: number;
  /** Longest backoff, also the cap on a remote Retry-After. Default 5 min. */
  maxDelayMs?: number;
  /** How long one attempt may take before it counts as failed (and is retried). Default 30 s. */
  attemptTimeoutMs?: number;
  /** Messages waiting per channel; when full, the oldest waiting one is dropped (and logged). Default 100. */
  queueLimit?: number;
}

interface Job {
  message: ChannelMessage;
  id: string;
}

/** The one event every route hears, whatever its `resources:` and `events:`. */
export const EVERYWHERE: NotifyEvent = 'break_glass';

const GLOB_OPTIONS = { dot: true, nonegate: true, nocomment: true } as const;

export class ChannelRouter {
  readonly #routes: { channel: Channel; resources?: Minimatch[]; events?: Set<NotifyEvent> }[];
  readonly #queues = new Map<string, ChannelQueue>();
  readonly #opts: Required<Omit<ChannelRouterOptions, 'routes'>>;
  #closed = false;

  constructor(options: ChannelRouterOptions) {
    this.#opts = {
      clock: options.clock,
      logger: quiet(options.logger),
      attempts: Math.max(1, options.attempts ?? 6),
      baseDelayMs: options.baseDelayMs ?? 1000,
      maxDelayMs: options.maxDelayMs ?? 5 * 60_000,
      attemptTimeoutMs: options.attemptTimeoutMs ?? 30_000,
      queueLimit: Math.max(1, options.queueLimit ?? 100),
    };
    this.#routes = options.routes.map((r) => ({
      channel: r.channel,
      ...(r.resources ? { resources: r.resources.map((g) => new Minimatch(g, GLOB_OPTIONS)) } : {}),
      ...(r.events ? { events: new Set(r.events) } : {}),
    }));
  }

  /**
   * The channels `message` is routed to (each once, even when several entries select it). A break-glass goes
   * to every channel whatever its filters (SPEC "Break-glass": every configured notifier is alerted at once).
   */
  channelsFor(message: Pick<ChannelMessage, 'resource' | 'event'>): Channel[] {
    const chosen = new Map<string, Channel>();
    const everywhere = message.event === EVERYWHERE;
    for (const r of this.#routes) {
      if (everywhere) {
        if (!chosen.has(r.channel.id)) chosen.set(r.channel.id, r.channel);
        continue;
      }
      if (r.events && !r.events.has(message.event)) continue;
      if (r.resources && !r.resources.some((g) => g.match(message.resource))) continue;
      if (!chosen.has(r.channel.id)) chosen.set(r.channel.id, r.channel);
    }
    return [...chosen.values()];
  }

  /**
   * Queues `message` for every routed channel and returns at once with how many were chosen. Never throws and
   * never waits: delivery, retries and their logging happen in the background.
   */
  dispatch(message: ChannelMessage): number {
    try {
      if (this.#closed) {
        this.#opts.logger.warn(this.#about(message), 'notification router closed; notification dropped');
        return 0;
      }
      const secret = findSecret(message);
      if (secret) {
        this.#opts.logger.error(
          { ...this.#about(message), reason: secret },
          'notification refused: it looks like it carries a secret',
        );
        return 0;
      }
      const channels = this.channelsFor(message);
      for (const channel of channels) this.#queue(channel).push({ message, id: randomUUID() });
      return channels.length;
    } catch (error) {
      this.#opts.logger.error({ ...this.#about(message), error: describe(error) }, 'notification not queued');
      return 0;
    }
  }

  /** Resolves when every queue is empty and nothing is in flight (tests, and shutdown). */
  async drain(): Promise<void> {
    for (;;) {
      const busy = [...this.#queues.values()].filter((q) => !q.idle);
      if (busy.length === 0) return;
      await Promise.all(busy.map((q) => q.whenIdle()));
    }
  }

  /** Stops accepting messages, drains what is queued, then closes the channels. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.drain();
    const channels = new Set(this.#routes.map((r) => r.channel));
    for (const channel of channels)
      await Promise.resolve()
        .then(() => channel.close?.())
        .catch((error) =>
          this.#opts.logger.warn({ channel: channel.id, error: describe(error) }, 'channel close failed'),
        );
  }

  #queue(channel: Channel): ChannelQueue {
    let q = this.#queues.get(channel.id);
    if (!q) {
      q = new ChannelQueue(channel, this.#opts);
      this.#queues.set(channel.id, q);
    }
    return q;
  }

  #about(message: ChannelMessage) {
    return { key: message?.key, event: message?.event, resource: message?.resource };
  }
}

/** One channel's waiting messages and its single worker. */
class ChannelQueue {
  readonly #waiting: Job[] = [];
  readonly #idleWaiters: (() => void)[] = [];
  #running = false;

  constructor(
    readonly channel: Channel,
    readonly opts: Required<Omit<ChannelRouterOptions, 'routes'>>,
  ) {}

  get idle(): boolean {
    return !this.#running && this.#waiting.length === 0;
  }

  whenIdle(): Promise<void> {
    return this.idle ? Promise.resolve() : new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  push(job: Job): void {
    if (this.#waiting.length >= this.opts.queueLimit) {
      const dropped = this.#waiting.shift();
      if (dropped)
        this.opts.logger.warn(
          { ...this.#about(dropped), limit: this.opts.queueLimit },
          'notification queue full; dropped the oldest waiting notification',
        );
    }
    this.#waiting.push(job);
    this.#start();
  }

  #start(): void {
    if (this.#running) return;
    this.#running = true;
    // Started on a later microtask so `dispatch` returns before any channel code runs.
    void Promise.resolve()
      .then(() => this.#work())
      .catch((error) =>
        this.opts.logger.error(
          { channel: this.channel.id, error: describe(error) },
          'notification router bug',
        ),
      )
      .finally(() => {
        this.#running = false;
        // A job pushed while the loop was finishing found it running: start again rather than strand it.
        if (this.#waiting.length > 0) this.#start();
        else for (const wake of this.#idleWaiters.splice(0)) wake();
      });
  }

  async #work(): Promise<void> {
    for (let job = this.#waiting.shift(); job; job = this.#waiting.shift()) await this.#deliver(job);
  }

  /** Tries one delivery up to `attempts` times; logs, never throws. */
  async #deliver(job: Job): Promise<void> {
    const { logger, attempts } = this.opts;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#attempt(job, attempt);
        if (attempt > 1)
          logger.info({ ...this.#about(job), attempt }, 'notification delivered after retrying');
        return;
      } catch (error) {
        const retry = isRetryable(error) && attempt < attempts;
        const about = { ...this.#about(job), attempt, error: describe(error) };
        if (!retry) {
          logger.error(
            about,
            isRetryable(error) ? 'notification not delivered; giving up' : 'notification not delivered',
          );
          return;
        }
        const waitMs = this.#backoff(attempt, error);
        logger.warn({ ...about, retryInMs: waitMs }, 'notification failed; will retry');
        await wait(this.opts.clock, waitMs);
      }
    }
  }

  async #attempt(job: Job, attempt: number): Promise<void> {
    const { clock, attemptTimeoutMs } = this.opts;
    const abort = new AbortController();
    let timer: Timer | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = clock
        .after(attemptTimeoutMs, () => {
          const error = new DeliveryError(`no answer within ${attemptTimeoutMs} ms`, true);
          abort.abort(error);
          reject(error);
        })
        .unref();
    });
    const delivery = Promise.resolve().then(() =>
      this.channel.deliver(job.message, { id: job.id, attempt, signal: abort.signal }),
    );
    // A delivery abandoned by the timeout may still settle later; its rejection is not news.
    delivery.catch(() => {});
    try {
      await Promise.race([delivery, timedOut]);
    } finally {
      timer?.cancel();
    }
  }

  #backoff(attempt: number, error: unknown): number {
    const { baseDelayMs, maxDelayMs } = this.opts;
    const exponential = baseDelayMs * 2 ** (attempt - 1);
    const asked = error instanceof DeliveryError ? (error.retryAfterMs ?? 0) : 0;
    return Math.min(maxDelayMs, Math.max(exponential, asked));
  }

  #about(job: Job) {
    return { channel: this.channel.id, key: job.message.key, event: job.message.event, delivery: job.id };
  }
}

/** The logger, except that a logger that throws cannot make `dispatch` throw or stop a queue. */
function quiet(logger: ChannelLogger): ChannelLogger {
  const guard =
    (level: keyof ChannelLogger) =>
    (obj: object, msg: string): void => {
      try {
        logger[level](obj, msg);
      } catch {
        // Nowhere left to report it.
      }
    };
  return { info: guard('info'), warn: guard('warn'), error: guard('error') };
}

function wait(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => void clock.after(ms, resolve).unref());
}

/** An error as one line for the log: its message, never its (possibly request-carrying) properties. */
export function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
