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
    roles: { read-only: { grant: [orders_read] }, read-write: { grant: [orders_write] } }
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
    accessRepoId: 'repo',
    provider: 'postgres',
    resourceId: g.resource,
    file: g.file,
    grantId: g.id,
    requester: g.requester,
    role: g.role,
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

describe('a grant is matched by its whole identity (file, requester, resource, role)', () => {
  const old = grant('requests/a.yaml', { requester: 'alice' });
  const cases: [string, Partial<Grant>][] = [
    ['re-assigned to someone else', { requester: 'bob' }],
    ['given another role', { role: 'read-write' }],
  ];
  for (const [what, change] of cases) {
    it(`an approved edit that is ${what} revokes the old principal and grants the new one`, () => {
      const edited = grant('requests/a.yaml', { ...change, id: 'requests/a.yaml@c2', commit: 'c2' });
      const p = planReconcile([edited], [actual(old)], POLICY, AT, 'repo');
      expect(p.revoke).toEqual([
        expect.objectContaining({ principal: 'tb_alice', reason: 'replaced', grantId: old.id }),
      ]);
      expect(p.grant).toEqual([expect.objectContaining({ grantId: edited.id, requester: edited.requester })]);
      expect(p.grant[0]).not.toHaveProperty('replaces');
      // Once applied, the next run changes nothing (the new principal matches, the old one is gone).
      const after = planReconcile(
        [edited],
        [actual(edited, { principal: `tb_${edited.requester}` })],
        POLICY,
        AT,
        'repo',
      );
      expect(after).toMatchObject({ grant: [], revoke: [], unchanged: 1 });
    });
  }

  it('a login differing only in case is the same person (GitHub logins are case-insensitive)', () => {
    const p = planReconcile(
      [grant('requests/a.yaml', { requester: 'Alice' })],
      [actual(old)],
      POLICY,
      AT,
      'repo',
    );
    expect(p).toMatchObject({ grant: [], revoke: [], unchanged: 1 });
  });

  it('a tag without a requester never counts as the grant (revoked, then granted again)', () => {
    const p = planReconcile([old], [actual(old, { requester: null })], POLICY, AT, 'repo');
    expect(p.revoke).toHaveLength(1);
    expect(p.grant).toHaveLength(1);
  });

  it('an untagged Timebox-named principal is revoked whatever git says, even with no access repo', () => {
    const stray = actual(old, {
      untagged: true,
      accessRepoId: null,
      file: '',
      grantId: '',
      requester: null,
      role: null,
      principal: 'tb_mallory_0123456789',
    });
    const p = planReconcile([old], [stray, actual(old)], POLICY, AT, 'repo');
    expect(p.revoke).toEqual([
      expect.objectContaining({ principal: 'tb_mallory_0123456789', reason: 'untagged' }),
    ]);
    expect(p).toMatchObject({ grant: [], unchanged: 1, foreign: 0 });
  });
});

it('access made by another access repo on the same target is left alone', () => {
  const g = grant('requests/a.yaml');
  const theirs = actual(grant('requests/x.yaml'), { accessRepoId: 'other-repo' });
  const untagged = actual(grant('requests/y.yaml'), { accessRepoId: null });
  const p = planReconcile([g], [actual(g), theirs, untagged], POLICY, AT, 'repo');
  expect(p).toMatchObject({ revoke: [], grant: [], unchanged: 1, foreign: 2 });
});

describe('re-grants are planned, not patched in afterwards', () => {
  it('an existing grant whose credentials were lost is granted again, replacing itself', () => {
    const g = grant('requests/a.yaml');
    const p = planReconcile([g], [actual(g)], POLICY, AT, 'repo', { regrant: new Set([g.id]) });
    expect(p.grant).toEqual([
      expect.objectContaining({ action: 'grant', file: g.file, grantId: g.id, replaces: g.id }),
    ]);
    expect(p).toMatchObject({ revoke: [], unchanged: 0 });
  });

  it('nothing is granted again that is not active, not provisionable, or already planned', () => {
    const expired = grant('requests/old.yaml', { ends_at: '2026-01-05T10:30:00Z' });
    const gone = grant('requests/gone.yaml', { role: 'no-such-role' });
    const missing = grant('requests/missing.yaml');
    const regrant = new Set([expired.id, gone.id, missing.id]);
    const p = planReconcile([expired, gone, missing], [], POLICY, AT, 'repo', { regrant });
    // `missing` is planned once, as a plain grant (nothing exists to replace).
    expect(p.grant).toEqual([expect.objectContaining({ grantId: missing.id })]);
    expect(p.grant[0]).not.toHaveProperty('replaces');
  });
});
