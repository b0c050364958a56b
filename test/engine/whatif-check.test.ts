// What the policy-change check says (src/engine/whatif-check-render.ts) and when it runs (decisionInputs):
// the headline's wording, values from requests and policies escaped to text, and the summary bounded below
// GitHub's 65,535 characters however many decisions change.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type Status } from '../../src/core/model.js';
import type { WhatifChange } from '../../src/core/whatif.js';
import type { ForgePull } from '../../src/engine/forge.js';
import { decisionInputs } from '../../src/engine/whatif-check.js';
import {
  MAX_SUMMARY_BYTES,
  whatifCheckOutput,
  whatifHeadline,
} from '../../src/engine/whatif-check-render.js';

const pull: ForgePull = {
  number: 7,
  state: 'open',
  title: 'Shorter reads',
  user: { login: 'admin' },
  head: { sha: 'b'.repeat(40), ref: 'shorter' },
  base: { sha: 'a'.repeat(40), ref: 'main' },
};

const change = (
  before: Status,
  after: Status,
  open = false,
  extra: Partial<WhatifChange> = {},
): WhatifChange => ({
  file: 'requests/alice/a.yaml',
  commit: open ? null : 'c'.repeat(40),
  ...(open ? { pull: 9 } : {}),
  at: '2026-01-07T10:00:00Z',
  before,
  after,
  rule_before: 'qa-read',
  rule_after: null,
  reasons: [{ rule: 'qa-read', message: 'allows at most 2h; this request is for 3h' }],
  ...extra,
});

const replayOf = (changed: WhatifChange[], unchanged = 0) => ({
  ok: true as const,
  result: { changed, unchanged },
  merged: changed.filter((c) => c.commit !== null).length + unchanged,
  open: changed.filter((c) => c.commit === null).length,
  unreadable: [],
});

describe('whatifHeadline', () => {
  it('counts past versions and open requests by their new status, past first, toward approved first', () => {
    const replay = replayOf([
      change('approved', 'denied'),
      change('approved', 'denied'),
      change('pending', 'denied'),
      change('pending', 'approved', true),
      change('denied', 'pending'),
    ]);
    expect(whatifHeadline(replay)).toBe(
      '1 past request would now be pending, 3 past requests would now be denied, 1 open request becomes approved',
    );
    expect(
      whatifHeadline(replayOf([change('pending', 'denied', true), change('pending', 'denied', true)])),
    ).toBe('2 open requests become denied');
  });

  it('says when nothing changes, and how much was replayed', () => {
    expect(whatifHeadline({ result: { changed: [], unchanged: 5 }, merged: 4, open: 1 })).toBe(
      'No decision changes (4 past requests and 1 open request replayed)',
    );
  });
});

