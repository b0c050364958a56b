// The whole life of a request through `timebox serve`, against the fake GitHub (real git underneath, served
// over smart HTTP) and a real PostgreSQL, with an injected clock: opened → pending with a preview → a wrong
// approver → a push that makes an approval stale → the right approval → merged by Timebox with trailers →
// the role exists and the credentials open with Debian's age → a reminder → expiry → role gone and a live
// session cut → revert PR merged → `timebox audit` tells it all. Then the faults: a restart between merge
// and grant, and between expiry and revocation; PostgreSQL down at expiry; duplicate and reordered
// deliveries; a direct push.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, type ServerOptions, startServer } from '../../src/github/server.js';
import { FakeGitHub, type JsonObject } from '../fake-github/fake-github.js';
import { MANIFEST } from '../helpers/github.js';
import { createTestDatabase, query, type TestDatabase } from '../helpers/postgres.js';
import { git, ROOT, run, tempDir } from '../helpers/repo.js';

const REPO = 'acme/access';
const SECRET = 'life-webhook-secret';
const APP_ID = 5151;

let fake: FakeGitHub;
let db: TestDatabase;
let server: RunningServer | undefined;
let privateKeyPem: string;
let stateDir: string;
let aliceKey: string;
/** The injected clock: real time plus an offset the test moves. */
let offset = 0;
const clock = () => new Date(Date.now() + offset);
const logs: JsonObject[] = [];

const POLICY = (readRole: string) => `resources:
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
`;

const request = (requester: string, reason = 'Reproduce BUG-1234, EU order totals off by VAT') =>
  `requester: ${requester}\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: ${reason}\n`;

