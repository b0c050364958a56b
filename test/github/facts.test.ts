// GitHub's REST shapes → PullFacts, and the adversarial approval cases end to end through decide.
import { describe, expect, it } from 'vitest';
import { decideAll } from '../../src/core/decide.js';
import type { ApiActivity } from '../../src/engine/facts.js';
import {
  type ApiCommit,
  type ApiReview,
  permissionFrom,
  pullFacts,
  pushersFrom,
  pushersFromActivity,
  reviewsFrom,
} from '../../src/engine/facts.js';
import type { ForgePull as ApiPull } from '../../src/engine/forge.js';
import type { GitHub } from '../../src/github/client.js';
import { githubForge } from '../../src/github/forge.js';

/** Who pushed, read through GitHub as a Forge (the repository the forge is for does not matter here). */
const pushersOf = (gh: GitHub, pull: ApiPull) =>
  githubForge(gh, { owner: 'acme', repo: 'access' }).pushers(pull, {});

import { BASE_REQUEST, input, policies, requestText, TEAMS } from '../helpers/core.js';

const POLICY = policies(`
resources:
  orders-db: { provider: postgres, connection: orders, roles: { read-only: { grant: [orders_read] } } }
rules:
  - { name: qa-read, requesters: ["@acme/qa"], resources: ["*-db"], approvals: [{ from: ["@acme/qa-leads"] }] }
`);
const HEAD = 'head';
const review = (login: string, over: Partial<ApiReview> = {}): ApiReview => ({
  user: { login, type: 'User' },
  state: 'APPROVED',
  commit_id: HEAD,
  submitted_at: '2026-01-07T09:00:00Z',
  ...over,
});
const commit = (author: string, committer = 'web-flow'): ApiCommit => ({
  author: { login: author },
  committer: { login: committer },
});

function status(
  reviews: ApiReview[],
  commits: ApiCommit[] = [commit('alice')],
  permissions: Record<string, string> = {},
) {
  const facts = pullFacts({
    author: 'alice',
    headSha: HEAD,
    reviews,
    commits,
    pushed: { pushers: ['alice'], unknown: null },
    permissions: Object.fromEntries(
      Object.entries({ carol: 'write', lead2: 'write', ...permissions }).map(([k, v]) => [
        k,
        permissionFrom({ permission: v, role_name: v }),
      ]),
    ),
    teams: TEAMS,
  });
  const [d] = decideAll({
    ...input(POLICY, [{ path: 'requests/alice/a.yaml', text: requestText(BASE_REQUEST) }]),
    pull: facts,
  });
  return d;
}

describe('pull request facts from the API', () => {
  it('a lead’s approval of the head commit approves', () => {
    expect(status([review('carol')])?.status).toBe('approved');
  });

  it('self-approval, a bot, and an approval of an older commit followed by a push do not count', () => {
    expect(status([review('alice')])?.status).toBe('pending');
    expect(status([review('carol', { user: { login: 'carol', type: 'Bot' } })])?.status).toBe('pending');
    expect(status([review('carol', { commit_id: 'older' })])?.status).toBe('pending');
  });

  it('a reviewer who approved and then requested changes does not count', () => {
    expect(
      status([
        review('carol'),
        review('carol', { state: 'CHANGES_REQUESTED', submitted_at: '2026-01-07T09:05:00Z' }),
      ])?.status,
    ).toBe('pending');
  });

  it('an approver who pushed a commit to the PR does not count; GitHub’s web-flow committer is nobody', () => {
    expect(status([review('carol')], [commit('alice'), commit('carol')])?.status).toBe('pending');
    expect(status([review('carol')], [commit('alice', 'carol')])?.status).toBe('pending');
    expect(pushersFrom([commit('alice')])).toEqual(['alice']);
  });

  it('write access is read from the live permission; maintain counts, triage does not', () => {
    expect(status([review('carol')], undefined, { carol: 'read' })?.status).toBe('pending');
    expect(status([review('carol')], undefined, { carol: 'triage' })?.status).toBe('pending');
    expect(status([review('carol')], undefined, { carol: 'maintain' })?.status).toBe('approved');
    expect(permissionFrom(null)).toBe('none');
  });

  it('reviews by deleted accounts or without a commit are dropped', () => {
    expect(
      reviewsFrom([
        review('x', { user: null }),
        review('y', { commit_id: null }),
        review('z', { state: 'WEIRD' }),
      ]),
    ).toEqual([]);
  });
});

// ---- who pushed: GitHub's activity log of the branch ----------------------------------------------------------

