// `timebox serve` end to end: the real Probot server, signed webhooks, and the fake GitHub (real git
// repositories, every request and response validated against GitHub's OpenAPI description). Happy
// path, the adversarial approval cases of SPEC "Decisions", webhook security and redelivery.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Octokit } from '@octokit/rest';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { signWebhook } from '../../src/forge/webhooks.js';
import type { RunningServer } from '../../src/github/server.js';
import { COMMENT_MARKER } from '../../src/report/pull-request.js';
import { MANIFEST, registerTimeboxApp, requestYaml } from '../helpers/github.js';
import { ROOT, run, tempDir } from '../helpers/repo.js';
import {
  approvalPayload,
  noDatabaseOptions,
  startTestServer,
  unloggedCommit as unloggedCommitOn,
} from '../helpers/serve.js';
import { AUDIT_YAML } from '../helpers/trust.js';

const REPO = 'acme/access';
const AUTO = 'acme/auto';
const SECRET = 'webhook-secret-for-tests';
const AT = '2026-01-07T10:00:00Z';
const APP_ID = 4242;

let fake: FakeGitHub;
let server: RunningServer;
let webhookUrl: string;
const logLines: JsonObject[] = [];
let branchCounter = 0;

beforeAll(async () => {
  fake = await FakeGitHub.start();
  const privateKeyPem = registerTimeboxApp(fake, APP_ID);
  await fake.createRepo(REPO, {
    author: 'admin',
    files: {
      'policies/qa.yaml': readFileSync(join(ROOT, 'policies/qa.yaml'), 'utf8'),
      '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
    },
  });
  fake.install(REPO, APP_ID);
  // A second access repo with auto_merge, in the same installation (its tokens cover both).
  await fake.createRepo(AUTO, {
    author: 'admin',
    files: {
      'timebox.yaml': `auto_merge: true\n${AUDIT_YAML}`,
      '.github/web-flow.gpg': fake.webFlowKey,
      'policies/qa.yaml': readFileSync(join(ROOT, 'policies/qa.yaml'), 'utf8'),
      '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
    },
  });
  fake.install(AUTO, APP_ID);
  fake.setTeam('@acme/qa', ['alice', 'bob']);
  // alice leads QA too, so that her own approval would count if self-approval were not refused;
  // mallory is a lead with read access only; ci-helper[bot] is a bot in the team.
  fake.setTeam('@acme/qa-leads', ['carol', 'alice', 'mallory', 'ci-helper[bot]']);
  fake.setTeam('@acme/dba', ['dave']);
  fake.setTeam('@acme/security', ['sam']);
  for (const login of ['alice', 'bob', 'carol', 'dave', 'sam', 'ci-helper[bot]'])
    fake.setPermission(login, 'write');
  fake.setPermission('mallory', 'read');

  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
      done();
    },
  });
  privateKey = privateKeyPem;
  logSink = sink;
  server = await startApp();
  webhookUrl = `${server.url}/api/github/webhooks`;
}, 60_000);

let privateKey: string;
let logSink: Writable;

/** A `timebox serve` for the fake's App, with its own (new) state directory: a restart is another one of these. */
function startApp(): Promise<RunningServer> {
  return startTestServer(
    noDatabaseOptions(
      fake,
      { appId: APP_ID, privateKey, secret: SECRET },
      {
        now: () => new Date(AT),
        stateDir: tempDir('timebox-app-state-'),
        log: pino({ level: 'info' }, logSink),
      },
    ),
  );
}

afterAll(async () => {
  await server?.close();
  await fake?.close();
});

// ---- helpers -----------------------------------------------------------------------------------------------

async function openRequest(
  user: string,
  files: Record<string, string | null>,
  opts: { branch?: string; title?: string } = {},
): Promise<number> {
  branchCounter += 1;
  const branch = opts.branch ?? `access/${user}-${branchCounter}`;
  await fake.commit(REPO, { branch, files, author: user });
  const pull = await fake.openPull({
    repo: REPO,
    head: branch,
    user,
    title: opts.title ?? `Access for ${user}`,
  });
  await send('pull_request', 'opened', pull, user);
  return pull;
}

async function send(
  event: 'pull_request' | 'pull_request_review',
  action: string,
  pull: number,
  sender: string,
  review?: JsonObject,
  to = webhookUrl,
) {
  const payload = await fake.webhookPayload(event as 'pull_request', action as 'opened', {
    repo: REPO,
    pull,
    sender,
    ...(review ? { review } : {}),
  });
  const d = await fake.deliver(to, event, payload, SECRET);
  expect(d.status, d.body).toBe(200);
  return d;
}

async function approve(
  pull: number,
  user: string,
  state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' = 'APPROVED',
  to = webhookUrl,
) {
  const review = await fake.review({ repo: REPO, pull, user, state });
  await send('pull_request_review', 'submitted', pull, user, review, to);
  return review;
}

