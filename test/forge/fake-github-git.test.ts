// Git over HTTP against the fake GitHub, with the real git CLI: clone and fetch with an installation token
// (sent as actions/checkout does, in an `http.extraHeader`), GitHub's answers when the token falls short, and
// pushes refused (the fake takes them through the REST API).
import { execFile } from 'node:child_process';
import { generateKeyPair, type KeyObject, sign } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub, type RecordedRequest } from '../../src/forge/fake-github.js';
import { matchGitPath, parseCgiHeaders } from '../../src/forge/git-http.js';

const run = promisify(execFile);
const APP_ID = 789;
const REPO = 'acme/access';
const quiet = (): void => {};
const log = { debug: quiet, info: quiet, warn: quiet, error: quiet };

function appJwt(key: KeyObject): string {
  const now = Math.floor(Date.now() / 1000);
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode({ iat: now - 30, exp: now + 540, iss: APP_ID })}`;
  return `${unsigned}.${sign('RSA-SHA256', Buffer.from(unsigned), key).toString('base64url')}`;
}

const basic = (token: string): string => `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;

/** No inherited GIT_* variables nor user config; the token, if any, in an extra header as actions/checkout. */
function gitEnv(token?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('GIT_')) env[key] = value;
  }
  return {
    ...env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
    ...(token
      ? {
          GIT_CONFIG_COUNT: '1',
          GIT_CONFIG_KEY_0: 'http.extraHeader',
          GIT_CONFIG_VALUE_0: `Authorization: ${basic(token)}`,
        }
      : {}),
  };
}

