// A check run's `pull_requests`: the open pull requests whose head is the run's commit, read from the branch
// tips as they are when the run is created (not from what the forge last stored for each pull request).
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';

const REPO = 'acme/checks';
const APP_ID = 5151;

describe("a check run's pull requests", () => {
  let fake: FakeGitHub;
  let token: string;
  let writer: string;
  /** The commits: each pull request's first head, and the one pushed later onto b's branch. */
  const sha: Record<string, string> = {};

  beforeAll(async () => {
    fake = await FakeGitHub.start();
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    fake.registerApp({
      id: APP_ID,
      slug: 'checker',
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      permissions: { checks: 'write', pull_requests: 'read', contents: 'read' },
    });
    await fake.createRepo(REPO, { author: 'admin', files: { 'README.md': '# r\n' } });
    fake.install(REPO, APP_ID);
    token = fake.token({ checks: 'write', pull_requests: 'read', contents: 'read' });
    writer = fake.token({ contents: 'write' });
    for (const branch of ['a', 'b', 'c', 'd']) {
      sha[branch] = await fake.commit(REPO, {
        branch,
        files: { [`${branch}.txt`]: `${branch}\n` },
        author: 'bob',
      });
      await fake.openPull({ repo: REPO, head: branch, user: 'bob', title: branch });
    }
    // #2's branch moves on after the pull request was last read: the forge's stored head of #2 is stale.
    sha.b2 = await fake.commit(REPO, { branch: 'b', files: { 'b.txt': 'b2\n' }, author: 'bob' });
    await fake.closePull(REPO, 3);
  });

  afterAll(async () => {
    await fake.close();
  });

  async function createRun(headSha: string | undefined): Promise<number[]> {
    const res = await fetch(`${fake.url}/repos/${REPO}/check-runs`, {
      method: 'POST',
      headers: {
        authorization: `token ${token}`,
        accept: 'application/vnd.github+json',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: 'timebox', head_sha: headSha }),
    });
    expect(res.status).toBe(201);
    const run = (await res.json()) as JsonObject;
    return (run.pull_requests as JsonObject[]).map((p) => Number(p.number));
  }

  it('lists the open pull request whose branch is at the commit', async () => {
    expect(await createRun(sha.a)).toEqual([1]);
    expect(await createRun(sha.d)).toEqual([4]);
  });

  it('follows a head branch that moved since the pull request was last read', async () => {
    expect(await createRun(sha.b2)).toEqual([2]);
    expect(await createRun(sha.b)).toEqual([]);
    expect((await fake.pull(REPO, 2)).head).toMatchObject({ sha: sha.b2 });
  });

  it('leaves out a closed pull request', async () => {
    expect(await createRun(sha.c)).toEqual([]);
  });

  it('lists every open pull request whose head is the commit', async () => {
    // A second branch at a's commit (made through the API), with a pull request of its own: #5.
    const res = await fetch(`${fake.url}/repos/${REPO}/git/refs`, {
      method: 'POST',
      headers: { authorization: `token ${writer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ref: 'refs/heads/a-again', sha: sha.a }),
    });
    expect(res.status).toBe(201);
    await fake.openPull({ repo: REPO, head: 'a-again', user: 'bob', title: 'a again' });
    expect((await createRun(sha.a)).sort()).toEqual([1, 5]);
    fake.assertClean();
  });
});