/** `branch` moved to a new commit that GitHub's activity log does not show; the old and the new head. */
const unloggedCommit = (branch: string) => unloggedCommitOn(fake, REPO, branch);

async function headOf(pull: number): Promise<string> {
  return String(((await fake.pull(REPO, pull)).head as JsonObject).sha);
}

/** The newest `timebox` check run on the pull request's current head. */
async function latestRun(pull: number): Promise<JsonObject> {
  const head = await headOf(pull);
  const runs = fake.checkRuns.filter((r) => r.head_sha === head && r.name === 'timebox');
  const run = runs[runs.length - 1];
  if (!run) throw new Error(`no timebox check run on ${head}`);
  return run;
}

function timeboxComments(pull: number): JsonObject[] {
  return fake.comments.filter(
    (c) =>
      String(c.issue_url).endsWith(`/issues/${pull}`) &&
      (c.user as JsonObject).login === 'timebox[bot]' &&
      String(c.body).startsWith(COMMENT_MARKER),
  );
}

function commentOf(pull: number): string {
  const mine = timeboxComments(pull);
  expect(mine).toHaveLength(1);
  return String(mine[0]?.body);
}

// ---- the review side ----------------------------------------------------------------------------------------

describe('timebox serve: pull request checks', () => {
  it('a new request is pending with the exact preview; the right approval makes it green, in place', async () => {
    const pull = await openRequest('alice', { 'requests/alice/orders.yaml': requestYaml('alice') });
    let run = await latestRun(pull);
    expect(run.conclusion).toBe('action_required');
    const first = commentOf(pull);
    const firstId = timeboxComments(pull)[0]?.id;
    expect(first).toContain('⏳ pending: `requests/alice/orders.yaml`');
    expect(first).toMatch(/\| 1 ⏳ \| 1 of @acme\/qa-leads \| — \| .*@carol/);
    expect(first).toContain('CREATE ROLE');
    expect(first).toContain("PASSWORD '********'");
    expect(first).toContain("VALID UNTIL '2026-01-07T12:00:00.000Z'");

    await approve(pull, 'carol');
    run = await latestRun(pull);
    expect(run.conclusion).toBe('success');
    const second = commentOf(pull);
    expect(second).toContain('✅ approved');
    expect(second).toContain('| 1 ✅ | 1 of @acme/qa-leads | @carol |');
    expect(timeboxComments(pull)[0]?.id).toBe(firstId);
    fake.assertClean();
  });

  it("the requester's own approval does not count, even as a member of the approving team", async () => {
    const pull = await openRequest('alice', { 'requests/alice/self.yaml': requestYaml('alice') });
    await approve(pull, 'alice');
    expect((await latestRun(pull)).conclusion).toBe('action_required');
    expect(commentOf(pull)).toMatch(/not counted: @alice cannot approve their own request/);
  });

  it('an approval by a team member without write access does not count (checked live)', async () => {
    const pull = await openRequest('alice', { 'requests/alice/mallory.yaml': requestYaml('alice') });
    await approve(pull, 'mallory');
    expect((await latestRun(pull)).conclusion).toBe('action_required');
    expect(commentOf(pull)).toMatch(/not counted: @mallory .*write/);
    // Given write access, the same review counts on the next event: permissions are read live.
    fake.setPermission('mallory', 'write');
    try {
      await send('pull_request', 'edited', pull, 'alice');
      expect((await latestRun(pull)).conclusion).toBe('success');
    } finally {
      fake.setPermission('mallory', 'read');
    }
  });

  it("a bot's approval does not count", async () => {
    const pull = await openRequest('alice', { 'requests/alice/bot.yaml': requestYaml('alice') });
    await approve(pull, 'ci-helper[bot]');
    expect((await latestRun(pull)).conclusion).toBe('action_required');
    expect(commentOf(pull)).toMatch(/not counted: ci\\-helper\\\[bot\\\] is a bot/);
  });

  it('an approval of an older commit goes stale when a commit is pushed', async () => {
    const branch = `access/stale-${++branchCounter}`;
    const pull = await openRequest(
      'alice',
      { 'requests/alice/stale.yaml': requestYaml('alice') },
      { branch },
    );
    await approve(pull, 'carol');
    expect((await latestRun(pull)).conclusion).toBe('success');
    await fake.commit(REPO, {
      branch,
      files: { 'requests/alice/stale.yaml': requestYaml('alice').replace('2h', '4h') },
      author: 'alice',
    });
    await send('pull_request', 'synchronize', pull, 'alice');
    expect((await latestRun(pull)).conclusion).toBe('action_required');
    expect(commentOf(pull)).toMatch(/not counted: @carol .*(older|stale|commit)/);
  });

  it('approving and then requesting changes withdraws the approval', async () => {
    const pull = await openRequest('alice', { 'requests/alice/changes.yaml': requestYaml('alice') });
    await approve(pull, 'carol');
    expect((await latestRun(pull)).conclusion).toBe('success');
    await approve(pull, 'carol', 'CHANGES_REQUESTED');
    expect((await latestRun(pull)).conclusion).toBe('action_required');
  });

  it('someone who pushed a commit to the pull request cannot approve it', async () => {
    const branch = `access/pusher-${++branchCounter}`;
    const pull = await openRequest(
      'alice',
      { 'requests/alice/pusher.yaml': requestYaml('alice') },
      { branch },
    );
    await fake.commit(REPO, {
      branch,
      files: { 'requests/alice/pusher.yaml': requestYaml('alice', 'ticket: BUG-1234\n') },
      author: 'carol',
    });
    await send('pull_request', 'synchronize', pull, 'carol');
    await approve(pull, 'carol');
    expect((await latestRun(pull)).conclusion).toBe('action_required');
    expect(commentOf(pull)).toMatch(/not counted: @carol .*push/);
  });

  it('who pushed decides, not who a commit claims to be: a push as alice, or as nobody, still excludes the pusher', async () => {
    fake.setPermission('mallory', 'write');
    fake.linkEmail('alice', 'alice@acme.example');
    try {
      const claims = [
        { name: 'Alice', email: 'alice@acme.example' },
        { name: 'Nobody', email: 'nobody@unlinked.example' },
      ];
      for (const claim of claims) {
        const branch = `access/claim-${++branchCounter}`;
        const file = `requests/bob/claim-${branchCounter}.yaml`;
        const pull = await openRequest('bob', { [file]: requestYaml('bob') }, { branch });
        // mallory pushes to bob's request, as author and committer claiming someone else.
        await fake.commit(REPO, {
          branch,
          files: { [file]: requestYaml('bob', 'ticket: BUG-1234\n') },
          author: claim,
          pusher: 'mallory',
        });
        const commits = await fake.pull(REPO, pull);
        expect(commits.commits).toBe(2);
        await send('pull_request', 'synchronize', pull, 'mallory');
        await approve(pull, 'mallory');
        expect((await latestRun(pull)).conclusion).toBe('action_required');
        expect(commentOf(pull)).toMatch(/not counted: @mallory pushed to this pull request/);
      }
      // Where she did not push, the same approval counts: the push is what excluded her.
      const clean = await openRequest('bob', { 'requests/bob/clean.yaml': requestYaml('bob') });
      await approve(clean, 'mallory');
      expect((await latestRun(clean)).conclusion).toBe('success');
    } finally {
      fake.setPermission('mallory', 'read');
    }
  });

  it('whoever pushed the branch before the pull request was opened pushed to it', async () => {
    fake.setPermission('mallory', 'write');
    try {
      const branch = `access/prepared-${++branchCounter}`;
      // mallory prepares bob's request with bob as the commit's author; bob opens the pull request.
      await fake.commit(REPO, {
        branch,
        files: { 'requests/bob/prepared.yaml': requestYaml('bob') },
        author: 'bob',
        pusher: 'mallory',
      });
      const pull = await fake.openPull({ repo: REPO, head: branch, user: 'bob' });
      await send('pull_request', 'opened', pull, 'bob');
      await approve(pull, 'mallory');
      expect((await latestRun(pull)).conclusion).toBe('action_required');
      expect(commentOf(pull)).toMatch(/not counted: @mallory pushed to this pull request/);
    } finally {
      fake.setPermission('mallory', 'read');
    }
  });

  it('a push whose webhook never arrived still counts its pusher (GitHub’s log, not deliveries)', async () => {
    const branch = `access/silent-${++branchCounter}`;
    const pull = await openRequest(
      'alice',
      { 'requests/alice/silent.yaml': requestYaml('alice') },
      { branch },
    );
    await fake.commit(REPO, {
      branch,
      files: { 'requests/alice/silent.yaml': requestYaml('alice', 'ticket: BUG-1234\n') },
      author: 'alice',
      pusher: 'carol',
    });
    // No synchronize is delivered: the next event Timebox sees is carol's approval.
    await approve(pull, 'carol');
    expect((await latestRun(pull)).conclusion).toBe('action_required');
    expect(commentOf(pull)).toMatch(/not counted: @carol pushed to this pull request/);
  });

  it('a push GitHub’s log does not show leaves who pushed unknown: no approval counts, and the PR says why', async () => {
    const branch = `access/unlogged-${++branchCounter}`;
    const pull = await openRequest(
      'alice',
      { 'requests/alice/unlogged.yaml': requestYaml('alice') },
      { branch },
    );
    const { after } = unloggedCommit(branch);
    expect(await headOf(pull)).toBe(after);
    await approve(pull, 'carol');
    const run = await latestRun(pull);
    expect(run.conclusion).toBe('action_required');
    const comment = commentOf(pull);
    expect(comment).toMatch(
      /not counted: @carol cannot count while who pushed to this pull request is unknown/,
    );
    expect(comment).toContain(`no push of the head commit ${after.slice(0, 7)}`);
    expect(comment).toMatch(/open a new pull request/);
    expect(String((run.output as JsonObject).summary)).toContain(
      'who pushed to this pull request is unknown',
    );
  });

  it('the push a synchronize reports bridges a log that does not show it yet', async () => {
    const branch = `access/lagging-${++branchCounter}`;
    const pull = await openRequest(
      'alice',
      { 'requests/alice/lagging.yaml': requestYaml('alice') },
      { branch },
    );
    const { before } = unloggedCommit(branch);
    const payload = await fake.webhookPayload('pull_request', 'synchronize', {
      repo: REPO,
      pull,
      sender: 'mallory',
      before,
    });
    expect((await fake.deliver(webhookUrl, 'pull_request', payload, SECRET)).status).toBe(200);
    await approve(pull, 'mallory');
    await approve(pull, 'carol');
    expect((await latestRun(pull)).conclusion).toBe('success');
    expect(commentOf(pull)).toMatch(/not counted: @mallory pushed to this pull request/);
  });

  it('a push made with a bot’s token hides who is behind it: no approval counts', async () => {
    const branch = `access/bot-push-${++branchCounter}`;
    const pull = await openRequest(
      'alice',
      { 'requests/alice/bot-push.yaml': requestYaml('alice') },
      { branch },
    );
    await fake.commit(REPO, {
      branch,
      files: { 'requests/alice/bot-push.yaml': requestYaml('alice', 'ticket: BUG-1234\n') },
      author: 'alice',
      pusher: 'github-actions[bot]',
    });
    await send('pull_request', 'synchronize', pull, 'github-actions[bot]');
    await approve(pull, 'carol');
    expect((await latestRun(pull)).conclusion).toBe('action_required');
    expect(commentOf(pull)).toMatch(/by github\\-actions\\\[bot\\\], a bot/);
  });

  it('a pull request that changes policies and requests together is denied', async () => {
    const policy = readFileSync(join(ROOT, 'policies/qa.yaml'), 'utf8').replace(
      'max_duration: 4h',
      'max_duration: 99h',
    );
    const pull = await openRequest('alice', {
      'requests/alice/sneaky.yaml': requestYaml('alice'),
      'policies/qa.yaml': policy,
    });
    await approve(pull, 'carol');
    const run = await latestRun(pull);
    expect(run.conclusion).toBe('failure');
    expect(commentOf(pull)).toContain('timebox/separate\\-review');
    const annotations = fake.annotations.get(Number(run.id)) as JsonObject[];
    expect(annotations.map((a) => a.title)).toContain('denied by timebox/separate-review');
  });

  it('a pull request that edits CODEOWNERS to own its own request is denied, and the base CODEOWNERS rules', async () => {
    const owners = `${readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8')}/requests/ @alice\n`;
    const pull = await openRequest('alice', {
      'requests/alice/owner.yaml': requestYaml('alice'),
      '.github/CODEOWNERS': owners,
    });
    await approve(pull, 'carol');
    expect((await latestRun(pull)).conclusion).toBe('failure');
    expect(commentOf(pull)).toContain('\\.github/CODEOWNERS');
  });

  it('a team membership change between reviews is seen on the next event', async () => {
    const pull = await openRequest('alice', { 'requests/alice/team.yaml': requestYaml('alice') });
    await approve(pull, 'carol');
    expect((await latestRun(pull)).conclusion).toBe('success');
    fake.setTeam('@acme/qa-leads', ['alice', 'mallory', 'ci-helper[bot]']);
    try {
      await approve(pull, 'bob', 'COMMENTED');
      expect((await latestRun(pull)).conclusion).toBe('action_required');
      expect(commentOf(pull)).toContain('| 1 ⏳ |');
    } finally {
      fake.setTeam('@acme/qa-leads', ['carol', 'alice', 'mallory', 'ci-helper[bot]']);
    }
  });

  it('shell metacharacters in the branch name and title are only data', async () => {
    const marker = join(tempDir(), 'pwned');
    const branch = `access/$(touch\${IFS}${marker.replace(/\//g, '_')});\`id\`&&x|y`;
    const pull = await openRequest(
      'alice',
      { 'requests/alice/meta.yaml': requestYaml('alice') },
      { branch, title: `"; touch ${marker}; echo $(id) \`id\` <script>alert(1)</script>` },
    );
    expect((await latestRun(pull)).conclusion).toBe('action_required');
    expect(existsSync(marker)).toBe(false);
    expect(commentOf(pull)).not.toContain('<script>');
    fake.assertClean();
  });

  it('an invalid request fails with an annotation at its line; over 50 annotations go out in batches', async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 30; i++)
      many[`requests/alice/bad-${String(i).padStart(2, '0')}.yaml`] =
        'requester: alice\nresource: orders-db\nrole: read-only\nduration: forever\nreason: no\n';
    const pull = await openRequest('alice', many);
    const run = await latestRun(pull);
    expect(run.conclusion).toBe('failure');
    const annotations = fake.annotations.get(Number(run.id)) as JsonObject[];
    expect(annotations.length).toBeGreaterThan(50);
    const durationError = annotations.find(
      (a) => a.path === 'requests/alice/bad-00.yaml' && String(a.message).includes('duration'),
    );
    expect(durationError).toMatchObject({ start_line: 4, annotation_level: 'failure' });
    const patches = fake.requests.filter(
      (r) => r.method === 'PATCH' && r.url.includes(`/check-runs/${run.id}`),
    );
    expect(patches.length).toBe(Math.ceil(annotations.length / 50) - 1);
    fake.assertClean();
  });

  it('a redelivered or out-of-order delivery changes nothing', async () => {
    const pull = await openRequest('alice', { 'requests/alice/redeliver.yaml': requestYaml('alice') });
    const stale = await fake.webhookPayload('pull_request', 'opened', { repo: REPO, pull, sender: 'alice' });
    await approve(pull, 'carol');
    expect((await latestRun(pull)).conclusion).toBe('success');
    const before = fake.requests.filter(
      (r) => r.method === 'PATCH' && r.url.includes('/issues/comments/'),
    ).length;
    // The old "opened" event arrives late, twice: the state is re-read, so the answer stays the same.
    for (let i = 0; i < 2; i++)
      expect((await fake.deliver(webhookUrl, 'pull_request', stale, SECRET)).status).toBe(200);
    expect((await latestRun(pull)).conclusion).toBe('success');
    expect(timeboxComments(pull)).toHaveLength(1);
    const after = fake.requests.filter(
      (r) => r.method === 'PATCH' && r.url.includes('/issues/comments/'),
    ).length;
    expect(after).toBe(before);
  });

  it('a human comment carrying the marker is never edited by Timebox', async () => {
    branchCounter += 1;
    const branch = `access/hijack-${branchCounter}`;
    await fake.commit(REPO, {
      branch,
      files: { 'requests/alice/hijack.yaml': requestYaml('alice') },
      author: 'alice',
    });
    const pull = await fake.openPull({ repo: REPO, head: branch, user: 'alice' });
    const planted = fake.comment(REPO, pull, 'mallory', `${COMMENT_MARKER}\n✅ approved, merge away`);
    await send('pull_request', 'opened', pull, 'alice');
    expect(planted.body).toBe(`${COMMENT_MARKER}\n✅ approved, merge away`);
    expect(commentOf(pull)).toContain('⏳ pending');
  });

  it('a closed pull request is left alone', async () => {
    const pull = await openRequest('alice', { 'requests/alice/closed.yaml': requestYaml('alice') });
    const runs = fake.checkRuns.length;
    await fake.closePull(REPO, pull);
    await send('pull_request', 'edited', pull, 'alice');
    expect(fake.checkRuns.length).toBe(runs);
  });

  it('a pull request without request files passes', async () => {
    const pull = await openRequest('bob', { 'README.md': '# hello\n' });
    const run = await latestRun(pull);
    expect(run.conclusion).toBe('success');
    expect((run.output as JsonObject).title).toBe('No access request changed');
    expect(commentOf(pull)).toContain('changes no access request');
  });

  it('a pull request with more commits than GitHub lists counts no approval (pushers unknown)', async () => {
    // 251 commits by fast-import straight into the fake's bare repository, as a push would bring them.
    const branch = `access/long-${++branchCounter}`;
    const main = await fake.branchSha(REPO, 'main');
    const lines: string[] = [];
    for (let i = 1; i <= 251; i++) {
      const text = requestYaml('alice', `# revision ${i}\n`);
      lines.push(
        `commit refs/heads/${branch}`,
        `author alice <alice@users.noreply.github.com> ${1_767_780_000 + i} +0000`,
        `committer alice <alice@users.noreply.github.com> ${1_767_780_000 + i} +0000`,
        'data 4',
        `r${String(i % 1000).padStart(3, '0')}`.slice(0, 4),
        ...(i === 1 ? [`from ${main}`] : []),
        `M 100644 inline requests/alice/long.yaml`,
        `data ${Buffer.byteLength(text)}`,
        text,
      );
    }
    execFileSync('git', ['-C', fake.gitDir(REPO), 'fast-import', '--quiet'], {
      input: `${lines.join('\n')}\n`,
    });
    const pull = await fake.openPull({ repo: REPO, head: branch, user: 'alice' });
    await send('pull_request', 'opened', pull, 'alice');
    await approve(pull, 'carol');
    expect((await latestRun(pull)).conclusion).toBe('action_required');
    expect(commentOf(pull)).toContain('251 commits and GitHub lists 250');
  });

  it('a pull request with more files than GitHub lists cannot be decided', async () => {
    const branch = `access/wide-${++branchCounter}`;
    const main = await fake.branchSha(REPO, 'main');
    const lines = [
      `commit refs/heads/${branch}`,
      'author alice <alice@users.noreply.github.com> 1767780000 +0000',
      'committer alice <alice@users.noreply.github.com> 1767780000 +0000',
      'data 4',
      'wide',
      `from ${main}`,
      'M 100644 inline requests/alice/wide.yaml',
      `data ${Buffer.byteLength(requestYaml('alice'))}`,
      requestYaml('alice'),
    ];
    // 3,000 other files push the request (or a policy, or a workflow) out of what GitHub lists.
    for (let i = 0; i < 3000; i++) lines.push(`M 100644 inline aaa/${i}.txt`, 'data 2', 'x');
    execFileSync('git', ['-C', fake.gitDir(REPO), 'fast-import', '--quiet'], {
      input: `${lines.join('\n')}\n`,
    });
    const pull = await fake.openPull({ repo: REPO, head: branch, user: 'alice' });
    await send('pull_request', 'opened', pull, 'alice');
    await approve(pull, 'carol');
    const run = await latestRun(pull);
    expect(run.conclusion).toBe('failure');
    expect((run.output as JsonObject).title).toBe('Cannot decide');
    expect(commentOf(pull)).toContain('changes 3001 files; GitHub lists only 3000');
  });

  it('logs one JSON line per check with the delivery id', async () => {
    const pull = await openRequest('alice', { 'requests/alice/logged.yaml': requestYaml('alice') });
    const review = await fake.review({ repo: REPO, pull, user: 'carol', state: 'APPROVED' });
    const d = await send('pull_request_review', 'submitted', pull, 'carol', review);
    const line = logLines.find((l) => l.id === d.id && String(l.msg).startsWith('checked'));
    expect(line).toMatchObject({ pull: `${REPO}#${pull}`, conclusion: 'success' });
  });
});

