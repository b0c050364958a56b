// `npm run bench:replicas`: what running `timebox serve` as several replicas sharing one PostgreSQL state
// database (TIMEBOX_DATABASE_URL, docs/deployment.md "Replicas") costs and buys, for 1 and 3 replicas.
// Each replica is a process of its own (test/github/replica-child.ts, the killable child the replica tests
// use: startReplica from src/github/server.ts), against the GitHub double (src/forge, FakeGitHub) in this
// process, driven by signed webhooks as GitHub sends them, behind a plain round-robin. Every configuration
// gets a private state database (made as docs/deployment.md prescribes, dropped at the end, on error too).
// Measured:
//   latency     one pull_request `opened` at a time: from POST to the `timebox` check run in the double's state;
//   throughput  a burst of K `opened` deliveries at once: K / time until every check run is there; the
//               replicas' CPU (utime+stime from /proc/<pid>/stat) per delivery says what limits it;
//   revocation  (3 replicas) revocation jobs due a few seconds ahead; at the due time the replica that claims
//               the job is SIGKILLed, and due→done is measured on the survivors. The grant is a fake one (an id
//               no request file has): the job runs keeper.revokeDue as a real one does (reconcile the
//               repository, look the grant up) but there is no PostgreSQL role to drop.
// Goals: revocation lateness p99 <= 2 s with that kill; 3 replicas >= 2x the deliveries per second of one.
// A missed goal is reported, never an exit code.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { parse } from 'yaml';
import { FakeGitHub, type JsonObject } from '../src/forge/fake-github.js';

const USAGE = `usage: npm run bench:replicas -- [--deliveries N] [--quick]

  --deliveries N   latency samples and burst size per configuration (default 40)
  --quick          12 deliveries, 2 revocations: a smoke run
`;

const REPO = 'acme/access';
const SECRET = 'bench-replicas-secret';
const APP_ID = 7373;
const ADMIN_URL = process.env.TIMEBOX_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD = fileURLToPath(new URL('../test/github/replica-child.ts', import.meta.url));
const TICK_MS = 1000 / 100; // USER_HZ: /proc/<pid>/stat counts CPU in 1/100 s

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

