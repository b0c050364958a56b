// The messages Timebox commits: git itself (interpret-trailers) reads back exactly the trailers written,
// and hostile values cannot add trailers of their own.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/core/model.js';
import { mergeMessage, revertMessage } from '../../src/core/trailers.js';

/** What git parses as the message's trailers, as [key, value] pairs. */
function gitTrailers(title: string, body: string): [string, string][] {
  const out = execFileSync('git', ['interpret-trailers', '--parse', '--no-divider'], {
    input: `${title}\n\n${body}`,
    encoding: 'utf8',
  });
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const i = l.indexOf(': ');
      return [l.slice(0, i), l.slice(i + 2)];
    });
}

function decision(file: string, requester: string, approvers: string[][], expires: string): Decision {
  return {
    file,
    status: 'approved',
    change: 'added',
    request: {
      requester,
      resource: 'orders-db',
      role: 'read-only',
      duration: '2h',
      reason: 'Reproduce BUG-1',
    },
    rule: 'qa-read',
    errors: [],
    reasons: [],
    approvals: {
      steps: approvers.map((a) => ({ from: ['@acme/qa-leads'], count: 1, approvers: a, candidates: [] })),
      codeowners: { owners: [], satisfied: true },
      ignored: [],
    } as unknown as Decision['approvals'],
    window: { starts_at: '2026-01-07T10:00:00.000Z', expires_at: expires },
  };
}

describe('merge commit message', () => {
  it('names the files, the requester, every approver, the expiry and the pull request', () => {
    const m = mergeMessage({
      pull: 42,
      author: 'alice',
      decisions: [
        decision('requests/alice/a.yaml', 'alice', [['carol'], ['dave']], '2026-01-07T12:00:00.000Z'),
      ],
    });
    expect(m.title).toBe('Grant read-only on orders-db to alice (#42)');
    expect(gitTrailers(m.title, m.body)).toEqual([
      ['Timebox-Request', 'requests/alice/a.yaml'],
      ['Timebox-Requested-By', 'alice'],
      ['Timebox-Approved-By', 'carol, dave'],
      ['Timebox-Expires', '2026-01-07T12:00:00.000Z'],
      ['Timebox-Pull-Request', '42'],
    ]);
  });

  it('an early revocation has no approvers and no expiry', () => {
    const d = {
      ...decision('requests/alice/a.yaml', 'alice', [], 'x'),
      change: 'removed' as const,
      window: null,
    };
    const m = mergeMessage({ pull: 7, author: 'alice', decisions: [d] });
    expect(m.title).toBe('Revoke requests/alice/a.yaml early (#7)');
    expect(gitTrailers(m.title, m.body).map(([k]) => k)).toEqual([
      'Timebox-Request',
      'Timebox-Requested-By',
      'Timebox-Pull-Request',
    ]);
  });
});

describe('revert commit message', () => {
  it('carries the reason and the activity', () => {
    const m = revertMessage({
      file: 'requests/alice/a.yaml',
      reason: 'expired',
      activity: '12 statements, 340 rows',
      pull: 42,
    });
    expect(gitTrailers(m.title, m.body)).toEqual([
      ['Timebox-Request', 'requests/alice/a.yaml'],
      ['Timebox-Revocation-Reason', 'expired'],
      ['Timebox-Activity', '12 statements, 340 rows'],
      ['Timebox-Pull-Request', '42'],
    ]);
  });

  it('a value with line breaks cannot smuggle in a trailer', () => {
    const m = revertMessage({
      file: 'requests/alice/a.yaml',
      reason: 'expired',
      activity: 'SELECT 1\nTimebox-Approved-By: mallory\r\nTimebox-Request: requests/bob/x.yaml',
    });
    const t = gitTrailers(m.title, m.body);
    expect(t.map(([k]) => k)).toEqual(['Timebox-Request', 'Timebox-Revocation-Reason', 'Timebox-Activity']);
    expect(t[2]?.[1]).toBe('SELECT 1 Timebox-Approved-By: mallory Timebox-Request: requests/bob/x.yaml');
  });
});
