// Office hours in a time zone, DST included. Wall-clock times are compared as the people in that
// zone read them: "08:00–18:00 Europe/Berlin" means what Berlin clocks show, whatever the UTC offset.
import type { HoursSpec, Weekday } from './model.js';

const WEEKDAYS: Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const formatters = new Map<string, Intl.DateTimeFormat>();

export function isValidTimeZone(tz: string): boolean {
  if (formatters.has(tz)) return true;
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** The wall-clock time in `tz` at `instant`, as a "naive" UTC millisecond count (for comparisons only). */
const wallClockCache = new Map<string, number>();

export function wallClock(instant: Date, tz: string): number {
  // Many requests share instants (the decision time, its common expiries): Intl formatting is costly.
  const key = `${tz}\u0000${instant.getTime()}`;
  const hit = wallClockCache.get(key);
  if (hit !== undefined) return hit;
  const value = computeWallClock(instant, tz);
  if (wallClockCache.size > 10_000) wallClockCache.clear();
  wallClockCache.set(key, value);
  return value;
}

function computeWallClock(instant: Date, tz: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(instant))
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const d = new Date(
    Date.UTC(
      2000,
      (parts.month ?? 1) - 1,
      parts.day ?? 1,
      parts.hour ?? 0,
      parts.minute ?? 0,
      parts.second ?? 0,
    ),
  );
  // Date.UTC would read the years 0–99 as 1900–1999 (a wrong weekday for `--at 0050-…`): set the year apart.
  d.setUTCFullYear(parts.year ?? 1970, (parts.month ?? 1) - 1, parts.day ?? 1);
  return d.getTime();
}

const DAY = 86_400_000;

function minutesOf(hhmm: string): number {
  const [h = '0', m = '0'] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

/**
 * Whether [start, end] fits inside one office-hours period. A period starts at `from` on one of `days`
 * and ends at `to` the same day (or the next day when `to` is earlier than `from`).
 */
export function withinHours(hours: HoursSpec, start: Date, end: Date): boolean {
  const s = wallClock(start, hours.tz);
  const e = wallClock(end, hours.tz);
  const from = minutesOf(hours.from) * 60_000;
  const to = minutesOf(hours.to) * 60_000;
  const overnight = to <= from;
  const startDay = Math.floor(s / DAY) * DAY;
  for (const day of overnight ? [startDay, startDay - DAY] : [startDay]) {
    const weekday = WEEKDAYS[new Date(day).getUTCDay()] as Weekday;
    if (!hours.days.includes(weekday)) continue;
    const pStart = day + from;
    const pEnd = overnight ? day + DAY + to : day + to;
    if (pStart <= s && e <= pEnd && s <= e) return true;
  }
  return false;
}

/** `2026-12-04 Fri 17:00` in the zone, for messages. */
export function describeWallClock(instant: Date, tz: string): string {
  const w = new Date(wallClock(instant, tz));
  const day = WEEKDAYS[w.getUTCDay()] ?? '';
  return `${w.toISOString().slice(0, 10)} ${day} ${w.toISOString().slice(11, 16)}`;
}

export function describeHours(hours: HoursSpec): string {
  const all = hours.days.length === 7;
  return `${all ? 'every day' : hours.days.join(',')} ${hours.from}–${hours.to} ${hours.tz}`;
}
