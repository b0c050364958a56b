// Provenance of a merge reads each of the merged pull request's reviews and files once: the decision and the
// reviewers' account ids come from the same answers (src/engine/verdicts.ts `mergedPullsAt`).
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mergedPullsAt } from '../../src/engine/verdicts.js';
import { FakeGitHub } from '../../src/forge/fake-github.js';
import { githubForge } from '../../src/github/forge.js';
import { exampleAccessRepo } from '../helpers/serve.js';

const REPO = 'acme/access';
const quiet = (): void => {};
let fake: FakeGitHub;

beforeAll(async () => {
  fake = await FakeGitHub.start();
  await exampleAccessRepo(fake, REPO);
});

afterAll(async () => {
  await fake?.close();
});

it('a merged pull request with three request files: reviews and files read once, carol approved all three', async () => {
  const files: Record<string, string> = {};
  for (const n of [1, 2, 3])
    files[`requests/alice/r${n}.yaml`] =
      `requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-${n}\nticket: BUG-${n}\n`;
  await fake.commit(REPO, { branch: 'three', files, author: 'alice' });
  const pull = await fake.openPull({ repo: REPO, head: 'three', user: 'alice' });
  await fake.review({ repo: REPO, pull, user: 'carol', state: 'APPROVED' });
  const merge = await fake.mergePull(REPO, pull, 'carol');
  const gh = new Octokit({
    baseUrl: fake.url,
    auth: fake.token(),
    log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  });

  const from = fake.requests.length;
  const [merged] = await mergedPullsAt(githubForge(gh, { owner: 'acme', repo: 'access' }), merge, {
    botLogin: 'timebox[bot]',
  });
  const reads = fake.requests.slice(from).map((r) => r.url.replace(/\?.*$/, ''));
  expect(merged?.decisions.map((d) => d.status)).toEqual(['approved', 'approved', 'approved']);
  expect(merged?.reviewers.get('carol')).toBe(Number(fake.user('carol').id));
  expect(reads.filter((u) => u.endsWith(`/pulls/${pull}/reviews`))).toHaveLength(1);
  expect(reads.filter((u) => u.endsWith(`/pulls/${pull}/files`))).toHaveLength(1);
  fake.assertClean();
}, 60_000);
