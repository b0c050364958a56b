// How the App talks to GitHub: writes one at a time, a little apart; retries on server errors and rate
// limits. This replaces octokit's throttling and retry plugins, whose Bottleneck queues cost about 9 ms per
// request (measured: docs/decisions.md), and a check makes a dozen requests, most of them in a chain.
import type { Octokit } from '@octokit/core';
import type { Clock } from '../core/clock.js';

export interface SteadyOptions {
  /** Least time between the starts of two writes (POST, PATCH, PUT, DELETE). */
  writeIntervalMs: number;
  /** Retries of a request that failed with 5xx or a network error (exponential backoff). */
  retries?: number;
  /** Longest wait for a rate limit to lift; longer waits fail at once. */
  maxRateLimitWaitMs?: number;
  /** First backoff; doubled on each retry. */
  backoffMs?: number;
  /** The time and the waits (the server's clock). */
  clock: Clock;
  /** Overrides the clock's waits (tests count them). */
  sleep?: (ms: number) => Promise<void>;
}

type RequestError = Error & {
  status?: number;
  response?: { headers?: Record<string, string | number | undefined> };
};

/** How long GitHub asks us to wait, when the error is a (primary or secondary) rate limit; else null. */
export function rateLimitWait(err: RequestError, now: number): number | null {
  if (err.status !== 403 && err.status !== 429) return null;
  const h = err.response?.headers ?? {};
  const retryAfter = Number(h['retry-after']);
  if (Number.isFinite(retryAfter) && h['retry-after'] !== undefined) return Math.max(0, retryAfter * 1000);
  if (String(h['x-ratelimit-remaining']) === '0') {
    const reset = Number(h['x-ratelimit-reset']);
    return Number.isFinite(reset) ? Math.max(0, reset * 1000 - now) : 60_000;
  }
  if (/secondary rate limit/i.test(err.message)) return 60_000;
  return null;
}

/** An octokit plugin: `Octokit.plugin(steadyRequests({ writeIntervalMs: 50, clock }))`. */
export function steadyRequests(opts: SteadyOptions) {
  const retries = opts.retries ?? 3;
  const maxWait = opts.maxRateLimitWaitMs ?? 60_000;
  const backoff = opts.backoffMs ?? 200;
  const sleep = opts.sleep ?? ((ms: number) => opts.clock.sleep(ms));
  // Shared by every client made from the class: GitHub asks for one write at a time per App.
  let lastWrite = Promise.resolve();
  let lastWriteStart = 0;

  return (octokit: Octokit): void => {
    octokit.hook.wrap('request', async (request, options) => {
      const method = String(options.method ?? 'GET').toUpperCase();
      const isWrite = method !== 'GET' && method !== 'HEAD';
      const attempt = async (): Promise<Awaited<ReturnType<typeof request>>> => {
        let serverRetries = 0;
        let limitRetries = 0;
        for (;;) {
          try {
            return await request(options);
          } catch (e) {
            const err = e as RequestError;
            const limited = rateLimitWait(err, opts.clock.nowMs());
            if (limited !== null) {
              if (limitRetries >= 2 || limited > maxWait) throw err;
              limitRetries += 1;
              octokit.log.warn(
                `rate limited on ${method} ${options.url}; retrying in ${Math.ceil(limited / 1000)} s`,
              );
              await sleep(limited);
              continue;
            }
            const transient = err.status === undefined || err.status >= 500;
            if (!transient || serverRetries >= retries) throw err;
            await sleep(backoff * 2 ** serverRetries);
            serverRetries += 1;
          }
        }
      };
      if (!isWrite) return attempt();
      const mine = lastWrite.then(async () => {
        const gap = lastWriteStart + opts.writeIntervalMs - opts.clock.nowMs();
        if (gap > 0) await sleep(gap);
        lastWriteStart = opts.clock.nowMs();
        return attempt();
      });
      lastWrite = mine.then(
        () => undefined,
        () => undefined,
      );
      return mine;
    });
  };
}
