// Who is on call: rotation order, hand-offs at the instant, layers, restrictions, overrides, and DST.
import { describe, expect, it } from 'vitest';
import { parseSchedule } from '../../src/oncall/load.js';
import {
  isOnCall,
  onCallAt,
  type Schedule,
  shiftsBetween,
  upcomingShifts,
} from '../../src/oncall/schedule.js';

function schedule(yaml: string): Schedule {
  const r = parseSchedule('schedules/test.yaml', yaml);
  expect(r.errors).toEqual([]);
  return r.schedule as Schedule;
}
const t = (s: string) => new Date(s);
const who = (s: Schedule, at: string) => onCallAt(s, t(at))?.login ?? null;
const HOUR = 3_600_000;
const hours = (x: { start: Date; end: Date }) => (x.end.getTime() - x.start.getTime()) / HOUR;
const span = (x: { start: Date; end: Date }) => [x.start.toISOString(), x.end.toISOString()];

const WEEKLY = schedule(`
tz: Europe/Berlin
layers:
  - name: primary
    rotation: [alice, bob, carol]
    turn: weekly
    handoff: "09:00"
    handoff_day: mon
    start: 2026-01-05T09:00:00+01:00
`);

describe('a rotation', () => {
  it('goes through the logins in order and wraps around', () => {
    expect(who(WEEKLY, '2026-01-05T08:00:00Z')).toBe('alice');
    expect(who(WEEKLY, '2026-01-12T08:00:00Z')).toBe('bob');
    expect(who(WEEKLY, '2026-01-19T08:00:00Z')).toBe('carol');
    expect(who(WEEKLY, '2026-01-26T08:00:00Z')).toBe('alice');
    expect(who(WEEKLY, '2026-02-02T08:00:00Z')).toBe('bob');
    // A year on: 52 weeks later is turn 52, 52 mod 3 = 1.
    expect(who(WEEKLY, '2027-01-04T08:00:00Z')).toBe('bob');
  });

  it('nobody before the layer starts', () => {
    expect(onCallAt(WEEKLY, t('2026-01-05T07:59:59.999Z'))).toBeNull();
    expect(shiftsBetween(WEEKLY, t('2025-12-01T00:00:00Z'), t('2026-01-05T08:00:00Z'))).toEqual([]);
  });

  it('hands off exactly at the instant: the earlier person until it, the next from it', () => {
    expect(who(WEEKLY, '2026-01-12T07:59:59.999Z')).toBe('alice');
    expect(who(WEEKLY, '2026-01-12T08:00:00.000Z')).toBe('bob');
    expect(onCallAt(WEEKLY, t('2026-01-12T08:00:00Z'))).toEqual({
      login: 'bob',
      layer: 'primary',
      shift: { start: t('2026-01-12T08:00:00Z'), end: t('2026-01-19T08:00:00Z') },
    });
    expect(onCallAt(WEEKLY, t('2026-01-12T07:59:59.999Z'))?.shift).toEqual({
      start: t('2026-01-05T08:00:00Z'),
      end: t('2026-01-12T08:00:00Z'),
    });
  });

  it('isOnCall compares logins case-insensitively', () => {
    expect(isOnCall(WEEKLY, 'Alice', t('2026-01-06T12:00:00Z'))).toBe(true);
    expect(isOnCall(WEEKLY, 'ALICE', t('2026-01-06T12:00:00Z'))).toBe(true);
    expect(isOnCall(WEEKLY, 'bob', t('2026-01-06T12:00:00Z'))).toBe(false);
    expect(isOnCall(WEEKLY, 'alice', t('2026-01-01T12:00:00Z'))).toBe(false);
  });

  it('lists shifts in order, each whole, for a window that cuts into them', () => {
    const shifts = shiftsBetween(WEEKLY, t('2026-01-07T00:00:00Z'), t('2026-01-20T00:00:00Z'));
    expect(shifts.map((s) => [s.login, ...span(s)])).toEqual([
      ['alice', '2026-01-05T08:00:00.000Z', '2026-01-12T08:00:00.000Z'],
      ['bob', '2026-01-12T08:00:00.000Z', '2026-01-19T08:00:00.000Z'],
      ['carol', '2026-01-19T08:00:00.000Z', '2026-01-26T08:00:00.000Z'],
    ]);
    expect(shiftsBetween(WEEKLY, t('2026-01-07T00:00:00Z'), t('2026-01-07T00:00:00Z'))).toEqual([]);
  });

  it('turns of several days or weeks, and a login twice in a rotation', () => {
    const s = schedule(`
tz: UTC
layers:
  - rotation: [alice, bob, alice, carol]
    turn: 3d
    handoff: "00:00"
    start: 2026-01-01T00:00:00Z
`);
    expect(['01', '04', '07', '10', '13'].map((d) => who(s, `2026-01-${d}T12:00:00Z`))).toEqual([
      'alice',
      'bob',
      'alice',
      'carol',
      'alice',
    ]);
    expect(onCallAt(s, t('2026-01-02T00:00:00Z'))?.layer).toBe('layer 1');
  });

  it('a layer with an end stops applying there', () => {
    const s = schedule(`
tz: UTC
layers:
  - rotation: [alice, bob]
    turn: daily
    handoff: "09:00"
    start: 2026-01-01T09:00:00Z
    end: 2026-01-03T12:00:00Z
`);
    expect(who(s, '2026-01-03T11:59:59Z')).toBe('alice');
    expect(onCallAt(s, t('2026-01-03T11:00:00Z'))?.shift.end).toEqual(t('2026-01-03T12:00:00Z'));
    expect(who(s, '2026-01-03T12:00:00Z')).toBeNull();
  });
});

