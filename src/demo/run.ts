// `timebox demo`: the whole life of a request on this machine, with no account and no configuration. A
// throwaway access repo made from the shipped example (policies, their tests, CODEOWNERS) lives on the local
// forge (src/forge: a GitHub double over real git, validated against GitHub's OpenAPI description); an
// embedded PostgreSQL is the production database; `timebox serve` (src/github/server.ts) runs as it would in
// production, receiving signed webhooks. People act through the forge, Timebox answers, and every step checks
// what it claims on the real thing (the check run, the comment, the role in PostgreSQL, the session, git).
// A clock that the demo moves stands in for two hours of waiting.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { simpleGit } from 'simple-git';
import { parse } from 'yaml';
import { renderHtml } from '../audit/html.js';
import { type Clock, shiftedClock, systemClock } from '../core/clock.js';
import { finalizeLedger, foldLedger, type LedgerEvent, prepareChange } from '../core/ledger.js';
import { openWith } from '../creds/seal.js';
import { FakeGitHub, type JsonObject } from '../forge/fake-github.js';
import { type RunningServer, startServer } from '../github/server.js';
import { loadConfig } from '../repo/access-repo.js';
import { cachedHistory } from '../repo/history.js';
import { loadSigningKeys } from '../repo/signing-keys.js';
import { gitRevision } from '../repo/source.js';
import { adminQuery, demoCa, demoKey, sinkInto, within } from './kit.js';
import { type DemoPostgres, startDemoPostgres } from './postgres.js';
import { DemoReceiver } from './receiver.js';

/** The folder holding the shipped example (policies/, teams.example.yaml, .github/CODEOWNERS, app.yml). */
const ROOT = resolve(import.meta.dirname, '..', '..');
const REPO = 'acme/access';
const APP_ID = 1;
const SECRET = 'timebox-demo-webhook-secret';
const FILE = 'requests/alice/orders-vat.yaml';

/** How the demo reports: a section heading, then steps that succeed (with details) or fail. */
export interface Narrator {
  section(title: string): void;
  step(title: string, ms: number, details: string[]): void;
  failed(title: string, ms: number, error: Error): void;
}

export interface DemoResult {
  ok: boolean;
  steps: { section: string; title: string; ms: number; ok: boolean; details: string[]; error?: string }[];
  events: LedgerEvent[];
  report: string | null;
  ms: number;
}

export interface DemoOptions {
  env: NodeJS.ProcessEnv;
  /** Where the HTML audit report goes (default: a new folder under the system's temp folder). */
  out?: string;
  /** The real clock the demo moves forward for everything it starts (default: the system clock). */
  clock?: Clock;
}

class StepFailed extends Error {}

/** What the steps share: the narration, what was started (stopped at the end), and the demo's clock. */
interface Demo {
  narrator: Narrator;
  opts: DemoOptions;
  result: DemoResult;
  section: string;
  /** A folder for the server's state, the clone, the ssh CA and (without --out) the report. */
  work: string;
  /** The server's log lines, as JSON. */
  logs: JsonObject[];
  /** Real time: what step timings are measured on. */
  base: Clock;
  /** What everything in the demo reads: `base` moved forward by `offset` (the two hours of waiting). */
  clock: Clock;
  offset: number;
  db?: DemoPostgres;
  forge?: FakeGitHub;
  server?: RunningServer;
  /** The team's own service, receiving Timebox's signed webhooks (`notify:` in timebox.yaml). */
  receiver?: DemoReceiver;
  /** alice's database session, cut at expiry. */
  session?: pg.Client;
}

/** The story once everything runs: the forge, the server and what each chapter learns for the next. */
interface Story {
  demo: Demo;
  f: FakeGitHub;
  s: RunningServer;
  alice: { publicLine: string; privatePem: string };
  pull: number;
  role: string;
  url: string;
  expiresAt: number;
}

export async function runDemo(narrator: Narrator, opts: DemoOptions): Promise<DemoResult> {
  const base = opts.clock ?? systemClock;
  const started = base.nowMs();
  const demo: Demo = {
    narrator,
    opts,
    result: { ok: false, steps: [], events: [], report: null, ms: 0 },
    section: '',
    work: mkdtempSync(join(tmpdir(), 'timebox-demo-')),
    logs: [],
    base,
    clock: shiftedClock(base, () => demo.offset),
    offset: 0,
  };
  try {
    const story = await setUp(demo);
    await askForAccess(story);
    await reviewers(story);
    await accessBegins(story);
    await twoHoursLater(story);
    await auditTrail(story);
    demo.result.ok = true;
  } catch (err) {
    reportFailure(demo, err);
  } finally {
    await tearDown(demo);
  }
  demo.result.ms = base.nowMs() - started;
  return demo.result;
}

