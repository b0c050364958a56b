// The `timebox / policy change` check of `timebox serve`, against the GitHub double (real git underneath,
// fetched over smart HTTP into the server's mirror): a request merged by Timebox (auto_merge, with its
// trailers on a web-flow-signed merge) and open request pull requests are replayed under a policy pull
// request's base and head. Tightening a rule shows the past request and the open ones it would now deny;
// a change that moves no decision says so; a re-push replays again; a request pull request gets no such
// check; file names with HTML and Markdown are shown as text.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timeFetches } from '../../bench/webhook-api.js';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { type RunningServer, startServer } from '../../src/github/server.js';
import {
  ordersPolicy,
  qaOrganisation,
  registerTimeboxApp,
  serveOptions,
  silentLog,
} from '../helpers/github.js';
import { AUDIT_YAML } from '../helpers/trust.js';

const REPO = 'acme/access';
const SECRET = 'whatif-webhook-secret';
const APP_ID = 6161;
const NAME = 'timebox / policy change';
/** A file name a requester chose: HTML and Markdown that must reach the check run as text. */
const EVIL = 'requests/erin/<img src=x onerror=alert(1)> [click](javascript:alert(1)) **b**.yaml';

let fake: FakeGitHub;
let server: RunningServer;
let stateDir: string;
let n = 0;

const request = (requester: string, duration: string) =>
  `requester: ${requester}\nresource: orders-db\nrole: read-only\nduration: ${duration}\nreason: Reproduce BUG-1234, EU order totals off by VAT\n`;
const policy = (max: string) =>
  ordersPolicy('orders_read').replace('max_duration: 4h', `max_duration: ${max}`);