// ---- a restart ---------------------------------------------------------------------------------------------------

describe('timebox serve: who pushed survives a restart', () => {
  it('a pusher seen by one server is still excluded by the next, which never saw the push', async () => {
    fake.setPermission('mallory', 'write');
    const first = await startApp();
    const firstUrl = `${first.url}/api/github/webhooks`;
    const branch = `access/restart-${++branchCounter}`;
    let pull: number;
    try {
      await fake.commit(REPO, {
        branch,
        files: { 'requests/bob/restart.yaml': requestYaml('bob') },
        author: 'bob',
      });
      pull = await fake.openPull({ repo: REPO, head: branch, user: 'bob' });
      await send('pull_request', 'opened', pull, 'bob', undefined, firstUrl);
      await fake.commit(REPO, {
        branch,
        files: { 'requests/bob/restart.yaml': requestYaml('bob', 'ticket: BUG-1234\n') },
        author: { name: 'Bob', email: 'bob@users.noreply.github.com' },
        pusher: 'mallory',
      });
      await send('pull_request', 'synchronize', pull, 'mallory', undefined, firstUrl);
    } finally {
      await first.close();
    }
    const second = await startApp();
    const secondUrl = `${second.url}/api/github/webhooks`;
    try {
      await approve(pull, 'mallory', 'APPROVED', secondUrl);
      expect((await latestRun(pull)).conclusion).toBe('action_required');
      expect(commentOf(pull)).toMatch(/not counted: @mallory pushed to this pull request/);
      await approve(pull, 'carol', 'APPROVED', secondUrl);
      expect((await latestRun(pull)).conclusion).toBe('success');
    } finally {
      await second.close();
      fake.setPermission('mallory', 'read');
    }
  });
});

