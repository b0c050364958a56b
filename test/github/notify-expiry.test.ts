// `timebox serve` tells the channels about a request to its end (issue 17): through the real server against
// the fake GitHub and a real PostgreSQL, with an injected clock, a granted request gets its reminder and, at
// expiry, its role dropped and its file removed by a merged revert pull request; the signed webhook receives
// `granted`, `reminder` and `expired` under the request's one key. A second receiver is down the whole time:
// the revocation and the removal happen regardless (asserted by their effects, while it has still accepted
// nothing), and it is retried, logged.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { type RunningServer, startServer } from '../../src/github/server.js';
import { type WebhookDelivery, WebhookReceiver } from '../doubles/webhook-receiver.js';
import {
  accessRepoRoot,
  ordersPolicy,
  qaOrganisation,
  registerTimeboxApp,
  serveOptions,
} from '../helpers/github.js';
import { createTestDatabase, dropRolesOf, query, type TestDatabase } from '../helpers/postgres.js';
import { git, ROOT } from '../helpers/repo.js';
import { AUDIT_YAML } from '../helpers/trust.js';

const REPO = 'acme/access';
const SECRET = 'notify-expiry-webhook-secret';
const APP_ID = 5253;
const HOOK_SECRET = 'expiry-receiver-secret';
const DOWN_SECRET = 'expiry-down-secret';
const FILE = 'requests/alice/notify-expiry.yaml';

let fake: FakeGitHub;
let db: TestDatabase;
let server: RunningServer | undefined;
let good: WebhookReceiver;
let down: WebhookReceiver;
const kept: string[] = [];
const logs: JsonObject[] = [];
/** The injected clock: real time plus an offset the test moves. */
let offset = 0;
const clock = () => new Date(Date.now() + offset);

beforeAll(async () => {
  db = await createTestDatabase();
  fake = await FakeGitHub.start();
  good = await new WebhookReceiver(HOOK_SECRET).start();
  down = await new WebhookReceiver(DOWN_SECRET).start();
  down.failFirst(Number.MAX_SAFE_INTEGER, 503);
  const privateKey = registerTimeboxApp(fake, APP_ID);
  const notify = [
    'notify:',
    `  - { channel: webhook, to: "${good.url}", resources: ["orders-*"], events: [granted, reminder, expired] }`,
    `  - { channel: webhook, to: "${down.url}", secret_env: TIMEBOX_DOWN_WEBHOOK_SECRET }`,
    '',
  ].join('\n');
  await fake.createRepo(REPO, {
    author: 'admin',
    files: {
      'timebox.yaml': `auto_merge: true\n${AUDIT_YAML}${notify}`,
      '.github/web-flow.gpg': fake.webFlowKey,
      'policies/qa.yaml': ordersPolicy(db.readRole),
      '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
    },
  });
  fake.install(REPO, APP_ID);
  qaOrganisation(fake, ['alice', 'carol']);
  const keys = mkdtempSync(join(tmpdir(), 'timebox-expiry-keys-'));
  kept.push(keys);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(keys, 'id')]);
  fake.setUserKeys('alice', [readFileSync(join(keys, 'id.pub'), 'utf8').trim()]);
  const stateDir = mkdtempSync(join(tmpdir(), 'timebox-expiry-state-'));
  kept.push(stateDir);
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  const fixture = { fake, appId: APP_ID, privateKey, secret: SECRET, repo: REPO, dbUrl: db.url };
  server = await startServer({
    // The handlers' results are what these tests read: a loaded machine must not turn a slow one into a 202.
    intake: { responseTimeoutMs: 120_000 },
    ...serveOptions(fixture, { now: clock, stateDir, log: pino({ level: 'info' }, sink) }),
    channels: {
      env: { TIMEBOX_WEBHOOK_SECRET: HOOK_SECRET, TIMEBOX_DOWN_WEBHOOK_SECRET: DOWN_SECRET },
      drainMs: 200,
    },
  });
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (fake && db) await dropRolesOf(db.url, accessRepoRoot(fake, REPO));
  await good?.stop();
  await down?.stop();
  await fake?.close();
  await db?.drop();
  for (const dir of kept) rmSync(dir, { recursive: true, force: true });
});

