// Conditional reads (src/github/conditional.ts), adversarially: an answer kept with its ETag is served only
// when GitHub answers 304 for that very URL; a change — a team member removed, a permission lowered, a list
// grown by a page the ETag does not cover — is read in full, so nothing stale ever decides.
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { CheckCache, decidePull } from '../../src/engine/pull-check.js';
import { FakeGitHub } from '../../src/forge/fake-github.js';
import { type GitHub, GitHubCache, type Validated } from '../../src/github/client.js';
import { conditionalList } from '../../src/github/conditional.js';
import { githubForge } from '../../src/github/forge.js';
import { exampleAccessRepo } from '../helpers/serve.js';

const quiet = (): void => {};
const log = { debug: quiet, info: quiet, warn: quiet, error: quiet };

describe('a pull request decided again through kept answers (the forge double)', () => {
  const REPO = 'acme/access';
  let fake: FakeGitHub;
  let gh: GitHub;
  let pull: number;

  beforeAll(async () => {
    fake = await FakeGitHub.start();
    await exampleAccessRepo(fake, REPO);
    await fake.commit(REPO, {
      branch: 'req',
      files: {
        'requests/alice/req.yaml':
          'requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1\nticket: BUG-1\n',
      },
      author: 'alice',
    });
    pull = await fake.openPull({ repo: REPO, head: 'req', user: 'alice' });
    await fake.review({ repo: REPO, pull, user: 'carol', state: 'APPROVED' });
    gh = new Octokit({ baseUrl: fake.url, auth: fake.token(), log });
  });

  afterAll(async () => {
    await fake?.close();
  });

  it('a removed team member or a lowered permission stops approving at once, though other reads answer 304', async () => {
    // One cache across events, as the App keeps it; a fresh forge per event.
    const api = new GitHubCache();
    const cache = new CheckCache();
    const decide = async () => {
      const from = fake.requests.length;
      const d = await decidePull(githubForge(gh, { owner: 'acme', repo: 'access' }, api), pull, {
        botLogin: 'timebox[bot]',
        clock: systemClock,
        cache,
      });
      const reads = fake.requests.slice(from).filter((r) => r.method === 'GET');
      const status = (part: string) => reads.filter((r) => r.url.includes(part)).map((r) => r.status);
      return { status: d.decisions.map((x) => x.status), reads: status };
    };

    const first = await decide();
    expect(first.status).toEqual(['approved']);
    expect(first.reads('/teams/qa-leads/members')).toEqual([200]);

    // Nothing changed: the kept answers are used (so this test exercises them), and still approve.
    const same = await decide();
    expect(same.status).toEqual(['approved']);
    expect(same.reads('/teams/qa-leads/members')).toEqual([304]);
    expect(same.reads('/collaborators/carol/permission')).toEqual([304]);
    expect(same.reads('/reviews')).toEqual([304]);

    // carol leaves the approving team: the team's tag changed, its new members are read, carol no longer counts.
    fake.setTeam('@acme/qa-leads', ['dave']);
    const removed = await decide();
    expect(removed.reads('/teams/qa-leads/members')).toEqual([200]);
    expect(removed.status).toEqual(['pending']);

    // Back in the team, but her write access is gone: the permission is read in full and refuses.
    fake.setTeam('@acme/qa-leads', ['carol']);
    fake.setPermission('carol', 'read');
    const lowered = await decide();
    expect(lowered.reads('/collaborators/carol/permission')).toEqual([200]);
    expect(lowered.status).toEqual(['pending']);

    // Her review dismissed while everything else stands: the reviews are read in full.
    fake.setPermission('carol', 'write');
    expect((await decide()).status).toEqual(['approved']);
    const review = (
      await gh.request('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews', {
        owner: 'acme',
        repo: 'access',
        pull_number: pull,
      })
    ).data[0];
    fake.dismissReview(REPO, pull, Number(review?.id));
    const dismissed = await decide();
    expect(dismissed.reads('/reviews')).toEqual([200]);
    expect(dismissed.status).toEqual(['pending']);
    fake.assertClean();
  }, 60_000);
});

/**
 * A scripted GitHub for the list rules: pages by URL, an ETag over the body only (as a server whose tag does
 * not cover `Link` might), a 304 thrown as octokit throws it; every request recorded.
 */
