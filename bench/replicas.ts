// `npm run bench:replicas`: what running `timebox serve` as several replicas sharing one PostgreSQL state
// database (TIMEBOX_DATABASE_URL, docs/deployment.md "Replicas") costs and buys, for 1 and 3 replicas.
// Each replica is a process of its own (test/github/replica-child.ts, the killable child the replica tests
// use: startReplica from src/github/server.ts), against the GitHub double (src/forge, FakeGitHub) in this
// process, driven by signed webhooks as GitHub sends them, behind a plain round-robin. Every configuration
// gets a private state database (made as docs/deployment.md prescribes, dropped after it, on error too) and
// an access repository of its own with the same content, so that neither starts with the other's pull
// requests; the configurations run in rounds, in alternating order (1 then 3, 3 then 1, …), and the figures
// are medians over the rounds, ratios taken within each round.
// Measured:
//   latency     one pull_request `opened` at a time: from POST to the `timebox` check run in the double's state;
//   sustained   K `opened` deliveries sent 16 at a time, each its own pull request (so its own serialisation key,
//               as an organisation's requests are): K / time until every check run is there. During it, the
//               CPU of every process (utime+stime from /proc/<pid>/stat): the bench process (the double and
//               the webhook sender), the git it ran, each replica and its git, the PostgreSQL backends of the
//               state database, the rest of the machine (/proc/stat) and idle: what limits the rate is data;
//   idle cost   the same CPU over a quiet second before that (nothing delivered): polling and sweeps;
//   revocation  (3 fresh replicas polling every 100 ms and sweeping for dead ones every 300 ms, as this phase
//               has always run; the others run the deployment's 500 ms defaults) revocation jobs due a few
//               seconds ahead; at the due time the replica that claims the job is SIGKILLed, and due→done is
//               measured on the survivors. The grant is a fake one (an id no request file has): the job runs
//               keeper.revokeDue as a real one does (reconcile the repository, look the grant up) but there is
//               no PostgreSQL role to drop.
// Goals: revocation lateness p99 <= 2 s with that kill; 3 replicas >= 2x the deliveries per second of one
// (on 2 cores: measured, and what limits it said with the CPU figures). A missed goal is reported, never an
// exit code.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { parse } from 'yaml';
import { FakeGitHub, type JsonObject } from '../src/forge/fake-github.js';
import { machineCpu, mainThreadSched, median, pidsWhere, processCpu } from './lib.js';

const USAGE = `usage: npm run bench:replicas -- [--deliveries N] [--rounds R] [--quick]

  --deliveries N   latency samples and sustained deliveries per configuration and round (default 40)
  --rounds R       rounds of both configurations, in alternating order (default 3)
  --quick          12 deliveries, 1 round, 2 revocations: a smoke run
  --profile DIR    write a CPU profile of this process (the double) per sustained phase into DIR
`;

const OWNER = 'acme';
const SECRET = 'bench-replicas-secret';
const APP_ID = 7373;
const ADMIN_URL = process.env.TIMEBOX_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD = fileURLToPath(new URL('../test/github/replica-child.ts', import.meta.url));
const IDLE_MS = 2000;
const SENDERS = 16;
/**
 * The revocation phase's replicas: idle workers poll every 100 ms and dead replicas are looked for every 300 ms
 * (the deployment's default is 500 ms for both), as that phase has been measured since it was written.
 */
const REVOCATION_TIMING = { pollIntervalMs: 100, recoveryIntervalMs: 300 };

// ---- the state database, the target database and the access repo (as test/helpers make them; those files
// register vitest hooks, so they cannot be imported here) ------------------------------------------------------

async function sql(url: string, text: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await client.query(text, params);
  } finally {
    await client.end();
  }
}

