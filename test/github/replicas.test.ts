// Two `timebox serve` replicas sharing one state database (TIMEBOX_DATABASE_URL), against the fake GitHub and a
// real PostgreSQL target. The state database and its role are made by the SQL that docs/deployment.md
// ("The state database") prescribes — never a superuser — and reached through a proxy the test can take down.
// - a webhook delivered to one replica is stored, answered at once and handled once by one of the two
//   workers (one check run, one summary comment);
// - a revocation scheduled by the replica that handled the push runs on the other once the first is stopped
//   (the role is dropped at expiry and the revert PR merged);
// - with the database down a delivery is answered 503; once it is back the same delivery is stored and handled.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { type RunningServer, startServer } from '../../src/github/server.js';
import { accessRepoRoot, rootTag, serveOptions } from '../helpers/github.js';
import { Outage } from '../helpers/outage.js';
import { createTestDatabase, dropRolesOf, query, type TestDatabase } from '../helpers/postgres.js';
import {
  accessRepoForReplicas,
  createStateDatabase,
  pendingJobs as pendingJobs_,
  type StateDatabase,
  waitFor,
} from '../helpers/replicas.js';
import { git } from '../helpers/repo.js';
import { approvalPayload } from '../helpers/serve.js';

const REPO = 'acme/access';
const SECRET = 'replicas-webhook-secret';
const APP_ID = 6161;
const FILE = 'requests/alice/x.yaml';

let fake: FakeGitHub;
let target: TestDatabase;
let state: StateDatabase;
let outage: Outage;
const replicas = new Map<string, RunningServer>();
const logs = new Map<string, JsonObject[]>();
const kept: string[] = [];

async function startReplica(name: string): Promise<RunningServer> {
  const lines: JsonObject[] = logs.get(name) ?? [];
  logs.set(name, lines);
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const stateDir = mkdtempSync(join(tmpdir(), `timebox-replica-${name}-`));
  kept.push(stateDir);
  const fixture = { fake, appId: APP_ID, privateKey, secret: SECRET, repo: REPO, dbUrl: target.url };
  const server = await startServer({
    ...serveOptions(fixture, { now: () => systemClock.now(), stateDir, log: pino({ level: 'info' }, sink) }),
    databaseUrl: outage.url(state.url),
    replica: { name, cron: false, pollIntervalMs: 100, recoveryIntervalMs: 300, concurrency: 2 },
  });
  replicas.set(name, server);
  return server;
}

let privateKey: string;

beforeAll(async () => {
  [target, state] = await Promise.all([createTestDatabase(), createStateDatabase()]);
  outage = new Outage(state.url);
  await outage.up();
  fake = await FakeGitHub.start();
  privateKey = await accessRepoForReplicas(fake, {
    repo: REPO,
    appId: APP_ID,
    readRole: target.readRole,
    kept,
  });
  // Started together on an empty database, as replicas are.
  await Promise.all([startReplica('A'), startReplica('B')]);
}, 120_000);

afterAll(async () => {
  if (process.env.TIMEBOX_TEST_DUMP_LOGS)
    for (const [name, lines] of logs)
      for (const l of lines) console.log(name, JSON.stringify(l).slice(0, 600));
  for (const r of replicas.values()) await r.close().catch(() => undefined);
  if (fake && target) await dropRolesOf(target.url, accessRepoRoot(fake, REPO));
  await fake?.close();
  await outage?.down().catch(() => undefined);
  await state?.drop();
  await target?.drop();
  for (const dir of kept) rmSync(dir, { recursive: true, force: true });
});

// ---- helpers -------------------------------------------------------------------------------------------------

async function deliver(name: string, event: string, payload: JsonObject) {
  const server = replicas.get(name);
  if (!server) throw new Error(`no replica ${name}`);
  const started = systemClock.nowMs();
  const d = await fake.deliver(`${server.url}/api/github/webhooks`, event, payload, SECRET);
  return { ...d, ms: systemClock.nowMs() - started };
}

const stateRows = async (sql: string) => (await query(state.url, sql)).rows;
const pendingJobs = (task: string) => pendingJobs_(state.url, task);