/** The access repo on the double with the App installed, the QA teams and alice's SSH key; the App's key. */
async function accessRepo(fake: FakeGitHub, readRole: string): Promise<string> {
  const manifest = parse(readFileSync(join(ROOT, 'app.yml'), 'utf8'));
  const privateKey = fake.registerManifestApp(APP_ID, 'timebox', manifest);
  await fake.createRepo(REPO, {
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
  fake.install(REPO, APP_ID);
  fake.setTeam('@acme/qa', ['alice', 'bob']);
  fake.setTeam('@acme/qa-leads', ['carol']);
  const keys = mkdtempSync(join(tmpdir(), 'timebox-bench-replicas-keys-'));
  kept.push(keys);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(keys, 'id')]);
  fake.setUserKeys('alice', [readFileSync(join(keys, 'id.pub'), 'utf8').trim()]);
  return privateKey;
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

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

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

interface Result {
  replicas: number;
  p50: number;
  p99: number;
  perSecond: number;
  /** CPU of the replicas' processes per delivery in the burst (/proc/<pid>/stat). */
  cpuPerDelivery: number;
  /** CPU of this process (the GitHub double) per delivery in the burst (process.cpuUsage). */
  doublePerDelivery: number;
  wallPerDelivery: number;
  revocation?: { late: number[]; killedHolder: number; tried: number };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      deliveries: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const n = Number(values.deliveries ?? (values.quick ? 12 : 40));
  const revocations = values.quick ? 2 : 5;
  if (!Number.isInteger(n) || n < 1) throw new Error(`--deliveries must be a positive integer\n${USAGE}`);

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
    target = await createTargetDatabase();
    fake = await FakeGitHub.start();
    const f = fake;
    const privateKey = await accessRepo(f, target.readRole);
    const targetUrl = target.url;

    let prCount = 0;
    /** A fresh pull request with one request file, and its `opened` payload and head. */
    const newPull = async (): Promise<Pull> => {
      const i = prCount++;
      const file = `requests/alice/bench-${i}.yaml`;
      await f.commit(REPO, {
        branch: `access/bench-${i}`,
        files: {
          [file]: `requester: alice\nresource: orders-db\nrole: read-only\nduration: 1h\nreason: Bench ${i}, BUG-${i}\n`,
        },
        author: 'alice',
      });
      const pull = await f.openPull({
        repo: REPO,
        head: `access/bench-${i}`,
        user: 'alice',
        title: `Bench ${i}`,
      });
      const payload = await f.webhookPayload('pull_request', 'opened', { repo: REPO, pull, sender: 'alice' });
      const sha = String(((payload.pull_request as JsonObject).head as JsonObject).sha);
      return { payload, sha };
    };
    const checked = (sha: string) => f.checkRuns.some((c) => c.head_sha === sha);

    const results: Result[] = [];
    for (const count of [1, 3]) {
      const state = await createStateDatabase();
      states.push(state);
      const options = (name: string): JsonObject => {
        const stateDir = mkdtempSync(join(tmpdir(), `timebox-bench-replica-${name}-`));
        kept.push(stateDir);
        return {
          appId: String(APP_ID),
          privateKey,
          webhookSecret: SECRET,
          port: 0,
          host: '127.0.0.1',
          baseUrl: f.url,
          sweepIntervalMs: 0,
          stateDir,
          providerEnv: { TIMEBOX_POSTGRES_ORDERS_URL: targetUrl },
          databaseUrl: state.url,
          replica: { cron: false, pollIntervalMs: 100, recoveryIntervalMs: 300 },
        };
      };
      let started = 0;
      const replicas = await Promise.all(
        Array.from({ length: count }, () => startChild(`R${count}-${started++}`, options('x'))),
      );
      let next = 0;
      const deliver = async (payload: JsonObject) => {
        const r = replicas[next++ % replicas.length] as Replica;
        const d = await f.deliver(`${r.url}/api/github/webhooks`, 'pull_request', payload, SECRET);
        if (d.status !== 200) throw new Error(`delivery to ${r.name}: ${d.status} ${d.body}`);
      };

      // Warm-up: one delivery per replica (first installation token, first git fetch).
      const warm = await Promise.all(replicas.map(() => newPull()));
      for (const w of warm) await deliver(w.payload);
      await waitFor('the warm-up check runs', () => warm.every((w) => checked(w.sha)));

      // Latency: one delivery at a time.
      const pulls: Pull[] = [];
      for (let i = 0; i < n; i++) pulls.push(await newPull());
      const lat: number[] = [];
      for (const p of pulls) {
        const t0 = performance.now();
        await deliver(p.payload);
        await waitFor('the check run', () => checked(p.sha));
        lat.push(performance.now() - t0);
      }

      // Throughput: a burst of n at once.
      const burst: Pull[] = [];
      for (let i = 0; i < n; i++) burst.push(await newPull());
      const cpu0 = replicas.reduce((s, r) => s + cpuMs(r.proc.pid), 0);
      const own0 = process.cpuUsage();
      const t0 = performance.now();
      await Promise.all(burst.map((p) => deliver(p.payload)));
      await waitFor('the burst check runs', () => burst.every((p) => checked(p.sha)), 600_000);
      const elapsed = performance.now() - t0;
      const cpu1 = replicas.reduce((s, r) => s + cpuMs(r.proc.pid), 0);
      const own = process.cpuUsage(own0);
      const result: Result = {
        replicas: count,
        p50: quantile(lat, 0.5),
        p99: quantile(lat, 0.99),
        perSecond: n / (elapsed / 1000),
        cpuPerDelivery: (cpu1 - cpu0) / n,
        doublePerDelivery: (own.user + own.system) / 1000 / n,
        wallPerDelivery: elapsed / n,
      };

      if (count > 1)
        result.revocation = await revocationRun(
          state,
          replicas,
          revocations,
          installationOf(warm[0]?.payload),
          (name) => startChild(name, options(name)),
        );
      for (const r of replicas) await killed(r);
      results.push(result);
    }
    report(results, n);
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
        data: { installationId, owner: 'acme', repo: 'access', defaultBranch: 'main' },
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

/** What bounds a configuration's deliveries per second, from the CPU it used against the time it took. */
function limitOf(r: Result, cores: number): string {
  const busy = r.cpuPerDelivery + r.doublePerDelivery;
  const share = busy / (r.wallPerDelivery * cores);
  const doubleShare = r.doublePerDelivery / r.wallPerDelivery;
  const ceiling = (1000 * cores) / Math.max(1, busy);
  const what =
    doubleShare >= 0.8
      ? 'the GitHub double: one process, near a full core'
      : share >= 0.8
        ? 'CPU: the bench processes use the cores'
        : `waiting, not this bench's CPU: its processes used ${(share * 100).toFixed(0)}% of ${cores} cores ` +
          '(the rest went to other work on the machine, PostgreSQL, or idle between job claims)';
  return (
    `${what}; ${busy.toFixed(0)} ms CPU per delivery (the double ${r.doublePerDelivery.toFixed(0)} ms, ` +
    `${(doubleShare * 100).toFixed(0)}% of a core) caps ${cores} cores at ~${ceiling.toFixed(1)}/s`
  );
}

function report(results: Result[], n: number): void {
  const [one, three] = results as [Result, Result];
  const row = (r: Result) =>
    `${String(r.replicas).padStart(8)}  ${ms(r.p50).padStart(9)}  ${ms(r.p99).padStart(9)}  ${r.perSecond
      .toFixed(1)
      .padStart(
        12,
      )}  ${`${r.cpuPerDelivery.toFixed(0)} ms`.padStart(21)}  ${`${r.doublePerDelivery.toFixed(0)} ms`.padStart(6)}  ${`${r.wallPerDelivery.toFixed(0)} ms`.padStart(7)}`;
  console.log(
    `\nbench:replicas — ${n} deliveries per configuration, ${cpus().length} cores, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log('replicas  latency p50  latency p99  deliveries/s  CPU/delivery replicas  double  wall');
  for (const r of results) console.log(row(r));
  const rev = three.revocation;
  const revP99 = rev ? quantile(rev.late, 0.99) : Number.NaN;
  if (rev)
    console.log(
      `revocation lateness (3 replicas, holder SIGKILLed at the due time in ${rev.killedHolder}/${rev.tried}): ` +
        `p50 ${ms(quantile(rev.late, 0.5))} p99 ${ms(revP99)} [${rev.late.map((l) => l.toFixed(0)).join(', ')}] ms` +
        ' — target: a fake grant id (keeper.revokeDue reconciles and finds nothing; no PostgreSQL role dropped)',
    );
  const ratio = three.perSecond / one.perSecond;
  console.log(
    `ratio 3/1 replicas: deliveries/s ${ratio.toFixed(2)}x, latency p50 ${(three.p50 / one.p50).toFixed(2)}x`,
  );
  console.log(
    `goal revocation lateness p99 <= 2 s with the holder killed: ${revP99 <= 2000 ? 'met' : 'NOT met'} (${ms(revP99)})`,
  );
  console.log(
    `goal 3 replicas >= 2x the deliveries/s of one: ${ratio >= 2 ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`,
  );
  const cores = cpus().length;
  for (const r of results) console.log(`limit, ${r.replicas} replica(s): ${limitOf(r, cores)}`);
  console.log(
    `notes: the replicas, the GitHub double (this process) and PostgreSQL share ${cores} cores; CPU is per ` +
      'delivery of the burst (replicas: /proc/<pid>/stat, double: process.cpuUsage; PostgreSQL not counted). ' +
      'The machine is shared with other work (load average above); the figures are not tuned for it, and ' +
      'with the cores busy elsewhere more replicas only add processes competing for them.',
  );
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exitCode = 1;
});
