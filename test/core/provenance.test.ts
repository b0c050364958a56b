// Provenance on push, adversarially: only an approved, merged pull request with the decided content lets a
// request file through; removals always pass.
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/core/model.js';
import { checkProvenance, type MergedPull } from '../../src/core/provenance.js';

const FILE = 'requests/alice/a.yaml';
const MERGE = 'm'.repeat(40);
const HEAD = 'h'.repeat(40);

const decided = (status: Decision['status']): Decision => ({
  file: FILE,
  status,
  change: 'added',
  request: null,
  rule: status === 'approved' ? 'qa-read' : null,
  errors: [],
  reasons:
    status === 'pending' ? [{ rule: 'qa-read', message: 'needs 1 more approval from @acme/qa-leads' }] : [],
  approvals: null,
  window: null,
});

const pull = (over: Partial<MergedPull> = {}): MergedPull => ({
  number: 12,
  merged: true,
  mergeCommitSha: MERGE,
  headSha: HEAD,
  decisions: [decided('approved')],
  headBlobs: new Map([[FILE, 'b1']]),
  ...over,
});

describe('provenance on push', () => {
  it('passes an approved request merged as decided', () => {
    expect(checkProvenance(MERGE, [{ path: FILE, status: 'added', blob: 'b1' }], [pull()])).toEqual([
      { path: FILE, ok: true, pull: 12 },
    ]);
  });

  it('refuses a direct push: no merged pull request made the commit', () => {
    const [p] = checkProvenance('d'.repeat(40), [{ path: FILE, status: 'added', blob: 'b1' }], [pull()]);
    expect(p).toMatchObject({ ok: false, pull: null });
    expect(p?.ok === false && p.reason).toMatch(/no merged pull request made .*direct push/);
  });

  it('refuses a pull request that was closed, not merged, even if its sha matches', () => {
    const [p] = checkProvenance(
      MERGE,
      [{ path: FILE, status: 'added', blob: 'b1' }],
      [pull({ merged: false })],
    );
    expect(p?.ok).toBe(false);
  });

  it('refuses a request merged while pending (an admin bypass)', () => {
    const [p] = checkProvenance(
      MERGE,
      [{ path: FILE, status: 'added', blob: 'b1' }],
      [pull({ decisions: [decided('pending')] })],
    );
    expect(p?.ok === false && p.reason).toMatch(/merged in #12 while pending .*needs 1 more approval/);
  });

  it('refuses a file the decision never saw (added by the merge itself)', () => {
    const [p] = checkProvenance(
      MERGE,
      [{ path: 'requests/bob/x.yaml', status: 'added', blob: 'b9' }],
      [pull()],
    );
    expect(p?.ok === false && p.reason).toMatch(/not decided/);
  });

  it('refuses a squash or edit whose content differs from what was decided', () => {
    const [p] = checkProvenance(MERGE, [{ path: FILE, status: 'modified', blob: 'b2' }], [pull()]);
    expect(p?.ok === false && p.reason).toMatch(/is not what #12 decided/);
  });

  it('always passes a removal, even by a direct push', () => {
    expect(checkProvenance('d'.repeat(40), [{ path: FILE, status: 'removed', blob: null }], [])).toEqual([
      { path: FILE, ok: true, pull: null },
    ]);
  });
});