/** Runs one step: narrated with its details and timing, or failed with its cause on one line. */
async function step(d: Demo, title: string, fn: () => Promise<string[] | undefined>): Promise<void> {
  const t0 = d.base.nowMs();
  try {
    const details = (await fn()) ?? [];
    const ms = d.base.nowMs() - t0;
    d.result.steps.push({ section: d.section, title, ms, ok: true, details });
    d.narrator.step(title, ms, details);
  } catch (err) {
    const ms = d.base.nowMs() - t0;
    // One line, whatever the cause said (initdb's, a server's and a parser's messages span several).
    const said = err instanceof Error ? err.message : String(err);
    const error = new Error(said.replace(/\s*\n\s*/g, ' ').trim());
    d.result.steps.push({ section: d.section, title, ms, ok: false, details: [], error: error.message });
    d.narrator.failed(title, ms, error);
    throw new StepFailed(error.message);
  }
}

function heading(d: Demo, title: string): void {
  d.section = title;
  d.narrator.section(title);
}

function check(ok: unknown, message: string): void {
  if (!ok) throw new Error(message);
}

/** A failure outside any step, and the server's last errors, which usually say why. */
function reportFailure(d: Demo, err: unknown): void {
  if (!(err instanceof StepFailed)) {
    d.result.steps.push({
      section: d.section,
      title: 'unexpected',
      ms: 0,
      ok: false,
      details: [],
      error: String(err),
    });
    d.narrator.failed('unexpected error', 0, err instanceof Error ? err : new Error(String(err)));
  }
  const errors = d.logs.filter((l) => Number(l.level) >= 50).slice(-3);
  for (const l of errors) d.narrator.step(`server log: ${String(l.msg)}`, 0, []);
}

async function tearDown(d: Demo): Promise<void> {
  await d.session?.end().catch(() => {});
  await d.server?.close().catch(() => {});
  await d.receiver?.stop().catch(() => {});
  await d.forge?.close().catch(() => {});
  await d.db?.stop().catch(() => {});
  if (!d.opts.out) {
    // Keep the report; drop the rest (state, clone).
    for (const sub of [
      'state',
      'clone',
      'ssh-ca',
      'ssh-ca.pub',
      'ssh-revoked.krl',
      'ssh-revoked.krl.timebox.json',
    ])
      rmSync(join(d.work, sub), { recursive: true, force: true });
  } else rmSync(d.work, { recursive: true, force: true });
}

async function setUp(d: Demo): Promise<Story> {
  heading(d, 'Setting up: a production database, a forge, and Timebox');
  await step(d, 'PostgreSQL with the databases the example policies name', async () => {
    d.db = await startDemoPostgres(d.opts.env);
    return [`${d.db.label}: orders, customers, billing`];
  });
  await step(d, 'a local forge with the access repo acme/access', async () => {
    d.receiver = await new DemoReceiver().start();
    d.forge = await startForge(d);
    return [
      `${d.forge.url} (git over HTTP, the REST API, signed webhooks), policies from policies/qa.yaml`,
      `timebox.yaml routes notices (notify:) to the team's webhook receiver at ${d.receiver.url}`,
    ];
  });
  const alice = demoKey('alice@demo');
  await step(d, 'alice has an SSH key on her account', async () => {
    d.forge?.setUserKeys('alice', [alice.publicLine]);
    return [`${alice.publicLine.slice(0, 60)}…`];
  });
  await step(d, 'timebox serve, installed on the repository as a GitHub App', async () => {
    d.server = await startTimebox(d, d.forge as FakeGitHub);
    return [`webhooks at ${d.server.url}/api/github/webhooks`];
  });
  const f = d.forge as FakeGitHub;
  const s = d.server as RunningServer;
  return { demo: d, f, s, alice, pull: 0, role: '', url: '', expiresAt: 0 };
}

