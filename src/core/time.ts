// Times as requests, policy tests and `--at` write them: RFC 3339, restricted to what JavaScript (and every
// target Timebox writes an expiry to) represents exactly. ajv-formats' `date-time` accepts leap seconds
// (`23:59:60`), offsets without minutes (`+01`), year 0000, a lower-case `t`/`z` or a space for the `T`,
// and any number of fractional digits; `Date.parse` reads some of these as NaN (a RangeError later, in
// `toISOString`), reads others by engine-specific fallback rules, and drops digits past milliseconds.
// One rule, here, decides what a time is; the schemas' `date-time` format and the CLI both use it.

/** The only accepted shape: `2026-12-01T09:00:00Z`, `2026-12-01T09:00:00.250+01:00`. */
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/** The latest instant a window may reach: its RFC 3339 form still has a four-digit year. */
export const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/** The earliest: 0001-01-01T00:00:00Z (year 0000 is not a year every reader agrees on). */
export const MIN_TIME_MS = -62_135_596_800_000;

export type TimestampCheck = { ok: true; ms: number } | { ok: false; problem: string | null };

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/**
 * Read `text` as a time. `problem` says what is wrong when that is more than "not a time" (a leap second,
 * an offset without minutes, …); null when the text is nothing like a time.
 */
export function checkTimestamp(text: string): TimestampCheck {
  const m = TIMESTAMP.exec(text);
  if (!m) return { ok: false, problem: nearMiss(text) };
  const [, y, mo, d, h, mi, s, frac = '', sign, oh = '0', om = '0'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (year < 1) return { ok: false, problem: 'years run from 0001 to 9999' };
  if (month < 1 || month > 12) return { ok: false, problem: `there is no month ${mo}` };
  const days = month === 2 && isLeap(year) ? 29 : (DAYS_IN_MONTH[month - 1] as number);
  if (day < 1 || day > days) return { ok: false, problem: `${y}-${mo} has no day ${d}` };
  if (hour === 24) return { ok: false, problem: 'write 24:00 as 00:00 of the next day' };
  if (hour > 23 || minute > 59) return { ok: false, problem: `there is no time ${h}:${mi}` };
  if (second === 60) {
    return { ok: false, problem: 'leap seconds (:60) cannot be represented; use :59 or the next minute' };
  }
  if (second > 59) return { ok: false, problem: `there is no second ${s}` };
  if (Number(oh) > 23 || Number(om) > 59) {
    return { ok: false, problem: `there is no offset ${sign}${oh}:${om} (at most ±23:59)` };
  }
  const offsetMs = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om)) * 60_000;
  // Date.UTC reads years 0–99 as 1900–1999: set the year separately.
  const local = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, Number(frac.padEnd(3, '0'))));
  local.setUTCFullYear(year, month - 1, day);
  const ms = local.getTime() - offsetMs;
  if (!(ms >= MIN_TIME_MS && ms <= MAX_TIME_MS)) {
    return { ok: false, problem: 'in UTC it falls outside the years 0001 to 9999' };
  }
  // The engine must read the text as the same instant (no fallback parsing, nothing dropped).
  if (Date.parse(text) !== ms) return { ok: false, problem: 'JavaScript reads it as a different time' };
  return { ok: true, ms };
}

/** Milliseconds since the epoch, or null when `text` is not a time by `checkTimestamp`'s rule. */
export function parseTimestamp(text: string): number | null {
  const c = checkTimestamp(text);
  return c.ok ? c.ms : null;
}

/** `2026-12-01T09:00:00Z` (milliseconds only when there are some); null for an instant out of range. */
export function formatTimestamp(ms: number): string | null {
  if (!(ms >= MIN_TIME_MS && ms <= MAX_TIME_MS)) return null;
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

/** Why a text that looks almost like a time is not one; null when it looks like nothing of the kind. */
function nearMiss(text: string): string | null {
  const m = /^([+-]?\d+)-(\d{2})-(\d{2})(.)(\d{2}):(\d{2})(?::(\d{2})(\.\d*)?)?(.*)$/s.exec(text);
  if (!m) return null;
  const [, year, , , sep, , , seconds, frac, zone = ''] = m;
  if (!/^\d{4}$/.test(year as string)) return 'the year must have four digits';
  if (sep === 't') return 'write the `T` between date and time in upper case';
  if (sep !== 'T') return 'separate date and time with `T`, as in 2026-12-01T09:00:00Z';
  if (seconds === undefined) return 'give the seconds too, as in 09:00:00';
  if (frac !== undefined && frac.length === 1) return 'a `.` must be followed by digits';
  if (frac !== undefined && frac.length > 4) {
    return 'at most 3 fractional digits (milliseconds): more would be silently dropped';
  }
  if (zone === '') return 'give a time zone: `Z` for UTC or an offset such as +01:00';
  if (zone === 'z') return 'write the `Z` in upper case';
  if (/^[+-]\d{2}$/.test(zone)) return `write the offset with minutes, as in ${zone}:00`;
  if (/^[+-]\d{4}$/.test(zone))
    return `write the offset with a colon, as in ${zone.slice(0, 3)}:${zone.slice(3)}`;
  return 'the time zone must be `Z` or an offset such as +01:00';
}