interface Database {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A state database and its role, made by the SQL under "The state database" in docs/deployment.md. */
async function createStateDatabase(): Promise<Database> {
  const suffix = randomBytes(4).toString('hex');
  const role = `tb_bench_replicas_${suffix}`;
  const name = `timebox_bench_state_${suffix}`;
  const doc = readFileSync(join(ROOT, 'docs/deployment.md'), 'utf8');
  const block = /```sql\n([\s\S]*?)```/.exec(doc.slice(doc.indexOf('### The state database')))?.[1];
  if (!block) throw new Error('docs/deployment.md has no sql block under "The state database"');
  const statements = block
    .replaceAll('timebox_replicas', role)
    .replaceAll('timebox_state', name)
    .split(/;\s*\n/)
    .map((s) => s.trim())
    .filter(Boolean);
  const drop = async () => {
    await sql(ADMIN_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await sql(ADMIN_URL, `DROP ROLE IF EXISTS ${role}`);
  };
  try {
    for (const statement of statements) await sql(ADMIN_URL, statement);
  } catch (err) {
    await drop().catch(() => {});
    throw err;
  }
  const url = new URL(ADMIN_URL);
  url.username = role;
  url.password = 'change-me';
  url.pathname = `/${name}`;
  return { url: url.href, name, drop };
}

/** The target database the access repo's policy names (a read role; the bench grants nothing in it). */
async function createTargetDatabase(): Promise<Database & { readRole: string }> {
  const suffix = randomBytes(4).toString('hex');
  const name = `timebox_bench_target_${suffix}`;
  const readRole = `tb_bench_${suffix}_read`;
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const drop = async () => {
    await sql(ADMIN_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await sql(ADMIN_URL, `DROP ROLE IF EXISTS ${readRole}`);
  };
  try {
    await sql(ADMIN_URL, `CREATE DATABASE ${name}`);
    await sql(
      url.href,
      `CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL);
       CREATE ROLE ${readRole} NOLOGIN; GRANT SELECT ON orders TO ${readRole};`,
    );
  } catch (err) {
    await drop().catch(() => {});
    throw err;
  }
  return { url: url.href, name, readRole, drop };
}

/** The App (from app.yml), the QA teams and alice's SSH key on the double; the App's private key. */
function appAndPeople(fake: FakeGitHub): string {
  const manifest = parse(readFileSync(join(ROOT, 'app.yml'), 'utf8'));
  const privateKey = fake.registerManifestApp(APP_ID, 'timebox', manifest);
  fake.setTeam('@acme/qa', ['alice', 'bob']);
  fake.setTeam('@acme/qa-leads', ['carol']);
  const keys = mkdtempSync(join(tmpdir(), 'timebox-bench-replicas-keys-'));
  kept.push(keys);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(keys, 'id')]);
  fake.setUserKeys('alice', [readFileSync(join(keys, 'id.pub'), 'utf8').trim()]);
  return privateKey;
}

/** An access repo `acme/<name>` on the double, the App installed on it; every one has the same content. */
async function accessRepo(fake: FakeGitHub, name: string, readRole: string): Promise<string> {
  const repo = `${OWNER}/${name}`;
  await fake.createRepo(repo, {
    author: 'admin',
    files: {
      'timebox.yaml':
        'auto_merge: true\naudit:\n  timebox: ["timebox[bot]"]\n  signing_keys: [.github/web-flow.gpg]\n',
      '.github/web-flow.gpg': fake.webFlowKey,
      'policies/qa.yaml': `resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [${readRole}], read_only: true, statement_timeout: 30s }
rules:
  - name: qa-read
    requesters: ["@acme/qa"]
    resources: ["*-db"]
    roles: [read-only]
    max_duration: 4h
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
`,
      '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
    },
  });
  fake.install(repo, APP_ID);
  return repo;
}

// ---- the replicas ----------------------------------------------------------------------------------------

interface Replica {
  name: string;
  url: string;
  proc: ChildProcess;
  workerIds: string[];
  log: string[];
}

const children = new Set<ChildProcess>();
const kept: string[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number;
}
const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(0)} ms` : 'n/a');

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 120_000, step = 5) {
  const deadline = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(step);
  }
}

// ---- where the CPU goes ------------------------------------------------------------------------------------

const DOUBLE = 'GitHub double + webhook sender (bench process)';
const DOUBLE_GIT = '  git run by the double (rev-list, diff-tree, cat-file…)';
const PG = 'PostgreSQL backends of the state database';
const REST = 'rest of the machine (other work; PostgreSQL WAL, other databases)';
const IDLE = 'idle';
/** Prefix of the rows of main threads' waiting for a CPU (not CPU used: kept out of the sums). */
const WAIT = 'wait:';
const replicaRow = (i: number) => `replica ${i + 1}`;
const replicaGitRow = (i: number) => `  git run by replica ${i + 1} (fetch)`;

/** CPU ms used so far, by row (see `cpuSnapshot`), the state database's backends by pid, and the machine's. */
interface CpuSnapshot {
  at: number;
  rows: Map<string, number>;
  backends: Map<number, number>;
  machine: { busy: number; idle: number };
  /** Main threads' time waiting for a CPU while runnable, by row label (the double, each replica). */
  waits: Map<string, number>;
}

/**
 * The CPU used so far by the bench process (the GitHub double and the webhook sender), the git processes the
 * double ran (its waited-for children), each replica and the git it ran, and the PostgreSQL backends serving
 * the state database (found by their command line, which names the database).
 */
function cpuSnapshot(replicas: Replica[], stateDb: string): CpuSnapshot {
  const rows = new Map<string, number>();
  const waits = new Map<string, number>();
  waits.set(DOUBLE, mainThreadSched(process.pid)?.waitMs ?? 0);
  const own = processCpu(process.pid);
  rows.set(DOUBLE, own?.self ?? 0);
  rows.set(DOUBLE_GIT, own?.children ?? 0);
  replicas.forEach((r, i) => {
    const c = r.proc.pid ? processCpu(r.proc.pid) : undefined;
    rows.set(replicaRow(i), c?.self ?? 0);
    waits.set(replicaRow(i), (r.proc.pid ? mainThreadSched(r.proc.pid)?.waitMs : 0) ?? 0);
    rows.set(replicaGitRow(i), c?.children ?? 0);
  });
  const backends = new Map<number, number>();
  for (const pid of pidsWhere((cmd) => cmd.startsWith('postgres:') && cmd.includes(` ${stateDb} `))) {
    backends.set(pid, processCpu(pid)?.self ?? 0);
  }
  return { at: performance.now(), rows, backends, machine: machineCpu(), waits };
}

/** What each row used between two snapshots (ms), with the rest of the machine and its idle time. */
function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): Map<string, number> {
  const out = new Map<string, number>();
  for (const [label, v] of b.rows) out.set(label, v - (a.rows.get(label) ?? 0));
  // Per backend: one that ended meanwhile is lost (its CPU lands in the rest of the machine), never negative.
  let pgMs = 0;
  for (const [pid, v] of b.backends) pgMs += v - (a.backends.get(pid) ?? 0);
  out.set(PG, pgMs);
  const ours = [...out.values()].reduce((s, v) => s + v, 0);
  out.set(REST, b.machine.busy - a.machine.busy - ours);
  out.set(IDLE, b.machine.idle - a.machine.idle);
  for (const [label, v] of b.waits) out.set(`${WAIT}${label}`, v - (a.waits.get(label) ?? 0));
  return out;
}

const addInto = (into: Map<string, number>, from: Map<string, number>) => {
  for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v);
};

async function startChild(name: string, options: JsonObject): Promise<Replica> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, TIMEBOX_TEST_LOG_LEVEL: 'warn' },
  });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  const log: string[] = [];
  createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on('line', (l) => {
    log.push(l);
    if (log.length > 40) log.shift();
  });
  const ready = new Promise<{ url: string; workerIds: string[] }>((resolve, reject) => {
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).once('line', (l) =>
      resolve(JSON.parse(l)),
    );
    proc.once('exit', (code) => reject(new Error(`replica ${name} exited (${code}): ${log.join('\n')}`)));
  });
  proc.stdin?.end(
    `${JSON.stringify({ ...options, replica: { ...(options.replica as JsonObject), name } })}\n`,
  );
  const r = await ready;
  return { name, url: r.url, proc, workerIds: r.workerIds, log };
}

async function killed(r: Replica): Promise<void> {
  if (r.proc.exitCode !== null || r.proc.signalCode !== null) return;
  const exited = new Promise((resolve) => r.proc.once('exit', resolve));
  r.proc.kill('SIGKILL');
  await exited;
}

interface Pull {
  payload: JsonObject;
  sha: string;
}

/** One configuration in one round. */
interface Run {
  replicas: number;
  round: number;
  latencies: number[];
  perSecond: number;
  /** The sustained phase: its wall time and who used the CPU during it (ms, by row). */
  wallMs: number;
  cpu: Map<string, number>;
  /** A quiet window before it: its wall time and the CPU used meanwhile. */
  idle: { wallMs: number; cpu: Map<string, number> };
  /** The double's requests during the sustained phase, by operation and status: how many, time in the double. */
  calls: Map<string, { count: number; ms: number }>;
  revocation?: number[];
  killedHolder?: number;
  /** Deliveries answered 503 (the intake's bound on deliveries in flight) and sent again. */
  busy: number;
}

interface Setup {
  f: FakeGitHub;
  privateKey: string;
  targetUrl: string;
  readRole: string;
  states: Database[];
  n: number;
  revocations: number;
  /** `--profile DIR`: a CPU profile of this process (the double) during each sustained phase. */
  profiler?: Profiler;
}

/** CPU profiles of this process through the inspector, written as `DIR/<name>.cpuprofile`. */
class Profiler {
  readonly #session = new Session();
  constructor(readonly dir: string) {
    this.#session.connect();
  }
  #post(method: string, params?: object): Promise<unknown> {
    return new Promise((resolve, reject) =>
      this.#session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
    );
  }
  async start(): Promise<void> {
    await this.#post('Profiler.enable');
    await this.#post('Profiler.setSamplingInterval', { interval: 200 });
    await this.#post('Profiler.start');
  }
  async stop(name: string): Promise<void> {
    const { profile } = (await this.#post('Profiler.stop')) as { profile: unknown };
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, `${name}.cpuprofile`), JSON.stringify(profile));
  }
}

let prCount = 0;

/** A fresh pull request on `repo` with one request file, and its `opened` payload and head. */
async function newPull(f: FakeGitHub, repo: string): Promise<Pull> {
  const i = prCount++;
  await f.commit(repo, {
    branch: `access/bench-${i}`,
    files: {
      [`requests/alice/bench-${i}.yaml`]: `requester: alice\nresource: orders-db\nrole: read-only\nduration: 1h\nreason: Bench ${i}, BUG-${i}\n`,
    },
    author: 'alice',
  });
  const pull = await f.openPull({ repo, head: `access/bench-${i}`, user: 'alice', title: `Bench ${i}` });
  const payload = await f.webhookPayload('pull_request', 'opened', { repo, pull, sender: 'alice' });
  return { payload, sha: String(((payload.pull_request as JsonObject).head as JsonObject).sha) };
}

/** `count` replicas on a fresh state database and access repo: warm-up, latency, idle cost, sustained, revocation. */
async function runConfiguration(s: Setup, count: number, round: number): Promise<Run> {
  const { f, n } = s;
  const repo = await accessRepo(f, `access-${round}-${count}`, s.readRole);
  const state = await createStateDatabase();
  s.states.push(state);
  const options = (name: string, timing: JsonObject): JsonObject => {
    const stateDir = mkdtempSync(join(tmpdir(), `timebox-bench-replica-${name}-`));
    kept.push(stateDir);
    return {
      appId: String(APP_ID),
      privateKey: s.privateKey,
      webhookSecret: SECRET,
      port: 0,
      host: '127.0.0.1',
      baseUrl: f.url,
      sweepIntervalMs: 0,
      stateDir,
      providerEnv: { TIMEBOX_POSTGRES_ORDERS_URL: s.targetUrl },
      databaseUrl: state.url,
      replica: { cron: false, ...timing },
    };
  };
  const started: Replica[] = [];
  const start = async (name: string, timing: JsonObject) => {
    const r = await startChild(name, options(name, timing));
    started.push(r);
    return r;
  };
  // Latency and throughput with the deployment's defaults (4 workers, idle polling and dead-replica sweeps every
  // 500 ms).
  const replicas = await Promise.all(
    Array.from({ length: count }, (_, i) => start(`R${round}.${count}-${i}`, {})),
  );
  try {
    let next = 0;
    let busy = 0;
    const deliver = async (payload: JsonObject) => {
      const r = replicas[next++ % replicas.length] as Replica;
      for (;;) {
        const d = await f.deliver(`${r.url}/api/github/webhooks`, 'pull_request', payload, SECRET);
        if (d.status === 200) return;
        // The intake's bound on deliveries in flight (32 per replica): sent again, as a redelivery would be.
        if (d.status !== 503 || busy++ > 10 * n)
          throw new Error(`delivery to ${r.name}: ${d.status} ${d.body}`);
        await sleep(100);
      }
    };
    const checked = (sha: string) => f.checkRuns.some((c) => c.head_sha === sha);

    // Warm-up: one delivery per replica (first installation token, first git fetch).
    const warm = await Promise.all(replicas.map(() => newPull(f, repo)));
    for (const w of warm) await deliver(w.payload);
    await waitFor('the warm-up check runs', () => warm.every((w) => checked(w.sha)));

    // Latency: one delivery at a time.
    const pulls: Pull[] = [];
    for (let i = 0; i < n; i++) pulls.push(await newPull(f, repo));
    const latencies: number[] = [];
    for (const p of pulls) {
      const t0 = performance.now();
      await deliver(p.payload);
      await waitFor('the check run', () => checked(p.sha));
      latencies.push(performance.now() - t0);
    }

    // Sustained: n pull requests made first, then their deliveries all at once; a quiet window before.
    const burst: Pull[] = [];
    for (let i = 0; i < n; i++) burst.push(await newPull(f, repo));
    const quiet = cpuSnapshot(replicas, state.name);
    await sleep(IDLE_MS);
    const snap0 = cpuSnapshot(replicas, state.name);
    const requests0 = f.requests.length;
    await s.profiler?.start();
    // SENDERS deliveries in flight at a time: each is answered as soon as it is stored, so the job queue fills
    // at once; the time is the replicas' handling.
    let sent = 0;
    await Promise.all(
      Array.from({ length: Math.min(SENDERS, n) }, async () => {
        while (sent < n) await deliver((burst[sent++] as Pull).payload);
      }),
    );
    await waitFor('the sustained check runs', () => burst.every((p) => checked(p.sha)), 600_000);
    const snap1 = cpuSnapshot(replicas, state.name);
    await s.profiler?.stop(`${count}-replica-round-${round}`);
    const calls = new Map<string, { count: number; ms: number }>();
    for (const r of f.requests.slice(requests0)) {
      const k = `${r.operationId ?? r.method} ${r.status}`;
      const c = calls.get(k) ?? { count: 0, ms: 0 };
      c.count++;
      c.ms += r.ms ?? 0;
      calls.set(k, c);
    }
    const run: Run = {
      replicas: count,
      round,
      latencies,
      perSecond: n / ((snap1.at - snap0.at) / 1000),
      wallMs: snap1.at - snap0.at,
      cpu: cpuBetween(snap0, snap1),
      idle: { wallMs: snap0.at - quiet.at, cpu: cpuBetween(quiet, snap0) },
      calls,
      busy,
    };
    if (count > 1 && s.revocations > 0) {
      // Revocation on fresh replicas with the timing it has always been measured with (REVOCATION_TIMING).
      for (const r of replicas) await killed(r);
      const fresh = await Promise.all(
        Array.from({ length: count }, (_, i) => start(`R${round}.${count}-rev${i}`, REVOCATION_TIMING)),
      );
      replicas.splice(0, replicas.length, ...fresh);
      const warmFresh = await Promise.all(fresh.map(() => newPull(f, repo)));
      for (const w of warmFresh) await deliver(w.payload);
      await waitFor('the warm-up check runs', () => warmFresh.every((w) => checked(w.sha)));
      const rev = await revocationRun(
        state,
        fresh,
        s.revocations,
        installationOf(warm[0]?.payload),
        repo,
        (name) => start(name, REVOCATION_TIMING),
      );
      run.revocation = rev.late;
      run.killedHolder = rev.killedHolder;
    }
    return run;
  } finally {
    for (const r of started) await killed(r);
    await state.drop().catch((e: Error) => console.error(`drop ${state.name}: ${e.message}`));
    s.states.splice(s.states.indexOf(state), 1);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      deliveries: { type: 'string' },
      rounds: { type: 'string' },
      profile: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const n = Number(values.deliveries ?? (values.quick ? 12 : 40));
  const rounds = Number(values.rounds ?? (values.quick ? 1 : 3));
  if (!Number.isInteger(n) || n < 1) throw new Error(`--deliveries must be a positive integer\n${USAGE}`);
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`--rounds must be a positive integer\n${USAGE}`);

  let fake: FakeGitHub | undefined;
  let target: (Database & { readRole: string }) | undefined;
  const states: Database[] = [];
  // Once, from the end of the run, an error, or Ctrl-C / SIGTERM: no replica or database is left behind.
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= (async () => {
      for (const c of children) c.kill('SIGKILL');
      await fake?.close();
      for (const s of states)
        await s.drop().catch((e: Error) => console.error(`drop ${s.name}: ${e.message}`));
      await target?.drop().catch((e: Error) => console.error(`drop ${target?.name}: ${e.message}`));
      for (const dir of kept) rmSync(dir, { recursive: true, force: true });
    })();
    return cleaning;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`${signal}: stopping the replicas and dropping the databases`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const loadBefore = loadavg();
    target = await createTargetDatabase();
    fake = await FakeGitHub.start();
    const setup: Setup = {
      f: fake,
      privateKey: appAndPeople(fake),
      targetUrl: target.url,
      readRole: target.readRole,
      states,
      n,
      revocations: values.quick ? 2 : 5,
      ...(values.profile ? { profiler: new Profiler(values.profile) } : {}),
    };
    const runs: Run[] = [];
    for (let round = 1; round <= rounds; round++) {
      for (const count of round % 2 === 1 ? [1, 3] : [3, 1]) {
        const run = await runConfiguration(setup, count, round);
        runs.push(run);
        process.stderr.write(
          `round ${round}, ${count} replica(s): ${run.perSecond.toFixed(1)} deliveries/s, ` +
            `latency p50 ${ms(quantile(run.latencies, 0.5))}, ${run.busy} deliveries answered 503 and sent again\n`,
        );
      }
    }
    report(runs, n, rounds, loadBefore);
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Revocation jobs due DUE_MS ahead, one at a time; at the due time the replica whose worker claims the job is
 * SIGKILLed (and a fresh one started after, so that the count stays); due→done is measured on the survivors.
 */
async function revocationRun(
  state: Database,
  replicas: Replica[],
  rounds: number,
  installationId: number,
  repo: string,
  start: (name: string) => Promise<Replica>,
): Promise<{ late: number[]; killedHolder: number; tried: number }> {
  const DUE_MS = 3000;
  const db = new pg.Client({ connectionString: state.url });
  await db.connect();
  const late: number[] = [];
  let killedHolder = 0;
  try {
    for (let i = 0; i < rounds; i++) {
      const grantId = `bench-${randomBytes(4).toString('hex')}`;
      const key = `revocation:${grantId}`;
      const dueWall = Date.now() + DUE_MS;
      const dueAt = performance.now() + DUE_MS;
      const data = {
        grantId,
        data: { installationId, owner: OWNER, repo: repo.split('/')[1], defaultBranch: 'main' },
      };
      await db.query(
        `select graphile_worker.add_job('timebox.revocation', $1::json, run_at := $2, job_key := $3,
           job_key_mode := 'replace', max_attempts := 25)`,
        [JSON.stringify(data), new Date(dueWall).toISOString(), key],
      );
      await waitFor('the due time', () => performance.now() >= dueAt, 60_000);
      // The replica that claims it, killed as it does.
      let holder: Replica | undefined;
      let gone = false;
      await waitFor(
        'the job to be claimed',
        async () => {
          const { rows } = await db.query(
            'select locked_by from graphile_worker._private_jobs where key = $1',
            [key],
          );
          if (rows.length === 0) {
            gone = true;
            return true;
          }
          const by = rows[0]?.locked_by as string | null;
          if (!by) return false;
          holder = replicas.find((r) => r.workerIds.includes(by));
          return true;
        },
        60_000,
        2,
      );
      if (holder && !gone) {
        await killed(holder);
        killedHolder++;
      }
      await waitFor(
        'the revocation done on a survivor',
        async () =>
          (await db.query('select 1 from graphile_worker._private_jobs where key = $1', [key])).rowCount ===
          0,
        120_000,
        10,
      );
      late.push(performance.now() - dueAt);
      if (holder) {
        const at = replicas.indexOf(holder);
        replicas[at] = await start(`${holder.name}+`);
      }
    }
  } finally {
    await db.end();
  }
  return { late, killedHolder, tried: rounds };
}

const installationOf = (payload: JsonObject | undefined) =>
  Number((payload?.installation as JsonObject | undefined)?.id);

// ---- the report --------------------------------------------------------------------------------------------

/** A configuration's runs added up: deliveries, wall time and CPU of the sustained phases, and of the quiet ones. */
interface Totals {
  replicas: number;
  runs: Run[];
  deliveries: number;
  wallMs: number;
  cpu: Map<string, number>;
  idleWallMs: number;
  idleCpu: Map<string, number>;
  calls: Map<string, { count: number; ms: number }>;
}

function totals(all: Run[], count: number, n: number): Totals {
  const runs = all.filter((r) => r.replicas === count);
  const t: Totals = {
    replicas: count,
    runs,
    deliveries: n * runs.length,
    wallMs: 0,
    cpu: new Map(),
    idleWallMs: 0,
    idleCpu: new Map(),
    calls: new Map(),
  };
  for (const r of runs) {
    t.wallMs += r.wallMs;
    addInto(t.cpu, r.cpu);
    t.idleWallMs += r.idle.wallMs;
    addInto(t.idleCpu, r.idle.cpu);
    for (const [k, c] of r.calls) {
      const into = t.calls.get(k) ?? { count: 0, ms: 0 };
      into.count += c.count;
      into.ms += c.ms;
      t.calls.set(k, into);
    }
  }
  return t;
}

/** Per delivery (ms) of the sustained phases: the double, its git, the replicas with their git, PostgreSQL. */
function costs(t: Totals) {
  const per = (label: string) => (t.cpu.get(label) ?? 0) / t.deliveries;
  let replicas = 0;
  for (let i = 0; i < t.replicas; i++) replicas += per(replicaRow(i)) + per(replicaGitRow(i));
  const double = per(DOUBLE);
  const doubleGit = per(DOUBLE_GIT);
  const pgMs = per(PG);
  // The fixed cost of being up (polling, dead-replica sweeps), from the quiet window, spread over the deliveries.
  let idleReplicas = 0;
  for (let i = 0; i < t.replicas; i++)
    idleReplicas += (t.idleCpu.get(replicaRow(i)) ?? 0) + (t.idleCpu.get(replicaGitRow(i)) ?? 0);
  const idlePerSecond = {
    replicas: (1000 * idleReplicas) / t.idleWallMs,
    pg: (1000 * (t.idleCpu.get(PG) ?? 0)) / t.idleWallMs,
  };
  const fixed = ((idlePerSecond.replicas + idlePerSecond.pg) * t.wallMs) / 1000 / t.deliveries;
  return {
    double,
    doubleGit,
    replicas,
    pg: pgMs,
    bench: double + doubleGit + replicas + pgMs,
    idlePerSecond,
    fixed,
  };
}

/** The most deliveries per second these CPU costs allow on `cores` cores that do nothing else, and what binds. */
function ceiling(t: Totals, cores: number): { perSecond: number; by: string; bounds: string } {
  const c = costs(t);
  const threads = Math.min(t.replicas, cores);
  const caps: [string, number][] = [
    [`all of it on ${cores} free cores`, (cores * 1000) / c.bench],
    ["the double's one thread", 1000 / c.double],
    [
      t.replicas === 1 ? "the replica's one thread" : `${t.replicas} replicas on ${threads} cores`,
      (threads * 1000) / c.replicas,
    ],
  ];
  const [by, perSecond] = caps.reduce((a, b) => (b[1] < a[1] ? b : a));
  return { perSecond, by, bounds: caps.map(([what, v]) => `${what} ${v.toFixed(1)}/s`).join(', ') };
}

const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(0)}%`;

