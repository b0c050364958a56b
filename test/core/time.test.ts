// The one rule for times (src/core/time.ts): what request files, policy tests and `--at` may write. Every
// form ajv-formats' `date-time` lets through but JavaScript cannot represent exactly is refused with a reason.
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAt } from '../../src/cli/context.js';
import { UsageError } from '../../src/cli/errors.js';
import { validateSchema } from '../../src/core/schemas.js';
import {
  checkTimestamp,
  formatTimestamp,
  MAX_TIME_MS,
  MIN_TIME_MS,
  parseTimestamp,
} from '../../src/core/time.js';
import { loadYaml } from '../../src/core/yaml-loader.js';

/** ajv-formats' own `date-time`, as the schemas used it before. */
const upstream = (() => {
  const ajv = new Ajv();
  addFormats.default(ajv);
  return ajv.compile({ type: 'string', format: 'date-time' });
})();

const REFUSED: [string, RegExp][] = [
  ['2026-12-01T23:59:60Z', /leap seconds/],
  ['2016-12-31T23:59:60Z', /leap seconds/],
  ['2026-12-01T00:59:60+01:00', /leap seconds/],
  ['2026-12-01T09:00:00+01', /offset with minutes, as in \+01:00/],
  ['2026-12-01T09:00:00+0100', /offset with a colon, as in \+01:00/],
  ['0000-01-01T00:00:00Z', /0001 to 9999/],
  ['0001-01-01T00:00:00+01:00', /in UTC it falls outside/],
  ['9999-12-31T23:59:59-01:00', /in UTC it falls outside/],
  ['275760-09-13T00:00:00Z', /four digits/],
  ['+275760-09-13T00:00:01Z', /four digits/],
  ['-000001-01-01T00:00:00Z', /four digits/],
  ['2026-12-01T24:00:00Z', /24:00 as 00:00 of the next day/],
  ['2026-12-01t09:00:00Z', /`T` .* upper case/],
  ['2026-12-01T09:00:00z', /`Z` in upper case/],
  ['2026-12-01 09:00:00Z', /separate date and time with `T`/],
  ['2026-12-01T09:00:00.123456789Z', /at most 3 fractional digits/],
  ['2026-12-01T09:00:00.1234Z', /at most 3 fractional digits/],
  ['2026-12-01T09:00:00.Z', /followed by digits/],
  ['2026-02-29T00:00:00Z', /2026-02 has no day 29/],
  ['2026-04-31T00:00:00Z', /no day 31/],
  ['2026-13-01T00:00:00Z', /no month 13/],
  ['2026-12-01T09:60:00Z', /no time 09:60/],
  ['2026-12-01T09:00Z', /give the seconds/],
  ['2026-12-01T09:00:00', /give a time zone/],
  ['2026-12-01T09:00:00+24:00', /no offset \+24:00/],
  ['2026-12-01T09:00:00 +01:00', /time zone must be/],
];

