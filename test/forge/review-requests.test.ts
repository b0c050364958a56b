// The double's review requests (`/pulls/{n}/requested_reviewers`) through @octokit/rest, every exchange checked
// against GitHub's description: requests show in the pull request, GitHub's refusals, answered requests drop.
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { registerTimeboxApp } from '../helpers/github.js';

const REPO = 'acme/access';
const repo = { owner: 'acme', repo: 'access' };
let fake: FakeGitHub;
let gh: Octokit;
let pull: number;

beforeAll(async () => {
  fake = await FakeGitHub.start();
  registerTimeboxApp(fake, 77);
  await fake.createRepo(REPO, { author: 'admin', files: { 'README.md': 'hi\n' } });
  fake.install(REPO, 77);
  fake.setTeam('@acme/qa-leads', ['carol', 'erin']);
  for (const login of ['carol', 'dave', 'erin']) fake.setPermission(login, 'write');
  fake.user('stranger');
  await fake.commit(REPO, {
    branch: 'access/alice',
    files: { 'requests/a.yaml': 'x: 1\n' },
    author: 'alice',
  });
  pull = await fake.openPull({ repo: REPO, head: 'access/alice', user: 'alice' });
  gh = new Octokit({ baseUrl: fake.url, auth: fake.token() });
}, 60_000);

afterAll(async () => {
  await fake?.close();
});

const status = (p: Promise<unknown>) =>
  p.then(
    () => 200,
    (e: { status: number }) => e.status,
  );

async function requested() {
  const { data } = await gh.pulls.listRequestedReviewers({ ...repo, pull_number: pull });
  return { users: data.users.map((u) => u.login), teams: data.teams.map((t) => t.slug) };
}

it('requests, shows and withdraws reviews of users and teams; asking twice changes nothing', async () => {
  const { data } = await gh.pulls.requestReviewers({
    ...repo,
    pull_number: pull,
    reviewers: ['dave'],
    team_reviewers: ['qa-leads'],
  });
  expect((data.requested_reviewers ?? []).map((u) => u.login)).toEqual(['dave']);
  expect((data.requested_teams ?? []).map((t) => t.slug)).toEqual(['qa-leads']);
  await gh.pulls.requestReviewers({ ...repo, pull_number: pull, reviewers: ['DAVE'], team_reviewers: [] });
  expect(await requested()).toEqual({ users: ['dave'], teams: ['qa-leads'] });
  const detail = await fake.pull(REPO, pull);
  expect((detail.requested_reviewers as JsonObject[]).map((u) => u.login)).toEqual(['dave']);
  expect((detail.requested_teams as JsonObject[]).map((t) => t.slug)).toEqual(['qa-leads']);
  await gh.pulls.removeRequestedReviewers({
    ...repo,
    pull_number: pull,
    reviewers: ['dave'],
    team_reviewers: [],
  });
  expect(await requested()).toEqual({ users: [], teams: ['qa-leads'] });
  await gh.pulls.removeRequestedReviewers({
    ...repo,
    pull_number: pull,
    reviewers: [],
    team_reviewers: ['qa-leads'],
  });
  expect(await requested()).toEqual({ users: [], teams: [] });
  fake.assertClean();
});

it('refuses the author, people without access and unknown teams (422), as GitHub does', async () => {
  const ask = (reviewers: string[], team_reviewers: string[] = []) =>
    status(gh.pulls.requestReviewers({ ...repo, pull_number: pull, reviewers, team_reviewers }));
  expect(await ask(['alice'])).toBe(422);
  expect(await ask(['stranger'])).toBe(422);
  expect(await ask(['nobody-at-all'])).toBe(422);
  expect(await ask([], ['no-such-team'])).toBe(422);
  expect(await requested()).toEqual({ users: [], teams: [] });
});

it('drops a request once answered: a user by their review, a team by a member’s; asking again renews it', async () => {
  await gh.pulls.requestReviewers({
    ...repo,
    pull_number: pull,
    reviewers: ['dave'],
    team_reviewers: ['qa-leads'],
  });
  await fake.review({ repo: REPO, pull, user: 'dave', state: 'COMMENTED' });
  expect(await requested()).toEqual({ users: [], teams: ['qa-leads'] });
  await fake.review({ repo: REPO, pull, user: 'erin', state: 'APPROVED' });
  expect(await requested()).toEqual({ users: [], teams: [] });
  await gh.pulls.requestReviewers({ ...repo, pull_number: pull, reviewers: ['dave'], team_reviewers: [] });
  expect(await requested()).toEqual({ users: ['dave'], teams: [] });
  fake.assertClean();
});
