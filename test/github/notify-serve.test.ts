// `timebox serve` routes a repository's notices by that repository's timebox.yaml `notify:` (issue 17, item 2):
// through the real server against the fake GitHub and a real PostgreSQL, a request is opened, approved, merged
// and granted, and a signed-webhook receiver gets `opened`, `approved` and `granted`, each correctly signed and
// matching the documented body schema. A second receiver that fails every delivery holds up neither the check
// run nor the grant: when the credentials are on the pull request it has still seen only its first attempt at
// `opened` (its queue waits out the backoff), asserted by the order of events, not by timing.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { type RunningServer, startServer } from '../../src/github/server.js';
import { WebhookReceiver } from '../doubles/webhook-receiver.js';
import {
  accessRepoRoot,
  ordersPolicy,
  qaOrganisation,
  registerTimeboxApp,
  serveOptions,
} from '../helpers/github.js';
import { createTestDatabase, dropRolesOf, type TestDatabase } from '../helpers/postgres.js';
import { ROOT } from '../helpers/repo.js';
import { AUDIT_YAML } from '../helpers/trust.js';

const REPO = 'acme/access';
const SECRET = 'notify-serve-webhook-secret';
const APP_ID = 5252;
const HOOK_SECRET = 'receiver-shared-secret';
const DOWN_SECRET = 'down-receiver-secret';

let fake: FakeGitHub;
let db: TestDatabase;
let server: RunningServer | undefined;
let good: WebhookReceiver;
let down: WebhookReceiver;
const kept: string[] = [];
const logs: JsonObject[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  fake = await FakeGitHub.start();
  good = await new WebhookReceiver(HOOK_SECRET).start();
  down = await new WebhookReceiver(DOWN_SECRET).start();
  // Down for good: every attempt fails, and it asks for an hour before the next (capped at the router's 5 min).
  down.failFirst(Number.MAX_SAFE_INTEGER, 503, 3600);
  const privateKey = registerTimeboxApp(fake, APP_ID);
  const notify = [
    'notify:',
    `  - { channel: webhook, to: "${good.url}", resources: ["*-db"], events: [opened, approved, granted, expired] }`,
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
  const keys = mkdtempSync(join(tmpdir(), 'timebox-notify-keys-'));
  kept.push(keys);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(keys, 'id')]);
  fake.setUserKeys('alice', [readFileSync(join(keys, 'id.pub'), 'utf8').trim()]);
  const stateDir = mkdtempSync(join(tmpdir(), 'timebox-notify-state-'));
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
    ...serveOptions(fixture, { now: () => new Date(), stateDir, log: pino({ level: 'info' }, sink) }),
    // What `timebox serve` passes (src/cli/serve.ts): the environment, where the webhook secrets are.
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
  expect(d.status, d.body).toBe(200);
}

type Body = { event: string; key: string; resource: string; requester: string; title: string; text: string };
const bodyOf = (d: { body: unknown }) => d.body as Body;
const eventOf = (event: string) => (d: { body: unknown; status: number }) =>
  d.status === 200 && bodyOf(d)?.event === event;

describe('timebox serve: notices routed by the repository’s notify:', () => {
  it('opened, approved and granted reach the signed webhook; a receiver that is down delays nothing', async () => {
    const file = 'requests/alice/orders-notify.yaml';
    const branch = 'access/alice-notify';
    await fake.commit(REPO, {
      branch,
      author: 'alice',
      files: {
        [file]:
          'requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: BUG-77 totals\n',
      },
    });
    const pull = await fake.openPull({ repo: REPO, head: branch, user: 'alice', title: 'Access for alice' });
    await deliver(
      'pull_request',
      await fake.webhookPayload('pull_request', 'opened', { repo: REPO, pull, sender: 'alice' }),
    );
    const head = ((await fake.pull(REPO, pull)).head as { sha: string }).sha;
    const opened = await good.next(eventOf('opened'));
    expect(bodyOf(opened)).toMatchObject({
      requester: 'alice',
      resource: 'orders-db',
      key: `${REPO}#${pull}:${file}`,
    });

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
    expect((await fake.pull(REPO, pull)).merged).toBe(true);
    await good.next(eventOf('approved'));

    await deliver('push', await fake.webhookPayload('push', { repo: REPO, branch: 'main' }));
    await server?.keeper.idle();
    const granted = await good.next(eventOf('granted'));
    expect(bodyOf(granted).title).toBe(`Access granted: alice → orders-db (read-only)`);

    // The check run and the grant happened while the receiver that is down was still waiting out the backoff
    // after its first attempt at `opened`: `approved` and `granted` are queued behind it, not in the way.
    const runs = fake.checkRuns.filter((r) => r.head_sha === head && r.name === 'timebox');
    expect(runs.map((r) => r.status)).toContain('completed');
    const credentials = fake.comments.filter((c) => String(c.body).includes('timebox:credentials'));
    expect(credentials).toHaveLength(1);
    expect(down.deliveries.map((d) => [bodyOf(d).event, d.status, d.signed])).toEqual([
      ['opened', 503, true],
    ]);
    expect(
      logs.some(
        (l) =>
          l.msg === 'notification failed; will retry' &&
          l.channel === `webhook:${down.url}` &&
          l.event === 'opened' &&
          l.attempt === 1,
      ),
    ).toBe(true);

    // Exactly once each, in order, every one signed with the shared secret and matching the documented schema.
    const ok = good.deliveries.filter((d) => d.status === 200);
    expect(ok.map((d) => bodyOf(d).event)).toEqual(['opened', 'approved', 'granted']);
    expect(good.deliveries.every((d) => d.signed)).toBe(true);
    expect(good.schemaErrors).toEqual([]);
    // A channel is told the credentials exist, never given them.
    expect(ok.map((d) => d.raw).join('\n')).not.toMatch(/postgresql:\/\/|BEGIN AGE/);
  });
});
