// Chaos (issue 18 item 6): three `timebox serve` replicas (each a process of its own, test/github/replica-child.ts)
// share one state database behind a "load balancer" (any live replica takes a delivery); every few seconds one
// of them is killed with SIGKILL (half the time one running a job; no job is interrupted more than twice) and a
// fresh one started in its place, and the replica running each revocation is killed while it runs it the first
// time. Meanwhile request pull requests go through their life: opened, approved (Timebox merges), pushed
// (Timebox grants), expired one minute later (Timebox revokes, opens and merges the revert pull request, pushed
// again). The test plays GitHub: every push to main and every pull request Timebox opens is delivered. When all
// that is done the chaos stops by itself (or after a bounded number of kills), and every effect is there once:
// one merge, one summary comment and one credentials comment per request, one role per request and none left,
// one merged revert pull request per request file, no alarm, every push delivered, no job left. The short
// version runs in `npm test` (2 requests at once, a kill every 6 s, at most 12; about 70 s, the grants last a
// minute); TIMEBOX_CHAOS=1 runs the long one (6 requests one after another, a kill every
// 3 s, at most 60). TIMEBOX_CHAOS_REQUESTS, TIMEBOX_CHAOS_KILL_MS, TIMEBOX_CHAOS_MAX_KILLS, TIMEBOX_CHAOS_BUDGET_MS
// and TIMEBOX_CHAOS_LOGS=<dir> (each replica's log) tune either.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { COMMENT_MARKER, CREDENTIALS_PREFIX } from '../../src/engine/notices/markers.js';
import { isRevertBranchOf } from '../../src/engine/revert.js';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import type { ServerOptions } from '../../src/github/server.js';
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

const REPO = 'acme/access';
const SECRET = 'chaos-secret';
const APP_ID = 7305;
const BOT = 'timebox[bot]';
// The short version (npm test) by default; TIMEBOX_CHAOS=1 the long one. Either can be tuned.
const LONG = Boolean(process.env.TIMEBOX_CHAOS);
const REQUESTS = Number(process.env.TIMEBOX_CHAOS_REQUESTS ?? (LONG ? 6 : 2));
const KILL_EVERY_MS = Number(process.env.TIMEBOX_CHAOS_KILL_MS ?? (LONG ? 3000 : 6000));
// What the whole run may take (the test's own limit is a minute more, so that a stuck run says what it waits for).
const BUDGET_MS = Number(process.env.TIMEBOX_CHAOS_BUDGET_MS ?? (LONG ? 840_000 : 300_000));
const MAX_KILLS = Number(process.env.TIMEBOX_CHAOS_MAX_KILLS ?? (LONG ? 60 : 12));

interface Replica {
  name: string;
  proc: ChildProcess;
  url?: string;
}

let fake: FakeGitHub;
let target: TestDatabase;
let state: StateDatabase;
let privateKey: string;
const kept: string[] = [];
const live: Replica[] = [];
let started = 0;

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
  for (const r of live) r.proc.kill('SIGKILL');
  if (fake && target) await dropRolesOf(target.url, accessRepoRoot(fake, REPO));
  await fake?.close();
  await state?.drop();
  await target?.drop();
  for (const dir of kept) rmSync(dir, { recursive: true, force: true });
});

function options(name: string): ServerOptions & { databaseUrl: string } {
  const stateDir = mkdtempSync(join(tmpdir(), `timebox-chaos-${name}-`));
  kept.push(stateDir);
  const fixture = { fake, appId: APP_ID, privateKey, secret: SECRET, repo: REPO, dbUrl: target.url };
  return {
    ...serveOptions(fixture, { stateDir }),
    databaseUrl: state.url,
    // The periodic reconcile (every minute) stays on: it is what repairs work a killed replica had acked.
    replica: { name, pollIntervalMs: 100, recoveryIntervalMs: 300 },
  };
}

/** A replica in a process of its own; it joins `live` once it listens (a dead one leaves). */
function startReplica(): Replica {
  started += 1;
  const script = fileURLToPath(new URL('../github/replica-child.ts', import.meta.url));
  // TIMEBOX_CHAOS_LOGS=<dir>: each replica's log (JSON lines, level info) in <dir>/R<n>.log.
  const logs = process.env.TIMEBOX_CHAOS_LOGS;
  const proc = spawn(process.execPath, ['--import', 'tsx', script], {
    stdio: ['pipe', 'pipe', logs ? openSync(join(logs, `R${started}.log`), 'w') : 'ignore'],
    env: { ...process.env, TIMEBOX_TEST_LOG_LEVEL: logs ? 'info' : 'warn' },
  });
  const r: Replica = { name: `R${started}`, proc };
  live.push(r);
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).once('line', (l) => {
    r.url = (JSON.parse(l) as { url: string }).url;
  });
  proc.once('exit', () => {
    const i = live.indexOf(r);
    if (i >= 0) live.splice(i, 1);
  });
  proc.stdin?.end(`${JSON.stringify(options(r.name))}\n`);
  return r;
}

