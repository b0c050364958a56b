// The fake GitHub itself: git-backed pulls, App authentication, permissions, validation and webhooks,
// exercised through @octokit/rest with a real RS256 app JWT.
import { execFile } from 'node:child_process';
import { createHash, createHmac, generateKeyPair, type KeyObject, sign } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { deliver, signWebhook, webhookErrors } from '../../src/forge/webhooks.js';

const git = promisify(execFile);
const APP_ID = 123;
const MANIFEST = { checks: 'write', contents: 'read', pull_requests: 'write', members: 'read' } as const;
const rsaKeys = (): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> =>
  promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
/** The app's key pair and another one; generated in beforeAll, off the main thread. */
let appKeys: { publicKey: KeyObject; privateKey: KeyObject };
let strangerKeys: { publicKey: KeyObject; privateKey: KeyObject };
const quiet = (): void => {};
const log = { debug: quiet, info: quiet, warn: quiet, error: quiet };

function jwt(key: KeyObject, claims: Record<string, unknown>): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${unsigned}.${sign('RSA-SHA256', Buffer.from(unsigned), key).toString('base64url')}`;
}

const now = (): number => Math.floor(Date.now() / 1000);
const appJwt = (key?: KeyObject): string =>
  jwt(key ?? appKeys.privateKey, { iat: now() - 30, exp: now() + 540, iss: APP_ID });

/** Git's blob id, computed independently of git: sha1 of `blob <size>\0<content>`. */
function blobSha(content: string): string {
  return createHash('sha1')
    .update(`blob ${Buffer.byteLength(content)}\0${content}`)
    .digest('hex');
}

/** What `GET /git/blobs` or `/contents` returns, decoded. */
function decode(content: string): string {
  return Buffer.from(content, 'base64').toString('utf8');
}

async function status(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (e) {
    return (e as { status: number }).status;
  }
}

describe('fake GitHub', () => {
  let fake: FakeGitHub;
  /** Installation client, authenticated like Probot: JWT → installation access token. */
  let gh: Octokit;
  let installationId: number;
  const repo = { owner: 'acme', repo: 'access' };
  const REPO = 'acme/access';

  beforeAll(async () => {
    [fake, appKeys, strangerKeys] = await Promise.all([FakeGitHub.start(), rsaKeys(), rsaKeys()]);
    fake.registerApp({
      id: APP_ID,
      slug: 'timebox',
      publicKeyPem: appKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      permissions: { ...MANIFEST },
      events: ['pull_request', 'pull_request_review'],
    });
    await fake.createRepo(REPO, {
      files: {
        'policies/qa.yaml': 'rules: []\n',
        'old.yaml': 'legacy: true\n',
        'conflict.txt': 'base\n',
      },
      author: 'admin',
    });
    await fake.createRepo('acme/other', { files: { 'README.md': 'other\n' } });
    installationId = fake.install(REPO);
    const app = new Octokit({ baseUrl: fake.url, auth: appJwt(), log });
    const { data: token } = await app.rest.apps.createInstallationAccessToken({
      installation_id: installationId,
    });
    gh = new Octokit({ baseUrl: fake.url, auth: token.token, log });
  });

  afterAll(async () => {
    const dir = fake.gitDir(REPO);
    await fake.close();
    await expect(readFile(join(dir, 'HEAD'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  describe('pull requests computed from git', () => {
    let mainSha: string;
    let first: string;
    let number: number;

    beforeAll(async () => {
      mainSha = (await fake.branchSha(REPO, 'main')) ?? '';
      first = await fake.commit(REPO, {
        branch: 'access/alice',
        files: { 'requests/alice.yaml': 'who: alice\nrole: read\n', 'old.yaml': null },
        author: 'alice',
        message: 'Request read access',
      });
      number = await fake.openPull({
        repo: REPO,
        head: 'access/alice',
        user: 'alice',
        title: 'Access for alice',
      });
    });

    it('serves head, base, counts and files of the branch as git has them', async () => {
      expect(number).toBe(1);
      const { data: pull } = await gh.rest.pulls.get({ ...repo, pull_number: number });
      expect(pull).toMatchObject({
        number: 1,
        title: 'Access for alice',
        head: { ref: 'access/alice', sha: first },
        base: { ref: 'main', sha: mainSha },
        commits: 1,
        changed_files: 2,
        additions: 2,
        deletions: 1,
        mergeable: true,
        mergeable_state: 'clean',
      });
      expect(pull.user?.login).toBe('alice');

      const { data: files } = await gh.rest.pulls.listFiles({ ...repo, pull_number: number });
      expect(files.map((f) => [f.filename, f.status, f.additions, f.deletions, f.sha])).toEqual([
        ['old.yaml', 'removed', 0, 1, blobSha('legacy: true\n')],
        ['requests/alice.yaml', 'added', 2, 0, blobSha('who: alice\nrole: read\n')],
      ]);
      expect(files[1]?.patch).toBe('@@ -0,0 +1,2 @@\n+who: alice\n+role: read');

      const { data: commits } = await gh.rest.pulls.listCommits({ ...repo, pull_number: number });
      expect(commits.map((c) => [c.sha, c.author?.login, c.committer?.login, c.commit.message])).toEqual([
        [first, 'alice', 'alice', 'Request read access'],
      ]);
      expect(commits[0]?.commit.author?.email).toBe('alice@users.noreply.github.com');
      expect(commits[0]?.parents.map((p) => p.sha)).toEqual([mainSha]);
      fake.assertClean();
    });

    it('serves trees (by commit, branch or tree sha; recursive or not) and blobs of the repository', async () => {
      const { data: flat } = await gh.rest.git.getTree({ ...repo, tree_sha: first });
      expect(flat.truncated).toBe(false);
      expect(flat.tree.map((e) => [e.path, e.type])).toEqual([
        ['conflict.txt', 'blob'],
        ['policies', 'tree'],
        ['requests', 'tree'],
      ]);
      const { data: deep } = await gh.rest.git.getTree({ ...repo, tree_sha: 'access/alice', recursive: '1' });
      expect(deep.sha).toBe(flat.sha);
      const request = deep.tree.find((e) => e.path === 'requests/alice.yaml');
      expect(request).toMatchObject({
        mode: '100644',
        type: 'blob',
        size: 22,
        sha: blobSha('who: alice\nrole: read\n'),
      });
      expect(deep.tree.map((e) => e.path)).toContain('policies/qa.yaml');
      expect(deep.tree.map((e) => e.path)).not.toContain('old.yaml');
      const policies = flat.tree.find((e) => e.path === 'policies');
      const { data: sub } = await gh.rest.git.getTree({ ...repo, tree_sha: policies?.sha ?? '' });
      expect(sub.tree.map((e) => e.path)).toEqual(['qa.yaml']);

      const { data: blob } = await gh.rest.git.getBlob({ ...repo, file_sha: request?.sha ?? '' });
      expect(blob).toMatchObject({ encoding: 'base64', size: 22, sha: request?.sha });
      expect(decode(blob.content)).toBe('who: alice\nrole: read\n');
      expect(blob.content).toBe(`${Buffer.from('who: alice\nrole: read\n').toString('base64')}\n`);

      expect(await status(gh.rest.git.getBlob({ ...repo, file_sha: 'f'.repeat(40) }))).toBe(404);
      expect(await status(gh.rest.git.getTree({ ...repo, tree_sha: 'no-such-branch' }))).toBe(404);
      // A blob is not a tree.
      expect(await status(gh.rest.git.getTree({ ...repo, tree_sha: request?.sha ?? '' }))).toBe(404);
      fake.assertClean();
    });

    it('wraps base64 at 60 characters like GitHub, and serves contents of files and directories', async () => {
      const long = `${'x'.repeat(100)}\n`;
      await fake.commit(REPO, { branch: 'long', files: { 'docs/long.txt': long }, author: 'admin' });
      const { data: file } = await gh.rest.repos.getContent({ ...repo, path: 'docs/long.txt', ref: 'long' });
      if (Array.isArray(file) || file.type !== 'file') throw new Error('expected a file');
      const lines = file.content.split('\n');
      expect(lines.map((l) => l.length)).toEqual([60, 60, 16, 0]);
      expect(decode(file.content)).toBe(long);
      expect(file.sha).toBe(blobSha(long));
      const { data: dir } = await gh.rest.repos.getContent({
        ...repo,
        path: 'requests',
        ref: 'access/alice',
      });
      expect(Array.isArray(dir) && dir.map((e) => [e.type, e.path])).toEqual([
        ['file', 'requests/alice.yaml'],
      ]);
      // Default ref: the default branch, which has no requests/ yet.
      expect(await status(gh.rest.repos.getContent({ ...repo, path: 'requests' }))).toBe(404);
      fake.assertClean();
    });

    it('follows pushes: renames by another person change head.sha, files and commits', async () => {
      const before = await fake.review({ repo: REPO, pull: number, user: 'bob', state: 'APPROVED' });
      expect(before.commit_id).toBe(first);
      const second = await fake.commit(REPO, {
        branch: 'access/alice',
        files: {
          'requests/alice.yaml': null,
          'requests/alice-db.yaml': 'who: alice\nrole: read\n',
          'policies/qa.yaml': null,
          'policies/qa-rules.yaml': 'rules: []\n',
        },
        author: { name: 'Mallory', email: 'mallory@example.com' },
        committer: 'carol',
      });
      const { data: pull } = await gh.rest.pulls.get({ ...repo, pull_number: number });
      expect(pull).toMatchObject({ head: { sha: second }, commits: 2, changed_files: 3 });
      // Three-dot diff from the merge base: a file renamed there shows renamed; a rename of a file the
      // branch itself added is just an addition.
      const { data: files } = await gh.rest.pulls.listFiles({ ...repo, pull_number: number });
      expect(files.map((f) => [f.filename, f.status, f.previous_filename])).toEqual([
        ['old.yaml', 'removed', undefined],
        ['policies/qa-rules.yaml', 'renamed', 'policies/qa.yaml'],
        ['requests/alice-db.yaml', 'added', undefined],
      ]);
      expect(files[1]).toMatchObject({ additions: 0, deletions: 0, changes: 0, sha: blobSha('rules: []\n') });
      expect(files[1]?.patch).toBeUndefined();
      const third = await fake.commit(REPO, {
        branch: 'access/alice',
        files: { 'requests/alice-db.yaml': null, 'requests/alice-orders.yaml': 'who: alice\nrole: read\n' },
        author: 'alice',
      });

      const commits = await gh.paginate(gh.rest.pulls.listCommits, {
        ...repo,
        pull_number: number,
        per_page: 1,
      });
      expect(commits.map((c) => [c.sha, c.author?.login ?? null, c.committer?.login ?? null])).toEqual([
        [first, 'alice', 'alice'],
        [second, null, 'carol'],
        [third, 'alice', 'alice'],
      ]);
      expect(commits[1]?.commit.author?.email).toBe('mallory@example.com');

      const after = await fake.review({
        repo: REPO,
        pull: number,
        user: 'carol',
        state: 'CHANGES_REQUESTED',
      });
      const reviews = await gh.paginate(gh.rest.pulls.listReviews, {
        ...repo,
        pull_number: number,
        per_page: 1,
      });
      expect(reviews.map((r) => [r.id, r.user?.login, r.state, r.commit_id])).toEqual([
        [before.id, 'bob', 'APPROVED', first],
        [after.id, 'carol', 'CHANGES_REQUESTED', third],
      ]);
      fake.dismissReview(REPO, number, Number(before.id));
      const { data: dismissed } = await gh.rest.pulls.listReviews({ ...repo, pull_number: number });
      expect(dismissed[0]?.state).toBe('DISMISSED');
      fake.assertClean();
    });

    it('is a real repository: git clone sees the commits the API reports', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'fake-github-clone-'));
      try {
        await git('git', ['clone', '--quiet', '--branch', 'access/alice', fake.gitDir(REPO), dir]);
        const { stdout } = await git('git', ['-C', dir, 'log', '--format=%H %an <%ae>', '-1', 'HEAD~2']);
        expect(stdout.trim()).toBe(`${first} alice <alice@users.noreply.github.com>`);
        expect(await readFile(join(dir, 'requests/alice-orders.yaml'), 'utf8')).toBe(
          'who: alice\nrole: read\n',
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('computes mergeability, lists pull requests and freezes a closed one', async () => {
      await fake.commit(REPO, { branch: 'clash', files: { 'conflict.txt': 'ours\n' }, author: 'dave' });
      const clash = await fake.openPull({ repo: REPO, head: 'clash', user: 'dave', draft: true });
      expect(clash).toBe(2);
      expect((await gh.rest.pulls.get({ ...repo, pull_number: clash })).data).toMatchObject({
        mergeable: true,
        mergeable_state: 'draft',
        draft: true,
      });
      await fake.commit(REPO, { branch: 'main', files: { 'conflict.txt': 'theirs\n' }, author: 'admin' });
      const mainTip = await fake.branchSha(REPO, 'main');
      expect((await gh.rest.pulls.get({ ...repo, pull_number: clash })).data).toMatchObject({
        mergeable: false,
        mergeable_state: 'dirty',
        base: { sha: mainTip },
      });
      // Files are a three-dot diff: what main did since the branch point is not the pull request's.
      const { data: aliceFiles } = await gh.rest.pulls.listFiles({ ...repo, pull_number: 1 });
      expect(aliceFiles.map((f) => f.filename)).not.toContain('conflict.txt');
      expect((await gh.rest.pulls.get({ ...repo, pull_number: 1 })).data).toMatchObject({
        base: { sha: mainTip },
        changed_files: aliceFiles.length,
      });
      const open = await gh.rest.pulls.list({ ...repo });
      expect(open.data.map((p) => p.number)).toEqual([2, 1]);
      expect((await gh.rest.pulls.list({ ...repo, head: 'acme:clash' })).data.map((p) => p.number)).toEqual([
        2,
      ]);

      await fake.closePull(REPO, clash);
      const frozen = (await gh.rest.pulls.get({ ...repo, pull_number: clash })).data.head.sha;
      await fake.commit(REPO, { branch: 'clash', files: { 'conflict.txt': 'again\n' }, author: 'dave' });
      const closed = (await gh.rest.pulls.get({ ...repo, pull_number: clash })).data;
      expect(closed).toMatchObject({ state: 'closed', head: { sha: frozen } });
      expect((await gh.rest.pulls.list({ ...repo, state: 'closed' })).data.map((p) => p.number)).toEqual([2]);
      expect(await status(gh.rest.pulls.get({ ...repo, pull_number: 99 }))).toBe(404);
      fake.assertClean();
    });

    it('merges like GitHub: a merge commit by the merger, committed by web-flow, closes the pull request', async () => {
      await fake.commit(REPO, { branch: 'merge-me', files: { 'notes.txt': 'hi\n' }, author: 'erin' });
      const n = await fake.openPull({ repo: REPO, head: 'merge-me', user: 'erin' });
      const baseBefore = await fake.branchSha(REPO, 'main');
      const merge = await fake.mergePull(REPO, n, 'bob');
      expect(await fake.branchSha(REPO, 'main')).toBe(merge);
      const { data: merged } = await gh.rest.pulls.get({ ...repo, pull_number: n });
      expect(merged).toMatchObject({
        state: 'closed',
        merged: true,
        merge_commit_sha: merge,
        merged_by: { login: 'bob' },
      });
      const { data: history } = await gh.rest.repos.listCommits({ ...repo, sha: 'main', per_page: 1 });
      expect(history[0]).toMatchObject({
        sha: merge,
        author: { login: 'bob' },
        committer: { login: 'web-flow' },
      });
      expect(history[0]?.parents.map((p) => p.sha)).toEqual([baseBefore, merged.head.sha]);
      await expect(fake.mergePull(REPO, n, 'bob')).rejects.toThrow(/not open/);
      fake.assertClean();
    });

    it('lists a branch history newest first with Link paging, as the root-commit lookup needs', async () => {
      const first = await gh.request('GET /repos/{owner}/{repo}/commits', {
        ...repo,
        sha: 'main',
        per_page: 1,
      });
      const last = /[?&]page=(\d+)[^>]*>;\s*rel="last"/.exec(first.headers.link ?? '')?.[1];
      expect(Number(last)).toBe(4);
      const page = await gh.request('GET /repos/{owner}/{repo}/commits', {
        ...repo,
        sha: 'main',
        per_page: 1,
        page: Number(last),
      });
      expect(page.data[0]?.sha).toBe(mainSha);
      expect(page.data[0]?.parents).toEqual([]);
      expect(first.data[0]?.commit.message).toMatch(/^Merge pull request #3 from acme\/merge-me\n\n/);
      fake.assertClean();
    });
  });

  describe('App authentication', () => {
    it('accepts an RS256 JWT from the app key, with iss as a number or a string', async () => {
      for (const iss of [APP_ID, String(APP_ID)]) {
        const app = new Octokit({
          baseUrl: fake.url,
          auth: jwt(appKeys.privateKey, { iat: now() - 30, exp: now() + 540, iss }),
          log,
        });
        const { data } = await app.rest.apps.getAuthenticated();
        expect(data).toMatchObject({ id: APP_ID, slug: 'timebox' });
      }
      const app = new Octokit({ baseUrl: fake.url, auth: appJwt(), log });
      const { data: installation } = await app.rest.apps.getRepoInstallation(repo);
      expect(installation).toMatchObject({ id: installationId, app_id: APP_ID, target_type: 'Organization' });
      fake.assertClean();
    });

    it('refuses a JWT signed by another key, expired, issued in the future, or used on a repository', async () => {
      const attempt = async (token: string) => {
        const app = new Octokit({ baseUrl: fake.url, auth: token, log });
        try {
          await app.rest.apps.getAuthenticated();
          return { status: 200, message: '' };
        } catch (e) {
          const err = e as { status: number; response: { data: { message: string } } };
          return { status: err.status, message: err.response.data.message };
        }
      };
      expect(await attempt(appJwt(strangerKeys.privateKey))).toEqual({
        status: 401,
        message: 'A JSON web token could not be decoded',
      });
      expect(
        await attempt(jwt(appKeys.privateKey, { iat: now() - 700, exp: now() - 100, iss: APP_ID })),
      ).toEqual({
        status: 401,
        message: expect.stringContaining("'Expiration time' claim ('exp')"),
      });
      expect(
        await attempt(jwt(appKeys.privateKey, { iat: now() + 300, exp: now() + 600, iss: APP_ID })),
      ).toEqual({
        status: 401,
        message: expect.stringContaining("'Issued at' claim ('iat')"),
      });
      expect((await attempt(jwt(appKeys.privateKey, { iat: now(), exp: now() + 60, iss: 999 }))).status).toBe(
        401,
      );
      // An installation token is not an app JWT, and a JWT reaches no repository.
      expect(await status(gh.rest.apps.getAuthenticated())).toBe(401);
      const app = new Octokit({ baseUrl: fake.url, auth: appJwt(), log });
      expect(await status(app.rest.pulls.get({ ...repo, pull_number: 1 }))).toBe(403);
      fake.assertClean();
    });

    it('issues installation tokens scoped to the installation, and down-scoped on request', async () => {
      const app = new Octokit({ baseUrl: fake.url, auth: appJwt(), log });
      const { data: token } = await app.rest.apps.createInstallationAccessToken({
        installation_id: installationId,
      });
      expect(token.token).toMatch(/^ghs_[A-Za-z0-9]{36}$/);
      expect(Date.parse(token.expires_at) - Date.now()).toBeGreaterThan(59 * 60 * 1000);
      expect(token.permissions).toEqual({ ...MANIFEST, metadata: 'read' });
      expect(token.repositories?.map((r) => r.full_name)).toEqual([REPO]);
      // acme/other exists but the app is not installed there.
      const client = new Octokit({ baseUrl: fake.url, auth: token.token, log });
      expect(await status(client.rest.git.getTree({ owner: 'acme', repo: 'other', tree_sha: 'main' }))).toBe(
        404,
      );

      const { data: narrow } = await app.rest.apps.createInstallationAccessToken({
        installation_id: installationId,
        permissions: { contents: 'read' },
      });
      const reader = new Octokit({ baseUrl: fake.url, auth: narrow.token, log });
      expect(await status(reader.rest.git.getTree({ ...repo, tree_sha: 'main' }))).toBe(200);
      expect(await status(reader.rest.pulls.get({ ...repo, pull_number: 1 }))).toBe(403);
      await expect(
        app.rest.apps.createInstallationAccessToken({
          installation_id: installationId,
          permissions: { administration: 'write' },
        }),
      ).rejects.toMatchObject({ status: 422 });
      expect(await status(app.rest.apps.createInstallationAccessToken({ installation_id: 42 }))).toBe(404);
      fake.assertClean();
    });

    it('answers 401 without a token or with an unknown or expired one, 403 without the permission', async () => {
      const anonymous = new Octokit({ baseUrl: fake.url, log });
      expect(await status(anonymous.rest.pulls.get({ ...repo, pull_number: 1 }))).toBe(401);
      const stranger = new Octokit({ baseUrl: fake.url, auth: 'ghs_unknown', log });
      expect(await status(stranger.rest.pulls.get({ ...repo, pull_number: 1 }))).toBe(401);

      const noPulls = new Octokit({ baseUrl: fake.url, auth: fake.token({ contents: 'read' }), log });
      const refused = await noPulls.rest.pulls.get({ ...repo, pull_number: 1 }).catch((e: unknown) => e);
      expect(refused).toMatchObject({
        status: 403,
        response: {
          data: { message: 'Resource not accessible by integration' },
          headers: { 'x-accepted-github-permissions': 'pull_requests=read' },
        },
      });
      // Every token may read metadata (collaborator permission); members is an organization permission.
      expect(
        await status(noPulls.rest.repos.getCollaboratorPermissionLevel({ ...repo, username: 'bob' })),
      ).toBe(200);
      expect(await status(noPulls.rest.teams.listMembersInOrg({ org: 'acme', team_slug: 'sre' }))).toBe(403);

      const expiring = new Octokit({ baseUrl: fake.url, auth: fake.token(), log });
      expect(await status(expiring.rest.pulls.get({ ...repo, pull_number: 1 }))).toBe(200);
      fake.expireTokens();
      expect(await status(expiring.rest.pulls.get({ ...repo, pull_number: 1 }))).toBe(401);
      const app = new Octokit({ baseUrl: fake.url, auth: appJwt(), log });
      const { data } = await app.rest.apps.createInstallationAccessToken({ installation_id: installationId });
      gh = new Octokit({ baseUrl: fake.url, auth: data.token, log });
      fake.assertClean();
    });

    it("gives Actions' GITHUB_TOKEN its workflow permissions on its own repository only", async () => {
      const token = fake.actionsToken(REPO, { contents: 'read', 'pull-requests': 'read' });
      const actions = new Octokit({ baseUrl: fake.url, auth: token, log });
      expect(await status(actions.rest.pulls.listFiles({ ...repo, pull_number: 1 }))).toBe(200);
      expect(await status(actions.rest.git.getTree({ ...repo, tree_sha: 'main' }))).toBe(200);
      expect(await status(actions.rest.checks.create({ ...repo, name: 'x', head_sha: 'a'.repeat(40) }))).toBe(
        403,
      );
      expect(await status(actions.rest.git.getTree({ owner: 'acme', repo: 'other', tree_sha: 'main' }))).toBe(
        404,
      );
      expect(() => fake.actionsToken(REPO, { members: 'read' })).toThrow(/organization permissions/);
      fake.assertClean();
    });
  });

  describe('check runs, comments, people', () => {
    it('creates check runs as the app, appends annotations, refuses bad shas and > 50 annotations', async () => {
      const head = (await fake.pull(REPO, 1)).head as JsonObject;
      const sha = String(head.sha);
      const { data: created } = await gh.rest.checks.create({ ...repo, name: 'timebox', head_sha: sha });
      expect(created).toMatchObject({ status: 'queued', app: { id: APP_ID, slug: 'timebox' } });
      expect(created.pull_requests.map((p) => p.number)).toEqual([1]);
      const annotation = {
        path: 'requests/alice-orders.yaml',
        start_line: 1,
        end_line: 1,
        annotation_level: 'failure' as const,
        message: 'no',
      };
      await gh.rest.checks.update({
        ...repo,
        check_run_id: created.id,
        output: { title: 'Pending', summary: 'one', annotations: [annotation] },
      });
      const { data: done } = await gh.rest.checks.update({
        ...repo,
        check_run_id: created.id,
        conclusion: 'action_required',
        output: { title: 'Pending', summary: 'two', annotations: [annotation, annotation] },
      });
      expect(done).toMatchObject({
        status: 'completed',
        conclusion: 'action_required',
        output: { summary: 'two' },
      });
      expect(done.output.annotations_count).toBe(3);
      expect(done.completed_at).toEqual(expect.any(String));
      expect(fake.annotations.get(created.id)).toHaveLength(3);

      const tooMany = Array.from({ length: 51 }, () => annotation);
      const refused = await gh.rest.checks
        .update({
          ...repo,
          check_run_id: created.id,
          output: { title: 't', summary: 's', annotations: tooMany },
        })
        .catch((e: unknown) => e);
      expect(refused).toMatchObject({ status: 422 });
      expect(
        await status(
          gh.rest.checks.create({
            ...repo,
            name: 'timebox',
            head_sha: sha,
            output: { title: 't', summary: 's', annotations: tooMany },
          }),
        ),
      ).toBe(422);
      expect(fake.annotations.get(created.id)).toHaveLength(3);
      // GitHub's description says `maxItems: 50`, so both are also client bugs on record.
      expect(fake.violations.map((v) => [v.operationId, v.errors])).toEqual([
        ['checks/update', ['body/output/annotations must NOT have more than 50 items']],
        ['checks/create', ['body/output/annotations must NOT have more than 50 items']],
      ]);
      fake.violations.length = 0;
      expect(
        await status(gh.rest.checks.create({ ...repo, name: 'timebox', head_sha: 'a'.repeat(40) })),
      ).toBe(422);

      await gh.rest.checks.create({ ...repo, name: 'other', head_sha: sha });
      const { data: listed } = await gh.rest.checks.listForRef({
        ...repo,
        ref: 'access/alice',
        check_name: 'timebox',
      });
      expect(listed.total_count).toBe(1);
      expect(listed.check_runs.map((r) => [r.id, r.conclusion])).toEqual([[created.id, 'action_required']]);
      const all = await gh.rest.checks.listForRef({ ...repo, ref: sha });
      expect(all.data.check_runs.map((r) => r.name)).toEqual(['other', 'timebox']);

      // Only the app that created a check run may change it.
      const other = new Octokit({
        baseUrl: fake.url,
        auth: fake.actionsToken(REPO, { checks: 'write' }),
        log,
      });
      expect(
        await status(other.rest.checks.update({ ...repo, check_run_id: created.id, name: 'mine' })),
      ).toBe(403);
      fake.assertClean();
    });

    it('posts comments as the app bot, GITHUB_TOKEN as github-actions[bot], and humans through the fake', async () => {
      fake.comment(REPO, 1, 'bob', 'LGTM');
      const { data: posted } = await gh.rest.issues.createComment({ ...repo, issue_number: 1, body: 'v1' });
      expect(posted.user).toMatchObject({ login: 'timebox[bot]', type: 'Bot' });
      expect(posted.performed_via_github_app?.slug).toBe('timebox');
      await gh.rest.issues.updateComment({ ...repo, comment_id: posted.id, body: 'v2' });
      const actions = new Octokit({
        baseUrl: fake.url,
        auth: fake.actionsToken(REPO, { 'pull-requests': 'write' }),
        log,
      });
      const { data: fromActions } = await actions.rest.issues.createComment({
        ...repo,
        issue_number: 1,
        body: 'a',
      });
      expect(fromActions.user).toMatchObject({ login: 'github-actions[bot]', type: 'Bot' });

      const comments = await gh.paginate(gh.rest.issues.listComments, {
        ...repo,
        issue_number: 1,
        per_page: 2,
      });
      expect(comments.map((c) => [c.user?.login, c.body])).toEqual([
        ['bob', 'LGTM'],
        ['timebox[bot]', 'v2'],
        ['github-actions[bot]', 'a'],
      ]);
      expect((await gh.rest.pulls.get({ ...repo, pull_number: 1 })).data.comments).toBe(3);
      expect(await status(gh.rest.issues.createComment({ ...repo, issue_number: 77, body: 'x' }))).toBe(404);
      fake.assertClean();
    });

    it('reads collaborator permissions and team members (404 for an unknown team)', async () => {
      fake.setPermission('bob', 'maintain');
      fake.setTeam('@acme/sre', ['bob', 'carol']);
      const { data: bob } = await gh.rest.repos.getCollaboratorPermissionLevel({ ...repo, username: 'bob' });
      expect(bob).toMatchObject({ permission: 'write', role_name: 'maintain' });
      const { data: mallory } = await gh.rest.repos.getCollaboratorPermissionLevel({
        ...repo,
        username: 'mallory',
      });
      expect(mallory.permission).toBe('none');
      const members = await gh.paginate(gh.rest.teams.listMembersInOrg, {
        org: 'acme',
        team_slug: 'sre',
        per_page: 1,
      });
      expect(members.map((m) => m.login)).toEqual(['bob', 'carol']);
      expect(await status(gh.rest.teams.listMembersInOrg({ org: 'acme', team_slug: 'nope' }))).toBe(404);
      fake.assertClean();
    });

    it('records the permissions requests used, apart for the app and for GITHUB_TOKEN', () => {
      expect(fake.actionsPermissionsUsed).toEqual({
        pull_requests: 'write',
        contents: 'read',
        checks: 'write',
      });
      expect(fake.permissionsUsed).toMatchObject({
        pull_requests: 'write',
        contents: 'read',
        checks: 'write',
        members: 'read',
        metadata: 'read',
      });
      const manifest: Record<string, string> = { ...MANIFEST, metadata: 'read' };
      for (const [permission, level] of Object.entries(fake.permissionsUsed)) {
        expect([permission, manifest[permission] === 'write' || manifest[permission] === level]).toEqual([
          permission,
          true,
        ]);
      }
    });
  });

  describe('validation against the OpenAPI description', () => {
    it('answers a malformed request 422 and records a violation', async () => {
      const token = fake.token();
      const response = await fetch(`${fake.url}/repos/acme/access/check-runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `token ${token}` },
        body: JSON.stringify({ status: 'queued' }),
      });
      expect(response.status).toBe(422);
      const body = (await response.json()) as { errors: string[] };
      expect(body.errors).toEqual(
        expect.arrayContaining([expect.stringContaining("'name'"), expect.stringContaining("'head_sha'")]),
      );
      expect(fake.violations).toEqual([
        expect.objectContaining({ operationId: 'checks/create', kind: 'request' }),
      ]);
      expect(() => fake.assertClean()).toThrow(/checks\/create/);
      fake.violations.length = 0;
    });

    it('records unmocked routes as 404', async () => {
      await expect(gh.rest.repos.listReleases(repo)).rejects.toMatchObject({ status: 404 });
      await expect(gh.request('GET /no/such/route')).rejects.toMatchObject({ status: 404 });
      expect(fake.unmocked).toEqual([
        { method: 'GET', url: '/repos/acme/access/releases' },
        { method: 'GET', url: '/no/such/route' },
      ]);
      fake.unmocked.length = 0;
    });
  });

  describe('webhooks', () => {
    it('builds payloads from the current state that match GitHub’s webhook description', async () => {
      const before = (await fake.branchSha(REPO, 'access/alice')) ?? '';
      const after = await fake.commit(REPO, {
        branch: 'access/alice',
        files: { 'requests/alice-orders.yaml': 'who: alice\nrole: write\n' },
        author: 'alice',
      });
      const sync = await fake.webhookPayload('pull_request', 'synchronize', {
        repo: REPO,
        pull: 1,
        sender: 'alice',
      });
      expect(sync).toMatchObject({
        action: 'synchronize',
        number: 1,
        before,
        after,
        pull_request: { head: { sha: after }, user: { login: 'alice' } },
        repository: { full_name: REPO },
        sender: { login: 'alice' },
        installation: { id: installationId },
        organization: { login: 'acme' },
      });
      for (const action of ['opened', 'reopened', 'ready_for_review'] as const) {
        const payload = await fake.webhookPayload('pull_request', action, {
          repo: REPO,
          pull: 1,
          sender: 'alice',
        });
        expect(payload.action).toBe(action);
      }
      const changes = fake.editPull(REPO, 1, { title: 'Access for alice (orders)' });
      const edited = await fake.webhookPayload('pull_request', 'edited', {
        repo: REPO,
        pull: 1,
        sender: 'alice',
      });
      expect(edited.changes).toEqual({ title: { from: 'Access for alice' } });
      expect(changes).toEqual(edited.changes);

      const review = await fake.review({ repo: REPO, pull: 1, user: 'carol', state: 'APPROVED', body: 'ok' });
      const submitted = await fake.webhookPayload('pull_request_review', 'submitted', {
        repo: REPO,
        pull: 1,
        review,
        sender: 'carol',
      });
      expect(submitted.review).toMatchObject({ id: review.id, state: 'approved', commit_id: after });
      fake.editReview(REPO, 1, Number(review.id), 'ok!');
      const reviewEdited = await fake.webhookPayload('pull_request_review', 'edited', {
        repo: REPO,
        pull: 1,
        review,
        sender: 'carol',
      });
      expect(reviewEdited.changes).toEqual({ body: { from: 'ok' } });
      fake.dismissReview(REPO, 1, Number(review.id));
      const dismissed = await fake.webhookPayload('pull_request_review', 'dismissed', {
        repo: REPO,
        pull: 1,
        review,
        sender: 'admin',
      });
      expect((dismissed.review as JsonObject).state).toBe('dismissed');
    });

    it('rejects payloads that drift from the description', async () => {
      const payload = await fake.webhookPayload('pull_request', 'opened', {
        repo: REPO,
        pull: 1,
        sender: 'alice',
      });
      expect(webhookErrors('pull_request', 'opened', payload)).toEqual([]);
      const { head: _, ...headless } = payload.pull_request as JsonObject;
      const broken = { ...payload, pull_request: headless, number: '1' };
      const errors = webhookErrors('pull_request', 'opened', broken);
      expect(errors).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^\/pull_request must have required property 'head'/),
          expect.stringMatching(/^\/number must be integer/),
        ]),
      );
      await expect(fake.deliver('http://127.0.0.1:9/', 'pull_request', broken, 's')).rejects.toThrow(
        /does not match GitHub's webhook description/,
      );
      expect(webhookErrors('pull_request', 'synchronize', payload).join('\n')).toMatch(/'before'|'after'/);
    });

    it('delivers with GitHub headers and a verifiable signature', async () => {
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
        const payload = await fake.webhookPayload('pull_request', 'opened', {
          repo: REPO,
          pull: 1,
          sender: 'alice',
        });
        const result = await fake.deliver(`http://127.0.0.1:${port}/hooks`, 'pull_request', payload, 'k');
        expect(result.status).toBe(202);
        const headers = received?.headers ?? {};
        expect(headers).toMatchObject({
          'x-github-event': 'pull_request',
          'x-github-delivery': result.id,
          'x-github-hook-installation-target-type': 'integration',
          'x-github-hook-installation-target-id': String(APP_ID),
          'content-type': 'application/json',
        });
        expect(headers['user-agent']).toMatch(/^GitHub-Hookshot\//);
        const expected = createHmac('sha256', 'k')
          .update(received?.body ?? '', 'utf8')
          .digest('hex');
        expect(headers['x-hub-signature-256']).toBe(`sha256=${expected}`);
        expect(JSON.parse(received?.body ?? '')).toEqual(payload);

        await deliver(`http://127.0.0.1:${port}/hooks`, 'ping', { zen: 'hi' }, 'k');
        expect(received?.headers['x-github-event']).toBe('ping');
      } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

    it("signs like GitHub's documented X-Hub-Signature-256 example", () => {
      expect(signWebhook("It's a Secret to Everybody", 'Hello, World!')).toBe(
        'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
      );
    });
  });
});
