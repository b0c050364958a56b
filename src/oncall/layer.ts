// What one layer of a schedule covers, asked around one instant. Every answer is found by looking outward
// from that instant and stopping as soon as it is known, so the cost follows the stretch asked about, not
// the length of a turn, a restriction list or the schedule's history.
//
// A layer covers [start, end) intersected with its restriction windows (or all of it when unrestricted).
// Turn k runs from hand-off k to hand-off k+1; hand-off 0 is the layer's start, hand-off k the hand-off
// time k × turnDays local days after the start's day.
import type { Layer } from './types.js';
import { localDay, resolveLocal, weekdayOf } from './zone.js';

type Span = [number, number];

/** One layer in one zone, with what has been worked out so far (one question's worth). */
export class LayerView {
  readonly #windows = new Map<number, Span[]>();
  #anchor: number | null = null;

  constructor(
    readonly layer: Layer,
    readonly tz: string,
  ) {}

  /** The stretch around `t` where this layer covers with one turn, and whose turn it is; null if it does not cover `t`. */
  segment(t: number): { login: string; start: number; end: number } | null {
    const l = this.layer;
    if (l.rotation.length === 0 || !(l.turnDays >= 1) || t < l.start || t >= this.#end) return null;
    const k = this.#turnAt(t);
    let a = Math.max(this.#handoff(k), l.start);
    let b = Math.min(this.#handoff(k + 1), this.#end);
    if (l.restrict) {
      const chain = this.#chain(t, a, b);
      if (!chain) return null;
      [a, b] = chain;
    }
    return { login: l.rotation[k % l.rotation.length] as string, start: a, end: b };
  }

  /** The first instant in [t, limit) this layer covers, or null (`limit` must be finite). */
  nextCover(t: number, limit: number): number | null {
    const lo = Math.max(t, this.layer.start);
    const hi = Math.min(limit, this.#end);
    if (!(lo < hi)) return null;
    if (!this.layer.restrict) return lo;
    let best: number | null = null;
    let bestDay = Number.POSITIVE_INFINITY;
    // Windows of day d start on day d: once a day starts after the best so far, nothing later beats it.
    for (let d = localDay(lo, this.tz) - 2, last = localDay(hi, this.tz); d <= last && d <= bestDay; d++) {
      for (const [ws, we] of this.#windowsOf(d)) {
        if (we > lo && ws < hi && (best === null || Math.max(ws, lo) < best)) {
          best = Math.max(ws, lo);
          bestDay = localDay(best, this.tz);
        }
      }
    }
    return best;
  }

  /** Where this layer's coverage within [limit, t) last ends (at most `t`), or null when it covers none of it. */
  prevCoverEnd(t: number, limit: number): number | null {
    const lo = Math.max(limit, this.layer.start);
    const hi = Math.min(t, this.#end);
    if (!(lo < hi)) return null;
    if (!this.layer.restrict) return hi;
    let best: number | null = null;
    let bestDay = Number.NEGATIVE_INFINITY;
    // Windows of day d end before day d+3 begins: once that is before the best so far, nothing earlier beats it.
    for (
      let d = localDay(hi, this.tz), first = localDay(lo, this.tz) - 2;
      d >= first && d + 3 > bestDay;
      d--
    ) {
      for (const [ws, we] of this.#windowsOf(d)) {
        if (we > lo && ws < hi && (best === null || Math.min(we, hi) > best)) {
          best = Math.min(we, hi);
          bestDay = localDay(best, this.tz);
        }
      }
    }
    return best;
  }

  get #end(): number {
    return this.layer.end ?? Number.POSITIVE_INFINITY;
  }

  /** The local day of the first hand-off (one pushed past midnight by a gap belongs to the day before). */
  #anchorDay(): number {
    if (this.#anchor !== null) return this.#anchor;
    const { start, handoff } = this.layer;
    const d = localDay(start, this.tz);
    this.#anchor =
      resolveLocal(d, handoff, this.tz) !== start && resolveLocal(d - 1, handoff, this.tz) === start
        ? d - 1
        : d;
    return this.#anchor;
  }

  #handoff(k: number): number {
    const l = this.layer;
    return k === 0 ? l.start : resolveLocal(this.#anchorDay() + k * l.turnDays, l.handoff, this.tz);
  }

  /** The turn that holds `t` (at or after the layer's start). */
  #turnAt(t: number): number {
    const days = localDay(t, this.tz) - this.#anchorDay();
    let k = Math.max(0, Math.floor(days / this.layer.turnDays));
    while (k > 0 && this.#handoff(k) > t) k -= 1;
    while (this.#handoff(k + 1) <= t) k += 1;
    return k;
  }

  /** The restriction windows that start on local day `d`. */
  #windowsOf(d: number): Span[] {
    let list = this.#windows.get(d);
    if (!list) {
      list = [];
      const day = weekdayOf(d);
      for (const r of this.layer.restrict ?? []) {
        if (!r.days.includes(day)) continue;
        const ws = resolveLocal(d, r.from, this.tz);
        const we = resolveLocal(r.to <= r.from ? d + 1 : d, r.to, this.tz);
        if (we > ws) list.push([ws, we]);
      }
      this.#windows.set(d, list);
    }
    return list;
  }

  /**
   * The union of windows that holds `t`, grown through windows that touch or overlap it (Saturday
   * 00:00–Sunday 00:00 and Sunday 00:00–Monday 00:00 are one weekend), within [a, b); null when no
   * window holds `t`. A window starts on its own day and ends before the third day begins.
   */
  #chain(t: number, a: number, b: number): Span | null {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    const near = (x: number) => {
      const d = localDay(x, this.tz);
      return [d - 2, d - 1, d].flatMap((day) => this.#windowsOf(day));
    };
    for (const [ws, we] of near(t))
      if (ws <= t && t < we) {
        lo = Math.min(lo, ws);
        hi = Math.max(hi, we);
      }
    if (lo > hi) return null;
    for (let grew = true; grew && lo > a; ) {
      grew = false;
      for (const [ws, we] of near(lo))
        if (ws < lo && we >= lo) {
          lo = ws;
          grew = true;
        }
    }
    for (let grew = true; grew && hi < b; ) {
      grew = false;
      for (const [ws, we] of near(hi))
        if (ws <= hi && we > hi) {
          hi = we;
          grew = true;
        }
    }
    return [Math.max(lo, a), Math.min(hi, b)];
  }
}
