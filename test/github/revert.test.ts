// Revert pull requests against the fake GitHub (real git underneath), with the App's own permissions:
// the file goes, the merge carries the trailers, the audit shows the revocation, and retries are safe.
// Adversarial: a PR someone prepared on a revert branch, a push to Timebox's own revert branch before
// or during its merge, a branch squatting the revert names — nothing but the removal ever lands.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noticesFor } from '../../src/engine/notices/index.js';
import { isRevertBranchOf, type RevertInput, revertBranch, revertRequest } from '../../src/engine/revert.js';
import type { FakeGitHub } from '../../src/forge/fake-github.js';
import type { GitHub } from '../../src/github/client.js';
import { githubForge } from '../../src/github/forge.js';
import { MANIFEST, requestYaml } from '../helpers/github.js';
import { run, tempDir } from '../helpers/repo.js';
import { trustingAccessRepo } from '../helpers/trust.js';

const REPO = 'acme/access';
const ref = { owner: 'acme', repo: 'access' };
const BOT = 'timebox[bot]';
const FILES = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => `requests/bob/${n}.yaml`);

let fake: FakeGitHub;
let gh: Octokit;

beforeAll(async () => {
  ({ fake, gh } = await trustingAccessRepo({
    'requests/alice/a.yaml': requestYaml('alice'),
    ...Object.fromEntries(FILES.map((f) => [f, requestYaml('bob')])),
    'requests/zed/z.yaml': requestYaml('zed'),
    'requests/yan/y.yaml': requestYaml('yan'),
  }));
  fake.setPermission('mallory', 'write');
});
afterAll(async () => {
  // Every permission the revert flow used is one the App has (the token was minted with exactly those).
  const used = fake.permissionsUsed as Record<string, string>;
  for (const [scope, level] of Object.entries(used)) {
    const granted = MANIFEST.default_permissions[scope];
    if (scope !== 'metadata' && !(granted === level || granted === 'write')) {
      throw new Error(`revert used ${scope}:${level}, which app.yml does not grant`);
    }
  }
  await fake?.close();
});

const git = (...args: string[]) =>
  execFileSync('git', ['-C', fake.gitDir(REPO), ...args], { encoding: 'utf8' });
const trailersOf = (sha: string) => git('log', '-1', '--format=%(trailers:only,unfold)', sha);
const onMain = () => git('ls-tree', '-r', '--name-only', 'main');
const revertBranches = (file: string) =>
  git('for-each-ref', '--format=%(refname:short)', 'refs/heads/')
    .split('\n')
    .filter((b) => isRevertBranchOf(b, file));
const comments = (pull: number) =>
  fake.comments.filter((c) => String(c.issue_url).endsWith(`/issues/${pull}`)).map((c) => String(c.body));

/** A revert PR as Timebox opened it before a crash: its branch, its removal commit, its PR — not merged. */
async function timeboxLeftOpen(file: string): Promise<{ pull: number; branch: string }> {
  const branch = `${revertBranch(file)}-0badc0de`;
  const { data: tip } = await gh.request('GET /repos/{owner}/{repo}/git/ref/{ref}', {
    ...ref,
    ref: 'heads/main',
  });
  await gh.request('POST /repos/{owner}/{repo}/git/refs', {
    ...ref,
    ref: `refs/heads/${branch}`,
    sha: tip.object.sha,
  });
  const { data: blob } = await gh.request('GET /repos/{owner}/{repo}/contents/{path}', {
    ...ref,
    path: file,
  });
  await gh.request('DELETE /repos/{owner}/{repo}/contents/{path}', {
    ...ref,
    path: file,
    message: `Revoke ${file}`,
    sha: (blob as { sha: string }).sha,
    branch,
  });
  const { data: pr } = await gh.request('POST /repos/{owner}/{repo}/pulls', {
    ...ref,
    title: `Revoke ${file} (expired)`,
    head: branch,
    base: 'main',
  });
  return { pull: pr.number, branch };
}

/** The revert flow over GitHub as a Forge, saying what it says as Timebox (BOT). */
function revert(client: GitHub, input: RevertInput) {
  const forge = githubForge(client, ref);
  return revertRequest(forge, noticesFor(forge, BOT), input);
}

/** `gh`, but `beforeMerge` runs just before the first merge request goes out (someone pushing meanwhile). */
function racing(beforeMerge: (pull: number) => Promise<void>): GitHub {
  let raced = false;
  const request = (async (route: string, params?: Record<string, unknown>) => {
    if (!raced && route === 'PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge') {
      raced = true;
      await beforeMerge(Number(params?.pull_number));
    }
    return gh.request(route, params);
  }) as GitHub['request'];
  return { request, paginate: gh.paginate };
}

