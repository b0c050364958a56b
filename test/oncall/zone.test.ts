// Wall-clock times in a zone resolve to instants as people there expect, across DST changes (Intl only).
import { describe, expect, it } from 'vitest';
import { describeLocal, formatLocal, localDay, resolveLocal, weekdayOf } from '../../src/oncall/zone.js';

const day = (ymd: string) => Math.floor(Date.parse(`${ymd}T00:00:00Z`) / 86_400_000);
const at = (ymd: string, hhmm: string, tz: string) => {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return new Date(resolveLocal(day(ymd), h * 60 + m, tz)).toISOString();
};

describe('resolveLocal', () => {
  it('an ordinary time is the instant the clocks show it', () => {
    expect(at('2026-01-05', '09:00', 'Europe/Berlin')).toBe('2026-01-05T08:00:00.000Z');
    expect(at('2026-07-06', '09:00', 'Europe/Berlin')).toBe('2026-07-06T07:00:00.000Z');
    expect(at('2026-01-05', '09:00', 'America/New_York')).toBe('2026-01-05T14:00:00.000Z');
    expect(at('2026-07-06', '09:00', 'America/New_York')).toBe('2026-07-06T13:00:00.000Z');
    expect(at('2026-01-05', '09:00', 'UTC')).toBe('2026-01-05T09:00:00.000Z');
    expect(at('2026-01-05', '09:00', 'Asia/Kolkata')).toBe('2026-01-05T03:30:00.000Z');
  });

  it('a time skipped by spring-forward is the first instant after the gap', () => {
    // Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z).
    expect(at('2026-03-29', '02:00', 'Europe/Berlin')).toBe('2026-03-29T01:00:00.000Z');
    expect(at('2026-03-29', '02:30', 'Europe/Berlin')).toBe('2026-03-29T01:00:00.000Z');
    expect(at('2026-03-29', '02:59', 'Europe/Berlin')).toBe('2026-03-29T01:00:00.000Z');
    expect(at('2026-03-29', '03:00', 'Europe/Berlin')).toBe('2026-03-29T01:00:00.000Z');
    expect(at('2026-03-29', '01:59', 'Europe/Berlin')).toBe('2026-03-29T00:59:00.000Z');
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z).
    expect(at('2026-03-08', '02:30', 'America/New_York')).toBe('2026-03-08T07:00:00.000Z');
    // Lord Howe moves by half an hour: 02:00 → 02:30.
    expect(at('2026-10-04', '02:15', 'Australia/Lord_Howe')).toBe(
      at('2026-10-04', '02:30', 'Australia/Lord_Howe'),
    );
  });

  it('a time shown twice on fall-back day is its first occurrence', () => {
    // Berlin, 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens at 00:30Z and at 01:30Z.
    expect(at('2026-10-25', '02:30', 'Europe/Berlin')).toBe('2026-10-25T00:30:00.000Z');
    expect(at('2026-10-25', '02:00', 'Europe/Berlin')).toBe('2026-10-25T00:00:00.000Z');
    expect(at('2026-10-25', '03:00', 'Europe/Berlin')).toBe('2026-10-25T02:00:00.000Z');
    // New York, 2026-11-01: 02:00 EDT goes back to 01:00 EST; 01:30 is 05:30Z (EDT) and 06:30Z (EST).
    expect(at('2026-11-01', '01:30', 'America/New_York')).toBe('2026-11-01T05:30:00.000Z');
    expect(at('2026-11-01', '02:00', 'America/New_York')).toBe('2026-11-01T07:00:00.000Z');
  });

  it('zones whose change is at midnight (Santiago) still resolve every midnight to that day', () => {
    // Chile springs forward at 24:00 on 2026-09-05: midnight of 09-06 does not exist, 01:00 is the first instant.
    const t = resolveLocal(day('2026-09-06'), 0, 'America/Santiago');
    expect(localDay(t, 'America/Santiago')).toBe(day('2026-09-06'));
    expect(formatLocal(t, 'America/Santiago')).toBe('2026-09-06T01:00:00-03:00');
  });
});

describe('formatting', () => {
  it('writes an instant with the zone offset, and for people', () => {
    expect(formatLocal(Date.parse('2026-03-29T01:00:00Z'), 'Europe/Berlin')).toBe(
      '2026-03-29T03:00:00+02:00',
    );
    expect(formatLocal(Date.parse('2026-01-05T14:00:00Z'), 'America/New_York')).toBe(
      '2026-01-05T09:00:00-05:00',
    );
    expect(formatLocal(Date.parse('2026-01-05T03:30:00Z'), 'Asia/Kolkata')).toBe('2026-01-05T09:00:00+05:30');
    expect(describeLocal(Date.parse('2026-03-30T07:00:00Z'), 'Europe/Berlin')).toBe('Mon 2026-03-30 09:00');
  });

  it('weekdays of local days', () => {
    expect(weekdayOf(day('1970-01-01'))).toBe('thu');
    expect(weekdayOf(day('2026-03-29'))).toBe('sun');
    expect(weekdayOf(day('1969-12-31'))).toBe('wed');
  });
});