/** The load balancer: a live replica takes the delivery; one that just died is skipped. */
async function deliver(event: string, payload: JsonObject): Promise<void> {
  await waitFor(`a replica to take ${event}`, async () => {
    const ready = live.filter((r) => r.url);
    const r = ready[Math.floor(Math.random() * ready.length)];
    if (!r?.url) return false;
    const d = await fake.deliver(`${r.url}/api/github/webhooks`, event, payload, SECRET);
    return d.status === 200;
  });
}

/** The roles Timebox made for this repository's requests, by request file (read from their tags). */
async function rolesByFile(): Promise<Map<string, string[]>> {
  const { rows } = await query(
    target.url,
    `SELECT rolname, shobj_description(oid, 'pg_authid') AS tag FROM pg_roles
      WHERE starts_with(shobj_description(oid, 'pg_authid'), $1)`,
    [rootTag(fake, REPO)],
  );
  const out = new Map<string, string[]>();
  for (const r of rows) {
    const file = FILES.find((f) => String(r.tag).includes(`"file":"${f}"`)) ?? '?';
    out.set(file, [...(out.get(file) ?? []), String(r.rolname)]);
  }
  return out;
}

const FILES = Array.from({ length: REQUESTS }, (_, i) => `requests/alice/chaos-${i + 1}.yaml`);

const botComments = (pull: number) =>
  fake.comments.filter(
    (c) =>
      String(c.issue_url).endsWith(`/repos/${REPO}/issues/${pull}`) && (c.user as JsonObject).login === BOT,
  );
const ours = (pull: number, marker: string) =>
  botComments(pull).filter((c) => String(c.body).startsWith(marker)).length;

/** The repository's pull requests and issues by number (numbers are shared), as far as they go. */
async function numbered(): Promise<JsonObject[]> {
  const out: JsonObject[] = [];
  for (let n = 1; ; n++) {
    const issue = await (async () => fake.issue(REPO, n))().catch(() => undefined);
    if (!issue) return out;
    out.push(issue);
  }
}

const onMain = (file: string) =>
  git(fake.gitDir(REPO), 'ls-tree', '-r', '--name-only', 'main').includes(file);

/** Which replica (by name) holds a running job of `task`, if any, and the job's id. */
async function holders(task?: string): Promise<{ runner: string; job: string; task: string }[]> {
  const { rows } = await query(
    state.url,
    `select w.runner, j.id::text as job, j.task_identifier as task from graphile_worker.jobs j
       join timebox_jobs.workers w on w.worker_id = j.locked_by
      where j.locked_at is not null and ($1::text is null or j.task_identifier = $1)`,
    [task ?? null],
  );
  return rows.map((r) => ({ runner: String(r.runner), job: String(r.job), task: String(r.task) }));
}

const pick = <T>(list: readonly T[]): T | undefined => list[Math.floor(Math.random() * list.length)];

