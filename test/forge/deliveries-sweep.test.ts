// Missed deliveries, end to end: `timebox serve` is down while GitHub (the double) sends three webhooks; when
// it is back, the sweep (src/github/deliveries.ts) asks GitHub to redeliver exactly those three, each is
// handled once (one check run per pull request head), and a later sweep redelivers nothing. Across replicas,
// the claims in PostgreSQL (src/jobs/redeliveries.ts) keep two sweeps running at once from redelivering a
// guid twice.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import type { GitHub } from '../../src/github/client.js';
import {
  failedGuids,
  memoryLedger,
  redeliverFailed,
  replicaDeliverySweep,
  startDeliverySweep,
} from '../../src/github/deliveries.js';
import { type RunningServer, startServer } from '../../src/github/server.js';
import { pgRedeliveryLedger } from '../../src/jobs/redeliveries.js';
import {
  ordersPolicy,
  qaOrganisation,
  registerTimeboxApp,
  requestYaml,
  serveOptions,
  silentLog,
} from '../helpers/github.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { ROOT } from '../helpers/repo.js';

const REPO = 'acme/access';
const SECRET = 'deliveries-sweep-secret';
const APP_ID = 7302;

let fake: FakeGitHub;
let db: TestDatabase;
let privateKey: string;
let stateDir: string;
let server: RunningServer | undefined;
let branches = 0;

async function start(port = 0): Promise<RunningServer> {
  const fixture = { fake, appId: APP_ID, privateKey, secret: SECRET, repo: REPO, dbUrl: db.url };
  return startServer({
    ...serveOptions(fixture, { now: () => new Date(), stateDir, log: silentLog() }),
    port,
  });
}

/** A request pull request by alice, not announced yet; returns its number and head. */
async function requestPull(): Promise<{ pull: number; head: string }> {
  branches += 1;
  const branch = `access/alice-${branches}`;
  const head = await fake.commit(REPO, {
    branch,
    author: 'alice',
    files: { [`requests/alice/r${branches}.yaml`]: requestYaml('alice') },
  });
  const pull = await fake.openPull({ repo: REPO, head: branch, user: 'alice', title: `Access ${branches}` });
  return { pull, head };
}

async function opened(url: string, pull: number) {
  const payload = await fake.webhookPayload('pull_request', 'opened', { repo: REPO, pull, sender: 'alice' });
  return fake.deliver(`${url}/api/github/webhooks`, 'pull_request', payload, SECRET);
}

const runsOn = (head: string) =>
  fake.checkRuns.filter((r) => r.head_sha === head && r.name === 'timebox').length;

async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  fake = await FakeGitHub.start();
  privateKey = registerTimeboxApp(fake, APP_ID);
  await fake.createRepo(REPO, {
    author: 'admin',
    files: {
      'timebox.yaml': 'auto_merge: false\n',
      'policies/qa.yaml': ordersPolicy(db.readRole),
      '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
    },
  });
  fake.install(REPO, APP_ID);
  qaOrganisation(fake, ['alice', 'bob', 'carol']);
  stateDir = mkdtempSync(join(tmpdir(), 'timebox-deliveries-'));
}, 120_000);