const ZERO = '0'.repeat(40);
const sha = (c: string) => c.repeat(40);
let clock = 0;
/** One update of the branch, `minutes` after the first; `by` null is a deploy key. */
const update = (before: string, after: string, by: string | null, minutes = ++clock): ApiActivity => ({
  before: before === '' ? ZERO : sha(before),
  after: after === '' ? ZERO : sha(after),
  timestamp: new Date(Date.UTC(2026, 0, 7, 9, minutes)).toISOString(),
  actor: by === null ? null : { login: by, type: by.endsWith('[bot]') ? 'Bot' : 'User' },
});
/** GitHub lists the newest first. */
const newestFirst = (...updates: ApiActivity[]) => [...updates].reverse();
const walk = (
  head: string,
  activity: ApiActivity[],
  extra: Partial<Parameters<typeof pushersFromActivity>[0]> = {},
) => pushersFromActivity({ head: sha(head), ref: 'refs/heads/access/bob', activity, ...extra });

describe('who pushed, from GitHub’s activity log of the branch', () => {
  it('everyone whose push led to the head pushed, however the commits name their authors', () => {
    const log = newestFirst(update('', 'a', 'bob'), update('a', 'b', 'bob'), update('b', 'c', 'mallory'));
    expect(walk('c', log)).toEqual({ pushers: ['mallory', 'bob'], unknown: null });
    // The branch as it was before mallory's push: she had not pushed to it yet.
    expect(walk('b', log)).toEqual({ pushers: ['bob'], unknown: null });
  });

  it('a force-pushed-over push still counts its pusher', () => {
    const log = newestFirst(update('', 'a', 'bob'), update('a', 'm', 'mallory'), update('m', 'b', 'bob'));
    expect(walk('b', log).pushers.sort()).toEqual(['bob', 'mallory']);
  });

  it('a branch deleted and restored keeps the pushers of its earlier life', () => {
    const log = newestFirst(
      update('', 'a', 'bob'),
      update('a', 'm', 'mallory'),
      update('m', '', 'bob'),
      update('', 'm', 'bob'),
    );
    expect(walk('m', log)).toEqual({ pushers: ['bob', 'mallory'], unknown: null });
  });

  it('an update missing from the log leaves who pushed unknown', () => {
    const gap = newestFirst(update('', 'a', 'bob'), update('b', 'c', 'alice'));
    expect(walk('c', gap)).toEqual({
      pushers: ['alice'],
      unknown: expect.stringMatching(/does not show who pushed bbbbbbb/),
    });
    expect(walk('d', gap).unknown).toMatch(/has no push of the head commit ddddddd/);
    expect(walk('a', [])).toMatchObject({
      pushers: [],
      unknown: expect.stringMatching(/no push of the head/),
    });
  });

  it('older updates are only read older: a cycle cannot stand in for a missing creation', () => {
    // The push that first made A is missing; A reappears later, by mallory going back to it.
    const log = newestFirst(update('a', 'b', 'bob'), update('b', 'a', 'mallory'), update('a', 'c', 'alice'));
    expect(walk('c', log).unknown).toMatch(/does not show who pushed aaaaaaa/);
  });

  it('a push by no account or by a bot hides the person: unknown; Timebox’s own App is known', () => {
    expect(walk('b', newestFirst(update('', 'a', 'bob'), update('a', 'b', null))).unknown).toMatch(
      /by no GitHub account/,
    );
    const bot = newestFirst(update('', 'a', 'bob'), update('a', 'b', 'github-actions[bot]'));
    expect(walk('b', bot).unknown).toMatch(/by github-actions\[bot\], a bot/);
    // Every workflow pushes as github-actions[bot]: it is never anyone's own identity.
    expect(walk('b', bot, { ownBot: 'github-actions[bot]' }).unknown).toMatch(/a bot/);
    const own = newestFirst(update('', 'a', 'timebox[bot]'), update('a', 'b', 'timebox[bot]'));
    expect(walk('b', own, { ownBot: 'timebox[bot]' })).toEqual({ pushers: ['timebox[bot]'], unknown: null });
    expect(walk('b', own, { ownBot: 'other[bot]' }).unknown).toMatch(/timebox\[bot\], a bot/);
  });

  it('updates after the pull request was merged were not pushes to it', () => {
    const created = update('', 'a', 'bob');
    const merged = update('a', 'h', 'bob');
    const log = newestFirst(
      created,
      merged,
      update('h', '', 'bob'),
      // Later, carol starts a branch of the same name at the merged head.
      update('', 'h', 'carol'),
    );
    expect(walk('h', log, { until: merged.timestamp })).toEqual({ pushers: ['bob'], unknown: null });
    expect(walk('h', log).pushers.sort()).toEqual(['bob', 'carol']);
  });

  it('the push a synchronize delivery reported bridges a log that does not show it yet, and only then', () => {
    const log = newestFirst(update('', 'a', 'bob'));
    const latest = { before: sha('a'), after: sha('b'), actor: { login: 'mallory', type: 'User' } };
    expect(walk('b', log, { latest })).toEqual({ pushers: ['mallory', 'bob'], unknown: null });
    expect(walk('b', log).unknown).toMatch(/no push of the head/);
    // Once the log shows the head, the log decides (a stale delivery cannot replace who pushed).
    const logged = newestFirst(update('', 'a', 'bob'), update('a', 'b', 'alice'));
    expect(walk('b', logged, { latest })).toEqual({ pushers: ['alice', 'bob'], unknown: null });
  });

  it('commit identities are added to who pushed, never instead of it', () => {
    const facts = pullFacts({
      author: 'bob',
      headSha: HEAD,
      reviews: [],
      commits: [commit('alice', 'web-flow')],
      pushed: { pushers: ['mallory'], unknown: null },
      permissions: {},
      teams: {},
    });
    expect(facts.pushers.sort()).toEqual(['alice', 'mallory']);
    expect(facts.pushersUnknown).toBeUndefined();
    const unknown = pullFacts({
      author: 'bob',
      headSha: HEAD,
      reviews: [],
      commits: [],
      pushed: { pushers: [], unknown: 'why' },
      permissions: {},
      teams: {},
    });
    expect(unknown.pushersUnknown).toBe('why');
  });
});