beforeAll(async () => {
  fake = await FakeGitHub.start();
  const privateKey = registerTimeboxApp(fake, APP_ID);
  await fake.createRepo(REPO, {
    author: 'admin',
    files: {
      'timebox.yaml': `auto_merge: true\n${AUDIT_YAML}`,
      '.github/web-flow.gpg': fake.webFlowKey,
      'policies/qa.yaml': policy('4h'),
    },
  });
  fake.install(REPO, APP_ID);
  qaOrganisation(fake, ['alice', 'bob', 'carol', 'erin', 'admin']);
  stateDir = mkdtempSync(join(tmpdir(), 'timebox-whatif-state-'));
  const fixture = { fake, appId: APP_ID, privateKey, secret: SECRET, repo: REPO, dbUrl: 'postgres://unused' };
  server = await startServer({
    // The handlers' results are what these tests read: a loaded machine must not turn a slow one into a 202.
    intake: { responseTimeoutMs: 120_000 },
    ...serveOptions(fixture, { now: () => new Date(), stateDir, log: silentLog() }),
  });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await fake?.close();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

async function deliver(event: string, payload: JsonObject): Promise<void> {
  const d = await fake.deliver(`${server.url}/api/github/webhooks`, event, payload, SECRET);
  expect(d.status, d.body).toBe(200);
}

async function open(user: string, files: Record<string, string>): Promise<{ pull: number; head: string }> {
  n += 1;
  const branch = `change/${user}-${n}`;
  await fake.commit(REPO, { branch, files, author: user });
  const pull = await fake.openPull({ repo: REPO, head: branch, user });
  await deliver(
    'pull_request',
    await fake.webhookPayload('pull_request', 'opened', { repo: REPO, pull, sender: user }),
  );
  return { pull, head: await headOf(pull) };
}

const headOf = async (pull: number) => String(((await fake.pull(REPO, pull)).head as JsonObject).sha);
const runsOn = (head: string, name = NAME) =>
  fake.checkRuns.filter((r) => r.head_sha === head && r.name === name);
const output = (run: JsonObject | undefined) => (run?.output ?? {}) as { title?: string; summary?: string };

describe('the policy-change check in the App', () => {
  it('a tightened rule: the merged request and the open ones it would now deny, with reasons', async () => {
    // History: alice's 3h read, approved by a lead and merged by Timebox (trailers on its own merge).
    const merged = await open('alice', { 'requests/alice/long.yaml': request('alice', '3h') });
    const review = await fake.review({ repo: REPO, pull: merged.pull, user: 'carol', state: 'APPROVED' });
    await deliver(
      'pull_request_review',
      await fake.webhookPayload('pull_request_review', 'submitted', {
        repo: REPO,
        pull: merged.pull,
        sender: 'carol',
        review,
      }),
    );
    expect((await fake.pull(REPO, merged.pull)).merged).toBe(true);
    // A request pull request gets the `timebox` check and no policy-change check.
    expect(runsOn(merged.head, 'timebox').length).toBeGreaterThan(0);
    expect(runsOn(merged.head)).toEqual([]);
    // Open requests, waiting for their approval: bob's, and one whose file name is HTML and Markdown (and
    // below, bob's 1h request, pending under both).
    await open('bob', { 'requests/bob/open.yaml': request('bob', '3h') });
    await open('erin', { [EVIL]: request('erin', '3h') });

    const counted = timeFetches(fake.url);
    const requestPull = await open('bob', { 'requests/bob/counted.yaml': request('bob', '1h') }).finally(() =>
      counted.restore(),
    );
    const onRequest = counted.take().map((r) => `${r.method} ${r.path}`);
    const policyCounted = timeFetches(fake.url);
    const tight = await open('admin', { 'policies/qa.yaml': policy('2h') }).finally(() =>
      policyCounted.restore(),
    );
    const onPolicy = policyCounted.take().map((r) => `${r.method} ${r.path}`);
    // A request pull request costs the policy-change check nothing: no list of open pull requests, one check run.
    expect(onRequest.filter((l) => l.includes('/pulls?'))).toEqual([]);
    expect(onRequest.filter((l) => l.startsWith('POST') && l.includes('/check-runs'))).toHaveLength(1);
    expect(runsOn(requestPull.head)).toEqual([]);
    // A policy pull request: after the `timebox` check and its comment, five requests (read again, the open pull
    // requests, the two teams the rule names, the check run); the commits come over git, into the mirror.
    const comment = onPolicy.indexOf(`POST /repos/${REPO}/issues/${tight.pull}/comments`);
    expect(comment).toBeGreaterThan(-1);
    expect(onPolicy.slice(comment + 1).sort()).toEqual([
      `GET /orgs/acme/teams/qa-leads/members?per_page=100`,
      `GET /orgs/acme/teams/qa/members?per_page=100`,
      `GET /repos/${REPO}/pulls/${tight.pull}`,
      `GET /repos/${REPO}/pulls?state=open&base=main&per_page=100`,
      `POST /repos/${REPO}/check-runs`,
    ]);
    const [run, ...more] = runsOn(tight.head);
    expect(more).toEqual([]);
    expect(run?.conclusion).toBe('neutral');
    const { title, summary = '' } = output(run);
    expect(title).toBe('1 past request would now be denied, 2 open requests become denied');
    expect(summary).toContain(`**${title}**`);
    expect(summary).toMatch(
      /\*\*approved → denied\*\* · requests\/alice\/long\\\.yaml · merged in [0-9a-f]{7}/,
    );
    expect(summary).toMatch(/\*\*pending → denied\*\* · requests\/bob\/open\\\.yaml · open in #\d+/);
    expect(summary).toContain('qa\\-read: ');
    expect(summary).toContain('2h');
    // The file name is text: no tag, no link, no emphasis reaches the Markdown renderer.
    expect(summary).not.toContain('<img');
    expect(summary).not.toContain('](');
    expect(summary).not.toContain('**b**');
    expect(summary).toContain(
      '&lt;img src=x onerror=alert\\(1\\)&gt; \\[click\\]\\(javascript:alert\\(1\\)\\) \\*\\*b\\*\\*',
    );

    // Re-pushed: the rule loosened again (5h); the new head is replayed, and nothing would change.
    await fake.commit(REPO, {
      branch: `change/admin-${n}`,
      files: { 'policies/qa.yaml': policy('5h') },
      author: 'admin',
    });
    await deliver(
      'pull_request',
      await fake.webhookPayload('pull_request', 'synchronize', {
        repo: REPO,
        pull: tight.pull,
        sender: 'admin',
      }),
    );
    const [again] = runsOn(await headOf(tight.pull));
    expect(output(again).title).toBe('No decision changes (1 past request and 3 open requests replayed)');
    expect(again?.conclusion).toBe('neutral');
  }, 120_000);

  it('a change that moves no decision says so', async () => {
    // Another description: every rule covers what it covered, with the same limits.
    const same = policy('4h').replace('rules:', '# reviewed 2026\nrules:');
    const { head } = await open('admin', { 'policies/qa.yaml': same });
    const [run] = runsOn(head);
    expect(output(run).title).toBe('No decision changes (1 past request and 3 open requests replayed)');
    expect(output(run).summary).toContain('4 decisions are unchanged');
  }, 60_000);

  it('retargeted to another base branch: replayed again against that branch and its open pull requests', async () => {
    await fake.commit(REPO, { branch: 'release', files: { 'README.md': 'release line\n' }, author: 'admin' });
    const { pull, head } = await open('admin', { 'policies/qa.yaml': policy('2h') });
    expect(output(runsOn(head)[0]).title).toBe(
      '1 past request would now be denied, 2 open requests become denied',
    );
    // An edit of the title alone replays nothing.
    fake.editPull(REPO, pull, { title: 'Shorter reads' });
    await deliver(
      'pull_request',
      await fake.webhookPayload('pull_request', 'edited', { repo: REPO, pull, sender: 'admin' }),
    );
    expect(runsOn(head)).toHaveLength(1);
    fake.editPull(REPO, pull, { base: 'release' });
    await deliver(
      'pull_request',
      await fake.webhookPayload('pull_request', 'edited', { repo: REPO, pull, sender: 'admin' }),
    );
    const runs = runsOn(head);
    expect(runs).toHaveLength(2);
    // The release branch holds alice's merged request and no open request pull request.
    expect(output(runs[1]).title).toBe('1 past request would now be denied');
  }, 60_000);

  it('proposed policies that do not load: said, nothing replayed, still neutral', async () => {
    const { head } = await open('admin', { 'policies/qa.yaml': 'rules: [' });
    const [run] = runsOn(head);
    expect(run?.conclusion).toBe('neutral');
    expect(output(run).title).toBe('The proposed policies are invalid');
    expect(output(run).summary).toContain('policies/qa\\.yaml line');
  }, 60_000);
});