describe('layers, restrictions and overrides', () => {
  // Weekly primary; a night layer (18:00–09:00 every day) over it; overrides over both.
  const S = schedule(`
tz: Europe/Berlin
layers:
  - name: day
    rotation: [alice, bob]
    turn: weekly
    handoff: "09:00"
    start: 2026-01-05T09:00:00+01:00
  - name: night
    rotation: [carol, dave]
    turn: daily
    handoff: "18:00"
    start: 2026-01-05T18:00:00+01:00
    restrict:
      - from: "18:00"
        to: "09:00"
overrides:
  - login: erin
    start: 2026-01-07T10:00:00+01:00
    end: 2026-01-07T12:00:00+01:00
  - login: frank
    start: 2026-01-07T11:00:00+01:00
    end: 2026-01-07T20:00:00+01:00
`);

  it('a later layer wins where it applies; the earlier one elsewhere', () => {
    expect(onCallAt(S, t('2026-01-05T12:00:00Z'))).toMatchObject({ login: 'alice', layer: 'day' });
    expect(onCallAt(S, t('2026-01-05T17:00:00Z'))).toMatchObject({ login: 'carol', layer: 'night' }); // 18:00
    expect(onCallAt(S, t('2026-01-06T07:59:00Z'))).toMatchObject({ login: 'carol', layer: 'night' }); // 08:59
    expect(onCallAt(S, t('2026-01-06T08:00:00Z'))).toMatchObject({ login: 'alice', layer: 'day' }); // 09:00
    expect(onCallAt(S, t('2026-01-06T17:00:00Z'))).toMatchObject({ login: 'dave', layer: 'night' });
  });

  it('a shift is the stretch one person holds: the day layer is cut by the nights', () => {
    expect(span(onCallAt(S, t('2026-01-06T12:00:00Z'))?.shift as { start: Date; end: Date })).toEqual([
      '2026-01-06T08:00:00.000Z',
      '2026-01-06T17:00:00.000Z',
    ]);
    expect(span(onCallAt(S, t('2026-01-06T20:00:00Z'))?.shift as { start: Date; end: Date })).toEqual([
      '2026-01-06T17:00:00.000Z',
      '2026-01-07T08:00:00.000Z',
    ]);
  });

  it('overrides win over every layer, a later override over an earlier one', () => {
    expect(onCallAt(S, t('2026-01-07T09:30:00Z'))).toEqual({
      login: 'erin',
      layer: 'override',
      shift: { start: t('2026-01-07T09:00:00Z'), end: t('2026-01-07T10:00:00Z') },
    });
    expect(onCallAt(S, t('2026-01-07T10:00:00Z'))).toMatchObject({ login: 'frank', layer: 'override' });
    // frank's override reaches into the night layer's time (18:00–20:00) and wins there too.
    expect(onCallAt(S, t('2026-01-07T18:59:00Z'))?.shift).toEqual({
      start: t('2026-01-07T10:00:00Z'),
      end: t('2026-01-07T19:00:00Z'),
    });
    expect(onCallAt(S, t('2026-01-07T19:00:00Z'))).toMatchObject({ login: 'carol', layer: 'night' });
    // alice's day shift is cut by erin's override: it ends when erin takes over.
    expect(onCallAt(S, t('2026-01-07T08:30:00Z'))?.shift.end).toEqual(t('2026-01-07T09:00:00Z'));
  });

  it('an override applies where no layer does', () => {
    const s = schedule(`
tz: UTC
layers:
  - rotation: [alice]
    turn: daily
    handoff: "09:00"
    start: 2026-01-05T09:00:00Z
overrides:
  - login: bob
    start: 2026-01-01T00:00:00Z
    end: 2026-01-02T00:00:00Z
`);
    expect(who(s, '2026-01-01T12:00:00Z')).toBe('bob');
    expect(who(s, '2026-01-02T12:00:00Z')).toBeNull();
  });

  it('a layer restricted to office hours leaves gaps (nobody) when nothing is below it', () => {
    const s = schedule(`
tz: America/New_York
layers:
  - name: office
    rotation: [alice, bob]
    turn: weekly
    handoff: "09:00"
    handoff_day: mon
    start: 2026-01-05T09:00:00-05:00
    restrict:
      - days: [mon, tue, wed, thu, fri]
        from: "09:00"
        to: "17:00"
`);
    expect(who(s, '2026-01-05T14:00:00Z')).toBe('alice'); // Mon 09:00 EST
    expect(who(s, '2026-01-05T21:59:00Z')).toBe('alice'); // 16:59
    expect(who(s, '2026-01-05T22:00:00Z')).toBeNull(); // 17:00
    expect(who(s, '2026-01-10T15:00:00Z')).toBeNull(); // Saturday
    expect(who(s, '2026-01-12T14:00:00Z')).toBe('bob');
    const shifts = shiftsBetween(s, t('2026-01-05T00:00:00Z'), t('2026-01-12T00:00:00Z'));
    expect(shifts).toHaveLength(5);
    expect(shifts.every((x) => x.login === 'alice' && hours(x) === 8)).toBe(true);
  });

  it('restriction windows that touch form one shift (a whole weekend)', () => {
    const s = schedule(`
tz: Europe/Berlin
layers:
  - name: weekend
    rotation: [alice, bob]
    turn: weekly
    handoff: "00:00"
    handoff_day: sat
    start: 2026-01-03T00:00:00+01:00
    restrict:
      - days: [sat, sun]
`);
    const shift = onCallAt(s, t('2026-01-04T12:00:00Z'));
    expect(shift?.login).toBe('alice');
    expect(span(shift?.shift as { start: Date; end: Date })).toEqual([
      '2026-01-02T23:00:00.000Z',
      '2026-01-04T23:00:00.000Z',
    ]);
    expect(who(s, '2026-01-05T12:00:00Z')).toBeNull();
    expect(who(s, '2026-01-10T12:00:00Z')).toBe('bob');
  });

  it('upcoming shifts: the current one and the next few', () => {
    const up = upcomingShifts(WEEKLY, t('2026-01-06T00:00:00Z'), 2);
    expect(up.map((x) => x.login)).toEqual(['alice', 'bob', 'carol']);
    // A rotation that is far away is still found within the horizon; beyond it, nothing.
    expect(upcomingShifts(WEEKLY, t('2025-06-01T00:00:00Z'), 1).map((x) => x.login)).toEqual(['alice']);
    expect(upcomingShifts(WEEKLY, t('2024-01-01T00:00:00Z'), 1)).toEqual([]);
  });

  it('refuses an invalid instant', () => {
    expect(() => onCallAt(WEEKLY, new Date(Number.NaN))).toThrow(RangeError);
  });
});