/** Runs git; a failure is an answer (`ok: false` and git's stderr), not an exception. */
async function git(
  args: string[],
  options: { token?: string; cwd?: string } = {},
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('git', args, { cwd: options.cwd, env: gitEnv(options.token) });
    return { ok: true, stdout, stderr };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/** A pkt-line of git's wire protocol: four hex digits of length (themselves included), then the data. */
const pkt = (data: string): string => (data.length + 4).toString(16).padStart(4, '0') + data;
/** Protocol v2's `ls-refs` for branches: command, delimiter, argument, flush. */
const LS_REFS = `${pkt('command=ls-refs\n')}0001${pkt('ref-prefix refs/heads/\n')}0000`;

describe('fake GitHub: git over HTTP', () => {
  let fake: FakeGitHub;
  let root: string;
  /** Installation token with the app's permissions: contents read, pull requests write. */
  let token: string;
  /** Same installation, without contents. */
  let pullsOnly: string;
  let first: string;
  let second: string;
  /** A clone made through the fake, fetched into by later tests. */
  let clone: string;

  /** The git requests recorded since `from` (an index into `fake.requests`). */
  const gitRequests = (from = 0): RecordedRequest[] =>
    fake.requests.slice(from).filter((r) => r.url.includes('.git/') || r.operationId?.startsWith('git/'));

  beforeAll(async () => {
    let keys: { publicKey: KeyObject; privateKey: KeyObject };
    [fake, keys, root] = await Promise.all([
      FakeGitHub.start(),
      promisify(generateKeyPair)('rsa', { modulusLength: 2048 }),
      mkdtemp(join(tmpdir(), 'fake-github-git-')),
    ]);
    fake.registerApp({
      id: APP_ID,
      slug: 'timebox',
      publicKeyPem: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      permissions: { contents: 'read', pull_requests: 'write' },
    });
    first = await fake.createRepo(REPO, { files: { 'policies/qa.yaml': 'rules: []\n' }, author: 'admin' });
    second = await fake.commit(REPO, {
      branch: 'main',
      files: { 'requests/alice.yaml': 'who: alice\n' },
      author: 'alice',
      message: 'Request access for alice',
    });
    await fake.commit(REPO, {
      branch: 'access/bob',
      files: { 'requests/bob.yaml': 'who: bob\n' },
      author: 'bob',
    });
    await fake.createRepo('acme/other', { files: { 'README.md': 'other\n' } });
    const installation_id = fake.install(REPO);
    const app = new Octokit({ baseUrl: fake.url, auth: appJwt(keys.privateKey), log });
    const [full, narrow] = await Promise.all([
      app.rest.apps.createInstallationAccessToken({ installation_id }),
      app.rest.apps.createInstallationAccessToken({
        installation_id,
        permissions: { pull_requests: 'read' },
      }),
    ]);
    token = full.data.token;
    pullsOnly = narrow.data.token;
    clone = join(root, 'clone');
  });

  afterAll(async () => {
    await fake.close();
    await rm(root, { recursive: true, force: true });
  });

  it('clones with an installation token: branches and commits as git has them, contents:read recorded', async () => {
    expect(fake.gitUrl(REPO)).toBe(`${fake.url}/acme/access.git`);
    const cloned = await git(['clone', fake.gitUrl(REPO), clone], { token });
    expect(cloned).toMatchObject({ ok: true });

    const history = await git(['log', '--format=%H %s', 'HEAD'], { cwd: clone });
    expect(history.stdout.trim().split('\n')).toEqual([
      `${second} Request access for alice`,
      `${first} Initial commit`,
    ]);
    expect(await readFile(join(clone, 'requests/alice.yaml'), 'utf8')).toBe('who: alice\n');
    const branches = await git(['for-each-ref', '--format=%(refname) %(objectname)', 'refs/remotes'], {
      cwd: clone,
    });
    expect(branches.stdout).toContain(
      `refs/remotes/origin/access/bob ${await fake.branchSha(REPO, 'access/bob')}`,
    );
    expect(branches.stdout).toContain(`refs/remotes/origin/main ${second}`);

    // Ref advertisement, then the pack: each authorized by contents:read, which the app's tokens are shown to use.
    const requests = gitRequests();
    expect(requests.map((r) => [r.method, r.url, r.operationId, r.status, r.grant])).toEqual([
      ['GET', '/acme/access.git/info/refs?service=git-upload-pack', 'git/upload-pack', 200, 'contents:read'],
      // Protocol v2: ls-refs, then fetch.
      ['POST', '/acme/access.git/git-upload-pack', 'git/upload-pack', 200, 'contents:read'],
      ['POST', '/acme/access.git/git-upload-pack', 'git/upload-pack', 200, 'contents:read'],
    ]);
    expect(fake.permissionsUsed).toEqual({ contents: 'read' });
    expect(fake.actionsPermissionsUsed).toEqual({});
    fake.assertClean();
  });

  it('fetches commits made since, into the existing clone', async () => {
    const third = await fake.commit(REPO, {
      branch: 'main',
      files: { 'requests/carol.yaml': 'who: carol\n' },
      author: 'carol',
      message: 'Request access for carol',
    });
    const carol = await fake.commit(REPO, {
      branch: 'access/carol',
      files: { 'c.txt': 'c\n' },
      author: 'carol',
    });
    const from = fake.requests.length;
    expect(await git(['fetch', 'origin'], { cwd: clone, token })).toMatchObject({ ok: true });

    const history = await git(['log', '--format=%H', 'origin/main'], { cwd: clone });
    expect(history.stdout.trim().split('\n')).toEqual([third, second, first]);
    expect((await git(['rev-parse', 'origin/access/carol'], { cwd: clone })).stdout.trim()).toBe(carol);
    const show = await git(['show', `${third}:requests/carol.yaml`], { cwd: clone });
    expect(show.stdout).toBe('who: carol\n');
    expect(gitRequests(from).map((r) => [r.method, r.status])).toEqual([
      ['GET', 200],
      ['POST', 200],
      ['POST', 200],
    ]);

    // Nothing new: ls-refs tells git it is up to date, and it asks for no pack.
    const again = fake.requests.length;
    expect(await git(['fetch', 'origin'], { cwd: clone, token })).toMatchObject({ ok: true });
    expect(gitRequests(again).map((r) => r.method)).toEqual(['GET', 'POST']);
    fake.assertClean();
  });

  it('speaks protocol v2 when asked, takes gzipped and chunked bodies, with or without .git', async () => {
    const main = await fake.branchSha(REPO, 'main');
    const refs = `${fake.gitUrl(REPO)}/info/refs?service=git-upload-pack`;
    const v0 = await fetch(refs, { headers: { authorization: basic(token) } });
    expect(v0.status).toBe(200);
    expect(v0.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
    const advertised = await v0.text();
    expect(advertised.startsWith('001e# service=git-upload-pack\n0000')).toBe(true);
    expect(advertised).toContain(`${main} refs/heads/main\n`);

    const v2 = await fetch(refs, { headers: { authorization: basic(token), 'git-protocol': 'version=2' } });
    const capabilities = await v2.text();
    expect(capabilities).toContain('version 2\n');
    expect(capabilities).toContain('ls-refs');
    expect(capabilities).not.toContain('refs/heads/main');

    const post = (
      body: NonNullable<RequestInit['body']>,
      headers: Record<string, string> = {},
      url = fake.gitUrl(REPO),
    ) =>
      fetch(`${url}/git-upload-pack`, {
        method: 'POST',
        headers: {
          authorization: basic(token),
          'git-protocol': 'version=2',
          'content-type': 'application/x-git-upload-pack-request',
          ...headers,
        },
        body,
        duplex: 'half',
      } as RequestInit);
    const gzipped = await post(gzipSync(LS_REFS), { 'content-encoding': 'gzip' });
    expect(gzipped.status).toBe(200);
    expect(await gzipped.text()).toContain(`${main} refs/heads/main\n`);
    // A stream has no Content-Length: it goes chunked, and the backend reads to its end.
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(Buffer.from(LS_REFS.slice(0, 10)));
        controller.enqueue(Buffer.from(LS_REFS.slice(10)));
        controller.close();
      },
    });
    const chunked = await post(stream);
    expect(chunked.status).toBe(200);
    expect(await chunked.text()).toContain(`${main} refs/heads/main\n`);

    const bare = `${fake.url}/acme/access`;
    expect((await post(LS_REFS, {}, bare)).status).toBe(200);
    expect(
      (await fetch(`${bare}/info/refs?service=git-upload-pack`, { headers: { authorization: basic(token) } }))
        .status,
    ).toBe(200);
    fake.assertClean();
  });

  it('challenges for Basic credentials (401) without a token or with an unknown one', async () => {
    const anonymous = await fetch(`${fake.gitUrl(REPO)}/info/refs?service=git-upload-pack`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="GitHub"');

    // Challenged, git asks for a username it may not prompt for.
    const from = fake.requests.length;
    const none = await git(['clone', fake.gitUrl(REPO), join(root, 'none')]);
    expect(none.ok).toBe(false);
    expect(none.stderr).toMatch(/could not read Username.*terminal prompts disabled/);
    expect(gitRequests(from).map((r) => [r.status, r.grant])).toEqual([[401, undefined]]);

    const unknown = await git(['clone', fake.gitUrl(REPO), join(root, 'unknown')], { token: 'ghs_unknown' });
    expect(unknown.ok).toBe(false);
    expect(gitRequests(from).map((r) => r.status)).toEqual([401, 401]);

    // Credentials in the URL are sent after the challenge, as Basic; the password is the token.
    const inUrl = (secret: string) =>
      fake.gitUrl(REPO).replace('http://', `http://x-access-token:${secret}@`);
    const wrong = await git(['clone', inUrl('ghs_unknown'), join(root, 'wrong')]);
    expect(wrong.ok).toBe(false);
    expect(wrong.stderr).toContain('remote: Invalid username or token.');
    expect(wrong.stderr).toContain('Authentication failed');
    expect(await git(['clone', inUrl(token), join(root, 'url')])).toMatchObject({ ok: true });

    fake.assertClean();
  });

  it('pretends a repository outside the token’s reach does not exist (404)', async () => {
    // The app is installed on acme/access only; a GITHUB_TOKEN reaches its own repository only.
    const access = fake.actionsToken(REPO, { contents: 'read' });
    const from = fake.requests.length;
    for (const [name, secret] of [
      ['acme/other', token],
      ['acme/other', access],
      ['acme/nope', token],
    ] as const) {
      const refused = await git(['clone', fake.gitUrl(name), join(root, 'not-found')], { token: secret });
      expect(refused.ok).toBe(false);
      expect(refused.stderr).toContain('remote: Repository not found.');
      expect(refused.stderr).toContain(`repository '${fake.gitUrl(name)}/' not found`);
    }
    expect(gitRequests(from).map((r) => r.status)).toEqual([404, 404, 404]);

    // The same token reaches its own repository, and is recorded apart from the app's.
    expect(await git(['clone', fake.gitUrl(REPO), join(root, 'actions')], { token: access })).toMatchObject({
      ok: true,
    });
    expect(fake.actionsPermissionsUsed).toEqual({ contents: 'read' });
    fake.assertClean();
  });

  it('refuses a token without contents: read (403)', async () => {
    const from = fake.requests.length;
    for (const [who, noContents] of [
      ['timebox[bot]', pullsOnly],
      ['github-actions[bot]', fake.actionsToken(REPO, { contents: 'none', 'pull-requests': 'write' })],
    ] as const) {
      const refused = await git(['clone', fake.gitUrl(REPO), join(root, `no-contents-${who}`)], {
        token: noContents,
      });
      expect(refused.ok).toBe(false);
      expect(refused.stderr).toContain(`remote: Permission to acme/access.git denied to ${who}.`);
      expect(refused.stderr).toContain('The requested URL returned error: 403');
    }
    expect(gitRequests(from).map((r) => [r.status, r.grant])).toEqual([
      [403, undefined],
      [403, undefined],
    ]);
    fake.assertClean();
  });

  it('refuses pushes, even with contents: write, and creates no branch', async () => {
    const writer = fake.token({ contents: 'write' });
    const commit = await git(
      ['-c', 'user.name=Mallory', '-c', 'user.email=m@example.com', 'commit', '--allow-empty', '-m', 'x'],
      { cwd: clone },
    );
    expect(commit.ok).toBe(true);
    const from = fake.requests.length;
    const pushed = await git(['push', 'origin', 'HEAD:refs/heads/pushed'], { cwd: clone, token: writer });
    expect(pushed.ok).toBe(false);
    expect(pushed.stderr).toContain('remote: fake-github: pushing to acme/access.git is not supported');
    expect(gitRequests(from).map((r) => [r.method, r.operationId, r.status])).toEqual([
      ['GET', 'git/receive-pack', 403],
    ]);
    expect(await fake.branchSha(REPO, 'pushed')).toBeUndefined();

    // Straight to the endpoint, too.
    const post = await fetch(`${fake.gitUrl(REPO)}/git-receive-pack`, {
      method: 'POST',
      headers: { authorization: basic(writer), 'content-type': 'application/x-git-receive-pack-request' },
      body: '0000',
    });
    expect(post.status).toBe(403);
    fake.assertClean();
  });

  it('serves no dumb HTTP: 404, recorded as unmocked', async () => {
    const access = fake.actionsToken(REPO, { contents: 'read' });
    for (const path of ['/info/refs', '/HEAD', '/objects/info/packs']) {
      const response = await fetch(`${fake.gitUrl(REPO)}${path}`, {
        headers: { authorization: basic(access) },
      });
      expect([path, response.status]).toEqual([path, 404]);
      expect(await response.text()).toContain('only smart HTTP fetches');
    }
    expect(fake.unmocked).toEqual([
      { method: 'GET', url: '/acme/access.git/info/refs' },
      { method: 'GET', url: '/acme/access.git/HEAD' },
      { method: 'GET', url: '/acme/access.git/objects/info/packs' },
    ]);
    fake.unmocked.length = 0;
  });

  it('answers 401 once the token has expired', async () => {
    const expiring = fake.token({ contents: 'read' });
    const live = await fetch(`${fake.gitUrl(REPO)}/info/refs?service=git-upload-pack`, {
      headers: { authorization: basic(expiring) },
    });
    expect(live.status).toBe(200);
    fake.expireTokens();
    const expired = await fetch(`${fake.gitUrl(REPO)}/info/refs?service=git-upload-pack`, {
      headers: { authorization: basic(expiring) },
    });
    expect(expired.status).toBe(401);
    fake.assertClean();
  });
});