describe('revert pull requests', () => {
  it('removes the file through a merged PR whose merge names the reason and the activity', async () => {
    const r = await revert(gh, {
      file: 'requests/alice/a.yaml',
      reason: 'expired',
      activity: '3 statements, 12 rows',
      pull: 4,
      defaultBranch: 'main',
      botLogin: BOT,
    });
    expect(r.merged).toMatch(/^[0-9a-f]{40}$/);
    expect(await fake.branchSha(REPO, 'main')).toBe(r.merged);
    expect(onMain()).not.toContain('requests/alice/a.yaml');
    expect(onMain()).toContain('requests/bob/a.yaml');
    const t = trailersOf(String(r.merged));
    expect(t).toContain('Timebox-Request: requests/alice/a.yaml');
    expect(t).toContain('Timebox-Revocation-Reason: expired');
    expect(t).toContain('Timebox-Activity: 3 statements, 12 rows');
    // The revert branch is cleaned up.
    expect(revertBranches('requests/alice/a.yaml')).toEqual([]);

    const clone = join(tempDir(), 'clone');
    execFileSync('git', ['clone', '-q', fake.gitDir(REPO), clone]);
    const audit = await run(['audit', '--no-cache'], { cwd: clone });
    const events = (JSON.parse(audit.stdout) as { events: { type: string; file: string; reason?: string }[] })
      .events;
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'revoked', file: 'requests/alice/a.yaml', reason: 'expired' }),
    );
    fake.assertClean();
  });

  it('is idempotent: a file already gone is not reverted again', async () => {
    const before = await fake.branchSha(REPO, 'main');
    expect(
      await revert(gh, {
        file: 'requests/alice/a.yaml',
        reason: 'expired',
        defaultBranch: 'main',
        botLogin: BOT,
      }),
    ).toEqual({ alreadyGone: true });
    expect(await fake.branchSha(REPO, 'main')).toBe(before);
  });

  it('reuses the clean revert PR Timebox left open before a crash, merged at the head it checked', async () => {
    const file = FILES[0] as string;
    const left = await timeboxLeftOpen(file);
    const head = await fake.branchSha(REPO, left.branch);
    const r = await revert(gh, { file, reason: 'expired', defaultBranch: 'main', botLogin: BOT });
    expect(r).toMatchObject({ pull: left.pull });
    const merge = (await fake.pull(REPO, left.pull)) as { merged: boolean; merge_commit_sha: string };
    expect(merge.merged).toBe(true);
    expect(git('log', '-1', '--format=%P', merge.merge_commit_sha).trim().split(' ')[1]).toBe(head);
    expect(onMain()).not.toContain(file);
    expect(revertBranches(file)).toEqual([]);
    fake.assertClean();
  });
});

