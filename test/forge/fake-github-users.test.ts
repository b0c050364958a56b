// The fake's accounts: public profiles by login and by id, and GitHub's rename — the account keeps its id
// and everything it owns, the old login becomes free, and the next use of it is somebody else.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub } from '../../src/forge/fake-github.js';
import { tempDir } from '../helpers/repo.js';

const REPO = 'acme/access';
let fake: FakeGitHub;
let gh: Octokit;

beforeAll(async () => {
  fake = await FakeGitHub.start();
  await fake.createRepo(REPO, { author: 'admin', files: { 'README.md': 'access\n' } });
  gh = new Octokit({ baseUrl: fake.url, auth: fake.token() });
});

afterAll(async () => {
  await fake?.close();
});

const status = (p: Promise<unknown>) =>
  p.then(
    () => 200,
    (e: { status: number }) => e.status,
  );

function key(comment: string): string {
  const dir = tempDir('fake-users-');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', join(dir, 'k')]);
  return readFileSync(join(dir, 'k.pub'), 'utf8').trim();
}

describe('fake GitHub: accounts', () => {
  it('serves public profiles by login and by id, and 404 for unknown ones', async () => {
    const id = Number(fake.user('zoe').id);
    const byLogin = await gh.request('GET /users/{username}', { username: 'zoe' });
    expect(byLogin.data).toMatchObject({ login: 'zoe', id, type: 'User' });
    const byId = await gh.request('GET /user/{account_id}', { account_id: id });
    expect(byId.data).toMatchObject({ login: 'zoe', id });
    expect(await status(gh.request('GET /users/{username}', { username: 'nobody-here' }))).toBe(404);
    expect(await status(gh.request('GET /user/{account_id}', { account_id: 987_654_321 }))).toBe(404);
    fake.assertClean();
  });

  it('a rename keeps the id and what the account owns; the old login is free for someone else', async () => {
    const aliceKey = key('alice');
    fake.setUserKeys('alice', [aliceKey]);
    fake.setTeam('@acme/qa', ['alice', 'bob']);
    fake.setPermission('alice', 'write');
    await fake.commit(REPO, { branch: 'access/alice', files: { 'requests/a.yaml': 'x\n' }, author: 'alice' });
    const pull = await fake.openPull({ repo: REPO, head: 'access/alice', user: 'alice' });
    await fake.review({ repo: REPO, pull, user: 'alice', state: 'COMMENTED' });
    const id = Number(fake.user('alice').id);

    fake.renameUser('alice', 'alice2');
    const mallorysKey = key('mallory');
    fake.setUserKeys('alice', [mallorysKey]); // mallory claims the free login
    const owner = { owner: 'acme', repo: 'access' };

    expect((await gh.request('GET /user/{account_id}', { account_id: id })).data.login).toBe('alice2');
    const taken = (await gh.request('GET /users/{username}', { username: 'alice' })).data;
    expect(taken.id).not.toBe(id);
    expect((await gh.request('GET /users/{username}', { username: 'alice2' })).data.id).toBe(id);
    expect(
      (await gh.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { ...owner, pull_number: pull }))
        .data.user,
    ).toMatchObject({ id, login: 'alice2' });
    const reviews = await gh.request('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews', {
      ...owner,
      pull_number: pull,
    });
    expect(reviews.data[0]?.user).toMatchObject({ id, login: 'alice2' });
    const members = await gh.request('GET /orgs/{org}/teams/{team_slug}/members', {
      org: 'acme',
      team_slug: 'qa',
    });
    expect(members.data.map((m) => m.login)).toEqual(['alice2', 'bob']);
    const perm = (username: string) =>
      gh.request('GET /repos/{owner}/{repo}/collaborators/{username}/permission', { ...owner, username });
    expect((await perm('alice2')).data.permission).toBe('write');
    expect((await perm('alice')).data.permission).toBe('none');
    const keysOf = async (username: string) =>
      (await gh.request('GET /users/{username}/keys', { username })).data.map((k) => k.key);
    expect(await keysOf('alice2')).toEqual([aliceKey.split(' ').slice(0, 2).join(' ')]);
    expect(await keysOf('alice')).toEqual([mallorysKey.split(' ').slice(0, 2).join(' ')]);
    expect(() => fake.renameUser('bob', 'alice2')).toThrow(/taken/);
    fake.assertClean();
  });
});