describe('git smart HTTP routing', () => {
  const match = (method: string, path: string) => {
    const url = new URL(path, 'http://fake');
    return matchGitPath(method, url.pathname, url.searchParams);
  };

  it('tells git requests from REST API ones, with or without .git', () => {
    expect(match('GET', '/acme/access.git/info/refs?service=git-upload-pack')).toEqual({
      fullName: 'acme/access',
      rest: '/info/refs',
      service: 'upload-pack',
    });
    expect(match('POST', '/acme/access/git-upload-pack')).toEqual({
      fullName: 'acme/access',
      rest: '/git-upload-pack',
      service: 'upload-pack',
    });
    expect(match('GET', '/acme/access/info/refs?service=git-receive-pack')?.service).toBe('receive-pack');
    expect(match('POST', '/acme/access.git/git-receive-pack')?.service).toBe('receive-pack');
    expect(match('GET', '/acme/access.git/git-upload-pack')?.service).toBe('other');
    expect(match('GET', '/acme/access.git/objects/info/packs')?.service).toBe('other');
    for (const api of [
      '/repos/acme/access/git/refs',
      '/repos/acme/access/git/ref/heads/main',
      '/repos/acme/access/contents/info/refs',
      '/users/alice/keys',
      '/app/installations',
    ]) {
      expect([api, match('GET', api)]).toEqual([api, undefined]);
    }
  });

  it('reads CGI headers: an optional Status line, then fields', () => {
    expect(parseCgiHeaders('Status: 404 Not Found\r\nContent-Type: text/plain')).toEqual({
      status: 404,
      headers: { 'Content-Type': 'text/plain' },
    });
    expect(parseCgiHeaders('Expires: Fri, 01 Jan 1980 00:00:00 GMT\nCache-Control: no-cache')).toEqual({
      status: 200,
      headers: { Expires: 'Fri, 01 Jan 1980 00:00:00 GMT', 'Cache-Control': 'no-cache' },
    });
  });
});
