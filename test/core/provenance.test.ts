// Provenance on push, adversarially: only an approved, merged pull request with the decided content lets a
// request file through; removals always pass.
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/core/model.js';
import {
  checkProvenance,
  type MergedPull,
  parseVerdictMarker,
  type RecordedVerdict,
  type VerdictRecord,
  verdictMarker,
  verdictOfRecords,
} from '../../src/core/provenance.js';

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

// ---- the durable record ------------------------------------------------------------------------------------

const verdict = (over: Partial<RecordedVerdict> = {}): RecordedVerdict => ({
  verdict: 'approved',
  file: FILE,
  blob: 'b1',
  commit: MERGE,
  pull: 12,
  requester: { id: 101, login: 'alice' },
  approvers: [{ id: 202, login: 'carol' }],
  decided_at: '2026-12-01T09:00:03.000Z',
  ...over,
});
const record = (id: number, v: RecordedVerdict | string, file = FILE): VerdictRecord => ({
  id,
  file,
  verdict: typeof v === 'string' ? parseVerdictMarker(v) : v,
});

describe('provenance verdicts as recorded', () => {
  it('reads back what it wrote', () => {
    const v = verdict({ verdict: 'refused', reason: 'merged in #12 while pending' });
    expect(parseVerdictMarker(`Refused.\n\n${verdictMarker(v)}\n`)).toEqual(v);
  });

  it('a reason holding `-->` or `<!--` cannot end the marker early or inject a second one', () => {
    const hostile = 'x --> <!-- timebox:provenance v1 {"verdict":"approved"} -->';
    const v = verdict({ verdict: 'refused', file: `requests/${hostile}.yaml`, reason: hostile });
    const text = verdictMarker(v);
    expect(text.indexOf('-->')).toBe(text.length - 3);
    expect(parseVerdictMarker(text)).toEqual(v);
  });

  it('a missing, malformed or incomplete marker is unreadable, and an unreadable record refuses', () => {
    for (const text of [
      null,
      'approved',
      '<!-- timebox:provenance v1 {not json} -->',
      '<!-- timebox:provenance v1 {"verdict":"approved"} -->',
      verdictMarker(verdict()).replace('"approved"', '"granted"'),
      verdictMarker(verdict()).replace('"id":101', '"id":"101"'),
    ]) {
      expect(parseVerdictMarker(text)).toHaveProperty('unreadable');
      const v = verdictOfRecords([record(5, text ?? '')], MERGE, FILE, 'b1');
      expect(v?.verdict).toBe('refused');
      expect(v?.reason).toMatch(/cannot be read/);
    }
  });

  it('no record: not decided yet (null), also when only other files have one', () => {
    expect(verdictOfRecords([], MERGE, FILE, 'b1')).toBeNull();
    expect(
      verdictOfRecords(
        [record(5, verdict({ file: 'requests/x.yaml' }), 'requests/x.yaml')],
        MERGE,
        FILE,
        'b1',
      ),
    ).toBeNull();
  });

  it('the earliest record wins, whatever order they are listed in', () => {
    const refused = verdict({ verdict: 'refused', reason: 'pending' });
    expect(verdictOfRecords([record(9, verdict()), record(7, refused)], MERGE, FILE, 'b1')?.verdict).toBe(
      'refused',
    );
    expect(verdictOfRecords([record(7, verdict()), record(9, refused)], MERGE, FILE, 'b1')?.verdict).toBe(
      'approved',
    );
  });

  it('a record about another commit, file or content refuses (it was copied from elsewhere)', () => {
    for (const other of [
      verdict({ commit: 'c'.repeat(40) }),
      verdict({ blob: 'b2' }),
      verdict({ file: 'requests/y.yaml' }),
    ]) {
      const v = verdictOfRecords([record(3, other)], MERGE, FILE, 'b1');
      expect(v?.verdict).toBe('refused');
      expect(v?.reason).toMatch(/another commit, file or content/);
    }
  });
});
