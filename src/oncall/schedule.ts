// On-call schedules: who is on call at an instant. Pure: the time is always a parameter; nothing here reads
// a clock or a file (src/oncall/load.ts reads schedule files, docs/on-call.md describes them).
//
// A layer is a rotation of logins whose turns hand off at a wall-clock time in the schedule's zone, every
// `turnDays` local days counted from the layer's `start`. A layer may be restricted to local windows
// (weekdays 09:00–17:00). Where several apply, the later layer wins; an override wins over every layer
// (a later override over an earlier one). Intervals are half-open: a shift ending at a hand-off belongs
// to the earlier person until that instant, and the next person holds it from that instant on.
import type { Weekday } from '../core/model.js';
import { localDay, resolveLocal, weekdayOf } from './zone.js';

export interface Restriction {
  days: readonly Weekday[];
  /** Minutes after local midnight. */
  from: number;
  /** Minutes after local midnight; at or before `from`, the window ends the next day (equal: a whole day). */
  to: number;
}

export interface Layer {
  name: string;
  rotation: readonly string[];
  /** One turn, in local calendar days (a week is 7): a turn holds one hand-off time, whatever the DST. */
  turnDays: number;
  /** The hand-off time, in minutes after local midnight. */
  handoff: number;
  /** The first hand-off (ms since the epoch), where `rotation[0]`'s first turn begins. */
  start: number;
  /** Where the layer stops applying (ms since the epoch), or null. */
  end: number | null;
  /** Local windows the layer is limited to; null: it applies at all times. */
  restrict: readonly Restriction[] | null;
}

export interface Override {
  login: string;
  /** ms since the epoch, inclusive. */
  start: number;
  /** ms since the epoch, exclusive. */
  end: number;
}

export interface Schedule {
  /** IANA time zone of every hand-off and restriction. */
  tz: string;
  layers: readonly Layer[];
  overrides: readonly Override[];
}

/** One stretch of time during which one login is on call through one layer turn (or override). */
export interface Shift {
  login: string;
  /** The layer's name, or `override`. */
  layer: string;
  start: Date;
  end: Date;
}

export interface OnCall {
  login: string;
  layer: string;
  shift: { start: Date; end: Date };
}

/** The `layer` of a shift given by an override. */
export const OVERRIDE = 'override';

/** A candidate shift of one source before precedence: `rank` orders sources (higher wins). */
interface Piece {
  start: number;
  end: number;
  login: string;
  layer: string;
  rank: number;
}

/** Who is on call at `at`, through which layer, and the whole shift that holds `at`; null when nobody. */
export function onCallAt(schedule: Schedule, at: Date): OnCall | null {
  const t = instant(at);
  const shift = shiftsBetween(schedule, new Date(t), new Date(t + 1)).find(
    (s) => s.start.getTime() <= t && t < s.end.getTime(),
  );
  return shift
    ? { login: shift.login, layer: shift.layer, shift: { start: shift.start, end: shift.end } }
    : null;
}

/** Whether `login` (compared case-insensitively, as GitHub logins are) is the one on call at `at`. */
export function isOnCall(schedule: Schedule, login: string, at: Date): boolean {
  return onCallAt(schedule, at)?.login.toLowerCase() === login.toLowerCase();
}

/**
 * The shifts that overlap [from, to), in time order, never overlapping one another; each with its whole
 * extent (a shift that began before `from` keeps its start). Gaps are times nobody is on call.
 */
export function shiftsBetween(schedule: Schedule, from: Date, to: Date): Shift[] {
  const f = instant(from);
  const t = instant(to);
  if (!(t > f)) return [];
  // A shift overlapping [f, t) is a piece overlapping it, cut by higher-ranked pieces overlapping that
  // piece: take the hull of the first pieces, then every piece overlapping the hull.
  const first = pieces(schedule, f, t);
  if (first.length === 0) return [];
  const lo = first.reduce((m, p) => Math.min(m, p.start), f);
  const hi = first.reduce((m, p) => Math.max(m, p.end), t);
  return flatten(pieces(schedule, lo, hi))
    .filter((s) => s.end > f && s.start < t)
    .map((s) => ({ login: s.login, layer: s.layer, start: new Date(s.start), end: new Date(s.end) }));
}

/**
 * The shift at `at` (if any) and up to `count` shifts after it, looking at most `horizonDays` ahead:
 * what `timebox oncall` prints as the next hand-offs.
 */
export function upcomingShifts(schedule: Schedule, at: Date, count: number, horizonDays = 366): Shift[] {
  const t = instant(at);
  let days = 8;
  for (;;) {
    const span = Math.min(days, horizonDays);
    const shifts = shiftsBetween(schedule, at, new Date(t + span * 86_400_000));
    const current = shifts.filter((s) => s.start.getTime() <= t);
    const later = shifts.filter((s) => s.start.getTime() > t);
    if (later.length >= count || span >= horizonDays) return [...current, ...later.slice(0, count)];
    days *= 4;
  }
}