afterAll(async () => {
  await server?.close();
  fake?.assertClean();
  await fake?.close();
  await db?.drop();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('missed webhook deliveries', () => {
  it('three webhooks sent while the App is down are redelivered once it is back, exactly those, each handled once', async () => {
    server = await start();
    const { port, url } = server;
    const before = await requestPull();
    expect((await opened(url, before.pull)).status).toBe(200);
    await until('the first check run', () => runsOn(before.head) === 1);

    await server.close();
    server = undefined;
    const missed = [await requestPull(), await requestPull(), await requestPull()];
    const guids: string[] = [];
    for (const m of missed) {
      const d = await opened(url, m.pull);
      expect(d.status).toBe(502); // nothing listens
      guids.push(d.id);
    }
    expect(missed.map((m) => runsOn(m.head))).toEqual([0, 0, 0]);

    server = await start(port);
    const app = (await server.probot.auth()) as unknown as GitHub;
    const ledger = memoryLedger();
    const sweep = await redeliverFailed(app, { clock: systemClock, ledger });
    expect(sweep.redelivered.sort()).toEqual([...guids].sort());
    await fake.hookDeliveries.settled();
    await until('the redelivered events handled', () => missed.every((m) => runsOn(m.head) >= 1));
    await server.keeper.idle();
    expect(missed.map((m) => runsOn(m.head))).toEqual([1, 1, 1]);
    expect(runsOn(before.head)).toBe(1);
    const redeliveries = fake.hookDeliveries.all.filter((d) => d.redelivery);
    expect(redeliveries.map((d) => d.guid).sort()).toEqual([...guids].sort());
    expect(redeliveries.every((d) => d.statusCode === 200)).toBe(true);

    // The next sweep finds each guid delivered (and claimed): nothing is redelivered again.
    const again = await redeliverFailed(app, { clock: systemClock, ledger });
    expect(again.redelivered).toEqual([]);
    // A process that restarted (a fresh ledger, the full look-back) sees the successes and asks for nothing.
    const fresh = await redeliverFailed(app, { clock: systemClock, ledger: memoryLedger() });
    expect(fresh.redelivered).toEqual([]);
    expect(fresh.listed).toBe(fake.hookDeliveries.all.length);
    await fake.hookDeliveries.settled();
    expect(missed.map((m) => runsOn(m.head))).toEqual([1, 1, 1]);
  }, 180_000);

  it('two replicas sweeping at once share the claims in PostgreSQL: each failed guid is redelivered once', async () => {
    server ??= await start();
    const { url } = server;
    await server.close();
    server = undefined;
    const missed = [await requestPull(), await requestPull()];
    for (const m of missed) expect((await opened(url, m.pull)).status).toBe(502);

    server = await start(Number(new URL(url).port));
    const app = (await server.probot.auth()) as unknown as GitHub;
    const [a, b] = await Promise.all([pgRedeliveryLedger(db.url), pgRedeliveryLedger(db.url)]);
    try {
      const [ra, rb] = await Promise.all([
        redeliverFailed(app, { clock: systemClock, ledger: a }),
        redeliverFailed(app, { clock: systemClock, ledger: b }),
      ]);
      const all = [...ra.redelivered, ...rb.redelivered];
      expect(all).toHaveLength(2);
      expect(new Set(all).size).toBe(2);
      expect([...ra.claimedBefore, ...rb.claimedBefore].sort()).toEqual([...all].sort());
      await fake.hookDeliveries.settled();
      await until('the redelivered events handled', () => missed.every((m) => runsOn(m.head) >= 1));
      await server.keeper.idle();
      expect(missed.map((m) => runsOn(m.head))).toEqual([1, 1]);
      // The last sweep is remembered in the database: the next one looks back only to it (less the overlap).
      expect((await a.lastSweep())?.getTime()).toBeGreaterThan(Date.now() - 60_000);
      const later = await redeliverFailed(app, { clock: systemClock, ledger: b });
      expect(later.redelivered).toEqual([]);
      expect(later.since.getTime()).toBeGreaterThan(Date.now() - 3 * 60_000);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 180_000);

  it('as serve wires it: the in-process sweep at start, and the replicas’ cron handler', async () => {
    server ??= await start();
    const { url } = server;
    await server.close();
    server = undefined;
    const [a, b] = [await requestPull(), await requestPull()];
    expect((await opened(url, a.pull)).status).toBe(502);
    server = await start(Number(new URL(url).port));
    const errors: unknown[] = [];
    const log = { info: () => {}, warn: () => {}, error: (o: object) => errors.push(o) };
    const timer = startDeliverySweep(server.probot, { clock: systemClock, log });
    try {
      await until('the sweep at start to bring the missed webhook', () => runsOn(a.head) === 1);
    } finally {
      timer.cancel();
    }
    expect(errors).toEqual([]);
    // The redelivery's answer is in before the App goes down again (else GitHub records it as failed too).
    await fake.hookDeliveries.settled();
    await server.keeper.idle();

    await server.close();
    server = undefined;
    expect((await opened(url, b.pull)).status).toBe(502);
    server = await start(Number(new URL(url).port));
    const quiet = { info: () => {}, warn: () => {} };
    await replicaDeliverySweep(server.probot, db.url, systemClock, quiet)();
    await fake.hookDeliveries.settled();
    await until('the cron handler to bring the missed webhook', () => runsOn(b.head) === 1);
    await server.keeper.idle();
    expect([runsOn(a.head), runsOn(b.head)]).toEqual([1, 1]);
  }, 180_000);

  it('picks, per guid, the newest failed attempt unless one was delivered', () => {
    const d = (id: number, guid: string, code: number): JsonObject & { id: number } => ({
      id,
      guid,
      status_code: code,
      delivered_at: '2026-01-01T00:00:00Z',
      redelivery: false,
      status: '',
      event: 'push',
    });
    const items = [
      d(6, 'c', 502),
      d(5, 'b', 200),
      d(4, 'c', 500),
      d(3, 'b', 502),
      d(2, 'a', 500),
      d(1, 'a', 404),
    ];
    expect(failedGuids(items as never).map((x) => x.id)).toEqual([2, 6]);
  });
});