/** The forge, with the access repo made from the shipped example, its teams and who may write. */
async function startForge(d: Demo): Promise<FakeGitHub> {
  // The forge's tokens and app JWTs stay on real time (the JWT library reads the wall clock); what it
  // stamps (commits, comments, check runs) moves with the demo's clock.
  const forge = await FakeGitHub.start({ clock: d.base, now: () => d.clock.now() });
  d.forge = forge;
  const files: Record<string, string> = {
    'timebox.yaml': [
      '# Timebox merges approved requests itself.',
      'auto_merge: true',
      '# The audit believes Timebox-* trailers only in merges made by timebox[bot] and signed by the',
      '# forge (GitHub: https://github.com/web-flow.gpg).',
      'audit:',
      '  timebox: ["timebox[bot]"]',
      '  signing_keys: [.github/web-flow.gpg]',
      '# Notices go to the team’s own service too, signed with TIMEBOX_WEBHOOK_SECRET.',
      'notify:',
      `  - { channel: webhook, to: "${d.receiver?.url}", events: [opened, approved, granted, expired] }`,
      '',
    ].join('\n'),
    '.github/web-flow.gpg': forge.webFlowKey,
    'policies/qa.yaml': readFileSync(join(ROOT, 'policies/qa.yaml'), 'utf8'),
    'policies/tests/qa.yaml': readFileSync(join(ROOT, 'policies/tests/qa.yaml'), 'utf8'),
    '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
  };
  await forge.createRepo(REPO, { author: 'sam', files });
  const teams = readFileSync(join(ROOT, 'teams.example.yaml'), 'utf8');
  for (const m of teams.matchAll(/^"(@[^"]+)":\s*\[([^\]]*)\]/gm)) {
    forge.setTeam(
      m[1] as string,
      (m[2] as string)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
  }
  for (const login of ['alice', 'bob', 'carol', 'dave', 'erin', 'sam']) forge.setPermission(login, 'write');
  return forge;
}

/** `timebox serve` as a GitHub App installed on the repository, on the demo's clock. */
async function startTimebox(d: Demo, f: FakeGitHub): Promise<RunningServer> {
  const manifest = parse(readFileSync(join(ROOT, 'app.yml'), 'utf8'));
  const privateKey = f.registerManifestApp(APP_ID, 'timebox', manifest);
  f.install(REPO, APP_ID);
  return startServer({
    appId: String(APP_ID),
    privateKey,
    webhookSecret: SECRET,
    port: 0,
    host: '127.0.0.1',
    baseUrl: f.url,
    log: pino({ level: 'info' }, sinkInto(d.logs)),
    sweepIntervalMs: 0,
    clock: d.clock,
    stateDir: join(d.work, 'state'),
    // The channels' secrets, from the environment as in production: here the receiver's shared secret.
    channels: { env: { TIMEBOX_WEBHOOK_SECRET: d.receiver?.secret }, drainMs: 2000 },
    providerEnv: {
      TIMEBOX_POSTGRES_ORDERS_URL: d.db?.urls.orders,
      TIMEBOX_POSTGRES_CUSTOMERS_URL: d.db?.urls.customers,
      TIMEBOX_POSTGRES_BILLING_URL: d.db?.urls.billing,
      // The example's app-servers (ssh) get a throwaway CA, so that every resource has its target.
      ...demoCa(d.work),
    },
  });
}

/** The forge delivers a signed webhook to `timebox serve`, which must take it. */
async function deliver(st: Story, event: string, payload: JsonObject): Promise<void> {
  const d = await st.f.deliver(`${st.s.url}/api/github/webhooks`, event, payload, SECRET);
  check(d.status === 200, `the webhook ${event} was refused: ${d.status} ${d.body}`);
}

/** Timebox's comments on a pull request, oldest first. */
function comments(st: Story, pull: number): string[] {
  return st.f.comments
    .filter(
      (c) =>
        String(c.html_url ?? '').includes(`/pull/${pull}#`) &&
        (c.user as JsonObject | undefined)?.login === 'timebox[bot]',
    )
    .map((c) => String(c.body));
}

const lastCheck = (st: Story) => st.f.checkRuns.at(-1) as JsonObject | undefined;

