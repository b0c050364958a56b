// The forge double runs on the clock it is given: what it stamps (commits, comments, check runs) and what its
// tokens and app JWTs are checked against, so a test can move the forge's time without waiting.
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';

const REPO = 'acme/clock';
const APP_ID = 4242;
const START = '2030-01-02T03:04:05Z';

let fake: FakeGitHub | undefined;

afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

function appJwt(key: KeyObject, nowMs: number): string {
  const now = Math.floor(nowMs / 1000);
  const encode = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode({ iat: now - 30, exp: now + 540, iss: APP_ID })}`;
  return `${unsigned}.${sign('RSA-SHA256', Buffer.from(unsigned), key).toString('base64url')}`;
}

async function call(
  f: FakeGitHub,
  method: string,
  path: string,
  auth: string,
  body?: unknown,
): Promise<{ status: number; data: JsonObject }> {
  const res = await fetch(`${f.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${auth}`,
      accept: 'application/vnd.github+json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, data: (text ? JSON.parse(text) : {}) as JsonObject };
}

/** A forge with the app installed on REPO, and a pull request #1 to comment on. */
async function forgeWithApp(options: Parameters<typeof FakeGitHub.start>[0]) {
  const f = await FakeGitHub.start(options);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  f.registerApp({
    id: APP_ID,
    slug: 'clocked',
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    permissions: { checks: 'write', issues: 'write', pull_requests: 'write', contents: 'read' },
  });
  await f.createRepo(REPO, { author: 'admin', files: { 'README.md': '# r\n' } });
  const installation = f.install(REPO, APP_ID);
  await f.commit(REPO, { branch: 'feature', files: { 'a.txt': 'a\n' }, author: 'bob' });
  await f.openPull({ repo: REPO, head: 'feature', user: 'bob' });
  return { f, privateKey, installation };
}

describe('a forge double on a ManualClock', () => {
  it('stamps what it creates with the clock’s time', async () => {
    const clock = new ManualClock(START);
    const { f, privateKey, installation } = await forgeWithApp({ clock });
    fake = f;
    const minted = await call(
      f,
      'POST',
      `/app/installations/${installation}/access_tokens`,
      appJwt(privateKey, clock.nowMs()),
    );
    expect(minted.status).toBe(201);
    expect(minted.data.expires_at).toBe('2030-01-02T04:04:05Z');
    const token = String(minted.data.token);

    const comment = await call(f, 'POST', `/repos/${REPO}/issues/1/comments`, token, { body: 'hi' });
    expect(comment.status).toBe(201);
    expect(comment.data.created_at).toBe(START);

    await clock.advance(10 * 60_000);
    const tip = (await f.branchSha(REPO, 'feature')) as string;
    const run = await call(f, 'POST', `/repos/${REPO}/check-runs`, token, {
      name: 'timebox',
      head_sha: tip,
      conclusion: 'success',
    });
    expect(run.status).toBe(201);
    expect(run.data.started_at).toBe('2030-01-02T03:14:05Z');
    expect(run.data.completed_at).toBe('2030-01-02T03:14:05Z');

    const sha = await f.commit(REPO, { branch: 'feature', files: { 'b.txt': 'b\n' }, author: 'bob' });
    const commit = await call(f, 'GET', `/repos/${REPO}/git/commits/${sha}`, token);
    expect((commit.data.committer as JsonObject).date).toBe('2030-01-02T03:14:05Z');
    expect((await f.pull(REPO, 1)).updated_at).toBe('2030-01-02T03:14:05Z');
    f.assertClean();
  });

  it('expires an installation token when the clock passes its expiry, and checks JWTs against it', async () => {
    const clock = new ManualClock(START);
    const { f, privateKey, installation } = await forgeWithApp({ clock });
    fake = f;
    // A JWT signed by the wall clock is long expired in 2030.
    const early = await call(f, 'GET', '/app', appJwt(privateKey, Date.parse('2024-01-01T00:00:00Z')));
    expect(early.status).toBe(401);
    const minted = await call(
      f,
      'POST',
      `/app/installations/${installation}/access_tokens`,
      appJwt(privateKey, clock.nowMs()),
    );
    const token = String(minted.data.token);
    const read = () => call(f, 'GET', `/repos/${REPO}/issues/1/comments`, token);
    await clock.advance(60 * 60_000 - 1000);
    expect((await read()).status).toBe(200);
    await clock.advance(1000);
    const expired = await read();
    expect(expired.status).toBe(401);
    expect(expired.data.message).toBe('Bad credentials');
  });
});

describe('the older `now` option', () => {
  it('moves what the forge stamps, not token lifetimes or JWT checks', async () => {
    const { f, privateKey, installation } = await forgeWithApp({ now: () => new Date(START) });
    fake = f;
    const minted = await call(
      f,
      'POST',
      `/app/installations/${installation}/access_tokens`,
      appJwt(privateKey, Date.now()),
    );
    expect(minted.status).toBe(201);
    expect(Date.parse(String(minted.data.expires_at))).toBeLessThan(Date.parse(START));
    const comment = await call(f, 'POST', `/repos/${REPO}/issues/1/comments`, String(minted.data.token), {
      body: 'hi',
    });
    expect(comment.data.created_at).toBe(START);
  });
});
