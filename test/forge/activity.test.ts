// The fake's repository activity log (`GET /repos/{owner}/{repo}/activity`): who moved which branch from what to
// what, as GitHub records it; and `synchronize` payloads whose sender is the pusher, as GitHub sends them.
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub } from '../../src/forge/fake-github.js';
import { registerTimeboxApp } from '../helpers/github.js';

const REPO = 'acme/activity';
const ZERO = '0'.repeat(40);
const quiet = (): void => {};

let fake: FakeGitHub;
let gh: Octokit;

beforeAll(async () => {
  fake = await FakeGitHub.start();
  registerTimeboxApp(fake, 77);
  await fake.createRepo(REPO, { author: 'admin', files: { 'README.md': '# access\n' } });
  fake.install(REPO, 77);
  gh = new Octokit({
    auth: fake.token(),
    baseUrl: fake.url,
    log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  });
}, 30_000);

afterAll(async () => {
  await fake?.close();
});

describe('the activity log', () => {
  it('lists every update of a branch newest first, with its type and the account that made it', async () => {
    const first = await fake.commit(REPO, {
      branch: 'access/bob',
      files: { 'requests/bob.yaml': 'a\n' },
      author: 'bob',
    });
    // mallory pushes, with a commit that claims to be bob's: the log names her.
    const second = await fake.commit(REPO, {
      branch: 'access/bob',
      files: { 'requests/bob.yaml': 'b\n' },
      author: { name: 'Bob', email: 'bob@users.noreply.github.com' },
      pusher: 'mallory',
    });
    // The App force-pushes the branch back, then deletes it.
    await gh.request('PATCH /repos/{owner}/{repo}/git/refs/{ref}', {
      owner: 'acme',
      repo: 'activity',
      ref: 'heads/access/bob',
      sha: first,
      force: true,
    });
    await gh.request('DELETE /repos/{owner}/{repo}/git/refs/{ref}', {
      owner: 'acme',
      repo: 'activity',
      ref: 'heads/access/bob',
    });
    const { data } = await gh.request('GET /repos/{owner}/{repo}/activity', {
      owner: 'acme',
      repo: 'activity',
      ref: 'refs/heads/access/bob',
    });
    expect(
      data.map((a) => ({ type: a.activity_type, before: a.before, after: a.after, actor: a.actor?.login })),
    ).toEqual([
      { type: 'branch_deletion', before: first, after: ZERO, actor: 'timebox[bot]' },
      { type: 'force_push', before: second, after: first, actor: 'timebox[bot]' },
      { type: 'push', before: first, after: second, actor: 'mallory' },
      { type: 'branch_creation', before: ZERO, after: first, actor: 'bob' },
    ]);
    expect(
      data.every((a) => a.ref === 'refs/heads/access/bob' && !Number.isNaN(Date.parse(a.timestamp))),
    ).toBe(true);
    // A branch name alone works as the ref; actor and type filter.
    const byName = await gh.request('GET /repos/{owner}/{repo}/activity', {
      owner: 'acme',
      repo: 'activity',
      ref: 'access/bob',
      actor: 'mallory',
    });
    expect(byName.data.map((a) => a.after)).toEqual([second]);
    const creations = await gh.request('GET /repos/{owner}/{repo}/activity', {
      owner: 'acme',
      repo: 'activity',
      activity_type: 'branch_creation',
    });
    expect(creations.data.map((a) => a.ref)).toContain('refs/heads/access/bob');
    fake.assertClean();
  });

  it('records merges as pr_merge on the base branch', async () => {
    await fake.commit(REPO, {
      branch: 'access/carol',
      files: { 'requests/carol.yaml': 'c\n' },
      author: 'carol',
    });
    const pull = await fake.openPull({ repo: REPO, head: 'access/carol', user: 'carol' });
    const merge = await fake.mergePull(REPO, pull, 'dave');
    const { data } = await gh.request('GET /repos/{owner}/{repo}/activity', {
      owner: 'acme',
      repo: 'activity',
      ref: 'main',
    });
    expect(data[0]).toMatchObject({ activity_type: 'pr_merge', after: merge, actor: { login: 'dave' } });
    fake.assertClean();
  });

  it('pages by cursor, as Octokit follows it', async () => {
    const shas: string[] = [];
    for (let i = 0; i < 5; i++) {
      shas.push(
        await fake.commit(REPO, { branch: 'access/many', files: { 'many.txt': `${i}\n` }, author: 'erin' }),
      );
    }
    const all = await gh.paginate('GET /repos/{owner}/{repo}/activity', {
      owner: 'acme',
      repo: 'activity',
      ref: 'refs/heads/access/many',
      per_page: 2,
    });
    expect(all.map((a) => a.after)).toEqual([...shas].reverse());
    const firstPage = await gh.request('GET /repos/{owner}/{repo}/activity', {
      owner: 'acme',
      repo: 'activity',
      ref: 'refs/heads/access/many',
      per_page: 2,
    });
    expect(firstPage.headers.link).toMatch(/[?&]after=\d+[^>]*>; rel="next"/);
    fake.assertClean();
  });
});

describe('synchronize payloads', () => {
  it('name the pusher as the sender; a test cannot make them claim someone else', async () => {
    await fake.commit(REPO, { branch: 'access/sync', files: { 'sync.txt': '1\n' }, author: 'bob' });
    const pull = await fake.openPull({ repo: REPO, head: 'access/sync', user: 'bob' });
    const after = await fake.commit(REPO, {
      branch: 'access/sync',
      files: { 'sync.txt': '2\n' },
      author: 'bob',
      pusher: 'mallory',
    });
    const payload = await fake.webhookPayload('pull_request', 'synchronize', {
      repo: REPO,
      pull,
      sender: 'mallory',
    });
    expect(payload).toMatchObject({ after, sender: { login: 'mallory' } });
    await expect(
      fake.webhookPayload('pull_request', 'synchronize', { repo: REPO, pull, sender: 'bob' }),
    ).rejects.toThrow(/mallory pushed access\/sync last/);
  });
});