describe('reading who pushed from GitHub', () => {
  const pullOn = (home: string | null, head = sha('b')): ApiPull => ({
    number: 7,
    state: 'open',
    title: 'x',
    user: { login: 'bob' },
    head: { sha: head, ref: 'access/bob', repo: home === null ? null : { full_name: home } },
    base: { sha: sha('0'), ref: 'main' },
  });
  /** A client whose activity log is `pages`, or that fails with `status`; records what it was asked. */
  const client = (pages: ApiActivity[][], status?: number) => {
    const asked: Record<string, unknown>[] = [];
    const gh = {
      paginate: {
        iterator: (_route: string, params: Record<string, unknown>) => {
          asked.push(params);
          return (async function* () {
            if (status) throw Object.assign(new Error('Not Found'), { status });
            for (const data of pages) yield { data };
          })();
        },
      },
    } as unknown as GitHub;
    return { gh, asked };
  };

  it('reads the log of the branch in the repository it lives in (a fork’s own)', async () => {
    const log = newestFirst(update('', 'a', 'bob'), update('a', 'b', 'mallory'));
    const { gh, asked } = client([log]);
    expect(await pushersOf(gh, pullOn('mallory/access'))).toEqual({
      pushers: ['mallory', 'bob'],
      unknown: null,
    });
    expect(asked).toEqual([
      { owner: 'mallory', repo: 'access', ref: 'refs/heads/access/bob', per_page: 100 },
    ]);
  });

  it('updates of other branches in the answer are ignored', async () => {
    const ref = 'refs/heads/access/bob';
    const created = { ...update('', 'a', 'bob'), ref };
    const pushed = { ...update('a', 'b', 'mallory'), ref };
    // Later, bob starts another branch at the same commit: it says nothing about who pushed to this one.
    const elsewhere = { ...update('', 'b', 'bob'), ref: 'refs/heads/other' };
    const { gh } = client([newestFirst(created, pushed, elsewhere)]);
    expect(await pushersOf(gh, pullOn('acme/access'))).toEqual({
      pushers: ['mallory', 'bob'],
      unknown: null,
    });
    expect(walk('b', newestFirst(created, elsewhere)).unknown).toMatch(/no push of the head commit/);
  });

  it('a log that cannot be read, or a fork that is gone, leaves who pushed unknown', async () => {
    const { gh } = client([], 404);
    expect((await pushersOf(gh, pullOn('mallory/access'))).unknown).toMatch(
      /activity log of mallory\/access refs\/heads\/access\/bob cannot be read \(404 Not Found\)/,
    );
    expect((await pushersOf(client([]).gh, pullOn(null))).unknown).toMatch(
      /repository of the branch access\/bob is gone/,
    );
  });

  it('reads at most 1,000 updates of a branch, and says so when the walk needs more', async () => {
    // 1,100 pushes after the branch's creation, which lies beyond what Timebox reads.
    const commitAt = (i: number) => i.toString(16).padStart(40, 'c');
    const updates = [update('', '', 'bob')].map((a) => ({ ...a, after: commitAt(0) }));
    for (let i = 1; i <= 1100; i++)
      updates.push({ ...update('', '', 'bob'), before: commitAt(i - 1), after: commitAt(i) });
    const all = newestFirst(...updates);
    const pages: ApiActivity[][] = [];
    for (let i = 0; i < all.length; i += 100) pages.push(all.slice(i, i + 100));
    const result = await pushersOf(client(pages).gh, pullOn('acme/access', commitAt(1100)));
    expect(result.unknown).toMatch(/reads the newest 1000 updates of a branch/);
    expect((await pushersOf(client(pages).gh, pullOn('acme/access', commitAt(1100)))).pushers).toEqual([
      'bob',
    ]);
  });
});