function cpuTable(ts: Totals[], cores: number): void {
  const width = 68;
  console.log(
    `\nCPU during the sustained phases, all rounds: ms per delivery (share of ${cores} cores; waits: of the time)`.padEnd(
      width,
    ) + ts.map((t) => `${t.replicas} replica(s)`.padStart(18)).join(''),
  );
  const labels = [DOUBLE, DOUBLE_GIT];
  const most = Math.max(...ts.map((t) => t.replicas));
  for (let i = 0; i < most; i++) labels.push(replicaRow(i), replicaGitRow(i));
  labels.push(PG);
  // Waiting is a share of the phase's time (one thread), CPU a share of all the cores' time.
  const cell = (t: Totals, v: number | undefined, of = cores) =>
    v === undefined
      ? ''.padStart(18)
      : `${(v / t.deliveries).toFixed(0)} (${pct(v, of * t.wallMs)})`.padStart(18);
  for (const label of labels)
    console.log(label.padEnd(width) + ts.map((t) => cell(t, t.cpu.get(label))).join(''));
  const ours = (t: Totals) => labels.reduce((s, l) => s + (t.cpu.get(l) ?? 0), 0);
  console.log('= this bench'.padEnd(width) + ts.map((t) => cell(t, ours(t))).join(''));
  for (const label of [REST, IDLE])
    console.log(label.padEnd(width) + ts.map((t) => cell(t, t.cpu.get(label))).join(''));
  const waitRows: [string, string][] = [[DOUBLE, "the double's main thread"]];
  for (let i = 0; i < most; i++) waitRows.push([replicaRow(i), `${replicaRow(i)}'s main thread`]);
  for (const [key, label] of waitRows) {
    console.log(
      `waited for a CPU while runnable: ${label}`.padEnd(width) +
        ts.map((t) => cell(t, t.cpu.get(`${WAIT}${key}`), 1)).join(''),
    );
  }
  console.log(
    'idle cost, nothing delivered: ms CPU per second, replicas + PostgreSQL'.padEnd(width) +
      ts
        .map((t) => {
          const c = costs(t);
          return `${c.idlePerSecond.replicas.toFixed(0)} + ${c.idlePerSecond.pg.toFixed(0)}`.padStart(18);
        })
        .join(''),
  );
  for (const t of ts) {
    const total = [...t.calls.values()].reduce((s, c) => s + c.count, 0);
    console.log(
      `the double's requests per delivery, ${t.replicas} replica(s): ${(total / t.deliveries).toFixed(1)} — ` +
        [...t.calls]
          .sort((a, b) => b[1].count - a[1].count)
          .map(([k, c]) => `${k} ${(c.count / t.deliveries).toFixed(1)} (${(c.ms / c.count).toFixed(0)} ms)`)
          .join(', '),
    );
  }
}