async function askForAccess(st: Story): Promise<void> {
  const { demo: d, f } = st;
  heading(d, 'A QA engineer asks for access');
  await step(d, 'alice opens a pull request: read-only on orders-db for 2h, because BUG-1234', async () => {
    await f.commit(REPO, {
      branch: 'access/alice-vat',
      author: 'alice',
      files: {
        [FILE]:
          '# yaml-language-server: $schema=../../schemas/request.schema.json\nrequester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1234, EU order totals off by VAT\nticket: BUG-1234\n',
      },
    });
    st.pull = await f.openPull({
      repo: REPO,
      head: 'access/alice-vat',
      user: 'alice',
      title: 'Read orders-db for BUG-1234',
    });
    await deliver(
      st,
      'pull_request',
      await f.webhookPayload('pull_request', 'opened', { repo: REPO, pull: st.pull, sender: 'alice' }),
    );
    return [`pull request #${st.pull}, ${FILE}`];
  });
  await step(
    d,
    'Timebox checks it: pending, one QA lead must approve, and shows what would be granted',
    async () => {
      check(
        lastCheck(st)?.conclusion === 'action_required',
        `the check run is ${String(lastCheck(st)?.conclusion)}`,
      );
      const summary = comments(st, st.pull).find((b) => b.includes('timebox:summary')) ?? '';
      check(/pending/.test(summary), 'the comment does not say pending');
      const sql = /```sql\n([\s\S]*?)```/.exec(summary)?.[1] ?? '';
      check(sql.includes('CREATE ROLE'), 'the comment has no permission preview');
      const who = /can approve[^\n]*\n[^\n]*\n[^\n]*?\|\s*([^|\n]*)\|\s*$/m.exec(summary)?.[1]?.trim();
      return [
        `check run "timebox": action required${who ? `; can approve: ${who.replace(/\\/g, '')}` : ''}`,
        ...sql
          .trim()
          .split('\n')
          .slice(0, 3)
          .map((l) => `  ${l.length > 110 ? `${l.slice(0, 107)}…` : l}`),
      ];
    },
  );
}

/** `user` approves the pull request, and the forge tells Timebox. */
async function approve(st: Story, user: string): Promise<void> {
  const { f, pull } = st;
  const review = await f.review({ repo: REPO, pull, user, state: 'APPROVED' });
  await deliver(
    st,
    'pull_request_review',
    await f.webhookPayload('pull_request_review', 'submitted', { repo: REPO, pull, sender: user, review }),
  );
}

async function reviewers(st: Story): Promise<void> {
  const { demo: d, f } = st;
  heading(d, 'Reviewers');
  await step(d, 'bob (QA, not a lead) approves: it does not count', async () => {
    await approve(st, 'bob');
    check(lastCheck(st)?.conclusion === 'action_required', 'the check passed on a wrong approval');
    check(!(await f.pull(REPO, st.pull)).merged, 'the pull request was merged on a wrong approval');
    return ['still pending: bob is not in @acme/qa-leads'];
  });
  await step(d, 'carol (QA lead) approves: Timebox merges, naming her in the merge commit', async () => {
    await approve(st, 'carol');
    const merged = await f.pull(REPO, st.pull);
    check(lastCheck(st)?.conclusion === 'success', `the check run is ${String(lastCheck(st)?.conclusion)}`);
    check(merged.merged === true, 'the approved pull request was not merged');
    const merge = String(merged.merge_commit_sha);
    const message = await simpleGit(f.gitDir(REPO)).raw(['log', '-1', '--format=%B', merge]);
    const trailers = message.split('\n').filter((l) => l.startsWith('Timebox-'));
    check(trailers.includes('Timebox-Approved-By: carol'), 'the merge commit does not name carol');
    return [`merge ${merge.slice(0, 7)}`, ...trailers.map((t) => `  ${t}`)];
  });
}

