// For random schedules (zones with DST, half-hour and midnight changes; hand-offs inside gaps and repeated
// hours; restrictions; layer ends; overlapping overrides) and random instants: at most one login is on
// call, it is the one a naive reading of the rules names, and `onCallAt` gives the very shift that
// `shiftsBetween` lists around that instant, whatever window the listing used.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Weekday } from '../../src/core/model.js';
import {
  isOnCall,
  type Layer,
  OVERRIDE,
  type Override,
  onCallAt,
  type Restriction,
  type Schedule,
  shiftsBetween,
} from '../../src/oncall/schedule.js';
import { localDay, resolveLocal, weekdayOf } from '../../src/oncall/zone.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'Australia/Lord_Howe', // a 30-minute change
  'America/Santiago', // changes at midnight
  'Asia/Kolkata', // no DST, a half-hour offset
  'Pacific/Chatham', // +12:45 / +13:45
];
const LOGINS = ['alice', 'bob', 'carol', 'dave', 'erin'];
const DAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const FIRST_DAY = Math.floor(Date.UTC(2026, 0, 1) / DAY);
const RANGE_START = Date.UTC(2026, 0, 1);
const RANGE_END = Date.UTC(2027, 5, 1);

/** A layer plus the local day of its start, which the oracle uses instead of the code's own reckoning. */
interface GenLayer {
  layer: Layer;
  day0: number;
}

// Half-hour steps hit the gap and the repeated hour of every zone above.
const clock = fc.integer({ min: 0, max: 47 }).map((x) => x * 30);
const restriction: fc.Arbitrary<Restriction> = fc.record({
  days: fc.subarray(DAYS, { minLength: 1 }),
  from: clock,
  to: clock,
});

function layerArb(tz: string, i: number): fc.Arbitrary<GenLayer> {
  return fc
    .record({
      rotation: fc.array(fc.constantFrom(...LOGINS), { minLength: 1, maxLength: 4 }),
      turnDays: fc.constantFrom(1, 2, 3, 7, 14),
      handoff: clock,
      day0: fc.integer({ min: FIRST_DAY, max: FIRST_DAY + 300 }),
      endDays: fc.option(fc.integer({ min: 1, max: 200 }), { nil: null }),
      endHours: fc.integer({ min: 0, max: 23 }),
      restrict: fc.option(fc.array(restriction, { minLength: 1, maxLength: 2 }), { nil: null }),
    })
    .map((r) => {
      const start = resolveLocal(r.day0, r.handoff, tz);
      return {
        day0: r.day0,
        layer: {
          name: `layer ${i + 1}`,
          rotation: r.rotation,
          turnDays: r.turnDays,
          handoff: r.handoff,
          start,
          end: r.endDays === null ? null : start + r.endDays * DAY + r.endHours * HOUR,
          restrict: r.restrict,
        },
      };
    });
}

const override: fc.Arbitrary<Override> = fc
  .record({
    login: fc.constantFrom(...LOGINS),
    start: fc.integer({ min: RANGE_START, max: RANGE_END }),
    minutes: fc.integer({ min: 1, max: 4 * 24 * 60 }),
  })
  .map((o) => ({ login: o.login, start: o.start, end: o.start + o.minutes * 60_000 }));

const scheduleArb = fc.constantFrom(...ZONES).chain((tz) =>
  fc
    .tuple(
      fc.tuple(layerArb(tz, 0), layerArb(tz, 1), layerArb(tz, 2)),
      fc.integer({ min: 1, max: 3 }),
      fc.array(override, { maxLength: 3 }),
    )
    .map(([ls, n, overrides]) => {
      const gen = ls.slice(0, n);
      const schedule: Schedule = { tz, layers: gen.map((g) => g.layer), overrides };
      return { schedule, days0: gen.map((g) => g.day0) };
    }),
);

const instant = fc.integer({ min: RANGE_START, max: RANGE_END });

/**
 * The rules read naively: hand-offs counted one by one from the start, windows checked day by day. `key`
 * names the source and turn (a shift is a longest stretch with one key).
 */
