// The audit of an access repo on the forge, which signs what it commits as GitHub does: the merge Timebox's
// App makes through the API is believed; a person's squash merge, web-UI merge or rebase merge carrying the
// same trailers is not — the approval shows as unknown and a note names each such commit.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeGitHub } from '../../src/forge/fake-github.js';
import { requestYaml } from '../helpers/github.js';
import { run, tempDir } from '../helpers/repo.js';
import { trustingAccessRepo } from '../helpers/trust.js';

const REPO = 'acme/access';
const ref = { owner: 'acme', repo: 'access' };
const FORGED =
  'Timebox-Requested-By: carol\nTimebox-Approved-By: carol\nTimebox-Expires: 2099-01-01T00:00:00Z';

let fake: FakeGitHub;
let gh: Octokit;

beforeAll(async () => {
  ({ fake, gh } = await trustingAccessRepo());
});
afterAll(async () => {
  await fake?.close();
});

/** A request PR by `user` on its own branch. */
async function requestPr(
  user: string,
  file: string,
  extra: { author?: { name: string; email: string } } = {},
) {
  const branch = `access/${file.replace(/\W/g, '-')}`;
  await fake.commit(REPO, {
    branch,
    files: { [file]: requestYaml(user) },
    author: extra.author ?? user,
    pusher: user,
    message: extra.author ? `Request\n\n${FORGED}` : 'Request',
  });
  return fake.openPull({ repo: REPO, head: branch, user, title: `Access for ${user}`, body: FORGED });
}

const headOf = async (pull: number) => String(((await fake.pull(REPO, pull)).head as { sha: string }).sha);

describe('trailers on the forge', () => {
  it('only the merge Timebox makes through the API counts', async () => {
    // Timebox's App merges alice's approved request, pinned to the head it decided, with its trailers.
    const ours = await requestPr('alice', 'requests/alice/a.yaml');
    const head = await headOf(ours);
    const { data: merged } = await gh.request('PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge', {
      ...ref,
      pull_number: ours,
      merge_method: 'merge',
      sha: head,
      commit_title: `Grant read-only on orders-db to alice (#${ours})`,
      commit_message: `Timebox-Request: requests/alice/a.yaml\nTimebox-Requested-By: alice\nTimebox-Approved-By: dave\nTimebox-Pull-Request: ${ours}\n`,
    });
    // GitHub reports the App's merge as signed by its web-flow key.
    const { data: commit } = await gh.request('GET /repos/{owner}/{repo}/git/commits/{commit_sha}', {
      ...ref,
      commit_sha: merged.sha,
    });
    expect(commit.verification).toMatchObject({ verified: true, reason: 'valid' });
    expect(commit.author.email).toMatch(/^\d+\+timebox\[bot\]@users\.noreply\.github\.com$/);
    expect(commit.committer).toMatchObject({ name: 'GitHub', email: 'noreply@github.com' });

    // mallory squash-merges her own PR with the PR body as the message.
    const squash = await requestPr('mallory', 'requests/mallory/squash.yaml');
    const squashed = await fake.mergePull(REPO, squash, 'mallory', { method: 'squash', message: FORGED });
    // mallory merges another with the merge button, the PR body as the message.
    const button = await requestPr('mallory', 'requests/mallory/button.yaml');
    const buttoned = await fake.mergePull(REPO, button, 'mallory', { method: 'merge', message: FORGED });
    // mallory's commit claims to be timebox[bot]; a rebase merge keeps that author and GitHub signs it.
    const bot = String(commit.author.email);
    const rebase = await requestPr('mallory', 'requests/mallory/rebase.yaml', {
      author: { name: 'timebox[bot]', email: bot },
    });
    const rebased = await fake.mergePull(REPO, rebase, 'mallory', { method: 'rebase' });
    const { data: pushedCommit } = await gh.request('GET /repos/{owner}/{repo}/git/commits/{commit_sha}', {
      ...ref,
      commit_sha: await headOf(rebase),
    });
    expect(pushedCommit.verification?.verified).toBe(false);
    const rebasedCommit = execFileSync(
      'git',
      ['-C', fake.gitDir(REPO), 'log', '-1', '--format=%ae %P', rebased],
      {
        encoding: 'utf8',
      },
    );
    expect(rebasedCommit.split(' ')[0]).toBe(bot);

    const clone = join(tempDir(), 'clone');
    execFileSync('git', ['clone', '-q', fake.gitDir(REPO), clone]);
    const out = await run(['audit', '--no-cache'], { cwd: clone });
    expect(out.code, out.stderr).toBe(0);
    const audit = JSON.parse(out.stdout) as {
      events: { type: string; file: string; actor: string | null }[];
      notes: { commit: string; message: string }[];
    };
    const approvals = Object.fromEntries(
      audit.events.filter((e) => e.type === 'approved').map((e) => [e.file, e.actor]),
    );
    expect(approvals).toEqual({
      'requests/alice/a.yaml': 'dave',
      'requests/mallory/squash.yaml': null,
      'requests/mallory/button.yaml': null,
      'requests/mallory/rebase.yaml': null,
    });
    expect(audit.events.filter((e) => e.type === 'requested' && e.actor === 'carol')).toEqual([]);
    const noted = audit.notes.filter((n) => n.message.includes('in a commit Timebox did not make: ignored'));
    expect(noted.map((n) => n.commit).sort()).toEqual([squashed, buttoned, rebased].sort());
    expect(noted.find((n) => n.commit === buttoned)?.message).toContain('authored by mallory');
    expect(noted.find((n) => n.commit === rebased)?.message).toContain('not a merge commit');
    fake.assertClean();
  });
});
