import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub } from './fake-github.js';
import { deliver, signWebhook } from './webhooks.js';

describe('fake GitHub', () => {
  let fake: FakeGitHub;
  let octokit: Octokit;
  const repo = { owner: 'acme', repo: 'infra' };

  beforeAll(async () => {
    fake = await FakeGitHub.start();
    const quiet = (): void => {};
    octokit = new Octokit({
      baseUrl: fake.url,
      auth: 'test-token',
      log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    });
    fake.addPull({
      repo: 'acme/infra',
      number: 7,
      user: 'alice',
      title: 'Access: prod db for 2h',
      headSha: 'f'.repeat(40),
      files: [{ filename: 'requests/alice-db.yaml', additions: 12, patch: '@@ -0,0 +1,12 @@' }],
      commits: [
        { sha: 'f'.repeat(40), author: 'alice' },
        { sha: 'e'.repeat(40), author: null },
      ],
    });
    fake.addReview({ repo: 'acme/infra', pull: 7, user: 'bob', state: 'APPROVED' });
    fake.addReview({ repo: 'acme/infra', pull: 7, user: 'carol', state: 'COMMENTED', body: 'why 2h?' });
    fake.setPermission('bob', 'maintain');
    fake.setTeam('@acme/sre', ['bob', 'carol']);
  });

  afterAll(async () => {
    await fake.close();
  });

  it('serves seeded pulls, files, commits and reviews in spec-valid shapes', async () => {
    const { data: pull } = await octokit.rest.pulls.get({ ...repo, pull_number: 7 });
    expect(pull.head.sha).toBe('f'.repeat(40));
    expect(pull.user.login).toBe('alice');
    expect(pull.changed_files).toBe(1);

    const { data: files } = await octokit.rest.pulls.listFiles({ ...repo, pull_number: 7 });
    expect(files.map((f) => f.filename)).toEqual(['requests/alice-db.yaml']);

    const { data: commits } = await octokit.rest.pulls.listCommits({ ...repo, pull_number: 7 });
    expect(commits.map((c) => c.author?.login ?? null)).toEqual(['alice', null]);

    const reviews = await octokit.paginate(octokit.rest.pulls.listReviews, {
      ...repo,
      pull_number: 7,
      per_page: 1,
    });
    expect(reviews.map((r) => [r.user?.login, r.state])).toEqual([
      ['bob', 'APPROVED'],
      ['carol', 'COMMENTED'],
    ]);
    fake.assertClean();
  });

  it('creates and completes a check run', async () => {
    const { data: created } = await octokit.rest.checks.create({
      ...repo,
      name: 'timebox',
      head_sha: 'f'.repeat(40),
      status: 'in_progress',
    });
    expect(created.status).toBe('in_progress');
    const { data: updated } = await octokit.rest.checks.update({
      ...repo,
      check_run_id: created.id,
      conclusion: 'failure',
      output: {
        title: 'Denied',
        summary: 'Policy denies prod writes',
        annotations: [
          {
            path: 'requests/alice-db.yaml',
            start_line: 1,
            end_line: 1,
            annotation_level: 'failure',
            message: 'no',
          },
        ],
      },
    });
    expect(updated).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(updated.output.annotations_count).toBe(1);
    expect(fake.checkRuns).toHaveLength(1);
    expect(fake.checkRuns[0]).toMatchObject({ name: 'timebox', conclusion: 'failure' });
    expect(fake.annotations.get(created.id)).toHaveLength(1);
    fake.assertClean();
  });

  it('posts, lists and updates an issue comment', async () => {
    const { data: posted } = await octokit.rest.issues.createComment({
      ...repo,
      issue_number: 7,
      body: 'v1',
    });
    await octokit.rest.issues.updateComment({ ...repo, comment_id: posted.id, body: 'v2' });
    const { data: listed } = await octokit.rest.issues.listComments({ ...repo, issue_number: 7 });
    expect(listed.map((c) => c.body)).toEqual(['v2']);
    expect(fake.comments.map((c) => c.body)).toEqual(['v2']);
    fake.assertClean();
  });

  it('reads permissions and team members', async () => {
    const { data: bob } = await octokit.rest.repos.getCollaboratorPermissionLevel({
      ...repo,
      username: 'bob',
    });
    expect(bob).toMatchObject({ permission: 'write', role_name: 'maintain' });
    const { data: mallory } = await octokit.rest.repos.getCollaboratorPermissionLevel({
      ...repo,
      username: 'mallory',
    });
    expect(mallory.permission).toBe('none');
    const { data: members } = await octokit.rest.teams.listMembersInOrg({ org: 'acme', team_slug: 'sre' });
    expect(members.map((m) => m.login)).toEqual(['bob', 'carol']);
    expect(fake.violations).toEqual([]);
    expect(fake.unmocked).toEqual([]);
  });

  it('answers 404 like GitHub for missing state, without a violation', async () => {
    await expect(octokit.rest.pulls.get({ ...repo, pull_number: 999 })).rejects.toMatchObject({
      status: 404,
    });
    await expect(
      octokit.rest.teams.listMembersInOrg({ org: 'acme', team_slug: 'nope' }),
    ).rejects.toMatchObject({
      status: 404,
    });
    fake.assertClean();
  });

  it('rejects and records a request that breaks the spec', async () => {
    const before = fake.violations.length;
    const response = await fetch(`${fake.url}/repos/acme/infra/check-runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'queued' }),
    });
    expect(response.status).toBe(500);
    const body = (await response.json()) as { errors: string[] };
    expect(body.errors).toEqual(
      expect.arrayContaining([expect.stringContaining("'name'"), expect.stringContaining("'head_sha'")]),
    );
    expect(fake.violations.slice(before)).toEqual([
      expect.objectContaining({ operationId: 'checks/create', kind: 'request' }),
    ]);
    // Path parameters are validated too: pull_number is an integer.
    await expect(octokit.request('GET /repos/acme/infra/pulls/x')).rejects.toMatchObject({ status: 500 });
    expect(fake.violations).toHaveLength(before + 2);
    expect(() => fake.assertClean()).toThrow(/checks\/create/);
    fake.violations.length = before;
  });

  it('records unmocked routes as 404', async () => {
    await expect(octokit.rest.repos.get(repo)).rejects.toMatchObject({ status: 404 });
    await expect(octokit.request('GET /no/such/route')).rejects.toMatchObject({ status: 404 });
    expect(fake.unmocked).toEqual([
      { method: 'GET', url: '/repos/acme/infra' },
      { method: 'GET', url: '/no/such/route' },
    ]);
    fake.unmocked.length = 0;
  });
});

describe('webhooks', () => {
  it("matches GitHub's documented X-Hub-Signature-256 example", () => {
    expect(signWebhook("It's a Secret to Everybody", 'Hello, World!')).toBe(
      'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
    );
  });

  it('matches an independently computed HMAC', () => {
    const body = JSON.stringify({ action: 'opened', number: 7 });
    const expected = createHmac('sha256', 's3cret').update(body, 'utf8').digest('hex');
    expect(signWebhook('s3cret', body)).toBe(`sha256=${expected}`);
    expect(signWebhook('s3cret', Buffer.from(body))).toBe(`sha256=${expected}`);
  });

  it('delivers an event with GitHub headers and a verifiable signature', async () => {
    let received: { headers: IncomingHttpHeaders; body: string } | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        res.writeHead(202).end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const result = await deliver(
        `http://127.0.0.1:${port}/webhooks`,
        'pull_request',
        { action: 'opened' },
        'k',
      );
      expect(result.status).toBe(202);
      expect(received?.headers['x-github-event']).toBe('pull_request');
      expect(received?.headers['x-github-delivery']).toBe(result.id);
      expect(result.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(received?.headers['content-type']).toBe('application/json');
      expect(received?.headers['x-hub-signature-256']).toBe(signWebhook('k', received?.body ?? ''));
      expect(JSON.parse(received?.body ?? '')).toEqual({ action: 'opened' });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
