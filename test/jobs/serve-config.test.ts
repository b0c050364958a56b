// How `serve` becomes a replica, without a database: TIMEBOX_DATABASE_URL in the environment, and the keeper's
// timers as jobs (src/github/replica.ts `durableTimers`) — what is written per grant, and when not again.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SERVE_ENV_HELP, serveOptionsFromEnv } from '../../src/cli/serve.js';
import { ManualClock } from '../../src/core/clock.js';
import type { InstalledRepo } from '../../src/engine/keeper.js';
import { durableTimers } from '../../src/github/replica.js';
import type { JobData, Jobs } from '../../src/jobs/index.js';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const GOOD = { APP_ID: '123', PRIVATE_KEY: PEM, WEBHOOK_SECRET: 's3cret' };

describe('TIMEBOX_DATABASE_URL', () => {
  it('turns replicas on; unset, serve keeps its state in memory', () => {
    expect(serveOptionsFromEnv(GOOD, '/').databaseUrl).toBeUndefined();
    const url = 'postgresql://timebox_replicas:change-me@db.internal:5432/timebox_state';
    expect(serveOptionsFromEnv({ ...GOOD, TIMEBOX_DATABASE_URL: url }, '/').databaseUrl).toBe(url);
    expect(SERVE_ENV_HELP).toContain('TIMEBOX_DATABASE_URL');
  });

  it('refuses anything but a PostgreSQL URL, and names the docs', () => {
    for (const bad of ['mysql://db/x', 'db.internal:5432', 'postgresql://']) {
      expect(() => serveOptionsFromEnv({ ...GOOD, TIMEBOX_DATABASE_URL: bad }, '/')).toThrow(
        /TIMEBOX_DATABASE_URL must be a postgresql:\/\/ URL \(docs\/deployment\.md, "Replicas"\)/,
      );
    }
  });
});

type Written = { kind: 'revocation' | 'reminder'; grantId: string; at: number; data?: JobData };

function recordingJobs(written: Written[]): Jobs {
  const stub = (): never => {
    throw new Error('not used');
  };
  return {
    runnerId: 'test',
    enqueueWebhook: stub,
    scheduleRevocation: async (grantId, at, data) => {
      written.push({ kind: 'revocation', grantId, at: at.getTime(), ...(data ? { data } : {}) });
    },
    scheduleReminder: async (grantId, at, data) => {
      written.push({ kind: 'reminder', grantId, at: at.getTime(), ...(data ? { data } : {}) });
    },
    cancel: stub,
    exclusive: stub,
    recoverNow: stub,
    workerIds: () => [],
    stop: async () => {},
  };
}

describe('durable timers (the keeper on a replica)', () => {
  const installed: InstalledRepo = {
    installationId: 42,
    repo: { owner: 'acme', repo: 'access' },
    defaultBranch: 'main',
  };
  const t0 = Date.parse('2026-12-01T10:00:00Z');

  it('writes each grant’s revocation at expiry and its reminder before, with what any replica needs', async () => {
    const written: Written[] = [];
    const clock = new ManualClock(new Date(t0));
    const timers = durableTimers(Promise.resolve(recordingJobs(written)), clock);
    const id = 'acme/access#requests/alice/a.yaml@0123456789ab';
    await timers.schedule(installed, [{ id, file: 'requests/alice/a.yaml', expiresAt: t0 + 2 * 3600_000 }]);
    const data = { installationId: 42, owner: 'acme', repo: 'access', defaultBranch: 'main' };
    expect(written).toEqual([
      { kind: 'revocation', grantId: id, at: t0 + 2 * 3600_000, data },
      { kind: 'reminder', grantId: id, at: t0 + 2 * 3600_000 - 15 * 60_000, data },
    ]);
  });

  it('writes again only when the expiry changed; no reminder once its time has passed; a lead of 0 is none', async () => {
    const written: Written[] = [];
    const clock = new ManualClock(new Date(t0));
    const timers = durableTimers(Promise.resolve(recordingJobs(written)), clock);
    const a = { id: 'acme/access#a@1', file: 'a', expiresAt: t0 + 3600_000, remindMs: 10 * 60_000 };
    const b = { id: 'acme/access#b@1', file: 'b', expiresAt: t0 + 5 * 60_000 };
    const c = { id: 'acme/access#c@1', file: 'c', expiresAt: t0 + 3600_000, remindMs: 0 };
    await timers.schedule(installed, [a, b, c]);
    expect(written.map((w) => `${w.kind} ${w.grantId}`)).toEqual([
      'revocation acme/access#a@1',
      'reminder acme/access#a@1',
      // b: 5 minutes left, under the 15-minute lead: its reminder time has passed.
      'revocation acme/access#b@1',
      'revocation acme/access#c@1',
    ]);
    written.length = 0;
    // The next reconcile lists the same grants: nothing is written again.
    await timers.schedule(installed, [a, b, c]);
    expect(written).toEqual([]);
    // a's expiry moved: its jobs are written again (replacing the old ones, keyed by grant).
    await timers.schedule(installed, [{ ...a, expiresAt: t0 + 7200_000 }, b, c]);
    expect(written.map((w) => [w.kind, w.grantId, w.at])).toEqual([
      ['revocation', 'acme/access#a@1', t0 + 7200_000],
      ['reminder', 'acme/access#a@1', t0 + 7200_000 - 10 * 60_000],
    ]);
  });
});