// ---- auto_merge ------------------------------------------------------------------------------------------------

describe('timebox serve: auto_merge', () => {
  async function open(branch: string, file: string): Promise<number> {
    await fake.commit(AUTO, { branch, files: { [file]: requestYaml('alice') }, author: 'alice' });
    const pull = await fake.openPull({ repo: AUTO, head: branch, user: 'alice' });
    const payload = await fake.webhookPayload('pull_request', 'opened', {
      repo: AUTO,
      pull,
      sender: 'alice',
    });
    expect((await fake.deliver(webhookUrl, 'pull_request', payload, SECRET)).status).toBe(200);
    return pull;
  }
  async function review(pull: number, user: string) {
    const payload = await approvalPayload(fake, AUTO, pull, user);
    expect((await fake.deliver(webhookUrl, 'pull_request_review', payload, SECRET)).status).toBe(200);
  }

  it('merges an approved request with trailers that the ledger reads back', async () => {
    const pull = await open('access/auto-1', 'requests/alice/auto.yaml');
    expect((await fake.pull(AUTO, pull)).merged).toBe(false);
    await review(pull, 'carol');
    const merged = await fake.pull(AUTO, pull);
    expect(merged.merged).toBe(true);
    const sha = String(merged.merge_commit_sha);
    expect(await fake.branchSha(AUTO, 'main')).toBe(sha);
    const trailers = execFileSync(
      'git',
      ['-C', fake.gitDir(AUTO), 'log', '-1', '--format=%(trailers:only,unfold)', sha],
      {
        encoding: 'utf8',
      },
    );
    expect(trailers).toContain('Timebox-Request: requests/alice/auto.yaml');
    expect(trailers).toContain('Timebox-Requested-By: alice');
    expect(trailers).toContain('Timebox-Approved-By: carol');
    expect(trailers).toContain('Timebox-Expires: 2026-01-07T12:00:00Z');
    expect(trailers).toContain(`Timebox-Pull-Request: ${pull}`);
    // The audit timeline names the approver, read from the trailer.
    const clone = join(tempDir(), 'clone');
    execFileSync('git', ['clone', '-q', fake.gitDir(AUTO), clone]);
    const audit = await run(['audit', '--no-cache'], { cwd: clone });
    const events = (JSON.parse(audit.stdout) as { events: { type: string; actor: string; file: string }[] })
      .events;
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'approved', actor: 'carol', file: 'requests/alice/auto.yaml' }),
    );
  });

  it('does not merge a pending request, nor one whose approval went stale', async () => {
    const pending = await open('access/auto-2', 'requests/alice/auto2.yaml');
    await review(pending, 'mallory');
    expect((await fake.pull(AUTO, pending)).merged).toBe(false);
    expect((await latestRunIn(AUTO, pending)).conclusion).toBe('action_required');

    const stale = await open('access/auto-3', 'requests/alice/auto3.yaml');
    const first = String(((await fake.pull(AUTO, stale)).head as JsonObject).sha);
    await fake.commit(AUTO, {
      branch: 'access/auto-3',
      files: { 'requests/alice/auto3.yaml': requestYaml('alice').replace('2h', '4h') },
      author: 'alice',
    });
    const r = await fake.review({
      repo: AUTO,
      pull: stale,
      user: 'carol',
      state: 'APPROVED',
      commitId: first,
    });
    const payload = await fake.webhookPayload('pull_request_review', 'submitted', {
      repo: AUTO,
      pull: stale,
      sender: 'carol',
      review: r,
    });
    expect((await fake.deliver(webhookUrl, 'pull_request_review', payload, SECRET)).status).toBe(200);
    expect((await fake.pull(AUTO, stale)).merged).toBe(false);
  });
});

