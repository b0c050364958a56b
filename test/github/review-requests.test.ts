// `timebox serve` asks GitHub for reviews (SPEC "Notifications and on-call"): a pending request PR carries
// review requests for exactly who can fill its next unmet step, updated as steps fill; a redelivered event makes
// no request. The real Probot server, signed webhooks, and the GitHub double (every exchange validated).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import type { RunningServer } from '../../src/github/server.js';
import { registerTimeboxApp, requestYaml } from '../helpers/github.js';
import { ROOT, tempDir } from '../helpers/repo.js';
import { approvalPayload, noDatabaseOptions, startTestServer } from '../helpers/serve.js';

const REPO = 'acme/access';
const SECRET = 'webhook-secret-for-tests';
const APP_ID = 4343;
const POLICY = `resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [orders_read], read_only: true }
rules:
  - name: two-steps
    requesters: ["@acme/qa"]
    resources: [orders-db]
    roles: [read-only]
    max_duration: 4h
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
      - { from: ["@acme/dba", erin], count: 1 }
`;

let fake: FakeGitHub;
let server: RunningServer;
let webhookUrl: string;

beforeAll(async () => {
  fake = await FakeGitHub.start();
  const privateKey = registerTimeboxApp(fake, APP_ID);
  await fake.createRepo(REPO, {
    author: 'admin',
    files: {
      'policies/access.yaml': POLICY,
      '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
    },
  });
  fake.install(REPO, APP_ID);
  fake.setTeam('@acme/qa', ['alice']);
  // The requester leads QA too; mallory may only read; a bot is in the team: only carol may be asked.
  fake.setTeam('@acme/qa-leads', ['carol', 'alice', 'mallory', 'ci-helper[bot]']);
  fake.setTeam('@acme/dba', ['dave', 'frank']);
  for (const login of ['alice', 'carol', 'dave', 'erin', 'frank', 'ci-helper[bot]'])
    fake.setPermission(login, 'write');
  fake.setPermission('mallory', 'read');
  // Each delivery is answered when its check is done (startTestServer), so the review requests can be read as
  // soon as the delivery returns.
  server = await startTestServer(
    noDatabaseOptions(
      fake,
      { appId: APP_ID, privateKey, secret: SECRET },
      {
        now: () => new Date('2026-01-07T10:00:00Z'),
        stateDir: tempDir('timebox-review-requests-'),
        log: pino({ level: 'silent' }),
      },
    ),
  );
  webhookUrl = `${server.url}/api/github/webhooks`;
}, 60_000);

afterAll(async () => {
  await server?.close();
  await fake?.close();
});

async function deliver(event: string, payload: JsonObject) {
  const d = await fake.deliver(webhookUrl, event, payload, SECRET);
  expect(d.status, d.body).toBe(200);
}

async function requested(pull: number) {
  const p = await fake.pull(REPO, pull);
  return {
    users: (p.requested_reviewers as JsonObject[]).map((u) => String(u.login)).sort(),
    teams: (p.requested_teams as JsonObject[]).map((t) => String(t.slug)).sort(),
  };
}

/** Timebox's writes to the review requests so far. */
const requestWrites = () =>
  fake.requests.filter((r) => r.url.includes('/requested_reviewers') && r.method !== 'GET');

async function conclusion(pull: number): Promise<unknown> {
  const head = String(((await fake.pull(REPO, pull)).head as JsonObject).sha);
  return fake.checkRuns.filter((r) => r.head_sha === head && r.name === 'timebox').at(-1)?.conclusion;
}

describe('timebox serve: review requests', () => {
  it('asks exactly who can fill the next unmet step, moves on as steps fill, and a redelivery asks nothing', async () => {
    // alice asks; frank (a DBA) pushes a commit to her branch, so his approval would never count.
    await fake.commit(REPO, {
      branch: 'access/alice',
      files: { 'requests/alice/orders.yaml': requestYaml('alice') },
      author: 'alice',
    });
    const pull = await fake.openPull({ repo: REPO, head: 'access/alice', user: 'alice', title: 'Orders' });
    await deliver(
      'pull_request',
      await fake.webhookPayload('pull_request', 'opened', { repo: REPO, pull, sender: 'alice' }),
    );
    // The first step: carol alone (not the team, which holds the requester, a reader and a bot).
    expect(await requested(pull)).toEqual({ users: ['carol'], teams: [] });

    await fake.commit(REPO, {
      branch: 'access/alice',
      files: { 'requests/alice/orders.yaml': requestYaml('alice', 'ticket: OPS-1\n') },
      author: 'frank',
    });
    await deliver(
      'pull_request',
      await fake.webhookPayload('pull_request', 'synchronize', { repo: REPO, pull, sender: 'frank' }),
    );
    expect(await requested(pull)).toEqual({ users: ['carol'], teams: [] });

    // carol approves: the first step is filled, GitHub drops her request, and the second step is asked — dave
    // and erin, one by one: the @acme/dba team holds frank, who pushed.
    const submitted = await approvalPayload(fake, REPO, pull, 'carol');
    await deliver('pull_request_review', submitted);
    expect(await conclusion(pull)).toBe('action_required');
    expect(await requested(pull)).toEqual({ users: ['dave', 'erin'], teams: [] });

    // The same event again (GitHub's redelivery): no request is made or withdrawn.
    const writes = requestWrites().length;
    await deliver('pull_request_review', submitted);
    expect(requestWrites().length).toBe(writes);
    expect(await requested(pull)).toEqual({ users: ['dave', 'erin'], teams: [] });

    // erin approves: approved; dave's request, no longer needed, is withdrawn.
    await deliver('pull_request_review', await approvalPayload(fake, REPO, pull, 'erin'));
    expect(await conclusion(pull)).toBe('success');
    expect(await requested(pull)).toEqual({ users: [], teams: [] });
    expect(requestWrites().at(-1)).toMatchObject({
      method: 'DELETE',
      body: { reviewers: ['dave'], team_reviewers: [] },
    });
    // Never the requester, the pusher, the reader or the bot, at any point.
    const asked = requestWrites()
      .filter((r) => r.method === 'POST')
      .flatMap((r) => (r.body as { reviewers: string[] }).reviewers);
    expect(asked.sort()).toEqual(['carol', 'dave', 'erin']);
    fake.assertClean();
  }, 300_000);

  it('asks a team as a team when all of it could count', async () => {
    fake.setTeam('@acme/qa-leads', ['carol', 'alice']);
    try {
      await fake.commit(REPO, {
        branch: 'access/alice-2',
        files: { 'requests/alice/customers.yaml': requestYaml('alice') },
        author: 'alice',
      });
      const pull = await fake.openPull({ repo: REPO, head: 'access/alice-2', user: 'alice', title: 'Again' });
      await deliver(
        'pull_request',
        await fake.webhookPayload('pull_request', 'opened', { repo: REPO, pull, sender: 'alice' }),
      );
      expect(await requested(pull)).toEqual({ users: [], teams: ['qa-leads'] });
      fake.assertClean();
    } finally {
      fake.setTeam('@acme/qa-leads', ['carol', 'alice', 'mallory', 'ci-helper[bot]']);
    }
  }, 300_000);
});
