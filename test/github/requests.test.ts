// Timebox's request policy toward GitHub: writes one at a time and spaced, 5xx retried with backoff, rate
// limits waited out (and given up when GitHub asks for too long), client errors never retried.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Octokit } from '@octokit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { rateLimitWait, steadyRequests } from '../../src/github/requests.js';

type Reply = { status: number; headers?: Record<string, string>; delayMs?: number };

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A server answering `script` in order (the last reply repeats); it records each request's window. */
async function serve(script: Reply[]) {
  const log: { method: string; start: number; end: number }[] = [];
  let i = 0;
  server = createServer((req, res) => {
    const reply = script[Math.min(i, script.length - 1)] as Reply;
    i += 1;
    const entry = { method: req.method ?? '', start: performance.now(), end: 0 };
    log.push(entry);
    setTimeout(() => {
      entry.end = performance.now();
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(JSON.stringify(reply.status < 400 ? { ok: true } : { message: `status ${reply.status}` }));
    }, reply.delayMs ?? 0);
  });
  const listening = server;
  await new Promise<void>((r) => listening.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(listening.address() as AddressInfo).port}`, log };
}

function client(url: string, sleeps: number[] = [], writeIntervalMs = 0) {
  const Client = Octokit.plugin(
    steadyRequests({
      writeIntervalMs,
      backoffMs: 1,
      maxRateLimitWaitMs: 5_000,
      clock: systemClock,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    }),
  );
  const quiet = () => {};
  return new Client({ baseUrl: url, log: { debug: quiet, info: quiet, warn: quiet, error: quiet } });
}

describe('steadyRequests', () => {
  it('retries 5xx with exponential backoff, then succeeds', async () => {
    const { url, log } = await serve([{ status: 502 }, { status: 503 }, { status: 200 }]);
    const sleeps: number[] = [];
    const r = await client(url, sleeps).request('GET /x');
    expect(r.status).toBe(200);
    expect(log).toHaveLength(3);
    expect(sleeps).toEqual([1, 2]);
  });

  it('gives up after the retries and throws the last error', async () => {
    const { url, log } = await serve([{ status: 500 }]);
    await expect(client(url).request('GET /x')).rejects.toMatchObject({ status: 500 });
    expect(log).toHaveLength(4);
  });

  it('never retries a client error', async () => {
    const { url, log } = await serve([{ status: 404 }]);
    await expect(client(url).request('GET /x')).rejects.toMatchObject({ status: 404 });
    expect(log).toHaveLength(1);
  });

  it('waits out a secondary rate limit as long as retry-after says', async () => {
    const { url, log } = await serve([{ status: 403, headers: { 'retry-after': '2' } }, { status: 201 }]);
    const sleeps: number[] = [];
    expect((await client(url, sleeps).request('POST /x', { a: 1 })).status).toBe(201);
    expect(sleeps).toContain(2000);
    expect(log).toHaveLength(2);
  });

  it('does not wait longer than allowed: a far-off reset fails at once', async () => {
    const reset = String(Math.floor(Date.now() / 1000) + 3600);
    const { url, log } = await serve([
      { status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset } },
    ]);
    await expect(client(url).request('GET /x')).rejects.toMatchObject({ status: 403 });
    expect(log).toHaveLength(1);
  });

  it('sends writes one at a time and spaced, while reads go in parallel', async () => {
    const { url, log } = await serve([{ status: 200, delayMs: 30 }]);
    const gh = client(url, [], 0);
    await Promise.all([
      gh.request('POST /a', {}),
      gh.request('PATCH /b', {}),
      gh.request('POST /c', {}),
      gh.request('GET /d'),
      gh.request('GET /e'),
    ]);
    const writes = log.filter((l) => l.method !== 'GET').sort((a, b) => a.start - b.start);
    for (let i = 1; i < writes.length; i++) {
      expect(writes[i]?.start).toBeGreaterThanOrEqual(writes[i - 1]?.end as number);
    }
    const reads = log.filter((l) => l.method === 'GET').sort((a, b) => a.start - b.start);
    expect(reads[1]?.start).toBeLessThan(reads[0]?.end as number);
  });

  it('reads GitHub rate-limit answers', () => {
    const e = (status: number, headers: Record<string, string>, message = 'x') =>
      Object.assign(new Error(message), { status, response: { headers } });
    expect(rateLimitWait(e(429, { 'retry-after': '3' }), 0)).toBe(3000);
    expect(rateLimitWait(e(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '110' }), 100_000)).toBe(
      10_000,
    );
    expect(rateLimitWait(e(403, {}, 'You have exceeded a secondary rate limit'), 0)).toBe(60_000);
    expect(rateLimitWait(e(403, {}, 'Resource not accessible by integration'), 0)).toBeNull();
    expect(rateLimitWait(e(500, { 'retry-after': '3' }), 0)).toBeNull();
  });
});
