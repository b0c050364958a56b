// Hostile request files never kill the process (issue 13.8): times JavaScript cannot represent, text that is
// no YAML at all and nesting that would overflow the YAML library are each `invalid` at file:line; nothing
// throws, whether through decideAll or through the ledger's fold; whatever is approved has a window the
// ledger reads the same way (approved is never "silently never provisioned").
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideAll } from '../../src/core/decide.js';
import { finalizeLedger, foldLedger, type HistoryCommit, statusAt } from '../../src/core/ledger.js';
import { DEFAULT_CONFIG, type Decision } from '../../src/core/model.js';
import { input, policies } from '../helpers/core.js';

const POLICY = policies(`
resources:
  free-db:
    provider: postgres
    connection: free
    roles:
      read-only: { grant: [free_read] }
  office-db:
    provider: postgres
    connection: office
    roles:
      read-only: { grant: [office_read] }
rules:
  - name: free-read
    requesters: ["*"]
    resources: [free-db]
  - name: office-read
    requesters: ["*"]
    resources: [office-db]
    hours: { days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00", tz: Europe/Berlin }
`);
const AT = '2026-01-07T10:00:00Z';
const FILE = 'requests/alice/x.yaml';

const requestWith = (fields: Record<string, string>, resource = 'free-db') =>
  `requester: alice\nresource: ${resource}\nrole: read-only\nreason: Reproduce BUG-1234 in prod\n${Object.entries(
    fields,
  )
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}\n`)
    .join('')}`;

const decide = (text: string, at = AT): Decision =>
  decideAll(input(POLICY, [{ path: FILE, text }], { at: new Date(at) }))[0] as Decision;

/** A commit on main that adds `text` as the request file at `time`. */
const commitOf = (text: string, time: string, sha = 'c1'): HistoryCommit => ({
  sha,
  parents: ['c0'],
  time,
  authoredAt: time,
  author: 'Alice <alice@example.com>',
  committer: 'Alice <alice@example.com>',
  subject: 'request',
  trailers: {},
  changes: [{ status: 'added', path: FILE, content: text }],
});

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

/** Every approved decision has a window of real instants, and the ledger, merging it at `at`, agrees. */
function expectSoundWindow(d: Decision, text: string, at: string): void {
  if (d.status !== 'approved') return;
  const w = d.window;
  expect(w).not.toBeNull();
  expect(w?.starts_at).toMatch(RFC3339_UTC);
  expect(w?.expires_at).toMatch(RFC3339_UTC);
  const starts = Date.parse(w?.starts_at ?? '');
  const expires = Date.parse(w?.expires_at ?? '');
  expect(Number.isFinite(starts) && Number.isFinite(expires) && starts < expires).toBe(true);
  const ledger = finalizeLedger(foldLedger([commitOf(text, at)], DEFAULT_CONFIG), new Date(at));
  expect(ledger.grants).toHaveLength(1);
  const g = ledger.grants[0];
  // The decision shows whole seconds; the ledger keeps milliseconds.
  expect(Math.floor(Date.parse(g?.starts_at ?? '') / 1000) * 1000).toBe(starts);
  expect(Math.floor(Date.parse(g?.expires_at ?? '') / 1000) * 1000).toBe(expires);
}

/** Date-time-like text: each part in or just out of range, every separator and zone form people write. */
const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
const timeLike = fc
  .tuple(
    fc.oneof(
      fc.constantFrom('2026', '2027', '0000', '0001', '9999', '275760', '+275760', '-000001'),
      fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0')),
    ),
    two(13),
    two(32),
    fc.constantFrom('T', 't', ' '),
    two(24),
    two(60),
    fc.constantFrom(':00', ':59', ':60', ''),
    fc.constantFrom('', '.5', '.123', '.1234567890123'),
    fc.constantFrom('Z', 'z', '+01', '+0100', '+01:00', '-05:30', '+24:00', '+23:59', '-00:00', ''),
  )
  .map(([y, mo, d, sep, h, mi, s, frac, zone]) => `${y}-${mo}-${d}${sep}${h}:${mi}${s}${frac}${zone}`);

describe('times JavaScript cannot represent are invalid at file:line, never a throw', () => {
  it('a leap second in `until` (decideAll threw RangeError: Invalid time value)', () => {
    const d = decide(requestWith({ until: '2026-01-07T23:59:60Z' }));
    expect(d.status).toBe('invalid');
    expect(d.errors).toEqual([
      expect.objectContaining({
        line: 5,
        column: 8,
        path: '$.until',
        message: expect.stringMatching(/leap second/),
      }),
    ]);
  });

  it('an offset without minutes in `start` (it was approved with the start ignored, and never provisioned)', () => {
    const text = requestWith({ duration: '2h', start: '2026-01-08T09:00:00+01' });
    const d = decide(text);
    expect(d.status).toBe('invalid');
    expect(d.errors).toEqual([
      expect.objectContaining({ line: 6, path: '$.start', message: expect.stringMatching(/\+01:00/) }),
    ]);
    expect(foldLedger([commitOf(text, AT)], DEFAULT_CONFIG).grants).toEqual([]);
  });

  it('a window that would end after 9999 is invalid at its duration (it was approved until +010000-…)', () => {
    const d = decide(requestWith({ duration: '2d', start: '9999-12-31T09:00:00Z' }));
    expect(d.status).toBe('invalid');
    expect(d.errors).toEqual([
      expect.objectContaining({
        line: 5,
        path: '$.duration',
        message: expect.stringMatching(/after 9999-12-31/),
      }),
    ]);
  });

  it('every form ajv-formats accepted but JavaScript bends is refused in start and until', () => {
    for (const t of [
      '2026-01-07T23:59:60Z',
      '2026-01-08T09:00:00+01',
      '0000-01-01T00:00:00Z',
      '2026-01-08t09:00:00z',
      '2026-01-08 09:00:00Z',
      '2026-01-08T09:00:00.123456789Z',
    ]) {
      for (const fields of [{ until: t }, { duration: '1h', start: t }] as Record<string, string>[]) {
        const d = decide(requestWith(fields));
        expect(d.status, `${JSON.stringify(fields)}`).toBe('invalid');
        expect(d.errors[0]?.line).toBeGreaterThanOrEqual(5);
      }
    }
  });

  it('any date-time-like start/until: no throw, and approved means a window the ledger reads alike (property)', () => {
    fc.assert(
      fc.property(
        timeLike,
        fc.constantFrom('until', 'start'),
        fc.constantFrom('free-db', 'office-db'),
        (t, field, resource) => {
          const text = requestWith(field === 'until' ? { until: t } : { duration: '1h', start: t }, resource);
          const d = decide(text);
          expectSoundWindow(d, text, AT);
          const fold = foldLedger([commitOf(text, AT)], DEFAULT_CONFIG);
          for (const g of finalizeLedger(fold, new Date(AT)).grants) {
            expect(g.starts_at).toMatch(RFC3339_UTC);
            expect(g.expires_at).toMatch(RFC3339_UTC);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe('any text at all', () => {
  it('arbitrary strings as a request file: no throw, invalid has a position, approved is sound (property)', () => {
    const field = fc.constantFrom(
      'requester',
      'resource',
      'role',
      'duration',
      'until',
      'start',
      'reason',
      'x',
    );
    const yamlish = fc
      .array(
        fc.oneof(
          fc.tuple(field, fc.string()).map(([k, v]) => `${k}: ${v}`),
          fc.string(),
        ),
        {
          maxLength: 8,
        },
      )
      .map((lines) => lines.join('\n'));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'grapheme' }), fc.string(), yamlish), (text) => {
        const d = decide(text);
        expect(['approved', 'pending', 'denied', 'invalid']).toContain(d.status);
        if (d.status === 'invalid') for (const e of d.errors) expect(e.line >= 1 && e.column >= 1).toBe(true);
        expectSoundWindow(d, text, AT);
      }),
      { numRuns: 1000 },
    );
  });

  it('arbitrary deep nestings, flow and block, mixed: invalid at a line, never a throw (property)', () => {
    const piece = fc.constantFrom(
      '[',
      '{',
      ']',
      '}',
      '- ',
      '? ',
      ': ',
      'a: ',
      'a',
      ',',
      '\n',
      '  ',
      '"x"',
      '#c\n',
      '|\n',
    );
    const deep = fc.oneof(
      // Closing thousands of compact levels at once overflowed the YAML parser's recursion.
      fc
        .tuple(fc.constantFrom('- ', '? ', '- ? '), fc.integer({ min: 3000, max: 10_000 }))
        .map(([unit, n]) => `${unit.repeat(n)}x\nb: 1\n`),
      fc
        .tuple(
          fc.constantFrom('[', '{', '[{', '- ', '? ', '- [', 'a: [', '{a: '),
          fc.integer({ min: 30, max: 8000 }),
        )
        .map(([unit, n]) => unit.repeat(n)),
      fc.array(piece, { minLength: 50, maxLength: 4000 }).map((p) => p.join('')),
      fc
        .integer({ min: 30, max: 300 })
        .map((n) => Array.from({ length: n }, (_, i) => `${' '.repeat(i)}${i % 2 ? '- ' : 'a:'}`).join('\n')),
    );
    fc.assert(
      fc.property(deep, fc.constantFrom('', 'requester: alice\nresource: '), (body, prefix) => {
        const text = prefix + body;
        const d = decide(text);
        if (Buffer.byteLength(text) <= 64 * 1024) {
          expect(d.status).toBe('invalid');
          expect(d.errors.length).toBeGreaterThan(0);
          expect(d.errors.every((e) => e.line >= 1 && !e.message.startsWith('cannot read YAML'))).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('the ledger fold never throws either', () => {
  it('arbitrary commit times and request texts: grants have real instants (property)', () => {
    const time = fc.oneof(
      fc
        .date({
          min: new Date('0001-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59Z'),
          noInvalidDate: true,
        })
        .map((d) => d.toISOString()),
      timeLike,
      fc.string(),
      fc.constantFrom('', 'not a date', '+275760-09-13T00:00:00Z', '9999-12-31T23:59:59Z'),
    );
    const text = fc.oneof(
      timeLike.map((t) => requestWith({ until: t })),
      timeLike.map((t) => requestWith({ duration: '9999d', start: t })),
      fc.string(),
    );
    const change = fc.tuple(fc.constantFrom('added', 'modified', 'removed' as const), text);
    fc.assert(
      fc.property(fc.array(fc.tuple(time, change), { maxLength: 6 }), (steps) => {
        const commits = steps.map(
          ([t, [status, content]], i): HistoryCommit => ({
            ...commitOf(content, t, `c${i + 1}`),
            changes: [{ status, path: FILE, ...(status === 'removed' ? {} : { content }) }],
          }),
        );
        const folded = foldLedger(commits, DEFAULT_CONFIG);
        // Round-trips through the fold cache's JSON, as the CLI stores it.
        const ledger = finalizeLedger(JSON.parse(JSON.stringify(folded)), new Date(AT));
        for (const g of ledger.grants) {
          for (const t of [g.starts_at, g.expires_at, g.ends_at, g.merged_at]) expect(t).toMatch(RFC3339_UTC);
        }
        for (const at of [AT, '0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z']) statusAt(ledger, new Date(at));
      }),
      { numRuns: 500 },
    );
  });
});
