// On-call schedules: who is on call at an instant. Pure: the time is always a parameter; nothing here reads
// a clock or a file (src/oncall/load.ts reads schedule files, docs/on-call.md describes them).
//
// A layer is a rotation of logins whose turns hand off at a wall-clock time in the schedule's zone, every
// `turnDays` local days counted from the layer's `start`. A layer may be restricted to local windows
// (weekdays 09:00–17:00). Where several apply, the later layer wins; an override wins over every layer
// (a later override over an earlier one). Intervals are half-open: a shift ending at a hand-off belongs
// to the earlier person until that instant, and the next person holds it from that instant on.
//
// A shift is a longest stretch with one winner: one turn of one layer, or one override. It is found from
// the instant asked about: the winner's own stretch (its turn, within one run of restriction windows),
// cut where a higher-ranked layer or override last stopped before that instant and next starts after it.
import { LayerView } from './layer.js';
import { type OnCall, OVERRIDE, type Schedule, type Shift } from './types.js';

export {
  type Layer,
  type OnCall,
  OVERRIDE,
  type Override,
  type Restriction,
  type Schedule,
  type Shift,
} from './types.js';

const DAY_MS = 86_400_000;

interface Stretch {
  login: string;
  layer: string;
  /** Layers rank 0…n-1 in file order, overrides n… in file order: the higher rank wins. */
  rank: number;
  start: number;
  end: number;
}

/** Who is on call at `at`, through which layer, and the whole shift that holds `at`; null when nobody. */
export function onCallAt(schedule: Schedule, at: Date): OnCall | null {
  const s = winnerAt(new Ranks(schedule), instant(at));
  return s
    ? { login: s.login, layer: s.layer, shift: { start: new Date(s.start), end: new Date(s.end) } }
    : null;
}

/** Whether `login` (compared case-insensitively, as GitHub logins are) is the one on call at `at`. */
export function isOnCall(schedule: Schedule, login: string, at: Date): boolean {
  return onCallAt(schedule, at)?.login.toLowerCase() === login.toLowerCase();
}

/**
 * The shifts that overlap [from, to), in time order, never overlapping one another; each whole (a shift
 * that began before `from` keeps its start). Gaps between them are times nobody is on call.
 */
export function shiftsBetween(schedule: Schedule, from: Date, to: Date): Shift[] {
  const ranks = new Ranks(schedule);
  const end = instant(to);
  const out: Shift[] = [];
  for (let t = instant(from); t < end; ) {
    const s = winnerAt(ranks, t);
    if (s) {
      out.push({ login: s.login, layer: s.layer, start: new Date(s.start), end: new Date(s.end) });
      t = s.end;
      continue;
    }
    // Nobody at t: skip to where the first source begins to cover.
    let next: number | null = null;
    for (let r = 0; r < ranks.size; r++) {
      const n = ranks.nextCover(r, t, end);
      if (n !== null && (next === null || n < next)) next = n;
    }
    if (next === null || next <= t) break;
    t = next;
  }
  return out;
}

/**
 * The shift at `at` (if any) and up to `count` shifts after it, looking at most `horizonDays` ahead:
 * what `timebox oncall` prints as the next hand-offs.
 */
export function upcomingShifts(schedule: Schedule, at: Date, count: number, horizonDays = 366): Shift[] {
  const t = instant(at);
  for (let days = 8; ; days *= 4) {
    const span = Math.min(days, horizonDays);
    const shifts = shiftsBetween(schedule, at, new Date(t + span * DAY_MS));
    const current = shifts.filter((s) => s.start.getTime() <= t);
    const later = shifts.filter((s) => s.start.getTime() > t);
    if (later.length >= count || span >= horizonDays) return [...current, ...later.slice(0, count)];
  }
}

function instant(d: Date): number {
  const t = d.getTime();
  if (!Number.isFinite(t)) throw new RangeError('on-call: not a time (Invalid Date)');
  return t;
}

/** The schedule's sources by rank, each answering what it covers. */
class Ranks {
  readonly size: number;
  readonly #views: LayerView[];

  constructor(readonly schedule: Schedule) {
    this.#views = schedule.layers.map((l) => new LayerView(l, schedule.tz));
    this.size = schedule.layers.length + schedule.overrides.length;
  }

  /** The stretch of source `rank` that holds `t` (before higher ranks cut it), or null. */
  stretch(rank: number, t: number): Stretch | null {
    const view = this.#views[rank];
    if (view) {
      const s = view.segment(t);
      return s && { ...s, layer: view.layer.name, rank };
    }
    const o = this.schedule.overrides[rank - this.#views.length];
    return o && o.start <= t && t < o.end
      ? { login: o.login, layer: OVERRIDE, rank, start: o.start, end: o.end }
      : null;
  }

  /** The first instant in [t, limit) that source `rank` covers, or null (`limit` finite). */
  nextCover(rank: number, t: number, limit: number): number | null {
    const view = this.#views[rank];
    if (view) return view.nextCover(t, limit);
    const o = this.schedule.overrides[rank - this.#views.length];
    return o && o.end > o.start && o.end > t && o.start < limit ? Math.max(o.start, t) : null;
  }

  /** Where source `rank`'s coverage within [limit, t) last ends, or null. */
  prevCoverEnd(rank: number, t: number, limit: number): number | null {
    const view = this.#views[rank];
    if (view) return view.prevCoverEnd(t, limit);
    const o = this.schedule.overrides[rank - this.#views.length];
    return o && o.end > o.start && o.start < t && o.end > limit ? Math.min(o.end, t) : null;
  }
}

/** The highest-ranked source holding `t`, its stretch cut where higher-ranked sources take over. */
function winnerAt(ranks: Ranks, t: number): Stretch | null {
  let s: Stretch | null = null;
  for (let r = ranks.size - 1; r >= 0 && !s; r--) s = ranks.stretch(r, t);
  if (!s) return null;
  for (let r = s.rank + 1; r < ranks.size; r++) {
    const before = ranks.prevCoverEnd(r, t, s.start);
    if (before !== null) s.start = Math.max(s.start, before);
    const after = ranks.nextCover(r, t, s.end);
    if (after !== null) s.end = Math.min(s.end, after);
  }
  return s;
}
