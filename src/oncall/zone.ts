// Local calendar days and wall-clock times in an IANA zone, turned into instants. Only `Intl` (through
// src/core/hours.ts) knows the zone's rules: Timebox keeps no time zone table of its own.
//
// A local day is a whole number of days since 1970-01-01 as the zone's calendar shows it; a local time is
// minutes after that day's midnight. Neither is an instant until `resolveLocal` says which one.

import { wallClock } from '../core/hours.js';
import type { Weekday } from '../core/model.js';

export const DAY_MS = 86_400_000;
export const MINUTE_MS = 60_000;
export const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** The zone's wall clock at `ms`, as a naive millisecond count (seconds resolution). */
function wall(ms: number, tz: string): number {
  return wallClock(new Date(ms), tz);
}

/** The local day that contains the instant `ms` in `tz`. */
export function localDay(ms: number, tz: string): number {
  return Math.floor(wall(ms, tz) / DAY_MS);
}

/** Minutes after local midnight at `ms` in `tz`. */
export function localMinutes(ms: number, tz: string): number {
  const w = wall(ms, tz);
  return Math.floor((w - Math.floor(w / DAY_MS) * DAY_MS) / MINUTE_MS);
}

export function weekdayOf(day: number): Weekday {
  // 1970-01-01 was a Thursday.
  return WEEKDAYS[(((day + 4) % 7) + 7) % 7] as Weekday;
}

/** Local minus UTC at `ms`, in milliseconds. */
export function offsetAt(ms: number, tz: string): number {
  const s = Math.floor(ms / 1000) * 1000;
  return wall(s, tz) - s;
}

/**
 * The instant at which clocks in `tz` show `minutes` after midnight of local `day`.
 * - A time a spring-forward change skips (02:30 in Berlin on the last Sunday of March) resolves to the
 *   first instant after the gap (03:00 CEST): the hand-off still happens that day, as soon as it can.
 * - A time a fall-back change shows twice (02:30 on the last Sunday of October) resolves to its first
 *   occurrence (02:30 CEST), so nobody's shift is stretched by the repeated hour.
 */
export function resolveLocal(day: number, minutes: number, tz: string): number {
  const local = day * DAY_MS + minutes * MINUTE_MS;
  // The offsets a day either side: a zone changes its offset at most once in two days.
  const before = offsetAt(local - DAY_MS, tz);
  const after = offsetAt(local + DAY_MS, tz);
  const valid = [local - before, local - after].filter((t) => wall(t, tz) === local);
  if (valid.length > 0) return Math.min(...valid);
  // In a gap: the clocks read earlier than `local` at `lo` and later at `hi`; the first second at
  // which they read `local` or later is the change itself.
  let lo = local - Math.max(before, after);
  let hi = local - Math.min(before, after);
  if (hi <= lo) return hi;
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (wall(mid, tz) >= local) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** `2026-03-29T03:00:00+02:00`: the instant as the zone writes it (RFC 3339 with the zone's offset). */
export function formatLocal(ms: number, tz: string): string {
  const off = Math.round(offsetAt(ms, tz) / MINUTE_MS);
  const w = new Date(Math.floor(ms / 1000) * 1000 + off * MINUTE_MS).toISOString().slice(0, 19);
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return `${w}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** `Mon 2026-03-30 09:00` in the zone, for people. */
export function describeLocal(ms: number, tz: string): string {
  const w = wall(ms, tz);
  const iso = new Date(w).toISOString();
  const day = weekdayOf(Math.floor(w / DAY_MS));
  return `${day[0]?.toUpperCase()}${day.slice(1)} ${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

/** `09:00` from minutes after midnight. */
export function formatClock(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}