describe('whatifCheckOutput', () => {
  it('lists each change with where it comes from and why, wider access first', () => {
    const { title, summary } = whatifCheckOutput({
      pull,
      replay: replayOf([change('approved', 'denied'), change('pending', 'approved', true)], 3),
      notes: [],
      branch: 'main',
    });
    expect(title).toBe('1 past request would now be denied, 1 open request becomes approved');
    const lines = summary.split('\n');
    const widened = lines.findIndex((l) => l.startsWith('- **pending → approved**'));
    const narrowed = lines.findIndex((l) => l.startsWith('- **approved → denied**'));
    expect(widened).toBeGreaterThan(-1);
    expect(narrowed).toBeGreaterThan(widened);
    expect(lines[widened]).toBe(
      '- **pending → approved** · requests/alice/a\\.yaml · open in #9, decided at 2026\\-01\\-07T10:00:00Z',
    );
    expect(lines[narrowed]).toContain(`merged in ${'c'.repeat(7)} at 2026`);
    expect(lines[narrowed + 1]).toBe('  - qa\\-read: allows at most 2h; this request is for 3h');
    expect(summary).toContain('3 decisions are unchanged');
    expect(summary).toContain('never blocks a merge');
  });

  it('shows HTML, Markdown, mentions and line breaks from files, rules, reasons and the branch as text', () => {
    const evil = change('approved', 'denied', false, {
      file: 'requests/x/<script>alert(1)</script>[a](javascript:b).yaml',
      reasons: [
        {
          rule: '<b>r</b>',
          message: 'see ![img](https://e.example/x.png)\n# Heading\n<details open>@acme/all',
        },
      ],
    });
    const { summary } = whatifCheckOutput({
      pull,
      replay: replayOf([evil]),
      notes: ['<iframe src=x>'],
      branch: 'main<img src=x>',
    });
    for (const raw of ['<script>', '<b>', '<img', '<details', '<iframe', '](', '![', '\n# Heading', '@acme'])
      expect(summary).not.toContain(raw);
    expect(summary).toContain('&lt;script&gt;alert\\(1\\)&lt;/script&gt;\\[a\\]\\(javascript:b\\)\\.yaml');
    // md() writes the at sign as an entity (its `#` escaped too): no mention either way.
    expect(summary).not.toContain('@');
    expect(summary).toContain('64;acme/all');
  });

  it('stays under GitHub’s 65,535 characters however many decisions change, and says how many are left out', () => {
    const many = Array.from({ length: 5000 }, (_, i) =>
      change('approved', 'denied', false, {
        file: `requests/u${i}/${'x'.repeat(80)}.yaml`,
        reasons: Array.from({ length: 8 }, () => ({ rule: 'qa-read', message: 'y'.repeat(400) })),
      }),
    );
    const { summary } = whatifCheckOutput({ pull, replay: replayOf(many), notes: [], branch: 'main' });
    expect(Buffer.byteLength(summary)).toBeLessThanOrEqual(MAX_SUMMARY_BYTES + 1000);
    expect(summary.length).toBeLessThan(65_535);
    const listed = summary.split('\n').filter((l) => l.startsWith('- **approved → denied**')).length;
    expect(listed).toBeGreaterThan(10);
    expect(summary).toContain(`… and ${5000 - listed} more changes, not listed here`);
    expect(summary).toContain(`timebox whatif --base ${'a'.repeat(40)}`);
    // Five reasons per change at most, the rest counted.
    expect(summary).toContain('  - … 3 more');
  });

  it('says why nothing was replayed: invalid proposed policies, or a failure', () => {
    const invalid = whatifCheckOutput({
      pull,
      replay: {
        ok: false,
        side: 'proposed',
        errors: [{ file: 'policies/qa.yaml', line: 3, column: 1, path: '$', message: 'bad <b>thing</b>' }],
      },
      notes: [],
      branch: 'main',
    });
    expect(invalid.title).toBe('The proposed policies are invalid');
    expect(invalid.summary).toContain('- policies/qa\\.yaml line 3: bad &lt;b&gt;thing&lt;/b&gt;');
    const failed = whatifCheckOutput({ pull, failure: 'git fetch failed', notes: [], branch: 'main' });
    expect(failed.title).toBe('Cannot replay the history');
    expect(failed.summary).toContain('git fetch failed');
  });
});

describe('decisionInputs', () => {
  it('policies, on-call schedules, CODEOWNERS in any of its places, timebox.yaml; nothing else', () => {
    const paths = [
      'policies/qa.yaml',
      'policies/tests/qa.yaml',
      'schedules/dba.yaml',
      '.github/CODEOWNERS',
      'CODEOWNERS',
      'docs/CODEOWNERS',
      'timebox.yaml',
      'requests/alice/a.yaml',
      'README.md',
      'docs/policies/x.yaml',
      'policies.yaml',
    ];
    expect(decisionInputs(paths, DEFAULT_CONFIG)).toEqual(paths.slice(0, 7));
    const custom = { ...DEFAULT_CONFIG, paths: { ...DEFAULT_CONFIG.paths, policies: 'rules' } };
    expect(decisionInputs(['rules/a.yaml', 'policies/qa.yaml'], custom)).toEqual(['rules/a.yaml']);
    expect(decisionInputs(['requests/alice/a.yaml'], DEFAULT_CONFIG)).toEqual([]);
  });
});