async function latestRunIn(repo: string, pull: number): Promise<JsonObject> {
  const head = String(((await fake.pull(repo, pull)).head as JsonObject).sha);
  const runs = fake.checkRuns.filter((r) => r.head_sha === head && r.name === 'timebox');
  return runs[runs.length - 1] as JsonObject;
}

// ---- provenance on push ---------------------------------------------------------------------------------------

describe('timebox serve: provenance on push to the default branch', () => {
  async function alarms(repo: string): Promise<{ number: number; title: string; body: string }[]> {
    const gh = new Octokit({ baseUrl: fake.url, auth: fake.token() });
    const { data } = await gh.request('GET /repos/{owner}/{repo}/issues', {
      owner: repo.split('/')[0] as string,
      repo: repo.split('/')[1] as string,
      labels: 'timebox-alarm',
      state: 'open',
    });
    return data.map((i) => ({ number: i.number, title: i.title, body: i.body ?? '' }));
  }
  async function pushed(repo: string) {
    const payload = await fake.webhookPayload('push', { repo, branch: 'main' });
    const d = await fake.deliver(webhookUrl, 'push', payload, SECRET);
    expect(d.status, d.body).toBe(200);
  }

  it('an approved, merged request passes: no alarm', async () => {
    await fake.commit(AUTO, {
      branch: 'access/push-ok',
      files: { 'requests/alice/ok.yaml': requestYaml('alice') },
      author: 'alice',
    });
    const pull = await fake.openPull({ repo: AUTO, head: 'access/push-ok', user: 'alice' });
    const payload = await approvalPayload(fake, AUTO, pull, 'carol');
    expect((await fake.deliver(webhookUrl, 'pull_request_review', payload, SECRET)).status).toBe(200);
    expect((await fake.pull(AUTO, pull)).merged).toBe(true);
    const before = (await alarms(AUTO)).length;
    await pushed(AUTO);
    expect((await alarms(AUTO)).length).toBe(before);
  });

  it('a direct push of a request raises one timebox-alarm issue naming the commit and file, once', async () => {
    const sha = await fake.commit(REPO, {
      branch: 'main',
      files: { 'requests/mallory/backdoor.yaml': requestYaml('mallory') },
      author: 'mallory',
    });
    await pushed(REPO);
    const found = (await alarms(REPO)).filter((i) => i.title.includes('requests/mallory/backdoor.yaml'));
    expect(found).toHaveLength(1);
    expect(found[0]?.title).toContain(sha.slice(0, 7));
    expect(found[0]?.body).toMatch(/direct push/);
    // Redelivered: still one.
    await pushed(REPO);
    expect((await alarms(REPO)).filter((i) => i.title.includes('backdoor'))).toHaveLength(1);
  });

  it('a pending request merged by hand (a bypass) raises an alarm', async () => {
    await fake.commit(REPO, {
      branch: 'access/bypass',
      files: { 'requests/alice/bypass.yaml': requestYaml('alice') },
      author: 'alice',
    });
    const pull = await fake.openPull({ repo: REPO, head: 'access/bypass', user: 'alice' });
    await fake.mergePull(REPO, pull, 'admin');
    await pushed(REPO);
    const found = (await alarms(REPO)).filter((i) => i.title.includes('requests/alice/bypass.yaml'));
    expect(found).toHaveLength(1);
    expect(found[0]?.body).toMatch(new RegExp(`merged in \\\\#${pull} while pending`));
  });

  it('removing a request by a direct push is always allowed', async () => {
    await fake.commit(REPO, {
      branch: 'main',
      files: { 'requests/mallory/backdoor.yaml': null },
      author: 'sam',
    });
    const before = (await alarms(REPO)).length;
    await pushed(REPO);
    expect((await alarms(REPO)).length).toBe(before);
  });
});