async function start(extra: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  return startServer({
    appId: String(APP_ID),
    privateKey: privateKeyPem,
    webhookSecret: SECRET,
    port: 0,
    host: '127.0.0.1',
    baseUrl: fake.url,
    log: pino({ level: 'info' }, sink),
    sweepIntervalMs: 0,
    now: clock,
    stateDir,
    providerEnv: { TIMEBOX_POSTGRES_ORDERS_URL: db.url },
    retryMs: [200, 400],
    ...extra,
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  fake = await FakeGitHub.start();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  privateKeyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  fake.registerApp({
    id: APP_ID,
    slug: 'timebox',
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    permissions: MANIFEST.default_permissions,
    events: MANIFEST.default_events,
  });
  await fake.createRepo(REPO, {
    author: 'admin',
    files: {
      'timebox.yaml': 'auto_merge: true\n',
      'policies/qa.yaml': POLICY(db.readRole),
      '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
    },
  });
  fake.install(REPO, APP_ID);
  fake.setTeam('@acme/qa', ['alice', 'bob', 'erin']);
  fake.setTeam('@acme/qa-leads', ['carol']);
  fake.setTeam('@acme/security', ['sam']);
  for (const login of ['alice', 'bob', 'carol', 'erin', 'sam']) fake.setPermission(login, 'write');
  const keys = tempDir('timebox-life-keys-');
  aliceKey = join(keys, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', aliceKey]);
  fake.setUserKeys('alice', [readFileSync(`${aliceKey}.pub`, 'utf8').trim()]);
  stateDir = tempDir('timebox-life-state-');
  server = await start();
}, 120_000);

afterAll(async () => {
  await server?.close();
  await fake?.close();
  await db?.drop();
});

// ---- helpers -------------------------------------------------------------------------------------------------

async function deliver(event: string, payload: JsonObject, url = server?.url): Promise<void> {
  const d = await fake.deliver(`${url}/api/github/webhooks`, event, payload, SECRET);
  expect(d.status, d.body).toBe(200);
}

async function pullEvent(pull: number, action: string, sender: string) {
  await deliver(
    'pull_request',
    await fake.webhookPayload('pull_request', action as 'opened', { repo: REPO, pull, sender }),
  );
}

async function reviewBy(pull: number, user: string) {
  const review = await fake.review({ repo: REPO, pull, user, state: 'APPROVED' });
  await deliver(
    'pull_request_review',
    await fake.webhookPayload('pull_request_review', 'submitted', { repo: REPO, pull, sender: user, review }),
  );
}

async function pushedMain() {
  await deliver('push', await fake.webhookPayload('push', { repo: REPO, branch: 'main' }));
  await server?.keeper.idle();
}

const commentsOn = (pull: number) =>
  fake.comments.filter((c) => String(c.html_url ?? '').includes(`/pull/${pull}#`)).map((c) => String(c.body));

async function rolesFor(file: string): Promise<string[]> {
  const { rows } = await query(
    db.url,
    `SELECT rolname FROM pg_roles WHERE shobj_description(oid, 'pg_authid') LIKE $1 ORDER BY rolname`,
    [`timebox:%${file}%`],
  );
  return rows.map((r) => String(r.rolname));
}

function credentialsIn(body: string): string {
  const m = /-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----/.exec(body);
  if (!m) throw new Error(`no sealed credentials in:\n${body}`);
  return `${m[0]}\n`;
}

async function openRequest(
  user: string,
  file: string,
  branch: string,
  text = request(user),
): Promise<number> {
  await fake.commit(REPO, { branch, files: { [file]: text }, author: user });
  const pull = await fake.openPull({ repo: REPO, head: branch, user, title: `Access for ${user}` });
  await pullEvent(pull, 'opened', user);
  return pull;
}

// ---- the whole life --------------------------------------------------------------------------------------------

describe('timebox serve: the whole life of a request', () => {
  it('pending → stale → approved → merged → granted → reminded → expired → revoked → reverted → audited', async () => {
    const file = 'requests/alice/orders-vat.yaml';
    const pull = await openRequest('alice', file, 'access/alice-vat');
    const summary = () => commentsOn(pull).find((b) => b.includes('timebox:summary')) ?? '';
    expect(summary()).toMatch(/pending/i);
    expect(summary()).toContain('What would be granted');
    expect(summary()).toContain(db.readRole);

    // bob is in QA, not a lead: nothing changes.
    await reviewBy(pull, 'bob');
    expect((await fake.pull(REPO, pull)).merged).toBe(false);
    expect(summary()).toMatch(/pending/i);

    // carol approves, then alice pushes: the approval is of an older commit.
    const staleReview = await fake.review({ repo: REPO, pull, user: 'carol', state: 'APPROVED' });
    await fake.commit(REPO, {
      branch: 'access/alice-vat',
      files: { [file]: request('alice', 'Reproduce BUG-1234 (VAT rounding)') },
      author: 'alice',
    });
    await deliver(
      'pull_request_review',
      await fake.webhookPayload('pull_request_review', 'submitted', {
        repo: REPO,
        pull,
        sender: 'carol',
        review: staleReview,
      }),
    );
    await pullEvent(pull, 'synchronize', 'alice');
    expect((await fake.pull(REPO, pull)).merged).toBe(false);
    expect(summary()).toMatch(/older commit|stale/i);
    expect(await rolesFor(file)).toEqual([]);

    // The right approval at the head: Timebox merges with trailers.
    await reviewBy(pull, 'carol');
    const merged = await fake.pull(REPO, pull);
    expect(merged.merged).toBe(true);
    const message = git(fake.gitDir(REPO), 'log', '-1', '--format=%B', String(merged.merge_commit_sha));
    expect(message).toContain(`Timebox-Request: ${file}`);
    expect(message).toContain('Timebox-Approved-By: carol');

    // The push: provenance passes, the role is made, credentials are delivered on the PR.
    await pushedMain();
    const roles = await rolesFor(file);
    expect(roles).toHaveLength(1);
    const granted = commentsOn(pull).find((b) => b.includes('timebox:credentials'));
    expect(granted).toBeDefined();
    expect(granted).toMatch(/Granted.*until/);
    expect(granted).not.toContain('postgresql://');
    const url = execFileSync('age', ['-d', '-i', aliceKey], {
      input: credentialsIn(granted as string),
      encoding: 'utf8',
    }).trim();
    expect(url).toMatch(new RegExp(`^postgresql://${roles[0]}:`));
    const session = new pg.Client({ connectionString: url });
    await session.connect();
    const cut = new Promise<string>((resolve) => session.on('error', (e) => resolve(e.message)));
    expect((await session.query('SELECT 1 AS one')).rows[0].one).toBe(1);

    // A redelivered push grants nothing twice and comments nothing twice.
    await pushedMain();
    expect(await rolesFor(file)).toEqual(roles);
    expect(commentsOn(pull).filter((b) => b.includes('timebox:credentials'))).toHaveLength(1);

    // 15 minutes before expiry: a reminder on the PR.
    const expiresAt = Date.parse(String(/Timebox-Expires: (\S+)/.exec(message)?.[1]));
    expect(Number.isFinite(expiresAt)).toBe(true);
    offset = expiresAt - 14 * 60_000 - Date.now();
    server?.keeper.tick();
    await server?.keeper.idle();
    expect(commentsOn(pull).filter((b) => b.includes('timebox:reminder'))).toHaveLength(1);
    expect(await rolesFor(file)).toEqual(roles);

    // Expiry: the role is dropped, the live session is cut, the revert PR is opened and merged.
    offset = expiresAt + 500 - Date.now();
    server?.keeper.tick();
    await server?.keeper.idle();
    expect(await rolesFor(file)).toEqual([]);
    expect(await cut).toMatch(/terminat/i);
    const revert = fake.requests.find(
      (r) =>
        r.method === 'POST' &&
        /\/pulls$/.test(r.url.split('?')[0] ?? '') &&
        JSON.stringify(r.body).includes(file),
    );
    expect(revert, 'a revert PR was opened').toBeDefined();
    const main = git(fake.gitDir(REPO), 'ls-tree', '-r', '--name-only', 'main');
    expect(main).not.toContain(file);
    const revertMessage = git(fake.gitDir(REPO), 'log', '-1', '--format=%B', 'main');
    expect(revertMessage).toContain(`Timebox-Request: ${file}`);
    expect(revertMessage).toContain('Timebox-Revocation-Reason: expired');
    await pushedMain();
    expect(await rolesFor(file)).toEqual([]);

    // The audit trail, from a clone.
    const clone = tempDir('timebox-life-clone-');
    git(clone, 'clone', '--quiet', fake.gitDir(REPO), '.');
    const audit = await run(['audit', '--format', 'json'], { cwd: clone });
    expect(audit.code, audit.stderr).toBe(0);
    const events = (
      JSON.parse(audit.stdout).events as { type: string; file: string; actor: string | null }[]
    ).filter((e) => e.file === file);
    const types = events.map((e) => e.type);
    for (const t of ['requested', 'approved', 'granted', 'revoked']) expect(types).toContain(t);
    expect(events.find((e) => e.type === 'approved')?.actor).toBe('carol');
    expect(events.find((e) => e.type === 'revoked')).toMatchObject({ reason: 'expired' });
  }, 120_000);
});