function oracle(
  schedule: Schedule,
  days0: number[],
  t: number,
): { login: string; layer: string; key: string } | null {
  for (let i = schedule.overrides.length - 1; i >= 0; i--) {
    const o = schedule.overrides[i] as Override;
    if (o.start <= t && t < o.end) return { login: o.login, layer: OVERRIDE, key: `o${i}` };
  }
  for (let i = schedule.layers.length - 1; i >= 0; i--) {
    const l = schedule.layers[i] as Layer;
    if (t < l.start || (l.end !== null && t >= l.end)) continue;
    if (l.restrict && !inWindow(l.restrict, schedule.tz, t)) continue;
    let k = 0;
    while (resolveLocal((days0[i] as number) + (k + 1) * l.turnDays, l.handoff, schedule.tz) <= t) k++;
    return { login: l.rotation[k % l.rotation.length] as string, layer: l.name, key: `l${i}:${k}` };
  }
  return null;
}
const named = (x: { login: string; layer: string } | null) => (x ? { login: x.login, layer: x.layer } : null);

function inWindow(restrict: readonly Restriction[], tz: string, t: number): boolean {
  const today = localDay(t, tz);
  for (const d of [today - 1, today, today + 1]) {
    for (const r of restrict) {
      if (!r.days.includes(weekdayOf(d))) continue;
      const from = resolveLocal(d, r.from, tz);
      const to = resolveLocal(r.to <= r.from ? d + 1 : d, r.to, tz);
      if (from <= t && t < to) return true;
    }
  }
  return false;
}

const runs = Number(process.env.TIMEBOX_FUZZ_RUNS ?? 0) || 150;

describe('on-call schedules, for random schedules and instants', () => {
  it('exactly one login is on call (or nobody), the one the rules name, in the shift shiftsBetween lists', () => {
    fc.assert(
      fc.property(
        scheduleArb,
        instant,
        fc.integer({ min: 1, max: 5 * DAY }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 6 }),
        ({ schedule, days0 }, t, pad, fractions) => {
          const at = onCallAt(schedule, new Date(t));
          const expected = oracle(schedule, days0, t);
          expect(named(at)).toEqual(named(expected));

          // Exactly one login (case-insensitively) is on call, or none.
          const on = LOGINS.filter((l) => isOnCall(schedule, l.toUpperCase(), new Date(t)));
          expect(on).toEqual(at ? [at.login] : []);

          // The listing around `t`, through a window of another size, is ordered and never overlaps.
          const listed = shiftsBetween(schedule, new Date(t - pad), new Date(t + pad));
          for (const s of listed) expect(s.start.getTime()).toBeLessThan(s.end.getTime());
          for (let i = 1; i < listed.length; i++)
            expect((listed[i - 1] as (typeof listed)[0]).end.getTime()).toBeLessThanOrEqual(
              (listed[i] as (typeof listed)[0]).start.getTime(),
            );
          const holding = listed.filter((s) => s.start.getTime() <= t && t < s.end.getTime());
          expect(holding.length).toBeLessThanOrEqual(1);
          expect(
            holding.map((s) => ({ login: s.login, layer: s.layer, shift: { start: s.start, end: s.end } })),
          ).toEqual(at ? [at] : []);

          // The shift is one source's turn (or override) from its first instant to its last, and no longer.
          if (at) {
            const s = at.shift.start.getTime();
            const e = at.shift.end.getTime();
            const key = expected?.key;
            for (const f of fractions)
              expect(oracle(schedule, days0, s + Math.floor((e - s - 1) * f))?.key).toBe(key);
            expect(oracle(schedule, days0, e - 1)?.key).toBe(key);
            expect(oracle(schedule, days0, s - 1)?.key).not.toBe(key);
            expect(oracle(schedule, days0, e)?.key).not.toBe(key);
          }
        },
      ),
      { numRuns: runs },
    );
  });

  it('shifts listed over a long window agree with onCallAt at every hand-off and just before it', () => {
    fc.assert(
      fc.property(scheduleArb, instant, ({ schedule }, t) => {
        const listed = shiftsBetween(schedule, new Date(t), new Date(t + 21 * DAY));
        for (const s of listed) {
          const start = s.start.getTime();
          if (start < t) continue;
          expect(onCallAt(schedule, s.start)).toEqual({
            login: s.login,
            layer: s.layer,
            shift: { start: s.start, end: s.end },
          });
          const before = onCallAt(schedule, new Date(start - 1));
          expect(before?.shift.end.getTime() ?? start).toBeLessThanOrEqual(start);
        }
      }),
      { numRuns: Math.max(20, Math.floor(runs / 5)) },
    );
  });
});
