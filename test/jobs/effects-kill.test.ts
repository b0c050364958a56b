// Effects exactly once, for real: a runner process takes a durable job (graphile-worker, a real PostgreSQL)
// and is killed with SIGKILL right after an effect on the forge double, before the job is acked; another
// runner releases the dead one's job (src/jobs/recovery.ts) and runs it again from scratch. The double shows
// each effect once: one revert pull request merged once; one credentials comment and one role.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { CREDENTIALS_PREFIX } from '../../src/engine/notices/markers.js';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { type Jobs, type RunInfo, startJobs } from '../../src/jobs/index.js';
import {
  accessRepoRoot,
  ordersPolicy,
  qaOrganisation,
  registerTimeboxApp,
  requestYaml,
} from '../helpers/github.js';
import { createTestDatabase, dropRolesOf, query, type TestDatabase } from '../helpers/postgres.js';
import { AUDIT_YAML } from '../helpers/trust.js';
import { BOT, type EffectJob, runEffectJob } from './effects-paths.js';
import { createJobsDb, type JobsDb, quiet, waitFor } from './helpers.js';

const APP_ID = 7304;
let fake: FakeGitHub;
let target: TestDatabase;
let mirrors: string;
let repos = 0;
const made: string[] = [];
let child: ChildProcess | undefined;
let survivor: Jobs | undefined;
let jobsDb: JobsDb | undefined;

