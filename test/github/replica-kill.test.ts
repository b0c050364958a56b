// A replica that dies (`kill -9`) after granting: the revocation it scheduled runs at expiry on a replica that
// started later and has never seen the repository (it reconciles first, then revokes). The killed replica runs in
// a process of its own (test/github/replica-child.ts); the survivor in this one. State database and role as
// docs/deployment.md prescribes.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { type RunningServer, type ServerOptions, startReplica } from '../../src/github/server.js';
import { accessRepoRoot, rootTag, serveOptions } from '../helpers/github.js';
import { createTestDatabase, dropRolesOf, query, type TestDatabase } from '../helpers/postgres.js';
import {
  accessRepoForReplicas,
  createStateDatabase,
  pendingJobs,
  type StateDatabase,
  shortRequest,
  waitFor,
} from '../helpers/replicas.js';
import { git } from '../helpers/repo.js';
import { approvalPayload } from '../helpers/serve.js';

const REPO = 'acme/access';
const SECRET = 'replica-kill-secret';
const APP_ID = 6262;
const FILE = 'requests/alice/killed.yaml';

let fake: FakeGitHub;
let target: TestDatabase;
let state: StateDatabase;
let privateKey: string;
let child: ChildProcess | undefined;
let survivor: RunningServer | undefined;
const kept: string[] = [];
const childLog: JsonObject[] = [];
const survivorLog: JsonObject[] = [];

beforeAll(async () => {
  [target, state] = await Promise.all([createTestDatabase(), createStateDatabase()]);
  fake = await FakeGitHub.start();
  privateKey = await accessRepoForReplicas(fake, {
    repo: REPO,
    appId: APP_ID,
    readRole: target.readRole,
    kept,
  });
}, 60_000);

afterAll(async () => {
  if (process.env.TIMEBOX_TEST_DUMP_LOGS)
    for (const [name, lines] of [
      ['K', childLog],
      ['S', survivorLog],
    ] as const)
      for (const l of lines) console.log(name, JSON.stringify(l).slice(0, 600));
  child?.kill('SIGKILL');
  await survivor?.close();
  if (fake && target) await dropRolesOf(target.url, accessRepoRoot(fake, REPO));
  await fake?.close();
  await state?.drop();
  await target?.drop();
  for (const dir of kept) rmSync(dir, { recursive: true, force: true });
});

function options(name: string): ServerOptions & { databaseUrl: string } {
  const stateDir = mkdtempSync(join(tmpdir(), `timebox-replica-${name}-`));
  kept.push(stateDir);
  const fixture = { fake, appId: APP_ID, privateKey, secret: SECRET, repo: REPO, dbUrl: target.url };
  return {
    ...serveOptions(fixture, { stateDir }),
    databaseUrl: state.url,
    replica: { name, cron: false, pollIntervalMs: 100, recoveryIntervalMs: 300 },
  };
}

/** The killable replica: a child process; resolves with its URL once it listens. */
async function startChild(): Promise<string> {
  const script = fileURLToPath(new URL('./replica-child.ts', import.meta.url));
  const proc = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  child = proc;
  createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on('line', (l) => {
    try {
      childLog.push(JSON.parse(l));
    } catch {
      childLog.push({ msg: l });
    }
  });
  const ready = new Promise<{ url: string }>((resolve, reject) => {
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).once('line', (l) =>
      resolve(JSON.parse(l)),
    );
    proc.once('exit', (code) =>
      reject(new Error(`the replica exited (${code}): ${JSON.stringify(childLog)}`)),
    );
  });
  proc.stdin?.end(`${JSON.stringify(options('K'))}\n`);
  return (await ready).url;
}

async function deliver(url: string, event: string, payload: JsonObject): Promise<void> {
  const d = await fake.deliver(`${url}/api/github/webhooks`, event, payload, SECRET);
  expect(d.status, d.body).toBe(200);
}

async function rolesFor(file: string): Promise<string[]> {
  const { rows } = await query(
    target.url,
    `SELECT rolname FROM pg_roles WHERE starts_with(shobj_description(oid, 'pg_authid'), $1)
        AND shobj_description(oid, 'pg_authid') LIKE $2`,
    [rootTag(fake, REPO), `%"file":"${file}"%`],
  );
  return rows.map((r) => String(r.rolname));
}

const webhooksDone = () =>
  waitFor('the webhook jobs', async () => (await pendingJobs(state.url, 'timebox.webhook')) === 0);

it('a replica killed after granting: a replica that never saw the grant revokes it at expiry', async () => {
  const url = await startChild();
  await fake.commit(REPO, { branch: 'access/killed', files: { [FILE]: shortRequest() }, author: 'alice' });
  const pull = await fake.openPull({ repo: REPO, head: 'access/killed', user: 'alice', title: 'Access' });
  await deliver(
    url,
    'pull_request',
    await fake.webhookPayload('pull_request', 'opened', { repo: REPO, pull, sender: 'alice' }),
  );
  await webhooksDone();
  await deliver(url, 'pull_request_review', await approvalPayload(fake, REPO, pull, 'carol'));
  await webhooksDone();
  expect((await fake.pull(REPO, pull)).merged).toBe(true);
  await deliver(url, 'push', await fake.webhookPayload('push', { repo: REPO, branch: 'main' }));
  await waitFor('the grant', async () => (await rolesFor(FILE)).length === 1);
  await waitFor('the revocation job', async () => (await pendingJobs(state.url, 'timebox.revocation')) === 1);
  const { rows } = await query(
    state.url,
    "select run_at from graphile_worker.jobs where task_identifier = 'timebox.revocation'",
  );
  const dueAt = new Date(rows[0]?.run_at).getTime();

  // The survivor starts now: it has seen nothing. Then the replica that granted is killed.
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) survivorLog.push(JSON.parse(line));
      done();
    },
  });
  survivor = await startReplica({ ...options('S'), log: pino({ level: 'info' }, sink) });
  const exited = new Promise((resolve) => child?.once('exit', resolve));
  child?.kill('SIGKILL');
  await exited;
  expect(dueAt).toBeGreaterThan(systemClock.nowMs());

  await waitFor('the revocation at expiry', async () => (await rolesFor(FILE)).length === 0, 120_000);
  const late = systemClock.nowMs() - dueAt;
  console.log(`revoked by the survivor ${late} ms after expiry (it reconciled the repository first)`);
  expect(late).toBeGreaterThanOrEqual(0);
  expect(late).toBeLessThan(30_000);
  expect(survivorLog.some((l) => /^revocation of .* due$/.test(String(l.msg)))).toBe(true);
  await waitFor(
    'the revert PR merged',
    () => !git(fake.gitDir(REPO), 'ls-tree', '-r', '--name-only', 'main').includes(FILE),
  );
  await waitFor('the job to go', async () => (await pendingJobs(state.url, 'timebox.revocation')) === 0);
  // The dead replica's workers were forgotten; only the survivor's remain.
  const runners = (await query(state.url, 'select distinct runner from timebox_jobs.workers')).rows;
  expect(runners.map((r) => r.runner)).toEqual(['S']);
}, 180_000);
