// Office hours honour time zones and daylight saving time, as wall clocks in that zone show them.
import { describe, expect, it } from 'vitest';
import { isValidTimeZone, wallClock, withinHours } from '../../src/core/hours.js';
import type { HoursSpec } from '../../src/core/model.js';

const BERLIN: HoursSpec = {
  days: ['mon', 'tue', 'wed', 'thu', 'fri'],
  from: '08:00',
  to: '18:00',
  tz: 'Europe/Berlin',
};
const t = (s: string) => new Date(s);

describe('withinHours', () => {
  it('accepts a window inside the period and refuses one that crosses its end', () => {
    expect(withinHours(BERLIN, t('2026-01-07T07:00:00Z'), t('2026-01-07T16:59:00Z'))).toBe(true); // 08:00–17:59 CET
    expect(withinHours(BERLIN, t('2026-01-07T16:00:00Z'), t('2026-01-07T17:00:00Z'))).toBe(true); // ends at 18:00 exactly
    expect(withinHours(BERLIN, t('2026-01-07T16:00:00Z'), t('2026-01-07T17:01:00Z'))).toBe(false);
    expect(withinHours(BERLIN, t('2026-01-07T06:59:00Z'), t('2026-01-07T08:00:00Z'))).toBe(false); // starts 07:59
  });

  it('refuses days that are not listed (Saturday)', () => {
    expect(withinHours(BERLIN, t('2026-01-10T09:00:00Z'), t('2026-01-10T10:00:00Z'))).toBe(false);
  });

  it('follows daylight saving time: the same UTC hour is inside in summer, outside in winter', () => {
    // Berlin switches to CEST on Sunday 2026-03-29. 06:30Z is 07:30 CET on Friday, 08:30 CEST on Monday.
    expect(withinHours(BERLIN, t('2026-03-27T06:30:00Z'), t('2026-03-27T07:30:00Z'))).toBe(false);
    expect(withinHours(BERLIN, t('2026-03-30T06:30:00Z'), t('2026-03-30T07:30:00Z'))).toBe(true);
    // 16:30Z is 17:30 CET (inside) but 18:30 CEST (outside).
    expect(withinHours(BERLIN, t('2026-03-27T16:00:00Z'), t('2026-03-27T16:30:00Z'))).toBe(true);
    expect(withinHours(BERLIN, t('2026-03-30T16:00:00Z'), t('2026-03-30T16:30:00Z'))).toBe(false);
  });

  it('other zones: New York and UTC', () => {
    const ny: HoursSpec = { ...BERLIN, tz: 'America/New_York' };
    expect(withinHours(ny, t('2026-07-01T12:00:00Z'), t('2026-07-01T14:00:00Z'))).toBe(true); // 08:00–10:00 EDT
    expect(withinHours(ny, t('2026-01-07T12:00:00Z'), t('2026-01-07T14:00:00Z'))).toBe(false); // 07:00 EST
    const utc: HoursSpec = { ...BERLIN, tz: 'UTC' };
    expect(withinHours(utc, t('2026-01-07T08:00:00Z'), t('2026-01-07T18:00:00Z'))).toBe(true);
  });

  it('a period that spans midnight belongs to the day it starts', () => {
    const night: HoursSpec = { days: ['fri'], from: '22:00', to: '06:00', tz: 'UTC' };
    expect(withinHours(night, t('2026-01-09T23:00:00Z'), t('2026-01-10T05:00:00Z'))).toBe(true); // Fri night
    expect(withinHours(night, t('2026-01-10T01:00:00Z'), t('2026-01-10T02:00:00Z'))).toBe(true); // still Friday's period
    expect(withinHours(night, t('2026-01-10T23:00:00Z'), t('2026-01-11T01:00:00Z'))).toBe(false); // Saturday night
    expect(withinHours(night, t('2026-01-09T23:00:00Z'), t('2026-01-10T06:30:00Z'))).toBe(false);
  });

  it('a window longer than any period is never inside', () => {
    expect(withinHours(BERLIN, t('2026-01-07T07:00:00Z'), t('2026-01-08T08:00:00Z'))).toBe(false);
  });
});

describe('time zones', () => {
  it('validates IANA names', () => {
    expect(isValidTimeZone('Europe/Berlin')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
  });

  it('wallClock gives the local time as the zone shows it', () => {
    expect(new Date(wallClock(t('2026-07-01T12:00:00Z'), 'Europe/Berlin')).toISOString()).toBe(
      '2026-07-01T14:00:00.000Z',
    );
    expect(new Date(wallClock(t('2026-01-01T12:00:00Z'), 'Asia/Kolkata')).toISOString()).toBe(
      '2026-01-01T17:30:00.000Z',
    );
  });
});

describe('years 0001–0099 (times may be written from 0001 on)', () => {
  it('the wall clock keeps its year: 0050-01-04 is a Tuesday, not 1950-01-04 (a Wednesday)', () => {
    const utc: HoursSpec = { days: ['tue'], from: '08:00', to: '18:00', tz: 'UTC' };
    expect(new Date(wallClock(t('0050-01-04T10:00:00Z'), 'UTC')).toISOString()).toBe(
      '0050-01-04T10:00:00.000Z',
    );
    expect(withinHours(utc, t('0050-01-04T10:00:00Z'), t('0050-01-04T11:00:00Z'))).toBe(true);
  });
});
