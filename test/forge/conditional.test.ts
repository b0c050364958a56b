// Conditional requests in the forge double: every GET answered 200 carries an ETag; sent back in
// If-None-Match it is answered 304 with no body (validated against the OpenAPI description where the
// description documents 304), and any change to the answer — its body or its Link header — changes the tag.
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub } from '../../src/forge/fake-github.js';
import { matchesEtag } from '../../src/forge/pipeline.js';

const REPO = 'acme/etags';
let fake: FakeGitHub;
let token: string;

beforeAll(async () => {
  fake = await FakeGitHub.start();
  await fake.createRepo(REPO, { author: 'admin', files: { 'README.md': 'hello\n' } });
  token = fake.token();
});

afterAll(async () => {
  await fake?.close();
});

/** A raw GET (fetch, so that a 304 is a status, not an error), as octokit sends it. */
async function get(path: string, etag?: string) {
  const res = await fetch(`${fake.url}${path}`, {
    headers: {
      authorization: `token ${token}`,
      accept: 'application/vnd.github+json',
      ...(etag ? { 'if-none-match': etag } : {}),
    },
  });
  return {
    status: res.status,
    etag: res.headers.get('etag'),
    text: await res.text(),
    link: res.headers.get('link'),
  };
}

describe('ETag and If-None-Match', () => {
  it('answers 304 with no body while the answer is unchanged, and 200 with a new tag once it changes', async () => {
    fake.setTeam('@acme/leads', ['carol', 'dave']);
    const first = await get('/orgs/acme/teams/leads/members');
    expect(first.status).toBe(200);
    expect(first.etag).toMatch(/^"[0-9a-f]{64}"$/);
    expect(JSON.parse(first.text).map((m: { login: string }) => m.login)).toEqual(['carol', 'dave']);

    const again = await get('/orgs/acme/teams/leads/members', first.etag ?? '');
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
    expect(again.etag).toBe(first.etag);
    // The weak form and a list of tags match too (RFC 9110 compares If-None-Match weakly).
    expect((await get('/orgs/acme/teams/leads/members', `"x", W/${first.etag}`)).status).toBe(304);
    expect((await get('/orgs/acme/teams/leads/members', '*')).status).toBe(304);

    fake.setTeam('@acme/leads', ['dave']);
    const changed = await get('/orgs/acme/teams/leads/members', first.etag ?? '');
    expect(changed.status).toBe(200);
    expect(changed.etag).not.toBe(first.etag);
    expect(JSON.parse(changed.text).map((m: { login: string }) => m.login)).toEqual(['dave']);
    fake.assertClean();
  });

  it("a list that grew a page changes its first page's tag, though the first page's items are the same", async () => {
    const logins = Array.from({ length: 3 }, (_, i) => `member${i}`);
    fake.setTeam('@acme/paged', logins);
    const one = await get('/orgs/acme/teams/paged/members?per_page=3');
    expect(one.link).toBeNull();
    fake.setTeam('@acme/paged', [...logins, 'member3']);
    const grown = await get('/orgs/acme/teams/paged/members?per_page=3', one.etag ?? '');
    expect(grown.status).toBe(200);
    expect(JSON.parse(grown.text)).toEqual(JSON.parse(one.text));
    expect(grown.link).toContain('rel="next"');
  });

  it('validates a 304 where the description documents one (pulls/get) and records it', async () => {
    await fake.commit(REPO, { branch: 'topic', files: { 'a.txt': 'a\n' }, author: 'alice' });
    const pull = await fake.openPull({ repo: REPO, head: 'topic', user: 'alice' });
    const first = await get(`/repos/${REPO}/pulls/${pull}`);
    expect(first.status).toBe(200);
    expect((await get(`/repos/${REPO}/pulls/${pull}`, first.etag ?? '')).status).toBe(304);
    expect(fake.requests.at(-1)).toMatchObject({ operationId: 'pulls/get', status: 304 });
    await fake.commit(REPO, { branch: 'topic', files: { 'a.txt': 'b\n' }, author: 'alice' });
    expect((await get(`/repos/${REPO}/pulls/${pull}`, first.etag ?? '')).status).toBe(200);
    fake.assertClean();
  });

  it('octokit sees the 304 as GitHub sends it (a RequestError with status 304)', async () => {
    fake.setTeam('@acme/octo', ['carol']);
    const quiet = (): void => {};
    const log = { debug: quiet, info: quiet, warn: quiet, error: quiet };
    const gh = new Octokit({ baseUrl: fake.url, auth: token, log });
    const params = { org: 'acme', team_slug: 'octo' };
    const { headers } = await gh.request('GET /orgs/{org}/teams/{team_slug}/members', params);
    const etag = headers.etag ?? '';
    expect(etag).not.toBe('');
    await expect(
      gh.request('GET /orgs/{org}/teams/{team_slug}/members', {
        ...params,
        headers: { 'if-none-match': etag },
      }),
    ).rejects.toMatchObject({ status: 304 });
  });

  it('writes carry no ETag and ignore If-None-Match', async () => {
    const res = await fetch(`${fake.url}/repos/${REPO}/issues`, {
      method: 'POST',
      headers: {
        authorization: `token ${fake.token()}`,
        'if-none-match': '*',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ title: 'x' }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('etag')).toBeNull();
  });
});

describe('matchesEtag', () => {
  it('compares opaque tags weakly and never matches another tag', () => {
    expect(matchesEtag('"abc"', '"abc"')).toBe(true);
    expect(matchesEtag('W/"abc"', '"abc"')).toBe(true);
    expect(matchesEtag('"a", "abc"', '"abc"')).toBe(true);
    expect(matchesEtag('*', '"abc"')).toBe(true);
    expect(matchesEtag('"abcd"', '"abc"')).toBe(false);
    expect(matchesEtag('"ab"', '"abc"')).toBe(false);
    expect(matchesEtag('abc', '"abc"')).toBe(false);
    expect(matchesEtag('', '"abc"')).toBe(false);
  });
});