// ---- webhook security -----------------------------------------------------------------------------------------

describe('timebox serve: webhook security', () => {
  async function post(body: string, headers: Record<string, string>) {
    const r = await fetch(webhookUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'pull_request',
        'x-github-delivery': 'd-1',
        ...headers,
      },
      body,
    });
    return { status: r.status, text: await r.text() };
  }

  it('refuses unsigned and badly signed deliveries, and runs nothing for them', async () => {
    const pull = await openRequest('alice', { 'requests/alice/forged.yaml': requestYaml('alice') });
    const payload = JSON.stringify(
      await fake.webhookPayload('pull_request', 'opened', { repo: REPO, pull, sender: 'alice' }),
    );
    const before = fake.requests.length;
    // 401: no valid signature (test/github/intake.test.ts has the limits, the log and malformed payloads).
    expect((await post(payload, {})).status).toBe(401);
    expect(
      (await post(payload, { 'x-hub-signature-256': signWebhook('wrong-secret', payload) })).status,
    ).toBe(401);
    expect((await post(payload, { 'x-hub-signature-256': 'sha256=' })).status).toBe(401);
    // Signed over different bytes than those sent (a tampered body):
    const tampered = payload.replace('"opened"', '"reopened"');
    expect((await post(tampered, { 'x-hub-signature-256': signWebhook(SECRET, payload) })).status).toBe(401);
    expect(fake.requests.length).toBe(before);
  });

  it('refuses a body over the limit without harming the process', async () => {
    const huge = JSON.stringify({ action: 'opened', padding: 'x'.repeat(300 * 1024) });
    const r = await post(huge, { 'x-hub-signature-256': signWebhook(SECRET, huge) });
    expect(r.status).toBe(413);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    // and real deliveries still work
    const pull = await openRequest('alice', { 'requests/alice/after-huge.yaml': requestYaml('alice') });
    expect((await latestRun(pull)).conclusion).toBe('action_required');
  });

  it('refuses non-JSON content types', async () => {
    const body = 'payload=%7B%7D';
    const r = await post(body, {
      'content-type': 'application/x-www-form-urlencoded',
      'x-hub-signature-256': signWebhook(SECRET, body),
    });
    expect(r.status).toBe(415);
  });
});