function limits(one: Totals, three: Totals, cores: number): void {
  for (const t of [one, three]) {
    const c = costs(t);
    const rate = median(t.runs.map((r) => r.perSecond));
    const share = (v: number) => pct(v, cores * t.wallMs);
    const idle = t.cpu.get(IDLE) ?? 0;
    const full = idle < 0.05 * cores * t.wallMs;
    const cap = ceiling(t, cores);
    const waited = (key: string) => (t.cpu.get(`${WAIT}${key}`) ?? 0) / t.deliveries;
    let replicasWaited = 0;
    for (let i = 0; i < t.replicas; i++) replicasWaited += waited(replicaRow(i));
    console.log(
      `limit, ${t.replicas} replica(s): measured ${rate.toFixed(1)}/s with ${share(c.bench * t.deliveries)} of the ` +
        `${cores} cores (other work ${share(t.cpu.get(REST) ?? 0)}, idle ${share(idle)})` +
        (full ? ' — the cores were full, so the rate is the share the scheduler gave this bench' : '') +
        `. At ${c.bench.toFixed(0)} ms CPU per delivery (double ${c.double.toFixed(0)} + its git ` +
        `${c.doubleGit.toFixed(0)}, replicas ${c.replicas.toFixed(0)}, PostgreSQL ${c.pg.toFixed(0)}) it could do ` +
        `${cap.perSecond.toFixed(1)}/s, bound by ${cap.by} (${cap.bounds}). Per delivery the double's main thread ` +
        `ran ${c.double.toFixed(0)} ms and waited ${waited(DOUBLE).toFixed(0)} ms for a CPU; the replicas' main ` +
        `threads waited ${replicasWaited.toFixed(0)} ms in all`,
    );
  }
  const c1 = costs(one);
  const c3 = costs(three);
  const projected = ceiling(three, cores).perSecond / ceiling(one, cores).perSecond;
  const alone = (3 * 1000) / c3.replicas / (1000 / c1.replicas);
  const full = (t: Totals) => (t.cpu.get(IDLE) ?? 0) < 0.05 * cores * t.wallMs;
  const wait = (t: Totals) => (t.cpu.get(`${WAIT}${DOUBLE}`) ?? 0) / t.deliveries;
  console.log(
    `what limits 3 vs 1: on ${cores} free cores these costs allow 3 replicas ${projected.toFixed(2)}x the rate of one. ` +
      `The double (one process: its JavaScript, and the git it runs for every pull request read) costs ` +
      `${(c1.double + c1.doubleGit).toFixed(0)} / ${(c3.double + c3.doubleGit).toFixed(0)} ms per delivery, ` +
      `${pct(c1.double + c1.doubleGit, c1.bench)} / ${pct(c3.double + c3.doubleGit, c3.bench)} of this bench's CPU; ` +
      `the replicas ${c1.replicas.toFixed(0)} ms (1) vs ${c3.replicas.toFixed(0)} ms in all (3), of which the ` +
      `fixed cost of being up (idle workers polling every 500 ms and dead-replica sweeps, the defaults, with PostgreSQL's share) is ` +
      `${c1.fixed.toFixed(0)} vs ${c3.fixed.toFixed(0)} ms. Replicas alone, each on a core of its own against a ` +
      `forge that costs nothing: ${alone.toFixed(2)}x. ` +
      (full(one) && full(three)
        ? 'In this run the machine was the limit: '
        : 'In this run (the cores had idle time): ') +
      `other work took ` +
      `${pct(one.cpu.get(REST) ?? 0, cores * one.wallMs)} / ${pct(three.cpu.get(REST) ?? 0, cores * three.wallMs)} ` +
      `of the cores, and the double's main thread, which all of a delivery's requests go through, waited ` +
      `${wait(one).toFixed(0)} / ${wait(three).toFixed(0)} ms per delivery for a CPU against ` +
      `${c1.double.toFixed(0)} / ${c3.double.toFixed(0)} ms run: the measured ratio is how the scheduler shared ` +
      'the cores among the double, the replicas and everything else, not what a replica adds.',
  );
}