describe('daylight saving time: hand-offs stay at local wall-clock time', () => {
  const daily = (tz: string, handoff: string, start: string) =>
    schedule(`
tz: ${tz}
layers:
  - rotation: [alice, bob]
    turn: daily
    handoff: "${handoff}"
    start: ${start}
`);
  const shiftAt = (s: Schedule, at: string) => onCallAt(s, t(at))?.shift as { start: Date; end: Date };

  it('Europe/Berlin, spring forward (2026-03-29): a 23-hour shift, 09:00 local on both sides', () => {
    const s = daily('Europe/Berlin', '09:00', '2026-03-20T09:00:00+01:00');
    const before = shiftAt(s, '2026-03-28T12:00:00Z');
    expect(span(before)).toEqual(['2026-03-28T08:00:00.000Z', '2026-03-29T07:00:00.000Z']); // 09:00 CET → 09:00 CEST
    expect(hours(before)).toBe(23);
    expect(hours(shiftAt(s, '2026-03-29T12:00:00Z'))).toBe(24);
    expect(hours(shiftAt(s, '2026-03-27T12:00:00Z'))).toBe(24);
  });

  it('Europe/Berlin, fall back (2026-10-25): a 25-hour shift, 09:00 local on both sides', () => {
    const s = daily('Europe/Berlin', '09:00', '2026-10-20T09:00:00+02:00');
    const before = shiftAt(s, '2026-10-24T12:00:00Z');
    expect(span(before)).toEqual(['2026-10-24T07:00:00.000Z', '2026-10-25T08:00:00.000Z']); // 09:00 CEST → 09:00 CET
    expect(hours(before)).toBe(25);
    expect(hours(shiftAt(s, '2026-10-25T12:00:00Z'))).toBe(24);
  });

  it('America/New_York, spring forward (2026-03-08) and fall back (2026-11-01)', () => {
    const s = daily('America/New_York', '09:00', '2026-03-01T09:00:00-05:00');
    const spring = shiftAt(s, '2026-03-07T20:00:00Z');
    expect(span(spring)).toEqual(['2026-03-07T14:00:00.000Z', '2026-03-08T13:00:00.000Z']); // 09:00 EST → 09:00 EDT
    expect(hours(spring)).toBe(23);
    const fall = shiftAt(s, '2026-10-31T20:00:00Z');
    expect(span(fall)).toEqual(['2026-10-31T13:00:00.000Z', '2026-11-01T14:00:00.000Z']); // 09:00 EDT → 09:00 EST
    expect(hours(fall)).toBe(25);
  });

  it('a weekly turn over spring forward is 167 hours, over fall back 169', () => {
    expect(hours(shiftAt(WEEKLY, '2026-03-25T12:00:00Z'))).toBe(167);
    expect(hours(shiftAt(WEEKLY, '2026-10-21T12:00:00Z'))).toBe(169);
    expect(hours(shiftAt(WEEKLY, '2026-07-01T12:00:00Z'))).toBe(168);
  });

  it('a hand-off inside the spring-forward gap happens at the first instant after it', () => {
    // 02:30 does not exist in Berlin on 2026-03-29: the hand-off is at 03:00 CEST (01:00Z).
    const s = daily('Europe/Berlin', '02:30', '2026-03-20T02:30:00+01:00');
    expect(who(s, '2026-03-29T00:59:59.999Z')).not.toBe(who(s, '2026-03-29T01:00:00Z'));
    const before = shiftAt(s, '2026-03-28T12:00:00Z');
    expect(span(before)).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z']);
    expect(hours(before)).toBe(23.5);
    const after = shiftAt(s, '2026-03-29T12:00:00Z');
    expect(span(after)).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']); // → 02:30 CEST
    expect(hours(after)).toBe(23.5);
    // New York: 02:30 on 2026-03-08 → 03:00 EDT (07:00Z).
    const ny = daily('America/New_York', '02:30', '2026-03-01T02:30:00-05:00');
    expect(shiftAt(ny, '2026-03-08T12:00:00Z').start).toEqual(t('2026-03-08T07:00:00Z'));
  });

  it('an ambiguous hand-off on fall-back day takes the first occurrence', () => {
    // 02:30 happens twice in Berlin on 2026-10-25 (00:30Z CEST, 01:30Z CET): the hand-off is at 00:30Z.
    const s = daily('Europe/Berlin', '02:30', '2026-10-20T02:30:00+02:00');
    expect(who(s, '2026-10-25T00:29:59.999Z')).not.toBe(who(s, '2026-10-25T00:30:00Z'));
    expect(who(s, '2026-10-25T00:30:00Z')).toBe(who(s, '2026-10-25T01:30:00Z')); // no second hand-off
    const fall = shiftAt(s, '2026-10-25T12:00:00Z');
    expect(span(fall)).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']); // → 02:30 CET
    expect(hours(fall)).toBe(25);
    // New York: 01:30 on 2026-11-01 is 05:30Z (EDT) the first time.
    const ny = daily('America/New_York', '01:30', '2026-10-25T01:30:00-04:00');
    expect(shiftAt(ny, '2026-11-01T12:00:00Z').start).toEqual(t('2026-11-01T05:30:00Z'));
  });

  it('restriction windows follow local time too', () => {
    const s = schedule(`
tz: Europe/Berlin
layers:
  - rotation: [alice]
    turn: weekly
    handoff: "00:00"
    start: 2026-03-23T00:00:00+01:00
    restrict:
      - days: [sun]
        from: "02:30"
        to: "10:00"
`);
    // Sunday 2026-03-29: the window opens at the gap's end (03:00 CEST = 01:00Z), closes at 10:00 CEST (08:00Z).
    expect(span(shiftAt(s, '2026-03-29T05:00:00Z'))).toEqual([
      '2026-03-29T01:00:00.000Z',
      '2026-03-29T08:00:00.000Z',
    ]);
  });
});
