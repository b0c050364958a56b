// The check run and the summary comment a pull request shows, rendered from real decisions.
import { describe, expect, it } from 'vitest';
import { decideAll } from '../../src/core/decide.js';
import { postgres } from '../../src/providers/postgres/index.js';
import { annotationsOf, COMMENT_MARKER, conclusionOf, renderComment } from '../../src/report/pull-request.js';
import { approve, BASE_REQUEST, input, policies, pull, requestText } from '../helpers/core.js';

const POLICY = policies(`
resources:
  orders-db:
    provider: postgres
    connection: orders
    roles: { read-only: { grant: [orders_read], read_only: true } }
  billing-db:
    provider: postgres
    connection: billing
    roles: { read-only: { grant: [billing_read] } }
rules:
  - name: qa-read
    requesters: ["@acme/qa"]
    resources: ["*-db"]
    approvals: [{ from: ["@acme/qa-leads"] }, { from: ["@acme/dba"] }]
  - { name: no-billing, effect: deny, resources: ["billing-*"], message: Billing is out of scope }
`);

function decide(files: Record<string, Record<string, string> | string>, reviews = [approve('carol')]) {
  const list = Object.entries(files).map(([path, f]) => ({
    path,
    text: typeof f === 'string' ? f : requestText(f),
  }));
  return decideAll(input(POLICY, list, { pull: pull(reviews) }));
}

describe('check run', () => {
  it('maps statuses to conclusions', () => {
    expect(conclusionOf([])).toBe('success');
    expect(
      conclusionOf(decide({ 'requests/a.yaml': BASE_REQUEST }, [approve('carol'), approve('dave')])),
    ).toBe('success');
    expect(conclusionOf(decide({ 'requests/a.yaml': BASE_REQUEST }))).toBe('action_required');
    expect(
      conclusionOf(
        decide({
          'requests/a.yaml': BASE_REQUEST,
          'requests/b.yaml': { ...BASE_REQUEST, resource: 'billing-db' },
        }),
      ),
    ).toBe('failure');
  });

  it('annotations point at file:line and come in batches of 50', () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 31; i++)
      files[`requests/x${i}.yaml`] = 'requester: alice\nresource: orders-db\nextra: 1\nother: 2\n';
    const batches = annotationsOf(decide(files));
    // Five errors per file (missing role, reason and duration; two unknown fields): 155 in all.
    expect(batches.map((b) => b.length)).toEqual([50, 50, 50, 5]);
    expect(batches[0]?.[0]).toMatchObject({
      path: 'requests/x0.yaml',
      start_line: 1,
      annotation_level: 'failure',
    });
    expect(batches.flat().some((a) => a.start_line === 3 && a.message === 'unknown field `extra`')).toBe(
      true,
    );
  });
});

describe('summary comment', () => {
  it('says per request the status, who approved, who still must, and what would be granted', () => {
    const decisions = decide({ 'requests/alice/a.yaml': BASE_REQUEST });
    const previews = new Map([
      [
        'requests/alice/a.yaml',
        postgres.preview({
          accessRepoId: 'r',
          file: 'requests/alice/a.yaml',
          grantId: 'g',
          requester: 'alice',
          resourceId: 'orders-db',
          resource: { connection: 'orders' },
          role: 'read-only',
          roleSettings: { grant: ['orders_read'], read_only: true },
          startsAt: new Date('2026-01-07T10:00:00Z'),
          expiresAt: new Date('2026-01-07T12:00:00Z'),
        }),
      ],
    ]);
    const text = renderComment({ decisions, previews, headSha: 'abcdef1234' });
    expect(text.startsWith(COMMENT_MARKER)).toBe(true);
    expect(text).toContain('⏳ pending: `requests/alice/a.yaml`');
    expect(text).toContain('| 1 ✅ | 1 of @acme/qa-leads | @carol |');
    expect(text).toContain('| 2 ⏳ | 1 of @acme/dba | — | @dave, @dba2 |');
    expect(text).toContain("PASSWORD '********'");
    expect(text).not.toMatch(/PASSWORD '[^*]/);
  });

  it('hostile reasons cannot inject markdown, HTML or mentions', () => {
    const decisions = decide({
      'requests/alice/a.yaml': {
        ...BASE_REQUEST,
        reason: '<img src=x onerror=alert(1)> @everyone [click](http://evil) ```',
      },
    });
    const text = renderComment({ decisions, previews: new Map(), headSha: 'abcdef1234' });
    expect(text).not.toContain('<img');
    expect(text).not.toContain('@everyone');
    expect(text).not.toContain('](http');
    expect(text).toContain('&lt;img src=x onerror=alert\\(1\\)&gt;');
  });

  it('a pull request without requests says so', () => {
    expect(renderComment({ decisions: [], previews: new Map(), headSha: 'abc' })).toContain(
      'changes no access request',
    );
  });
});