function instant(d: Date): number {
  const t = d.getTime();
  if (Number.isNaN(t)) throw new RangeError('on-call: not a time (Invalid Date)');
  return t;
}

/** Every candidate piece of every source overlapping [from, to), each whole. */
function pieces(schedule: Schedule, from: number, to: number): Piece[] {
  const out: Piece[] = [];
  schedule.layers.forEach((layer, i) => {
    out.push(...layerPieces(layer, i, schedule.tz, from, to));
  });
  const base = schedule.layers.length;
  schedule.overrides.forEach((o, i) => {
    if (o.end > o.start && o.end > from && o.start < to)
      out.push({ start: o.start, end: o.end, login: o.login, layer: OVERRIDE, rank: base + i });
  });
  return out;
}

/** The local day of the layer's first hand-off (a hand-off pushed past midnight by a gap belongs before it). */
function anchorDay(layer: Layer, tz: string): number {
  const d = localDay(layer.start, tz);
  if (resolveLocal(d, layer.handoff, tz) === layer.start) return d;
  return resolveLocal(d - 1, layer.handoff, tz) === layer.start ? d - 1 : d;
}

function layerPieces(layer: Layer, rank: number, tz: string, from: number, to: number): Piece[] {
  const end = layer.end ?? Number.POSITIVE_INFINITY;
  const n = layer.rotation.length;
  if (n === 0 || !(layer.turnDays >= 1) || to <= layer.start || from >= end) return [];
  const day0 = anchorDay(layer, tz);
  // Hand-off k: turn k runs from hand-off k to hand-off k+1 (turn 0 from the layer's start).
  const handoff = (k: number) =>
    k === 0 ? layer.start : resolveLocal(day0 + k * layer.turnDays, layer.handoff, tz);
  const out: Piece[] = [];
  let k = turnAt(Math.max(from, layer.start), handoff, layer.turnDays, day0, tz);
  let s = Math.max(handoff(k), layer.start);
  while (s < to && s < end) {
    const next = handoff(k + 1);
    const e = Math.min(next, end);
    const login = layer.rotation[k % n] as string;
    if (e > s) {
      const spans = layer.restrict ? windows(layer.restrict, tz, s, e) : [[s, e] as const];
      for (const [ws, we] of spans)
        if (we > from && ws < to) out.push({ start: ws, end: we, login, layer: layer.name, rank });
    }
    k += 1;
    s = Math.max(next, layer.start);
  }
  return out;
}

/** The turn that holds `t` (at or after the layer's start). */
function turnAt(
  t: number,
  handoff: (k: number) => number,
  turnDays: number,
  day0: number,
  tz: string,
): number {
  let k = Math.max(0, Math.floor((localDay(t, tz) - day0) / turnDays));
  while (k > 0 && handoff(k) > t) k -= 1;
  while (handoff(k + 1) <= t) k += 1;
  return k;
}

/** The restriction windows within [s, e), merged where they touch (Mon 00:00–Tue 00:00 + Tue …). */
function windows(restrict: readonly Restriction[], tz: string, s: number, e: number): [number, number][] {
  const all: [number, number][] = [];
  // From the day before: an overnight window of that day may reach into [s, e).
  for (let d = localDay(s, tz) - 1, last = localDay(e, tz); d <= last; d++) {
    const wd = weekdayOf(d);
    for (const r of restrict) {
      if (!r.days.includes(wd)) continue;
      const ws = resolveLocal(d, r.from, tz);
      const we = resolveLocal(r.to <= r.from ? d + 1 : d, r.to, tz);
      if (we > ws) all.push([ws, we]);
    }
  }
  all.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const w of all) {
    const top = merged.at(-1);
    if (top && w[0] <= top[1]) top[1] = Math.max(top[1], w[1]);
    else merged.push([w[0], w[1]]);
  }
  return merged.map(([a, b]): [number, number] => [Math.max(a, s), Math.min(b, e)]).filter(([a, b]) => b > a);
}

/** Precedence: at each instant the highest-ranked piece holding it; its consecutive stretches are shifts. */
function flatten(all: Piece[]): Piece[] {
  const points = [...new Set(all.flatMap((p) => [p.start, p.end]))].sort((a, b) => a - b);
  const byStart = [...all].sort((a, b) => a.start - b.start);
  const runs: Piece[] = [];
  let active: Piece[] = [];
  let next = 0;
  let last: Piece | null = null;
  for (let i = 0; i + 1 < points.length; i++) {
    const a = points[i] as number;
    const b = points[i + 1] as number;
    active = active.filter((p) => p.end > a);
    while (next < byStart.length && (byStart[next] as Piece).start <= a) {
      const p = byStart[next++] as Piece;
      if (p.end > a) active.push(p);
    }
    let top: Piece | null = null;
    for (const p of active) if (!top || p.rank > top.rank) top = p;
    const run = runs.at(-1);
    if (top && top === last && run && run.end === a) run.end = b;
    else if (top) runs.push({ ...top, start: a, end: b });
    last = top;
  }
  return runs;
}