it(
  `${REQUESTS} requests granted and expired through 3 replicas while one is killed every ${KILL_EVERY_MS} ms: each effect once`,
  async () => {
    const deadline = systemClock.nowMs() + BUDGET_MS;
    const left = () => Math.max(1, deadline - systemClock.nowMs());
    for (let i = 0; i < 3; i++) startReplica();
    await waitFor('three replicas', () => live.filter((r) => r.url).length === 3, 60_000);

    let done = false;
    let kills = 0;
    const hit = new Set<string>(); // revocation jobs whose replica was killed while it ran them
    // Fair chaos: a job is interrupted by a kill at most twice (graphile-worker counts each run, killed or not,
    // against the job's attempts; a replica killed every time it starts a long job would starve it: not a
    // crash a deployment sees). A replica running a job interrupted twice already is left alone.
    const interrupted = new Map<string, number>();
    const jobsOf = (r: Replica, busy: Awaited<ReturnType<typeof holders>>) =>
      busy.filter((b) => b.runner === r.name);
    const kill = (victim: Replica, busy: Awaited<ReturnType<typeof holders>>) => {
      for (const b of jobsOf(victim, busy)) interrupted.set(b.job, (interrupted.get(b.job) ?? 0) + 1);
      victim.proc.kill('SIGKILL');
      kills += 1;
      startReplica();
    };
    const chaos = (async () => {
      let last = systemClock.nowMs();
      while (!done && kills < MAX_KILLS) {
        await systemClock.sleep(100);
        const ready = live.filter((r) => r.url);
        if (ready.length < 2) continue; // one still starting does not count
        const busy = await holders().catch(() => []);
        const fair = ready.filter((r) => jobsOf(r, busy).every((b) => (interrupted.get(b.job) ?? 0) < 2));
        // The replica running a revocation, the first time that job runs.
        const revoking = busy.find((b) => b.task === 'timebox.revocation' && !hit.has(b.job));
        const holder = revoking && fair.find((r) => r.name === revoking.runner);
        if (revoking && holder) {
          hit.add(revoking.job);
          kill(holder, busy);
          continue;
        }
        if (systemClock.nowMs() - last < KILL_EVERY_MS) continue;
        last = systemClock.nowMs();
        // Often one that is running a job: a kill between two effects of a handler.
        const working = fair.filter((r) => jobsOf(r, busy).length > 0);
        const victim = (working.length > 0 && Math.random() < 0.5 ? pick(working) : undefined) ?? pick(fair);
        if (victim) kill(victim, busy);
      }
    })();

    // GitHub: each push to main, and each pull request Timebox opens (the revert), is delivered once.
    const initial = fake.pushes(REPO).length;
    const requestPulls: number[] = [];
    const sent = { pushes: initial, main: [] as string[], pulls: new Set<number>() };
    const github = async () => {
      const pushes = fake.pushes(REPO);
      for (; sent.pushes < pushes.length; sent.pushes++) {
        if (pushes[sent.pushes]?.branch !== 'main') continue;
        sent.main.push(String(pushes[sent.pushes]?.after).slice(0, 7));
        await deliver('push', await fake.webhookPayload('push', { repo: REPO, push: sent.pushes }));
      }
      for (const item of await numbered()) {
        const n = Number(item.number);
        const user = String((item.user as JsonObject).login);
        if (!item.pull_request || user !== BOT || sent.pulls.has(n)) continue;
        sent.pulls.add(n);
        const payload = await fake.webhookPayload('pull_request', 'opened', {
          repo: REPO,
          pull: n,
          sender: user,
        });
        await deliver('pull_request', payload);
      }
    };
    let githubDone = false;
    let githubFailed: unknown;
    // Caught up: every push recorded so far delivered, and the record of main's tip there (the double records
    // a merge's push a moment after the branch moved: the test may see the branch first).
    const caughtUp = async () => {
      const pushes = fake.pushes(REPO);
      const tip = await fake.branchSha(REPO, 'main');
      return sent.pushes === pushes.length && pushes.some((p) => p.branch === 'main' && p.after === tip);
    };
    const pump = (async () => {
      while (!githubDone || !(await caughtUp())) {
        if (systemClock.nowMs() > deadline) throw new Error('GitHub could not deliver every push in time');
        await github();
        await systemClock.sleep(100);
      }
      await github();
    })().catch((e: unknown) => {
      githubFailed = e;
    });

    const seenRoles = new Map<string, Set<string>>();
    const grantedOnce = async () => {
      for (const [file, names] of await rolesByFile()) {
        const seen = seenRoles.get(file) ?? new Set<string>();
        for (const n of names) seen.add(n);
        seenRoles.set(file, seen);
      }
    };

    const request = async (i: number) => {
      const branch = `access/chaos-${i}`;
      await fake.commit(REPO, {
        branch,
        author: 'alice',
        files: { [FILES[i - 1] as string]: shortRequest(`Chaos ${i}, BUG-${i}`) },
      });
      const pull = await fake.openPull({ repo: REPO, head: branch, user: 'alice', title: `Chaos ${i}` });
      requestPulls.push(pull);
      await deliver(
        'pull_request',
        await fake.webhookPayload('pull_request', 'opened', { repo: REPO, pull, sender: 'alice' }),
      );
      const review = await fake.review({ repo: REPO, pull, user: 'carol', state: 'APPROVED' });
      await deliver(
        'pull_request_review',
        await fake.webhookPayload('pull_request_review', 'submitted', {
          repo: REPO,
          pull,
          sender: 'carol',
          review,
        }),
      );
      await waitFor(
        `#${pull} merged by Timebox`,
        async () => (await fake.pull(REPO, pull)).merged === true,
        left(),
      );
    };

    const t0 = systemClock.nowMs();
    const phases: string[] = [];
    const phase = (what: string) => phases.push(`${what} ${Math.round((systemClock.nowMs() - t0) / 1000)} s`);
    try {
      // Requests one after another in the long run (a kill while each is handled), at once in the short one.
      if (LONG) for (let i = 1; i <= REQUESTS; i++) await request(i);
      else await Promise.all(FILES.map((_, i) => request(i + 1)));
      phase('merged');
      await waitFor(
        'every request granted, its credentials on its pull request',
        async () => {
          await grantedOnce();
          return requestPulls.every((p) => ours(p, CREDENTIALS_PREFIX) >= 1);
        },
        left(),
      );
      phase('granted');
      await waitFor(
        'every grant revoked at expiry and its file removed by a merged revert',
        async () => {
          await grantedOnce();
          return (await rolesByFile()).size === 0 && FILES.every((f) => !onMain(f));
        },
        left(),
      );
      phase('revoked and reverted');
      done = true;
      await chaos;
      await waitFor('a replica to finish what is stored', () => live.some((r) => r.url), left());
      githubDone = true;
      await pump;
      expect(githubFailed).toBeUndefined();
      await waitFor(
        'no webhook or revocation job left (no delivery lost)',
        async () =>
          (await pendingJobs(state.url, 'timebox.webhook')) === 0 &&
          (await pendingJobs(state.url, 'timebox.revocation')) === 0,
        left(),
      );
    } catch (e) {
      const per = requestPulls.map((p) => ({
        pull: p,
        summary: ours(p, COMMENT_MARKER),
        credentials: ours(p, CREDENTIALS_PREFIX),
      }));
      const jobs = await query(
        state.url,
        `select id, task_identifier as task, key, run_at, attempts, max_attempts, locked_by, left(last_error, 200) as error
           from graphile_worker.jobs order by id`,
      );
      console.log(
        `chaos: ${phases.join(', ')}; roles ${JSON.stringify([...(await rolesByFile())])}, kills ${kills}, ` +
          `live ${live.map((r) => `${r.name}${r.url ? '' : '(starting)'}`).join(' ')}, pulls ${JSON.stringify(per)}, ` +
          `on main ${FILES.filter(onMain)}, pushes to main delivered ${sent.main.join(' ')}, github ${githubDone ? 'done' : 'pumping'}, ` +
          `numbered ${JSON.stringify((await numbered()).map((x) => [x.number, x.title, x.state]))}, ` +
          `jobs ${JSON.stringify(jobs.rows)}`,
      );
      throw e;
    } finally {
      done = true;
      githubDone = true;
      await chaos;
    }
    phase('no job left');

    const all = await numbered();
    const mainPushes = fake
      .pushes(REPO)
      .slice(initial)
      .filter((p) => p.branch === 'main');
    const reverts = all.filter((x) => x.pull_request && (x.user as JsonObject).login === BOT);
    console.log(
      `chaos: ${kills} replicas killed (${hit.size} while running a revocation), ${started} started, ` +
        `${REQUESTS} requests, pushes to main ${sent.main.join(' ')} and revert pull requests ` +
        `${[...sent.pulls].join(' ')} delivered; ${phases.join(', ')}`,
    );
    // No delivery lost: each push to main was delivered (and each stored delivery handled: no job left).
    expect(sent.main).toEqual(mainPushes.map((p) => String(p.after).slice(0, 7)));
    expect(kills).toBeGreaterThan(0);
    // Each grant made once (one role per request, ever), each revoked (no role left: nobody can log in).
    expect(FILES.map((f) => seenRoles.get(f)?.size ?? 0)).toEqual(FILES.map(() => 1));
    expect([...(await rolesByFile())]).toEqual([]);
    for (const p of requestPulls) {
      expect(ours(p, COMMENT_MARKER), `summary comments on #${p}`).toBe(1);
      expect(ours(p, CREDENTIALS_PREFIX), `credentials comments on #${p}`).toBe(1);
      expect((await fake.pull(REPO, p)).merged).toBe(true);
    }
    // No comment said twice anywhere (the summary is one comment, edited in place).
    for (const x of all) {
      const bodies = botComments(Number(x.number)).map((c) => String(c.body).split('\n')[0]);
      expect(bodies, `Timebox's comments on #${x.number}`).toEqual([...new Set(bodies)]);
    }
    // One revert per request file, merged by Timebox; no other pull request or issue (no alarm).
    const revertPulls = await Promise.all(reverts.map((r) => fake.pull(REPO, Number(r.number))));
    expect(revertPulls.map((r) => r.merged)).toEqual(FILES.map(() => true));
    const revertFiles = revertPulls.map((r) => String((r.head as JsonObject).ref));
    expect(FILES.map((f) => revertFiles.filter((ref) => isRevertBranchOf(ref, f)).length)).toEqual(
      FILES.map(() => 1),
    );
    expect(all.filter((x) => !x.pull_request).map((x) => x.title)).toEqual([]);
    expect(all).toHaveLength(REQUESTS * 2);
    // A merge per request and a merge per revert on main, besides the repository's first commit.
    expect(fake.pushes(REPO).filter((p) => p.branch === 'main')).toHaveLength(1 + REQUESTS * 2);
  },
  BUDGET_MS + 60_000,
);
