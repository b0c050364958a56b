// GitHub's REST shapes → PullFacts, and the adversarial approval cases end to end through decide.
import { describe, expect, it } from 'vitest';
import { decideAll } from '../../src/core/decide.js';
import {
  type ApiCommit,
  type ApiReview,
  permissionFrom,
  pullFacts,
  pushersFrom,
  reviewsFrom,
} from '../../src/github/facts.js';
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