describe('timebox serve: the sweep (pending_ttl)', () => {
  it('closes unapproved request PRs past pending_ttl in every installed repository, keeps approved ones', async () => {
    const pending = await openRequest('alice', { 'requests/alice/sweep-pending.yaml': requestYaml('alice') });
    const approved = await openRequest('alice', { 'requests/alice/sweep-ok.yaml': requestYaml('alice') });
    await approve(approved, 'carol');
    const r = await server.sweep(() => new Date(Date.now() + 8 * 24 * 3_600_000));
    expect(r.errors).toEqual([]);
    expect(r.repositories).toBe(2);
    expect(r.closed.find((c) => c.repo === REPO)?.pulls).toContain(pending);
    expect((await fake.pull(REPO, pending)).state).toBe('closed');
    expect((await fake.pull(REPO, approved)).state).toBe('open');
    fake.assertClean();
  });
});

describe('app.yml', () => {
  it('asks for exactly the permissions Timebox used against the fake', () => {
    // Used by code that these tests do not drive through the server; its own test checks it.
    const usedElsewhere: Record<string, string> = { pull_requests: 'write' }; // revert PRs: test/github/revert.test.ts
    const used = { ...(fake.permissionsUsed as Record<string, string>) };
    for (const [scope, level] of Object.entries(usedElsewhere)) {
      if (used[scope] !== 'write') used[scope] = level;
    }
    expect(used).toEqual(MANIFEST.default_permissions);
  });

  it('subscribes to exactly the events the App handles', async () => {
    const { PULL_EVENTS, PUSH_EVENTS, REVIEW_EVENTS } = await import('../../src/github/app.js');
    const handled = new Set([...PULL_EVENTS, ...REVIEW_EVENTS, ...PUSH_EVENTS].map((e) => e.split('.')[0]));
    expect([...handled].sort()).toEqual([...MANIFEST.default_events].sort());
  });
});