async function accessBegins(st: Story): Promise<void> {
  const { demo: d, f, s } = st;
  heading(d, 'Access begins');
  await step(d, 'the push reaches Timebox: provenance checked, the role made in PostgreSQL', async () => {
    await deliver(st, 'push', await f.webhookPayload('push', { repo: REPO, branch: 'main' }));
    await s.keeper.idle();
    const rows = await adminQuery(
      d.db?.urls.orders as string,
      `SELECT rolname, rolvaliduntil FROM pg_roles WHERE shobj_description(oid, 'pg_authid') LIKE $1`,
      [`%"file":"${FILE}"%`],
    );
    check(rows.length === 1, `expected one role for ${FILE}, found ${rows.length}`);
    st.role = String(rows[0]?.rolname);
    const scheduled = s.keeper.scheduler.scheduled().find((x) => x.file === FILE);
    check(scheduled, 'no revocation is scheduled');
    st.expiresAt = scheduled?.at ?? 0;
    return [`role ${st.role}, VALID UNTIL ${new Date(rows[0]?.rolvaliduntil as Date).toISOString()}`];
  });
  await step(
    d,
    'credentials arrive on the pull request, sealed to alice’s SSH key; her key opens them',
    async () => {
      const granted = comments(st, st.pull).find((b) => b.includes('timebox:credentials'));
      check(granted, 'no credentials comment');
      const block = /-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----/.exec(
        granted ?? '',
      );
      check(block, 'no sealed block in the comment');
      check(!granted?.includes('postgresql://'), 'the comment holds the password in clear');
      st.url = (await openWith(`${block?.[0]}\n`, st.alice.privatePem)).trim();
      check(st.url.startsWith(`postgresql://${st.role}:`), 'the credentials are not a URL for the role');
      return [`${st.url.replace(/:[^:@/]+@/, ':********@')}`];
    },
  );
  await step(d, 'a notice arrives: the team’s webhook receiver gets the grant, signed', async () => {
    const receiver = d.receiver as DemoReceiver;
    // Sent in the background (a channel never holds up a grant): wait for it, a little.
    const n = await within(d.base, 10_000, receiver.next('granted'), undefined);
    check(n, 'the webhook receiver got no `granted` notice');
    check(receiver.refused === 0, `${receiver.refused} webhook deliveries had a bad signature`);
    check(!JSON.stringify(n).includes('postgresql://'), 'the notice carries the credentials');
    return [
      `the webhook receiver got: ${n?.event} ${n?.resource} ${n?.fields.Role} to ${n?.requester} until ${n?.fields.Until}`,
      `(all it got so far: ${receiver.received.map((x) => x.event).join(', ')}; each signature verified with HMAC-SHA256)`,
    ];
  });
  await step(d, 'alice connects: a SELECT works, an INSERT is refused (read-only)', async () => {
    const session = new pg.Client({ connectionString: st.url });
    d.session = session;
    await session.connect();
    session.on('error', () => {});
    const n = (await session.query<{ n: number }>('SELECT count(*)::int AS n FROM orders')).rows[0]?.n;
    check(n === 3, `SELECT returned ${n}`);
    let refused = '';
    try {
      await session.query("INSERT INTO orders VALUES (4, 'ES', 121.00)");
    } catch (err) {
      refused = (err as Error).message;
    }
    check(/read-only/.test(refused), 'the INSERT was not refused');
    return [`SELECT count(*) FROM orders → ${n}`, `INSERT → ${refused}`];
  });
}

/** Moves the demo's clock so that it reads `at`, and lets the keeper act on it. */
async function moveClockTo(st: Story, at: number): Promise<void> {
  st.demo.offset = at - st.demo.base.nowMs();
  st.s.keeper.tick();
  await st.s.keeper.idle();
}

async function twoHoursLater(st: Story): Promise<void> {
  const { demo: d } = st;
  heading(d, 'Two hours later (the demo moves the clock)');
  await step(d, '15 minutes before expiry, alice is reminded on the pull request', async () => {
    await moveClockTo(st, st.expiresAt - 14 * 60_000);
    const reminder = comments(st, st.pull).find((b) => b.includes('timebox:reminder'));
    check(reminder, 'no reminder');
    return [reminder?.split('\n')[1]?.replace(/\*\*/g, '').replace(/\\/g, '') ?? ''];
  });
  await step(d, 'at expiry the role is revoked and alice’s open session is cut', async () => {
    const cut = new Promise<string>((resolveCut) => d.session?.on('error', (e) => resolveCut(e.message)));
    await moveClockTo(st, st.expiresAt + 50);
    const revokedLog = d.logs.find((l) => typeof l.lateness_ms === 'number' && l.file === FILE);
    const rows = await adminQuery(d.db?.urls.orders as string, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [
      st.role,
    ]);
    check(rows.length === 0, 'the role is still there');
    const message = await within(d.clock, 5000, cut, '');
    check(/terminat/i.test(message), 'the open session was not ended');
    return [
      `role ${st.role} dropped, ${Math.round(Number(revokedLog?.lateness_ms ?? Number.NaN))} ms after its expiry`,
      `session: ${message}`,
    ];
  });
  await step(d, 'the revert pull request removes the request file, with the reason in git', () => revert(st));
}

