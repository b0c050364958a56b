// What the App needs to merge, provision and revert (issue 6): merging, opening and closing pull requests,
// git data writes, contents deletes, issues, public SSH keys, commit → pull request lookups, comparisons and
// `push` payloads, all through @octokit/rest with an installation token, every exchange checked against
// GitHub's descriptions.
import { execFile } from 'node:child_process';
import { createHash, generateKeyPair, type KeyObject, sign } from 'node:crypto';
import { promisify } from 'node:util';
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';

const run = promisify(execFile);
const APP_ID = 456;
const quiet = (): void => {};
const log = { debug: quiet, info: quiet, warn: quiet, error: quiet };
const ZERO = '0'.repeat(40);

function appJwt(key: KeyObject): string {
  const now = Math.floor(Date.now() / 1000);
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode({ iat: now - 30, exp: now + 540, iss: APP_ID })}`;
  return `${unsigned}.${sign('RSA-SHA256', Buffer.from(unsigned), key).toString('base64url')}`;
}

function blobSha(content: string): string {
  return createHash('sha1')
    .update(`blob ${Buffer.byteLength(content)}\0${content}`)
    .digest('hex');
}

/** The status and message of a failed request (200 and '' when it succeeded). */
async function failure(promise: Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await promise;
    return { status: 200, message: '' };
  } catch (e) {
    const err = e as { status: number; response?: { data?: { message?: string } } };
    return { status: err.status, message: err.response?.data?.message ?? '' };
  }
}

describe('fake GitHub: merging, provisioning and reverting', () => {
  let fake: FakeGitHub;
  let gh: Octokit;
  /** Same installation, without contents: write (nor issues). */
  let reader: Octokit;
  let botEmail: string;
  const repo = { owner: 'acme', repo: 'access' };
  const REPO = 'acme/access';

  /** The commit object as git stores it: headers, blank line, message byte for byte. */
  async function rawCommit(sha: string): Promise<{ headers: string; message: string }> {
    const { stdout } = await run('git', ['--git-dir', fake.gitDir(REPO), 'cat-file', 'commit', sha]);
    const blank = stdout.indexOf('\n\n');
    return { headers: stdout.slice(0, blank), message: stdout.slice(blank + 2) };
  }

  async function branchWith(branch: string, files: Record<string, string | null>, author = 'alice') {
    await fake.commit(REPO, { branch, files, author, message: `Change ${branch}` });
    return fake.openPull({ repo: REPO, head: branch, user: author, title: `Change ${branch}` });
  }

  beforeAll(async () => {
    let keys: { publicKey: KeyObject; privateKey: KeyObject };
    [fake, keys] = await Promise.all([
      FakeGitHub.start(),
      promisify(generateKeyPair)('rsa', { modulusLength: 2048 }),
    ]);
    fake.registerApp({
      id: APP_ID,
      slug: 'timebox',
      publicKeyPem: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      permissions: { contents: 'write', pull_requests: 'write', issues: 'write', checks: 'write' },
      events: ['pull_request', 'push'],
    });
    await fake.createRepo(REPO, {
      files: {
        'requests/alice.yaml': 'who: alice\n',
        'requests/bob.yaml': 'who: bob\n',
        'conflict.txt': 'base\n',
      },
      author: 'admin',
    });
    const installation_id = fake.install(REPO);
    const app = new Octokit({ baseUrl: fake.url, auth: appJwt(keys.privateKey), log });
    const [full, narrow] = await Promise.all([
      app.rest.apps.createInstallationAccessToken({ installation_id }),
      app.rest.apps.createInstallationAccessToken({
        installation_id,
        permissions: { contents: 'read', pull_requests: 'write' },
      }),
    ]);
    gh = new Octokit({ baseUrl: fake.url, auth: full.data.token, log });
    reader = new Octokit({ baseUrl: fake.url, auth: narrow.data.token, log });
    botEmail = `${String(fake.user('timebox[bot]').id)}+timebox[bot]@users.noreply.github.com`;
  });

  afterAll(async () => {
    await fake.close();
  });

  describe('merging a pull request', () => {
    it('writes a merge commit by the app bot, committed by web-flow, with the message byte for byte', async () => {
      const number = await branchWith('access/carol', { 'requests/carol.yaml': 'who: carol\n' }, 'carol');
      const base = (await fake.branchSha(REPO, 'main')) ?? '';
      const head = (await fake.branchSha(REPO, 'access/carol')) ?? '';
      const message =
        'Grant carol read\n\nTimebox-Request: requests/carol.yaml\nTimebox-Expires: 2030-01-01T00:00:00Z\n';
      const { data } = await gh.rest.pulls.merge({
        ...repo,
        pull_number: number,
        merge_method: 'merge',
        commit_title: 'Merge access for carol',
        commit_message: message,
        sha: head,
      });
      expect(data).toEqual({
        sha: expect.any(String),
        merged: true,
        message: 'Pull Request successfully merged',
      });
      expect(await fake.branchSha(REPO, 'main')).toBe(data.sha);

      const raw = await rawCommit(data.sha);
      expect(raw.message).toBe(`Merge access for carol\n\n${message}`);
      expect(raw.headers).toMatch(
        new RegExp(`^author timebox\\[bot\\] <${botEmail.replace(/[[\]+.]/g, '\\$&')}> `, 'm'),
      );
      expect(raw.headers).toMatch(/^committer GitHub <noreply@github\.com> /m);
      const { data: commit } = await gh.rest.git.getCommit({ ...repo, commit_sha: data.sha });
      expect(commit.parents.map((p) => p.sha)).toEqual([base, head]);
      const { data: listed } = await gh.rest.repos.listCommits({ ...repo, sha: 'main', per_page: 1 });
      expect(listed[0]).toMatchObject({
        author: { login: 'timebox[bot]' },
        committer: { login: 'web-flow' },
      });

      const { data: pull } = await gh.rest.pulls.get({ ...repo, pull_number: number });
      expect(pull).toMatchObject({
        state: 'closed',
        merged: true,
        merge_commit_sha: data.sha,
        merged_by: { login: 'timebox[bot]' },
        head: { sha: head },
      });
      expect(fake.pushes(REPO).at(-1)).toMatchObject({
        branch: 'main',
        before: base,
        after: data.sha,
        pusher: 'timebox[bot]',
        forced: false,
      });

      const closed = await fake.webhookPayload('pull_request', 'closed', {
        repo: REPO,
        pull: number,
        sender: 'timebox[bot]',
      });
      expect(closed.pull_request).toMatchObject({
        merged: true,
        merge_commit_sha: data.sha,
        state: 'closed',
      });
      const push = await fake.webhookPayload('push', { repo: REPO });
      expect(push).toMatchObject({
        ref: 'refs/heads/main',
        before: base,
        after: data.sha,
        created: false,
        deleted: false,
        forced: false,
        pusher: { name: 'timebox[bot]', email: botEmail },
        sender: { login: 'timebox[bot]' },
        head_commit: {
          id: data.sha,
          added: ['requests/carol.yaml'],
          removed: [],
          modified: [],
          distinct: true,
        },
      });
      // The branch's commit had been pushed before (to access/carol): listed, but not distinct.
      const commits = push.commits as JsonObject[];
      expect(commits.map((c) => [c.id, c.distinct])).toEqual([
        [head, false],
        [data.sha, true],
      ]);
      expect(commits[1]?.message).toBe(`Merge access for carol\n\n${message.trimEnd()}`);

      expect(await failure(gh.rest.pulls.merge({ ...repo, pull_number: number }))).toEqual({
        status: 405,
        message: 'Pull Request is not mergeable',
      });
      fake.assertClean();
    });

    it('refuses a stale sha (409), conflicts, drafts (405), unknown pulls (404), tokens without contents: write (403)', async () => {
      const number = await branchWith('access/dave', { 'requests/dave.yaml': 'who: dave\n' }, 'dave');
      expect(
        await failure(gh.rest.pulls.merge({ ...repo, pull_number: number, sha: 'a'.repeat(40) })),
      ).toEqual({
        status: 409,
        message: 'Head branch was modified. Review and try the merge again.',
      });
      const refused = await reader.rest.pulls
        .merge({ ...repo, pull_number: number })
        .catch((e: unknown) => e);
      expect(refused).toMatchObject({
        status: 403,
        response: {
          data: { message: 'Resource not accessible by integration' },
          headers: { 'x-accepted-github-permissions': 'contents=write' },
        },
      });
      expect((await fake.pull(REPO, number)).state).toBe('open');

      const clash = await branchWith('clash', { 'conflict.txt': 'ours\n' }, 'dave');
      await fake.commit(REPO, { branch: 'main', files: { 'conflict.txt': 'theirs\n' }, author: 'admin' });
      expect(await failure(gh.rest.pulls.merge({ ...repo, pull_number: clash }))).toEqual({
        status: 405,
        message: 'Pull Request is not mergeable',
      });
      fake.setDraft(REPO, number, true);
      expect(await failure(gh.rest.pulls.merge({ ...repo, pull_number: number }))).toEqual({
        status: 405,
        message: 'Pull Request is still a draft',
      });
      fake.setDraft(REPO, number, false);
      expect((await failure(gh.rest.pulls.merge({ ...repo, pull_number: 999 }))).status).toBe(404);
      await expect(fake.mergePull(REPO, clash, 'admin')).rejects.toThrow(/has conflicts \(405/);
      fake.assertClean();
    });

    it('squashes into one commit on the base (author: the pull request author) and rebases commit by commit', async () => {
      await fake.commit(REPO, {
        branch: 'squash-me',
        files: { 'a.txt': 'a\n' },
        author: 'erin',
        message: 'Add a',
      });
      await fake.commit(REPO, {
        branch: 'squash-me',
        files: { 'b.txt': 'b\n' },
        author: 'erin',
        message: 'Add b',
      });
      const number = await fake.openPull({ repo: REPO, head: 'squash-me', user: 'erin', title: 'A and b' });
      const base = (await fake.branchSha(REPO, 'main')) ?? '';
      const headTree = (await gh.rest.git.getTree({ ...repo, tree_sha: 'squash-me' })).data.sha;
      const { data } = await gh.rest.pulls.merge({ ...repo, pull_number: number, merge_method: 'squash' });
      const { data: commit } = await gh.rest.git.getCommit({ ...repo, commit_sha: data.sha });
      expect(commit.parents.map((p) => p.sha)).toEqual([base]);
      expect(commit.tree.sha).toBe(headTree);
      expect(commit.message).toBe(`A and b (#${number})\n\n* Add a\n\n* Add b`);
      expect(commit.author).toMatchObject({ name: 'erin', email: 'erin@users.noreply.github.com' });
      expect(commit.committer).toMatchObject({ name: 'GitHub', email: 'noreply@github.com' });
      expect((await gh.rest.pulls.get({ ...repo, pull_number: number })).data.merge_commit_sha).toBe(
        data.sha,
      );

      await fake.commit(REPO, {
        branch: 'rebase-me',
        files: { 'c.txt': 'c\n' },
        author: 'erin',
        message: 'Add c',
      });
      const second = await fake.commit(REPO, {
        branch: 'rebase-me',
        files: { 'd.txt': 'd\n' },
        author: 'erin',
        message: 'Add d\n\nTrailer: kept\n',
      });
      const rebase = await fake.openPull({ repo: REPO, head: 'rebase-me', user: 'erin' });
      const before = (await fake.branchSha(REPO, 'main')) ?? '';
      const merged = await fake.mergePull(REPO, rebase, 'timebox[bot]', { method: 'rebase' });
      const top = await gh.rest.git.getCommit({ ...repo, commit_sha: merged });
      const first = await gh.rest.git.getCommit({ ...repo, commit_sha: top.data.parents[0]?.sha ?? '' });
      expect(first.data.parents.map((p) => p.sha)).toEqual([before]);
      expect([first.data.message, top.data.committer.email, top.data.author.name]).toEqual([
        'Add c',
        'noreply@github.com',
        'erin',
      ]);
      expect((await rawCommit(merged)).message).toBe('Add d\n\nTrailer: kept\n');
      expect(merged).not.toBe(second);
      // fake.mergePull records its push too: the rebased commits are new to every branch.
      const push = await fake.webhookPayload('push', { repo: REPO });
      expect(push).toMatchObject({ before, after: merged, pusher: { name: 'timebox[bot]' } });
      expect((push.commits as JsonObject[]).map((c) => [c.message, c.distinct])).toEqual([
        ['Add c', true],
        ['Add d\n\nTrailer: kept', true],
      ]);
      fake.assertClean();
    });
  });

  describe('pull requests through the REST API', () => {
    it('opens (as the app bot), edits, closes and reopens; refuses what GitHub refuses (422)', async () => {
      await fake.commit(REPO, { branch: 'revert/x', files: { 'x.txt': 'x\n' }, author: 'admin' });
      const { data: created } = await gh.rest.pulls.create({
        ...repo,
        head: 'acme:revert/x',
        base: 'main',
        title: 'Revert x',
        body: 'Expired.',
      });
      expect(created).toMatchObject({
        state: 'open',
        title: 'Revert x',
        body: 'Expired.',
        user: { login: 'timebox[bot]', type: 'Bot' },
        head: { ref: 'revert/x' },
        base: { ref: 'main' },
      });
      const validation = async (input: { head: string; base: string }) => {
        const e = (await gh.rest.pulls
          .create({ ...repo, title: 't', ...input })
          .catch((x: unknown) => x)) as {
          status: number;
          response: { data: { message: string; errors: JsonObject[] } };
        };
        return [e.status, e.response.data.message, e.response.data.errors];
      };
      expect(await validation({ head: 'revert/x', base: 'main' })).toEqual([
        422,
        'Validation Failed',
        [
          {
            resource: 'PullRequest',
            code: 'custom',
            message: 'A pull request already exists for acme:revert/x.',
          },
        ],
      ]);
      expect(await validation({ head: 'nope', base: 'main' })).toEqual([
        422,
        'Validation Failed',
        [{ resource: 'PullRequest', field: 'head', code: 'invalid' }],
      ]);
      expect(await validation({ head: 'main', base: 'main' })).toEqual([
        422,
        'Validation Failed',
        [{ resource: 'PullRequest', code: 'custom', message: 'No commits between main and main' }],
      ]);

      const { data: edited } = await gh.rest.pulls.update({
        ...repo,
        pull_number: created.number,
        title: 'Revert x (expired)',
        state: 'closed',
      });
      expect(edited).toMatchObject({ state: 'closed', merged: false, title: 'Revert x (expired)' });
      const { data: reopened } = await gh.rest.pulls.update({
        ...repo,
        pull_number: created.number,
        state: 'open',
      });
      expect(reopened.state).toBe('open');
      const merged = (await gh.rest.pulls.list({ ...repo, state: 'closed' })).data.find((p) => p.merged_at);
      expect(
        (await failure(gh.rest.pulls.update({ ...repo, pull_number: merged?.number ?? 0, state: 'open' })))
          .status,
      ).toBe(422);
      fake.assertClean();
    });
  });

  describe('git data and contents writes', () => {
    it('creates blobs, trees (base_tree, content, sha: null deletes), commits and refs like GitHub', async () => {
      const main = (await fake.branchSha(REPO, 'main')) ?? '';
      const { data: blob } = await gh.rest.git.createBlob({ ...repo, content: 'who: zoe\n' });
      expect(blob.sha).toBe(blobSha('who: zoe\n'));
      const { data: b64 } = await gh.rest.git.createBlob({
        ...repo,
        content: Buffer.from('bin\u0000ary').toString('base64'),
        encoding: 'base64',
      });
      expect(b64.sha).toBe(blobSha('bin\u0000ary'));

      const baseTree = (await gh.rest.git.getCommit({ ...repo, commit_sha: main })).data.tree.sha;
      const { data: tree } = await gh.rest.git.createTree({
        ...repo,
        base_tree: baseTree,
        tree: [
          { path: 'requests/zoe.yaml', mode: '100644', type: 'blob', sha: blob.sha },
          { path: 'requests/bob.yaml', mode: '100644', type: 'blob', sha: null },
          { path: 'deep/er/notes.txt', mode: '100644', type: 'blob', content: 'hello\n' },
        ],
      });
      const { data: listed } = await gh.rest.git.getTree({ ...repo, tree_sha: tree.sha, recursive: '1' });
      const paths = listed.tree.filter((e) => e.type === 'blob').map((e) => e.path);
      expect(paths).toEqual(
        expect.arrayContaining(['requests/zoe.yaml', 'requests/alice.yaml', 'deep/er/notes.txt']),
      );
      expect(paths).not.toContain('requests/bob.yaml');
      expect(tree.tree.map((e) => e.path)).toContain('deep');

      const message = 'Provision zoe\n\nTimebox-Request: requests/zoe.yaml\n';
      const { data: commit } = await gh.rest.git.createCommit({
        ...repo,
        message,
        tree: tree.sha,
        parents: [main],
      });
      expect(commit).toMatchObject({
        parents: [{ sha: main }],
        tree: { sha: tree.sha },
        author: { name: 'timebox[bot]', email: botEmail },
        committer: { name: 'timebox[bot]', email: botEmail },
      });
      expect((await rawCommit(commit.sha)).message).toBe(message);

      const { data: ref } = await gh.rest.git.createRef({
        ...repo,
        ref: 'refs/heads/provision/zoe',
        sha: commit.sha,
      });
      expect(ref).toMatchObject({
        ref: 'refs/heads/provision/zoe',
        object: { type: 'commit', sha: commit.sha },
      });
      const { data: got } = await gh.rest.git.getRef({ ...repo, ref: 'heads/provision/zoe' });
      expect(got.object.sha).toBe(commit.sha);
      expect(fake.pushes(REPO).at(-1)).toMatchObject({
        branch: 'provision/zoe',
        before: undefined,
        after: commit.sha,
        pusher: 'timebox[bot]',
      });
      const created = await fake.webhookPayload('push', undefined, { repo: REPO, branch: 'provision/zoe' });
      expect(created).toMatchObject({ created: true, before: ZERO, after: commit.sha });
      expect((created.commits as JsonObject[]).map((c) => [c.id, c.added, c.removed])).toEqual([
        [commit.sha, ['deep/er/notes.txt', 'requests/zoe.yaml'], ['requests/bob.yaml']],
      ]);

      expect(
        await failure(gh.rest.git.createRef({ ...repo, ref: 'refs/heads/provision/zoe', sha: main })),
      ).toEqual({
        status: 422,
        message: 'Reference already exists',
      });
      expect((await failure(gh.rest.git.createRef({ ...repo, ref: 'heads/x', sha: main }))).status).toBe(422);
      expect(
        await failure(gh.rest.git.createRef({ ...repo, ref: 'refs/heads/y', sha: 'f'.repeat(40) })),
      ).toEqual({
        status: 422,
        message: 'Object does not exist',
      });
      // main is not a descendant of the new commit: a force is needed.
      const other = await fake.commit(REPO, {
        branch: 'main',
        files: { 'other.txt': '1\n' },
        author: 'admin',
      });
      expect(
        await failure(gh.rest.git.updateRef({ ...repo, ref: 'heads/provision/zoe', sha: other })),
      ).toEqual({
        status: 422,
        message: 'Update is not a fast forward',
      });
      await gh.rest.git.updateRef({ ...repo, ref: 'heads/provision/zoe', sha: other, force: true });
      expect(await fake.webhookPayload('push', { repo: REPO })).toMatchObject({ forced: true, after: other });
      const { status } = await gh.rest.git.deleteRef({ ...repo, ref: 'heads/provision/zoe' });
      expect(status).toBe(204);
      expect(await fake.webhookPayload('push', { repo: REPO })).toMatchObject({
        deleted: true,
        after: ZERO,
        head_commit: null,
        commits: [],
      });
      expect((await failure(gh.rest.git.getRef({ ...repo, ref: 'heads/provision/zoe' }))).status).toBe(404);
      expect(await failure(gh.rest.git.deleteRef({ ...repo, ref: 'heads/provision/zoe' }))).toEqual({
        status: 422,
        message: 'Reference does not exist',
      });
      fake.assertClean();
    });

    it('refuses bad objects (422) and callers without contents: write (403)', async () => {
      const main = (await fake.branchSha(REPO, 'main')) ?? '';
      expect(await failure(gh.rest.git.createTree({ ...repo, base_tree: main, tree: [] }))).toEqual({
        status: 422,
        message: 'base_tree is not a valid tree oid',
      });
      expect(
        (
          await failure(
            gh.rest.git.createTree({
              ...repo,
              tree: [{ path: 'a', mode: '100644', type: 'blob', sha: main }],
            }),
          )
        ).message,
      ).toBe(`tree.sha ${main} is not a valid blob`);
      expect(await failure(gh.rest.git.createCommit({ ...repo, message: 'm', tree: main }))).toEqual({
        status: 422,
        message: 'Tree SHA does not exist',
      });
      const tree = (await gh.rest.git.getCommit({ ...repo, commit_sha: main })).data.tree.sha;
      expect(
        await failure(gh.rest.git.createCommit({ ...repo, message: 'm', tree, parents: [tree] })),
      ).toEqual({
        status: 422,
        message: 'Parent SHA does not exist or is not a commit object',
      });
      for (const attempt of [
        () => reader.rest.git.createBlob({ ...repo, content: 'x' }),
        () => reader.rest.git.createTree({ ...repo, tree: [] }),
        () => reader.rest.git.createCommit({ ...repo, message: 'm', tree }),
        () => reader.rest.git.createRef({ ...repo, ref: 'refs/heads/z', sha: main }),
        () => reader.rest.git.updateRef({ ...repo, ref: 'heads/main', sha: main }),
        () => reader.rest.git.deleteRef({ ...repo, ref: 'heads/main' }),
        () => reader.rest.repos.deleteFile({ ...repo, path: 'requests/alice.yaml', message: 'm', sha: 'x' }),
      ]) {
        expect(await failure(attempt())).toEqual({
          status: 403,
          message: 'Resource not accessible by integration',
        });
      }
      expect((await reader.rest.git.getRef({ ...repo, ref: 'heads/main' })).data.object.sha).toBe(main);
      fake.assertClean();
    });

    it('deletes one file on a branch through the contents API (409 on a stale blob sha)', async () => {
      await fake.commit(REPO, { branch: 'drop-bob', files: {}, author: 'admin' });
      const sha = blobSha('who: bob\n');
      const deleteFile = (input: { path: string; sha: string; branch?: string }) =>
        gh.rest.repos.deleteFile({ ...repo, message: 'Remove bob', branch: 'drop-bob', ...input });
      expect(await failure(deleteFile({ path: 'requests/bob.yaml', sha: blobSha('other') }))).toEqual({
        status: 409,
        message: `requests/bob.yaml does not match ${blobSha('other')}`,
      });
      expect((await failure(deleteFile({ path: 'requests/nobody.yaml', sha }))).status).toBe(404);
      expect(
        (await failure(deleteFile({ path: 'requests/bob.yaml', sha, branch: 'no-branch' }))).status,
      ).toBe(404);
      const tip = await fake.branchSha(REPO, 'drop-bob');
      const { data } = await deleteFile({ path: 'requests/bob.yaml', sha });
      expect(data.content).toBeNull();
      expect(data.commit).toMatchObject({
        message: 'Remove bob',
        parents: [{ sha: tip }],
        author: { email: botEmail },
      });
      expect(await fake.branchSha(REPO, 'drop-bob')).toBe(data.commit.sha);
      expect(
        (await failure(gh.rest.repos.getContent({ ...repo, path: 'requests/bob.yaml', ref: 'drop-bob' })))
          .status,
      ).toBe(404);
      fake.assertClean();
    });
  });

  it('reverts end to end: branch from main, delete through git data, open, merge with trailers, push payload', async () => {
    const main = (await fake.branchSha(REPO, 'main')) ?? '';
    await gh.rest.git.createRef({ ...repo, ref: 'refs/heads/timebox/revert-alice', sha: main });
    const { data: base } = await gh.rest.git.getCommit({ ...repo, commit_sha: main });
    const { data: tree } = await gh.rest.git.createTree({
      ...repo,
      base_tree: base.tree.sha,
      tree: [{ path: 'requests/alice.yaml', mode: '100644', type: 'blob', sha: null }],
    });
    const { data: removal } = await gh.rest.git.createCommit({
      ...repo,
      message: 'Revoke alice',
      tree: tree.sha,
      parents: [main],
    });
    await gh.rest.git.updateRef({ ...repo, ref: 'heads/timebox/revert-alice', sha: removal.sha });
    const { data: comparison } = await gh.rest.repos.compareCommitsWithBasehead({
      ...repo,
      basehead: 'main...timebox/revert-alice',
    });
    expect(comparison).toMatchObject({ status: 'ahead', ahead_by: 1, behind_by: 0, total_commits: 1 });
    expect(comparison.files?.map((f) => [f.filename, f.status])).toEqual([
      ['requests/alice.yaml', 'removed'],
    ]);

    const { data: pull } = await gh.rest.pulls.create({
      ...repo,
      head: 'timebox/revert-alice',
      base: 'main',
      title: 'Revoke alice',
    });
    expect(
      (await gh.rest.repos.listPullRequestsAssociatedWithCommit({ ...repo, commit_sha: removal.sha })).data,
    ).toMatchObject([{ number: pull.number, state: 'open' }]);
    const trailers = 'Timebox-Revert: requests/alice.yaml\nTimebox-Reason: expired\n';
    const { data: merged } = await gh.rest.pulls.merge({
      ...repo,
      pull_number: pull.number,
      commit_title: `Revoke alice (#${pull.number})`,
      commit_message: trailers,
      sha: removal.sha,
    });
    expect((await rawCommit(merged.sha)).message).toBe(`Revoke alice (#${pull.number})\n\n${trailers}`);
    expect((await failure(gh.rest.repos.getContent({ ...repo, path: 'requests/alice.yaml' }))).status).toBe(
      404,
    );

    const push = await fake.webhookPayload('push', { repo: REPO, branch: 'main' });
    expect(push).toMatchObject({
      after: merged.sha,
      pusher: { name: 'timebox[bot]' },
      head_commit: { id: merged.sha, removed: ['requests/alice.yaml'], added: [], modified: [] },
    });
    for (const sha of [merged.sha, removal.sha]) {
      const { data } = await gh.rest.repos.listPullRequestsAssociatedWithCommit({ ...repo, commit_sha: sha });
      expect(data.map((p) => [p.number, p.merged_at !== null])).toEqual([[pull.number, true]]);
    }
    fake.assertClean();
  });

  it('records a direct push to the default branch (an admin bypass) and builds its push payload', async () => {
    const before = await fake.branchSha(REPO, 'main');
    const sha = await fake.commit(REPO, {
      branch: 'main',
      files: { 'requests/mallory.yaml': 'who: mallory\n', 'conflict.txt': 'mine\n', 'other.txt': null },
      author: 'mallory',
      message: 'Sneak in',
    });
    const payload = await fake.webhookPayload('push', { repo: REPO, push: -1 });
    expect(payload).toMatchObject({
      ref: 'refs/heads/main',
      before,
      after: sha,
      pusher: { name: 'mallory', email: 'mallory@users.noreply.github.com' },
      sender: { login: 'mallory' },
      repository: { full_name: REPO, default_branch: 'main', organization: 'acme' },
      installation: { id: expect.any(Number) },
      commits: [
        {
          id: sha,
          distinct: true,
          message: 'Sneak in',
          author: { name: 'mallory', username: 'mallory' },
          added: ['requests/mallory.yaml'],
          removed: ['other.txt'],
          modified: ['conflict.txt'],
        },
      ],
    });
    expect(typeof (payload.repository as JsonObject).pushed_at).toBe('number');
    // A direct push brought in by no pull request.
    expect(
      (await gh.rest.repos.listPullRequestsAssociatedWithCommit({ ...repo, commit_sha: sha })).data,
    ).toEqual([]);
    fake.assertClean();
  });

  describe('issues, labels, SSH keys, comparisons', () => {
    it('opens, lists (by state and label) and closes issues, numbered along with pull requests', async () => {
      const pulls = (await gh.rest.pulls.list({ ...repo, state: 'all', per_page: 100 })).data;
      const highest = Math.max(...pulls.map((p) => p.number));
      const { data: issue } = await gh.rest.issues.create({
        ...repo,
        title: 'Timebox alarm: direct push to main',
        body: 'sha …',
        labels: ['timebox-alarm'],
      });
      expect(issue).toMatchObject({
        number: highest + 1,
        state: 'open',
        user: { login: 'timebox[bot]' },
        labels: [{ name: 'timebox-alarm', color: 'ededed' }],
        performed_via_github_app: { slug: 'timebox' },
      });
      expect(issue.pull_request).toBeUndefined();
      const { data: alarms } = await gh.rest.issues.listForRepo({ ...repo, labels: 'timebox-alarm' });
      expect(alarms.map((i) => i.number)).toEqual([issue.number]);
      // Pull requests are issues too, as on GitHub.
      const { data: everything } = await gh.rest.issues.listForRepo({ ...repo, state: 'all', per_page: 100 });
      expect(everything.length).toBe(highest + 1);
      expect(everything.filter((i) => i.pull_request).length).toBe(highest);

      await gh.rest.issues.createComment({ ...repo, issue_number: issue.number, body: 'still there' });
      const { data: closed } = await gh.rest.issues.update({
        ...repo,
        issue_number: issue.number,
        state: 'closed',
      });
      expect(closed).toMatchObject({
        state: 'closed',
        state_reason: 'completed',
        closed_by: { login: 'timebox[bot]' },
        comments: 1,
      });
      expect((await gh.rest.issues.listForRepo({ ...repo, labels: 'timebox-alarm' })).data).toEqual([]);
      expect((await fake.issue(REPO, issue.number)).state).toBe('closed');

      const { data: label } = await gh.rest.issues.createLabel({ ...repo, name: 'timebox', color: 'b60205' });
      expect(label).toMatchObject({ name: 'timebox', color: 'b60205', default: false });
      expect((await failure(gh.rest.issues.createLabel({ ...repo, name: 'Timebox' }))).status).toBe(422);
      expect((await failure(gh.rest.issues.create({ ...repo, title: '' }))).status).toBe(422);
      expect(
        (await failure(gh.rest.issues.update({ ...repo, issue_number: 999, state: 'closed' }))).status,
      ).toBe(404);
      expect((await failure(reader.rest.issues.create({ ...repo, title: 'x' }))).status).toBe(403);
      const human = fake.openIssue({ repo: REPO, user: 'alice', title: 'Help', labels: ['question'] });
      const { data: byAlice } = await gh.rest.issues.listForRepo({
        ...repo,
        creator: 'alice',
        labels: 'Question',
      });
      expect(byAlice.map((i) => [i.number, i.user?.login])).toEqual([[human.number, 'alice']]);
      fake.assertClean();
    });

    it('serves public SSH keys without their comment, to anyone', async () => {
      fake.setUserKeys('alice', [
        'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake alice@laptop',
        'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQFake',
      ]);
      const { data } = await gh.rest.users.listPublicKeysForUser({ username: 'alice' });
      expect(data).toEqual([
        {
          id: expect.any(Number),
          key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake',
        },
        { id: expect.any(Number), key: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQFake' },
      ]);
      const anonymous = new Octokit({ baseUrl: fake.url, log });
      expect((await anonymous.rest.users.listPublicKeysForUser({ username: 'alice' })).data).toHaveLength(2);
      expect((await gh.rest.users.listPublicKeysForUser({ username: 'carol' })).data).toEqual([]);
      expect((await failure(gh.rest.users.listPublicKeysForUser({ username: 'no-such-user' }))).status).toBe(
        404,
      );
      fake.assertClean();
    });

    it('compares diverged, identical and unknown refs', async () => {
      await fake.commit(REPO, {
        branch: 'old-side',
        from: 'access/dave',
        files: { 's.txt': 's\n' },
        author: 'dave',
      });
      const { data } = await gh.rest.repos.compareCommitsWithBasehead({
        ...repo,
        basehead: 'main...acme:old-side',
      });
      const dave = (await fake.branchSha(REPO, 'access/dave')) ?? '';
      const forkPoint = (await gh.rest.git.getCommit({ ...repo, commit_sha: dave })).data.parents[0]?.sha;
      expect(data).toMatchObject({ status: 'diverged', ahead_by: 2, merge_base_commit: { sha: forkPoint } });
      expect(data.behind_by).toBeGreaterThan(0);
      expect(data.commits.map((c) => c.commit.message)).toEqual(['Change access/dave', 'Update s.txt']);
      expect(data.files?.map((f) => f.filename)).toEqual(['requests/dave.yaml', 's.txt']);
      const same = await gh.rest.repos.compareCommitsWithBasehead({ ...repo, basehead: 'main...main' });
      expect(same.data).toMatchObject({ status: 'identical', ahead_by: 0, behind_by: 0, commits: [] });
      expect(
        (await failure(gh.rest.repos.compareCommitsWithBasehead({ ...repo, basehead: 'main...nope' })))
          .status,
      ).toBe(404);
      fake.assertClean();
    });
  });
});