function report(runs: Run[], n: number, rounds: number, loadBefore: number[]): void {
  const cores = cpus().length;
  const load = (l: number[]) => l.map((v) => v.toFixed(1)).join(' ');
  const one = totals(runs, 1, n);
  const three = totals(runs, 3, n);
  console.log(
    `\nbench:replicas — ${rounds} round(s) in alternating order, ${n} deliveries per phase, ${cores} cores, ` +
      `load ${load(loadBefore)} before, ${load(loadavg())} after`,
  );
  console.log('replicas  latency p50  latency p99  deliveries/s (median)  rounds');
  for (const t of [one, three]) {
    const lat = t.runs.flatMap((r) => r.latencies);
    const rates = t.runs.map((r) => r.perSecond);
    console.log(
      `${String(t.replicas).padStart(8)}  ${ms(quantile(lat, 0.5)).padStart(11)}  ${ms(quantile(lat, 0.99)).padStart(11)}` +
        `  ${median(rates).toFixed(1).padStart(21)}  ${rates.map((v) => v.toFixed(1)).join(' ')}`,
    );
  }
  // Ratios within each round (the same machine load), then their median.
  const byRound = (count: number, round: number) =>
    runs.find((r) => r.replicas === count && r.round === round) as Run;
  const ratios = Array.from(
    { length: rounds },
    (_, i) => byRound(3, i + 1).perSecond / byRound(1, i + 1).perSecond,
  );
  const latRatios = Array.from(
    { length: rounds },
    (_, i) => quantile(byRound(3, i + 1).latencies, 0.5) / quantile(byRound(1, i + 1).latencies, 0.5),
  );
  const ratio = median(ratios);
  console.log(
    `ratio 3/1 replicas, per round then median: deliveries/s ${ratio.toFixed(2)}x [${ratios.map((r) => r.toFixed(2)).join(' ')}], ` +
      `latency p50 ${median(latRatios).toFixed(2)}x`,
  );
  const late = three.runs.flatMap((r) => r.revocation ?? []);
  const killedHolder = three.runs.reduce((s, r) => s + (r.killedHolder ?? 0), 0);
  const revP99 = quantile(late, 0.99);
  console.log(
    `revocation lateness (3 replicas polling every ${REVOCATION_TIMING.pollIntervalMs} ms, sweeping every ` +
      `${REVOCATION_TIMING.recoveryIntervalMs} ms; holder SIGKILLed at the due time in ${killedHolder}/${late.length}): ` +
      `p50 ${ms(quantile(late, 0.5))} p99 ${ms(revP99)} [${late.map((l) => l.toFixed(0)).join(', ')}] ms` +
      ' — target: a fake grant id (keeper.revokeDue reconciles and finds nothing; no PostgreSQL role dropped)',
  );
  console.log(
    `goal revocation lateness p99 <= 2 s with the holder killed: ${revP99 <= 2000 ? 'met' : 'NOT met'} (${ms(revP99)})`,
  );
  console.log(
    `goal 3 replicas >= 2x the deliveries/s of one: ${ratio >= 2 ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`,
  );
  cpuTable([one, three], cores);
  limits(one, three, cores);
  console.log(
    `notes: the replicas, the GitHub double (this process, which also signs and sends the webhooks) and ` +
      `PostgreSQL share ${cores} cores with whatever else runs on the machine (load above). CPU from ` +
      '/proc/<pid>/stat (utime+stime; a git process counts once it has exited) and /proc/stat; "could do" ' +
      'figures are these measured costs divided into free cores, not measurements.',
  );
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exitCode = 1;
});
