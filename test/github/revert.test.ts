// Revert pull requests against the fake GitHub (real git underneath), with the App's own permissions:
// the file goes, the merge carries the trailers, the audit shows the revocation, and retries are safe.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub } from '../../src/forge/fake-github.js';
import { revertBranch, revertRequest } from '../../src/github/revert.js';
import { MANIFEST, requestYaml } from '../helpers/github.js';
import { ROOT, run, tempDir } from '../helpers/repo.js';

const REPO = 'acme/access';
const ref = { owner: 'acme', repo: 'access' };

let fake: FakeGitHub;
let gh: Octokit;

beforeAll(async () => {
  fake = await FakeGitHub.start();
  await fake.createRepo(REPO, {
    author: 'admin',
    files: {
      'policies/qa.yaml': readFileSync(join(ROOT, 'policies/qa.yaml'), 'utf8'),
      'requests/alice/a.yaml': requestYaml('alice'),
      'requests/bob/b.yaml': requestYaml('bob'),
    },
  });
  gh = new Octokit({ baseUrl: fake.url, auth: fake.token(MANIFEST.default_permissions) });
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

const trailersOf = (sha: string) =>
  execFileSync('git', ['-C', fake.gitDir(REPO), 'log', '-1', '--format=%(trailers:only,unfold)', sha], {
    encoding: 'utf8',
  });

describe('revert pull requests', () => {
  it('removes the file through a merged PR whose merge names the reason and the activity', async () => {
    const r = await revertRequest(gh, ref, {
      file: 'requests/alice/a.yaml',
      reason: 'expired',
      activity: '3 statements, 12 rows',
      pull: 4,
      defaultBranch: 'main',
    });
    expect(r.merged).toMatch(/^[0-9a-f]{40}$/);
    expect(await fake.branchSha(REPO, 'main')).toBe(r.merged);
    const files = execFileSync('git', ['-C', fake.gitDir(REPO), 'ls-tree', '-r', '--name-only', 'main'], {
      encoding: 'utf8',
    });
    expect(files).not.toContain('requests/alice/a.yaml');
    expect(files).toContain('requests/bob/b.yaml');
    const t = trailersOf(String(r.merged));
    expect(t).toContain('Timebox-Request: requests/alice/a.yaml');
    expect(t).toContain('Timebox-Revocation-Reason: expired');
    expect(t).toContain('Timebox-Activity: 3 statements, 12 rows');
    // The revert branch is cleaned up.
    expect(await fake.branchSha(REPO, revertBranch('requests/alice/a.yaml'))).toBeUndefined();

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
      await revertRequest(gh, ref, {
        file: 'requests/alice/a.yaml',
        reason: 'expired',
        defaultBranch: 'main',
      }),
    ).toEqual({ alreadyGone: true });
    expect(await fake.branchSha(REPO, 'main')).toBe(before);
  });

  it('recovers from a crash that left the revert branch behind', async () => {
    const branch = revertBranch('requests/bob/b.yaml');
    await fake.commit(REPO, { branch, files: { 'junk.txt': 'left over\n' }, author: 'timebox[bot]' });
    const r = await revertRequest(gh, ref, {
      file: 'requests/bob/b.yaml',
      reason: 'early revocation by bob',
      defaultBranch: 'main',
    });
    expect(r.merged).toBeDefined();
    const files = execFileSync('git', ['-C', fake.gitDir(REPO), 'ls-tree', '-r', '--name-only', 'main'], {
      encoding: 'utf8',
    });
    expect(files).not.toContain('requests/bob/b.yaml');
    // The leftover commit was not merged: the branch was restarted from main.
    expect(files).not.toContain('junk.txt');
    fake.assertClean();
  });
});