async function deliver(event: string, payload: JsonObject): Promise<void> {
  const d = await fake.deliver(`${server?.url}/api/github/webhooks`, event, payload, SECRET);
  // On failure, the server's last errors say why.
  const errors = logs.filter((l) => Number(l.level) >= 50).slice(-3);
  expect(d.status, `${d.body} ${JSON.stringify(errors)}`).toBe(200);
}

async function rolesFor(file: string): Promise<string[]> {
  const { rows } = await query(
    db.url,
    `SELECT rolname FROM pg_roles WHERE shobj_description(oid, 'pg_authid') LIKE $1 ORDER BY rolname`,
    [`%"file":"${file}"%`],
  );
  return rows.map((r) => String(r.rolname));
}

type Body = { event: string; key: string; resource: string; requester: string; title: string };
const bodyOf = (d: WebhookDelivery) => d.body as Body;
const eventOf = (event: string) => (d: WebhookDelivery) => d.status === 200 && bodyOf(d)?.event === event;

describe('timebox serve: a request’s end reaches the channels', () => {
  it('granted, reminder and expired under one key; a channel that is down delays neither revocation nor removal', async () => {
    const branch = 'access/alice-expiry';
    await fake.commit(REPO, {
      branch,
      author: 'alice',
      files: {
        [FILE]:
          'requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: BUG-78 totals\n',
      },
    });
    const pull = await fake.openPull({ repo: REPO, head: branch, user: 'alice', title: 'Access for alice' });
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
    const merged = await fake.pull(REPO, pull);
    expect(merged.merged).toBe(true);
    await deliver('push', await fake.webhookPayload('push', { repo: REPO, branch: 'main' }));
    await server?.keeper.idle();
    const key = `${REPO}#${pull}:${FILE}`;
    expect(bodyOf(await good.next(eventOf('granted')))).toMatchObject({ key, resource: 'orders-db' });
    expect(await rolesFor(FILE)).toHaveLength(1);

    const message = git(fake.gitDir(REPO), 'log', '-1', '--format=%B', String(merged.merge_commit_sha));
    const expiresAt = Date.parse(String(/Timebox-Expires: (\S+)/.exec(message)?.[1]));
    expect(Number.isFinite(expiresAt)).toBe(true);

    // The reminder, 14 minutes before the end.
    offset = expiresAt - 14 * 60_000 - Date.now();
    server?.keeper.tick();
    await server?.keeper.idle();
    expect(bodyOf(await good.next(eventOf('reminder')))).toMatchObject({ key });

    // Expiry: revoked and removed while the other receiver has accepted nothing at all.
    const due = server?.keeper.scheduler.scheduled().find((s) => s.file === FILE)?.at ?? Number.NaN;
    offset = due + 100 - Date.now();
    server?.keeper.tick();
    await server?.keeper.idle();
    expect(await rolesFor(FILE)).toEqual([]);
    expect(git(fake.gitDir(REPO), 'ls-tree', '-r', '--name-only', 'main')).not.toContain(FILE);
    expect(down.deliveries.filter((d) => d.status === 200)).toEqual([]);

    const expired = bodyOf(await good.next(eventOf('expired')));
    expect(expired).toMatchObject({
      key,
      resource: 'orders-db',
      requester: 'alice',
      title: 'Access expired: alice → orders-db (read-only)',
    });
    const ok = good.deliveries.filter((d) => d.status === 200);
    expect(ok.map((d) => bodyOf(d).event)).toEqual(['granted', 'reminder', 'expired']);
    expect(good.deliveries.every((d) => d.signed)).toBe(true);
    expect(good.schemaErrors).toEqual([]);
    expect(
      logs.some((l) => l.msg === 'notification failed; will retry' && l.channel === `webhook:${down.url}`),
    ).toBe(true);
  });
});