beforeAll(async () => {
  [fake, target] = await Promise.all([FakeGitHub.start(), createTestDatabase()]);
  registerTimeboxApp(fake, APP_ID);
  qaOrganisation(fake, ['alice', 'bob', 'carol']);
  const keys = mkdtempSync(join(tmpdir(), 'timebox-kill-keys-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(keys, 'id')]);
  fake.setUserKeys('alice', [execFileSync('cat', [join(keys, 'id.pub')], { encoding: 'utf8' }).trim()]);
  rmSync(keys, { recursive: true, force: true });
  mirrors = mkdtempSync(join(tmpdir(), 'timebox-kill-'));
}, 120_000);

afterEach(async () => {
  child?.kill('SIGKILL');
  child = undefined;
  await survivor?.stop();
  survivor = undefined;
  await jobsDb?.drop();
  jobsDb = undefined;
});

afterAll(async () => {
  for (const repo of made) await dropRolesOf(target.url, accessRepoRoot(fake, repo)).catch(() => undefined);
  fake?.assertClean();
  await fake?.close();
  await target?.drop();
  rmSync(mirrors, { recursive: true, force: true });
});

async function accessRepo(): Promise<string> {
  repos += 1;
  const name = `acme/kill-${repos}`;
  await fake.createRepo(name, {
    author: 'admin',
    files: {
      'timebox.yaml': AUDIT_YAML,
      '.github/web-flow.gpg': fake.webFlowKey,
      'policies/qa.yaml': ordersPolicy(target.readRole),
      'README.md': `${name}\n`,
    },
  });
  fake.install(name, APP_ID);
  made.push(name);
  return name;
}

/**
 * The job runs in a child runner that dies right after `method`; then a runner here takes it over. Resolves
 * with the attempts the job had here.
 */
async function killedAfter(job: EffectJob, method: string): Promise<RunInfo[]> {
  const db = await createJobsDb();
  jobsDb = db;
  const events: Record<string, unknown>[] = [];
  const script = fileURLToPath(new URL('./effects-child.ts', import.meta.url));
  const proc = spawn(process.execPath, ['--import', 'tsx', script, db.url, JSON.stringify(job), method], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child = proc;
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    events.push(JSON.parse(line));
  });
  const exit = await new Promise<NodeJS.Signals | null>((resolve) =>
    proc.once('exit', (_code, s) => resolve(s)),
  );
  child = undefined;
  expect(exit).toBe('SIGKILL');
  expect(events.find((e) => e.event === 'dying')).toEqual({ event: 'dying', after: method });
  // The job is still there, locked by the dead runner.
  const { rows } = await query(db.url, 'select locked_by from graphile_worker.jobs');
  expect(rows.map((r) => r.locked_by)).toEqual([expect.stringMatching(/.+/)]);

  const runs: RunInfo[] = [];
  let done = false;
  const none = async () => {};
  survivor = await startJobs({
    connectionString: db.url,
    clock: systemClock,
    logger: quiet,
    concurrency: 1,
    pollIntervalMs: 100,
    runnerId: 'survivor',
    cron: false,
    handlers: {
      webhook: async (d, info) => {
        runs.push(info);
        await runEffectJob(d.payload as EffectJob);
        done = true;
      },
      revocation: none,
      reminder: none,
      reconcile: none,
      staleSweep: none,
    },
  });
  await waitFor('the survivor to run the dead runner’s job', () => done, 60_000);
  await waitFor(
    'the job to be acked',
    async () => (await query(db.url, 'select 1 from graphile_worker.jobs')).rows.length === 0,
  );
  return runs;
}

describe('a runner killed (SIGKILL) right after an effect, the job taken over by another runner', () => {
  for (const method of ['createPull', 'merge']) {
    it(`revert: killed after ${method} → one revert pull request, merged once`, async () => {
      const name = await accessRepo();
      const file = 'requests/alice/done.yaml';
      await fake.commit(name, { branch: 'main', author: 'alice', files: { [file]: requestYaml('alice') } });
      const job: EffectJob = {
        path: 'revert',
        repo: name,
        file,
        api: fake.url,
        token: fake.token(),
        appId: APP_ID,
      };
      const runs = await killedAfter(job, method);
      expect(runs.map((r) => r.attempt)).toEqual([2]);
      const pull = await fake.pull(name, 1);
      expect(pull.merged).toBe(true);
      expect(() => fake.pull(name, 2)).toThrow(/no pull request/);
      expect(await fake.branchSha(name, 'main')).toBe(pull.merge_commit_sha);
      expect(fake.pushes(name).filter((p) => p.branch === 'main')).toHaveLength(3);
    }, 180_000);
  }

  it('provisioning: killed after the credentials comment → one credentials comment, one role', async () => {
    const name = await accessRepo();
    const file = 'requests/alice/orders.yaml';
    await fake.commit(name, {
      branch: 'access/alice',
      author: 'alice',
      files: { [file]: requestYaml('alice') },
    });
    const pull = await fake.openPull({ repo: name, head: 'access/alice', user: 'alice', title: 'Orders' });
    await fake.review({ repo: name, pull, user: 'carol', state: 'APPROVED' });
    const tip = await fake.mergePull(name, pull, 'carol');
    const dir = join(mirrors, name.replace('/', '-'));
    execFileSync('git', ['clone', '-q', '--mirror', fake.gitDir(name), dir]);
    const job: EffectJob = {
      path: 'provision',
      repo: name,
      file,
      api: fake.url,
      token: fake.token(),
      appId: APP_ID,
      dir,
      tip,
      dbUrl: target.url,
    };
    const runs = await killedAfter(job, 'createComment');
    expect(runs.map((r) => r.attempt)).toEqual([2]);
    const credentials = fake.comments.filter(
      (c: JsonObject) =>
        String(c.issue_url).endsWith(`/repos/${name}/issues/${pull}`) &&
        (c.user as JsonObject).login === BOT &&
        String(c.body).startsWith(CREDENTIALS_PREFIX),
    );
    expect(credentials).toHaveLength(1);
    const { rows } = await query(
      target.url,
      `SELECT rolname FROM pg_roles WHERE starts_with(shobj_description(oid, 'pg_authid'), $1)`,
      [`timebox:{"owner":"${accessRepoRoot(fake, name)}"`],
    );
    expect(rows).toHaveLength(1);
  }, 180_000);
});