/** The revert Timebox opened and merged: the file gone from main, why in its trailers, what alice ran. */
async function revert(st: Story): Promise<string[]> {
  const { demo: d, f, s, pull } = st;
  await deliver(st, 'push', await f.webhookPayload('push', { repo: REPO, branch: 'main' }));
  await s.keeper.idle();
  const git = simpleGit(f.gitDir(REPO));
  const tree = await git.raw(['ls-tree', '-r', '--name-only', 'main']);
  check(!tree.includes(FILE), `${FILE} is still on main`);
  const message = await git.raw(['log', '-1', '--format=%s%n%b', 'main']);
  check(message.includes('Timebox-Revocation-Reason: expired'), 'the revert does not say why');
  const subject = message.split('\n')[0] ?? '';
  const details = [
    subject,
    ...message
      .split('\n')
      .filter((l) => l.startsWith('Timebox-'))
      .map((l) => `  ${l}`),
  ];
  // What alice ran (pg_stat_statements, read as the role is revoked): in the trailer and the PR.
  if (d.db?.activity) {
    const activity = /^Timebox-Activity: (.+)$/m.exec(message)?.[1] ?? '';
    check(/\b1 statement\b/.test(activity), `the revert does not say what alice ran: "${activity}"`);
    let body = '';
    for (let n = pull + 1; n <= pull + 5 && !body; n++) {
      const p = await f.pull(REPO, n).catch(() => undefined);
      if (String((p?.head as JsonObject | undefined)?.ref ?? '').startsWith('timebox/revert/'))
        body = String(p?.body ?? '');
    }
    check(body.includes(`Activity: ${activity}`), 'the revert pull request does not say what alice ran');
    details.push(`revert pull request: "Activity: ${activity}"`);
  } else details.push('no activity: pg_stat_statements is not loaded on that server');
  return details;
}

async function auditTrail(st: Story): Promise<void> {
  const { demo: d } = st;
  heading(d, 'The audit trail is git');
  await step(d, 'timebox audit reads the history: requested, approved, granted, expired, revoked', () =>
    audit(st),
  );
  await step(d, 'the HTML timeline', async () => [d.result.report ?? '']);
}

/** `timebox audit` over a clone: the events of alice's request, checked, and the HTML report written. */
async function audit(st: Story): Promise<string[]> {
  const { demo: d, f } = st;
  const { result } = d;
  const clone = join(d.work, 'clone');
  await simpleGit().clone(f.gitDir(REPO), clone, ['--quiet']);
  const source = await gitRevision(clone, 'HEAD');
  const { config } = await loadConfig(source);
  const { keys } = await loadSigningKeys(source, config);
  const { commits } = await cachedHistory(clone, 'HEAD', config.paths.requests, {
    cache: false,
    prepare: prepareChange(config),
    keys,
  });
  const ledger = finalizeLedger(foldLedger(commits, config), d.clock.now());
  result.events = ledger.events.filter((e) => e.file === FILE);
  const types = result.events.map((e) => e.type);
  for (const t of ['requested', 'approved', 'granted', 'expired', 'revoked'])
    check(types.includes(t as LedgerEvent['type']), `the audit has no ${t} event`);
  check(result.events.find((e) => e.type === 'approved')?.actor === 'carol', 'the approval is not carol’s');
  if (d.db?.activity)
    check(result.events.find((e) => e.type === 'revoked')?.activity, 'the audit does not say what alice ran');
  const out = resolve(d.opts.out ?? d.work, 'timebox-demo-audit.html');
  writeFileSync(out, renderHtml({ ...ledger, events: ledger.events }, { generatedAt: d.clock.now() }));
  result.report = out;
  return result.events.map((e) =>
    `${e.time}  ${e.type.padEnd(9)}  ${(e.actor ?? '').replace(/ <.*>$/, '').padEnd(13)}  ${e.reason ?? ''}${e.activity ? `; alice ran ${e.activity}` : ''}`.trimEnd(),
  );
}