describe('times: one rule, exact or refused', () => {
  it.each(REFUSED)('%s is refused: %s', (text, why) => {
    const c = checkTimestamp(text);
    expect(c.ok).toBe(false);
    expect(c.ok ? '' : c.problem).toMatch(why);
    expect(parseTimestamp(text)).toBeNull();
  });

  it('the forms ajv-formats accepted and JavaScript cannot read exactly are among them', () => {
    // The reason for the rule: each of these passed the schemas and then broke or bent decideAll.
    for (const text of [
      '2026-12-01T23:59:60Z',
      '2026-12-01T09:00:00+01',
      '0000-01-01T00:00:00Z',
      '2026-12-01t09:00:00z',
      '2026-12-01T09:00:00.123456789Z',
    ]) {
      expect(upstream(text), text).toBe(true);
      expect(checkTimestamp(text).ok, text).toBe(false);
    }
    expect(Number.isNaN(Date.parse('2026-12-01T23:59:60Z'))).toBe(true);
    expect(Number.isNaN(Date.parse('2026-12-01T09:00:00+01'))).toBe(true);
  });

  it.each([
    ['2026-12-01T09:00:00Z', '2026-12-01T09:00:00Z'],
    ['2026-12-01T09:00:00+01:00', '2026-12-01T08:00:00Z'],
    ['2026-12-01T09:00:00-00:00', '2026-12-01T09:00:00Z'],
    ['2026-12-01T09:00:00.5Z', '2026-12-01T09:00:00.500Z'],
    ['2024-02-29T23:59:59.999-23:59', '2024-03-01T23:58:59.999Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00Z'],
    ['0099-06-01T00:00:00Z', '0099-06-01T00:00:00Z'],
    ['9999-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z'],
  ])('%s is %s', (text, utc) => {
    const ms = parseTimestamp(text);
    expect(ms).not.toBeNull();
    expect(formatTimestamp(ms as number)).toBe(utc);
    expect(Date.parse(text)).toBe(ms);
  });

  it('any time-like text: never a throw; accepted means Date.parse agrees and the instant round-trips (property)', () => {
    const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
    const timeLike = fc
      .tuple(
        fc.oneof(
          fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0')),
          fc.constantFrom('275760', '+275760', '-271821', '10000', '99'),
        ),
        two(13),
        two(32),
        fc.constantFrom('T', 't', ' ', '_'),
        two(25),
        two(61),
        fc.option(two(61), { nil: undefined }),
        fc.option(fc.stringMatching(/^\.\d{0,12}$/), { nil: undefined }),
        fc.constantFrom('Z', 'z', '', '+01', '-0530', '+01:00', '-23:59', '+24:00', '+00:60', '-00:00'),
      )
      .map(
        ([y, mo, d, sep, h, mi, s, frac, zone]) =>
          `${y}-${mo}-${d}${sep}${h}:${mi}${s === undefined ? '' : `:${s}`}${frac ?? ''}${zone}`,
      );
    fc.assert(
      fc.property(fc.oneof(timeLike, fc.string()), (text) => {
        const c = checkTimestamp(text);
        if (!c.ok) return;
        expect(Date.parse(text)).toBe(c.ms);
        expect(c.ms).toBeGreaterThanOrEqual(MIN_TIME_MS);
        expect(c.ms).toBeLessThanOrEqual(MAX_TIME_MS);
        const back = formatTimestamp(c.ms) as string;
        expect(back).toMatch(/^\d{4}-/);
        expect(parseTimestamp(back)).toBe(c.ms);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the rule in the schemas and the CLI', () => {
  it('a request `until` or `start` that JavaScript cannot represent is invalid at its line, with the reason', () => {
    const text =
      'requester: alice\nresource: orders-db\nrole: read-only\nuntil: 2026-12-01T23:59:60Z\nreason: Reproduce BUG-1234 here\nstart: 2026-12-01T09:00:00+01\n';
    const loaded = loadYaml(text, { scalars: 'strings' });
    expect(validateSchema('request', loaded.value, loaded)).toEqual([
      {
        line: 4,
        column: 8,
        path: '$.until',
        message:
          'must be an RFC 3339 time with a time zone, such as 2026-12-01T18:00:00Z (leap seconds (:60) cannot be represented; use :59 or the next minute)',
      },
      {
        line: 6,
        column: 8,
        path: '$.start',
        message:
          'must be an RFC 3339 time with a time zone, such as 2026-12-01T09:00:00Z (write the offset with minutes, as in +01:00)',
      },
    ]);
  });

  it('a policy test `at` follows the same rule', () => {
    const text =
      'tests:\n  - name: t\n    request: { requester: alice }\n    at: 2026-01-07T10:00:00.0000Z\n    expect: approved\n';
    const loaded = loadYaml(text, { scalars: 'core' });
    expect(validateSchema('policy-test', loaded.value, loaded)).toEqual([
      {
        line: 4,
        column: 9,
        path: '$.tests[0].at',
        message:
          'must be an RFC 3339 time with a time zone, such as 2026-12-01T09:00:00Z (at most 3 fractional digits (milliseconds): more would be silently dropped)',
      },
    ]);
  });

  it('--at, --since and --until follow it too, and say which flag is wrong', () => {
    expect(parseAt('2026-12-01T09:00:00+01:00').toISOString()).toBe('2026-12-01T08:00:00.000Z');
    expect(() => parseAt('2026-12-01T23:59:60Z')).toThrow(UsageError);
    expect(() => parseAt('2026-12-01T23:59:60Z')).toThrow(
      '--at must be an RFC 3339 time with a time zone, such as 2026-12-01T09:00:00Z (got 2026-12-01T23:59:60Z: leap seconds (:60) cannot be represented; use :59 or the next minute)',
    );
    expect(() => parseAt('2026-12-01t09:00:00z', undefined, '--since')).toThrow(/^--since must be/);
    expect(() => parseAt('0000-01-01T00:00:00Z')).toThrow(/0001 to 9999/);
  });
});