function scripted() {
  const endpoint = new Octokit({ baseUrl: 'https://api.test', log }).request.endpoint;
  const pages = new Map<string, { data: unknown[]; link?: string }>();
  const seen: { url: string; conditional: boolean; status: number }[] = [];
  const request = async (
    route: string,
    params: Record<string, unknown> & { headers?: Record<string, string> },
  ) => {
    const { url } = endpoint(route as never, params as never) as { url: string };
    const page = pages.get(url);
    if (!page) throw Object.assign(new Error(`no page ${url}`), { status: 404 });
    const etag = `"${JSON.stringify(page.data).length}:${JSON.stringify(page.data)}"`;
    const asked = params.headers?.['if-none-match'];
    const status = asked === etag ? 304 : 200;
    seen.push({ url, conditional: asked !== undefined, status });
    if (status === 304) throw Object.assign(new Error('Not modified'), { status: 304 });
    return { data: structuredClone(page.data), headers: { etag, ...(page.link ? { link: page.link } : {}) } };
  };
  const gh = { request: Object.assign(request, { endpoint }) } as unknown as GitHub;
  return { gh, pages, seen };
}

const ROUTE = 'GET /orgs/{org}/teams/{team_slug}/members';
const URL1 = 'https://api.test/orgs/acme/teams/qa/members?per_page=100';
const URL2 = 'https://api.test/orgs/acme/teams/qa/members?per_page=100&page=2';
const members = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ login: `m${from + i}` }));

describe('conditionalList', () => {
  it('a full last page answered 304 is read again in full: a page added behind it is not missed', async () => {
    const { gh, pages, seen } = scripted();
    const store = new Map<string, Validated>();
    const read = () =>
      conditionalList<{ login: string }>(gh, store, ROUTE, { org: 'acme', team_slug: 'qa', per_page: 100 });
    pages.set(URL1, { data: members(100) });
    expect((await read()).items).toHaveLength(100);

    // The 101st member lands on page 2; page 1's body (and so this server's ETag) is unchanged.
    pages.set(URL1, { data: members(100), link: `<${URL2}>; rel="next"` });
    pages.set(URL2, { data: members(1, 100) });
    seen.length = 0;
    const grown = await read();
    expect(grown.items.map((m) => m.login)).toContain('m100');
    expect(seen.map((s) => [s.url, s.conditional, s.status])).toEqual([
      [URL1, true, 304],
      [URL1, false, 200],
      [URL2, false, 200],
    ]);
  });

  it('a short page answered 304 is the whole list; its kept body is a copy callers cannot spoil', async () => {
    const { gh, pages, seen } = scripted();
    const store = new Map<string, Validated>();
    const read = () =>
      conditionalList<{ login: string }>(gh, store, ROUTE, { org: 'acme', team_slug: 'qa', per_page: 100 });
    pages.set(URL1, { data: members(2) });
    const first = await read();
    first.items.push({ login: 'intruder' });
    (first.items[0] as { login: string }).login = 'mallory';
    seen.length = 0;
    const again = await read();
    expect(seen.map((s) => s.status)).toEqual([304]);
    expect(again.items.map((m) => m.login)).toEqual(['m0', 'm1']);
    again.items.pop();
    expect((await read()).items.map((m) => m.login)).toEqual(['m0', 'm1']);
  });

  it("one URL's kept answer never serves another (another team, another page size)", async () => {
    const { gh, pages, seen } = scripted();
    const store = new Map<string, Validated>();
    pages.set(URL1, { data: members(2) });
    pages.set('https://api.test/orgs/acme/teams/qa-leads/members?per_page=100', { data: members(1, 50) });
    await conditionalList(gh, store, ROUTE, { org: 'acme', team_slug: 'qa', per_page: 100 });
    seen.length = 0;
    const leads = await conditionalList<{ login: string }>(gh, store, ROUTE, {
      org: 'acme',
      team_slug: 'qa-leads',
      per_page: 100,
    });
    expect(leads.items.map((m) => m.login)).toEqual(['m50']);
    expect(seen).toEqual([
      {
        url: 'https://api.test/orgs/acme/teams/qa-leads/members?per_page=100',
        conditional: false,
        status: 200,
      },
    ]);
  });
});