describe('revert branches someone else prepared', () => {
  it('a PR mallory opened on timebox/revert/<file> with an extra change is never merged; a clean revert lands', async () => {
    const file = FILES[1] as string;
    const branch = revertBranch(file);
    // mallory prepares the predictable branch: the removal Timebox would make, and a grant for herself.
    await fake.commit(REPO, {
      branch,
      files: { [file]: null, 'requests/mallory/forever.yaml': requestYaml('mallory') },
      author: 'mallory',
      message: `Revoke ${file} (expired)`,
    });
    const trap = await fake.openPull({ repo: REPO, head: branch, user: 'mallory', title: `Revoke ${file}` });

    const r = await revert(gh, { file, reason: 'expired', defaultBranch: 'main', botLogin: BOT });
    expect(r.merged).toMatch(/^[0-9a-f]{40}$/);
    expect(r.pull).not.toBe(trap);
    expect(r.ignored).toEqual([{ pull: trap, why: 'Timebox did not open it' }]);
    expect(onMain()).not.toContain(file);
    expect(onMain()).not.toContain('requests/mallory/forever.yaml');
    expect(((await fake.pull(REPO, trap)) as { merged: boolean; state: string }).merged).toBe(false);
    // mallory's branch is hers: not overwritten, not deleted. Her PR says why Timebox left it alone.
    expect(git('ls-tree', '-r', '--name-only', branch)).toContain('requests/mallory/forever.yaml');
    expect(comments(trap)).toEqual([expect.stringContaining('Timebox will not merge this pull request')]);
    // The merged revert is Timebox's own: its second parent changes exactly the one file.
    const [parent, tip] = git('log', '-1', '--format=%P', String(r.merged)).trim().split(' ');
    expect(git('diff', '--name-status', String(parent), String(tip)).trim()).toBe(`D\t${file}`);
    fake.assertClean();
  });

  it('a revert PR Timebox opened whose branch someone pushed to is closed, never merged; a fresh one lands', async () => {
    const file = FILES[2] as string;
    const left = await timeboxLeftOpen(file);
    await fake.commit(REPO, {
      branch: left.branch,
      files: { 'requests/mallory/forever.yaml': requestYaml('mallory') },
      author: 'mallory',
    });
    const r = await revert(gh, { file, reason: 'expired', defaultBranch: 'main', botLogin: BOT });
    expect(r.merged).toBeDefined();
    expect(r.pull).not.toBe(left.pull);
    expect(r.ignored?.[0]).toMatchObject({
      pull: left.pull,
      why: expect.stringContaining('not exactly the removal'),
    });
    const old = (await fake.pull(REPO, left.pull)) as { merged: boolean; state: string };
    expect(old).toMatchObject({ merged: false, state: 'closed' });
    expect(onMain()).not.toContain(file);
    expect(onMain()).not.toContain('requests/mallory/forever.yaml');
    fake.assertClean();
  });

  it('a push to Timebox’s revert branch between its check and its merge fails the pinned merge (409)', async () => {
    const file = FILES[3] as string;
    const left = await timeboxLeftOpen(file);
    const client = racing(async () => {
      await fake.commit(REPO, {
        branch: left.branch,
        files: { 'requests/mallory/forever.yaml': requestYaml('mallory') },
        author: 'mallory',
      });
    });
    const r = await revert(client, {
      file,
      reason: 'expired',
      defaultBranch: 'main',
      botLogin: BOT,
    });
    // The checked PR was refused, closed; Timebox's fresh revert landed instead.
    expect(r.ignored?.[0]).toMatchObject({ pull: left.pull, why: expect.stringContaining('(409)') });
    expect(((await fake.pull(REPO, left.pull)) as { state: string; merged: boolean }).merged).toBe(false);
    expect(r.merged).toBeDefined();
    expect(onMain()).not.toContain(file);
    expect(onMain()).not.toContain('requests/mallory/forever.yaml');
    fake.assertClean();
  });

  it('a push to the fresh revert branch before its merge lands nothing; the next run reverts cleanly', async () => {
    const file = FILES[4] as string;
    const before = await fake.branchSha(REPO, 'main');
    const client = racing(async (pull) => {
      const head = ((await fake.pull(REPO, pull)) as { head: { ref: string } }).head.ref;
      await fake.commit(REPO, {
        branch: head,
        files: { 'requests/mallory/forever.yaml': requestYaml('mallory') },
        author: 'mallory',
      });
    });
    const first = await revert(client, {
      file,
      reason: 'expired',
      defaultBranch: 'main',
      botLogin: BOT,
    });
    expect(first.merged).toBeUndefined();
    expect(first.mergeRefused).toContain('409');
    expect(await fake.branchSha(REPO, 'main')).toBe(before);

    const second = await revert(gh, {
      file,
      reason: 'expired',
      defaultBranch: 'main',
      botLogin: BOT,
    });
    expect(second.ignored?.[0]).toMatchObject({ pull: first.pull });
    expect(second.merged).toBeDefined();
    expect(onMain()).not.toContain(file);
    expect(onMain()).not.toContain('requests/mallory/forever.yaml');
    fake.assertClean();
  });

  it('even a clean removal someone else prepared is not merged: only Timebox’s own PRs are reused', async () => {
    const file = 'requests/yan/y.yaml';
    const branch = `${revertBranch(file)}-0123abcd`;
    await fake.commit(REPO, { branch, files: { [file]: null }, author: 'mallory' });
    const trap = await fake.openPull({ repo: REPO, head: branch, user: 'mallory', title: `Revoke ${file}` });
    const r = await revert(gh, { file, reason: 'expired', defaultBranch: 'main', botLogin: BOT });
    expect(r.merged).toBeDefined();
    expect(r.pull).not.toBe(trap);
    expect(r.ignored).toEqual([{ pull: trap, why: 'Timebox did not open it' }]);
    expect(((await fake.pull(REPO, trap)) as { merged: boolean }).merged).toBe(false);
    fake.assertClean();
  });

  it('a leftover branch on the old fixed name is left alone (not force-pushed over)', async () => {
    const file = FILES[5] as string;
    const branch = revertBranch(file);
    const theirs = await fake.commit(REPO, {
      branch,
      files: { 'junk.txt': 'left over\n' },
      author: 'mallory',
    });
    const r = await revert(gh, {
      file,
      reason: 'early revocation by bob',
      defaultBranch: 'main',
      botLogin: BOT,
    });
    expect(r.merged).toBeDefined();
    expect(onMain()).not.toContain(file);
    expect(onMain()).not.toContain('junk.txt');
    expect(await fake.branchSha(REPO, branch)).toBe(theirs);
    fake.assertClean();
  });

  it('a branch squatting the revert folder does not stop the revert', async () => {
    const file = 'requests/zed/z.yaml';
    // `timebox/revert/requests/zed` as a branch makes every `timebox/revert/requests/zed/…` name impossible.
    await fake.commit(REPO, {
      branch: 'timebox/revert/requests/zed',
      files: { 'x.txt': 'x\n' },
      author: 'mallory',
    });
    const r = await revert(gh, { file, reason: 'expired', defaultBranch: 'main', botLogin: BOT });
    expect(r.merged).toBeDefined();
    expect(onMain()).not.toContain(file);
    fake.assertClean();
  });
});
