// The plan is the difference between what git says is active and what the providers list.
import { describe, expect, it } from 'vitest';
import type { Grant } from '../../src/core/ledger.js';
import { type ActualAccess, planReconcile } from '../../src/core/reconcile.js';
import { policies } from '../helpers/core.js';

const POLICY = policies(`
resources:
  orders-db:
    provider: postgres
    connection: orders
    roles: { read-only: { grant: [orders_read] } }
`);

function grant(file: string, over: Partial<Grant> = {}): Grant {
  return {
    id: `${file}@c1`,
    file,
    requester: 'alice',
    resource: 'orders-db',
    role: 'read-only',
    reason: 'Reproduce BUG-1234',
    starts_at: '2026-01-05T10:00:00Z',
    expires_at: '2026-01-05T12:00:00Z',
    ends_at: '2026-01-05T12:00:00Z',
    state: 'active',
    commit: 'c1',
    merged_at: '2026-01-05T10:00:00Z',
    approvers: [],
    ...over,
  };
}

function actual(g: Grant, over: Partial<ActualAccess> = {}): ActualAccess {
  return {
    owner: 'repo',
    provider: 'postgres',
    resourceId: g.resource,
    file: g.file,
    grantId: g.id,
    principal: `tb_${g.requester}`,
    expiresAt: g.expires_at,
    ...over,
  };
}

const AT = new Date('2026-01-05T11:00:00Z');

describe('planReconcile', () => {
  it('grants what is active and missing', () => {
    const p = planReconcile([grant('requests/a.yaml')], [], POLICY, AT, 'repo');
    expect(p.grant).toEqual([
      expect.objectContaining({
        action: 'grant',
        file: 'requests/a.yaml',
        provider: 'postgres',
        expires_at: '2026-01-05T12:00:00Z',
      }),
    ]);
    expect(p.revoke).toEqual([]);
  });

  it('changes nothing when actual equals desired', () => {
    const g = grant('requests/a.yaml');
    expect(planReconcile([g], [actual(g)], POLICY, AT, 'repo')).toMatchObject({
      grant: [],
      revoke: [],
      unchanged: 1,
    });
  });

  it('revokes expired, removed and unknown access, with the reason', () => {
    const expired = grant('requests/e.yaml', { ends_at: '2026-01-05T10:30:00Z', state: 'expired' });
    const removed = grant('requests/r.yaml', { ends_at: '2026-01-05T10:30:00Z', state: 'revoked' });
    const p = planReconcile(
      [expired, removed],
      [actual(expired), actual(removed), actual(grant('requests/x.yaml'))],
      POLICY,
      AT,
      'repo',
    );
    expect(p.revoke.map((r) => [r.file, r.reason])).toEqual([
      ['requests/e.yaml', 'expired'],
      ['requests/r.yaml', 'removed'],
      ['requests/x.yaml', 'not in git'],
    ]);
  });

  it('an extension updates in place instead of revoking', () => {
    const old = grant('requests/a.yaml');
    const extended = grant('requests/a.yaml', {
      id: 'requests/a.yaml@c2',
      expires_at: '2026-01-05T14:00:00Z',
      ends_at: '2026-01-05T14:00:00Z',
    });
    const p = planReconcile([{ ...old, state: 'replaced' }, extended], [actual(old)], POLICY, AT, 'repo');
    expect(p.revoke).toEqual([]);
    expect(p.grant).toEqual([
      expect.objectContaining({ grantId: 'requests/a.yaml@c2', replaces: 'requests/a.yaml@c1' }),
    ]);
  });

  it('scheduled grants are not granted early; a resource gone from the policies is a problem, not a grant', () => {
    const later = grant('requests/s.yaml', {
      starts_at: '2026-01-06T10:00:00Z',
      ends_at: '2026-01-06T12:00:00Z',
      state: 'scheduled',
    });
    const gone = grant('requests/g.yaml', { resource: 'legacy-db' });
    const p = planReconcile([later, gone], [], POLICY, AT, 'repo');
    expect(p.grant).toEqual([]);
    expect(p.problems).toEqual([{ file: 'requests/g.yaml', message: expect.stringContaining('legacy-db') }]);
  });
});

it('access made by another access repo on the same target is left alone', () => {
  const g = grant('requests/a.yaml');
  const theirs = actual(grant('requests/x.yaml'), { owner: 'other-repo' });
  const untagged = actual(grant('requests/y.yaml'), { owner: null });
  const p = planReconcile([g], [actual(g), theirs, untagged], POLICY, AT, 'repo');
  expect(p).toMatchObject({ revoke: [], grant: [], unchanged: 1, foreign: 2 });
});