/** Log lines of every replica whose message matches. */
const logged = (re: RegExp) =>
  [...logs.entries()].flatMap(([name, lines]) =>
    lines.filter((l) => re.test(String(l.msg ?? ''))).map((l) => ({ replica: name, line: l })),
  );

const summaryComments = (pull: number) =>
  fake.comments.filter(
    (c) =>
      String(c.html_url ?? '').includes(`/pull/${pull}#`) &&
      (c.user as JsonObject | undefined)?.login === 'timebox[bot]' &&
      String(c.body).includes('timebox:summary'),
  );

async function rolesFor(file: string): Promise<string[]> {
  const { rows } = await query(
    target.url,
    `SELECT rolname FROM pg_roles WHERE starts_with(shobj_description(oid, 'pg_authid'), $1)
        AND shobj_description(oid, 'pg_authid') LIKE $2 ORDER BY rolname`,
    [rootTag(fake, REPO), `%"file":"${file}"%`],
  );
  return rows.map((r) => String(r.rolname));
}

let pull = 0;

// ---- the tests -------------------------------------------------------------------------------------------------

describe('timebox serve replicas sharing a state database', () => {
  it('the state database role is the one the docs prescribe: no superuser, it owns the job schemas', async () => {
    const [role] = await stateRows(
      `select rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls from pg_roles where rolname = '${state.role}'`,
    );
    expect(role).toEqual({
      rolsuper: false,
      rolcreaterole: false,
      rolcreatedb: false,
      rolreplication: false,
      rolbypassrls: false,
    });
    const owners = await stateRows(
      `select nspname, pg_get_userbyid(nspowner) as owner from pg_namespace
        where nspname in ('graphile_worker', 'timebox_jobs') order by nspname`,
    );
    expect(owners).toEqual([
      { nspname: 'graphile_worker', owner: state.role },
      { nspname: 'timebox_jobs', owner: state.role },
    ]);
    // Both replicas' workers are registered: both run workers.
    const runners = await stateRows('select distinct runner from timebox_jobs.workers order by runner');
    expect(runners.map((r) => r.runner)).toEqual(['A', 'B']);
  });

  it('a webhook delivered to replica A is stored, answered at once, and handled once (one check run, one comment)', async () => {
    await fake.commit(REPO, {
      branch: 'b',
      files: {
        [FILE]:
          'requester: alice\nresource: orders-db\nrole: read-only\nduration: 1m\nreason: Replica test, BUG-1\n',
      },
      author: 'alice',
    });
    pull = await fake.openPull({ repo: REPO, head: 'b', user: 'alice', title: 'Access' });
    const d = await deliver(
      'A',
      'pull_request',
      await fake.webhookPayload('pull_request', 'opened', { repo: REPO, pull, sender: 'alice' }),
    );
    expect(d.status, d.body).toBe(200);
    expect(JSON.parse(d.body)).toEqual({ ok: true, stored: true });
    console.log(`replica A acknowledged the delivery in ${d.ms} ms`);
    expect(d.ms).toBeLessThan(5_000);

    await waitFor('the summary comment', () => summaryComments(pull).length > 0);
    await waitFor('the webhook job to finish', async () => (await pendingJobs('timebox.webhook')) === 0);
    const handled = logged(new RegExp(`^(checked|skipped) acme/access#${pull}\\b`));
    expect(handled, JSON.stringify(handled)).toHaveLength(1);
    const head = String(((await fake.pull(REPO, pull)).head as JsonObject).sha);
    expect(fake.checkRuns.filter((r) => r.name === 'timebox' && r.head_sha === head)).toHaveLength(1);
    expect(summaryComments(pull)).toHaveLength(1);
    expect(summaryComments(pull)[0]?.body).toMatch(/pending/i);
  }, 60_000);

  it('a revocation scheduled by the replica that handled the push runs on the other once it is stopped', async () => {
    // carol's approval, delivered to B: Timebox merges.
    const approved = await deliver(
      'B',
      'pull_request_review',
      await approvalPayload(fake, REPO, pull, 'carol'),
    );
    expect(approved.status, approved.body).toBe(200);
    // Not by polling the pull request: the fake refreshes an open PR's base on every read, and a read that
    // lands between the merge commit and the PR's closing freezes the merge commit as its base.
    await waitFor('the review job to finish', async () => (await pendingJobs('timebox.webhook')) === 0);
    const merged = await fake.pull(REPO, pull);
    expect(merged.merged).toBe(true);
    const message = git(fake.gitDir(REPO), 'log', '-1', '--format=%B', String(merged.merge_commit_sha));
    const expiresAt = Date.parse(String(/Timebox-Expires: (\S+)/.exec(message)?.[1]));
    expect(Number.isFinite(expiresAt)).toBe(true);

    // The push, delivered to A: whichever replica runs it grants and schedules the revocation as a job.
    const pushed = await deliver(
      'A',
      'push',
      await fake.webhookPayload('push', { repo: REPO, branch: 'main' }),
    );
    expect(pushed.status, pushed.body).toBe(200);
    await waitFor('the grant', async () => (await rolesFor(FILE)).length === 1);
    await waitFor('the revocation job', async () => (await pendingJobs('timebox.revocation')) === 1);
    const [job] = await stateRows(
      `select j.key, j.run_at, j.payload from graphile_worker._private_jobs j
        join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'timebox.revocation'`,
    );
    expect(String(job?.key)).toContain(`revocation:${REPO}#${FILE}@`);
    // At the grant's end as granted (the ledger's; the trailer's is the decision's, seconds earlier).
    const dueAt = new Date(job?.run_at).getTime();
    const until = logged(new RegExp(`^granted ${FILE} until (\\S+)$`))[0]?.line.msg;
    expect(dueAt).toBe(Date.parse(String(/until (\S+)$/.exec(String(until))?.[1])));
    expect(Math.abs(dueAt - expiresAt)).toBeLessThan(10_000);
    expect(job?.payload.data).toMatchObject({ owner: 'acme', repo: 'access', defaultBranch: 'main' });

    const scheduler = logged(/^reconciled acme\/access at /)[0]?.replica;
    expect(scheduler === 'A' || scheduler === 'B').toBe(true);
    const other = scheduler === 'A' ? 'B' : 'A';
    console.log(`replica ${scheduler} handled the push and scheduled the revocation; stopping it`);
    await replicas.get(String(scheduler))?.close();
    replicas.delete(String(scheduler));
    expect(dueAt).toBeGreaterThan(systemClock.nowMs());

    await waitFor('the revocation at expiry', async () => (await rolesFor(FILE)).length === 0, 120_000);
    const revokedAt = systemClock.nowMs();
    console.log(`role dropped ${revokedAt - dueAt} ms after expiry (poll granularity 50 ms)`);
    expect(revokedAt).toBeGreaterThanOrEqual(dueAt);
    const ran = logged(/^revocation of .* due$/);
    expect(ran.map((r) => r.replica)).toEqual([other]);
    await waitFor('the revert PR merged', () => {
      const main = git(fake.gitDir(REPO), 'ls-tree', '-r', '--name-only', 'main');
      return !main.includes(FILE);
    });
    await waitFor('the job to go', async () => (await pendingJobs('timebox.revocation')) === 0);
  }, 180_000);

  it('with the state database down a delivery is answered 503; once it is back the same delivery is stored and handled', async () => {
    const [name] = [...replicas.keys()];
    const payload = await fake.webhookPayload('pull_request', 'edited', {
      repo: REPO,
      pull,
      sender: 'alice',
    });
    const before = logged(new RegExp(`^(checked|skipped) acme/access#${pull}\\b`)).length;
    await outage.down();
    try {
      const refused = await deliver(String(name), 'pull_request', payload);
      expect(refused.status, refused.body).toBe(503);
      expect(JSON.parse(refused.body).error).toMatch(/state database/);
      console.log(`answered 503 in ${refused.ms} ms with the state database down`);
      expect(refused.ms).toBeLessThan(9_000);
    } finally {
      await outage.up();
    }
    // GitHub's redelivery: the same payload, answered 200 once the database answers again.
    let again = await deliver(String(name), 'pull_request', payload);
    await waitFor('the delivery to be stored', async () => {
      if (again.status === 200) return true;
      again = await deliver(String(name), 'pull_request', payload);
      return again.status === 200;
    });
    await waitFor(
      'the redelivered event to be handled',
      () => logged(new RegExp(`^(checked|skipped) acme/access#${pull}\\b`)).length === before + 1,
    );
  }, 90_000);
});
