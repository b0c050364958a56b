// Schedule files are hostile input: every problem is an error at its file:line, nothing throws.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSchedule } from '../../src/oncall/load.js';
import { onCallAt } from '../../src/oncall/schedule.js';
import { ROOT } from '../helpers/repo.js';

const FILE = 'schedules/primary.yaml';
const GOOD = `tz: Europe/Berlin
layers:
  - name: primary
    rotation: [alice, bob]
    turn: weekly
    handoff: "09:00"
    handoff_day: mon
    start: 2026-01-05T09:00:00+01:00
`;
const errorsOf = (text: string) =>
  parseSchedule(FILE, text).errors.map((e) => `${e.file}:${e.line}:${e.column} ${e.path} ${e.message}`);

describe('parseSchedule', () => {
  it('reads a valid file', () => {
    const r = parseSchedule(FILE, GOOD);
    expect(r.errors).toEqual([]);
    expect(r.schedule).toEqual({
      tz: 'Europe/Berlin',
      layers: [
        {
          name: 'primary',
          rotation: ['alice', 'bob'],
          turnDays: 7,
          handoff: 540,
          start: Date.parse('2026-01-05T08:00:00Z'),
          end: null,
          restrict: null,
        },
      ],
      overrides: [],
    });
  });

  it('unknown fields are errors, at their line, with a suggestion for a typo', () => {
    expect(errorsOf(`${GOOD}    hand_off: "10:00"\n`)).toEqual([
      `${FILE}:9:5 $.layers[0].hand_off unknown field \`hand_off\` (did you mean \`handoff\`?)`,
    ]);
    expect(errorsOf(`${GOOD}oncall: true\n`)).toEqual([`${FILE}:9:1 $.oncall unknown field \`oncall\``]);
    expect(
      errorsOf(
        `${GOOD}overrides:\n  - login: carol\n    start: 2026-01-06T00:00:00Z\n    end: 2026-01-07T00:00:00Z\n    who: me\n`,
      ),
    ).toEqual([`${FILE}:13:5 $.overrides[0].who unknown field \`who\``]);
  });

  it('a bad time zone', () => {
    expect(errorsOf(GOOD.replace('Europe/Berlin', 'Mars/Olympus_Mons'))).toEqual([
      `${FILE}:1:5 $.tz unknown time zone \`Mars/Olympus_Mons\` (use an IANA name such as Europe/Berlin or UTC)`,
    ]);
  });

  it('bad times of day, turns, weekdays and RFC 3339 times', () => {
    expect(errorsOf(GOOD.replace('"09:00"', '"9am"'))).toEqual([
      `${FILE}:6:14 $.layers[0].handoff must be a 24-hour time such as 09:00`,
    ]);
    expect(errorsOf(GOOD.replace('"09:00"', '"24:00"'))).toHaveLength(1);
    expect(errorsOf(GOOD.replace('turn: weekly', 'turn: 12h'))).toEqual([
      `${FILE}:5:11 $.layers[0].turn must be daily, weekly, or a number of days or weeks such as 1d, 3d, 1w or 2w`,
    ]);
    expect(errorsOf(GOOD.replace('handoff_day: mon', 'handoff_day: monday'))).toEqual([
      `${FILE}:7:18 $.layers[0].handoff_day must be one of: mon, tue, wed, thu, fri, sat, sun`,
    ]);
    expect(errorsOf(GOOD.replace('2026-01-05T09:00:00+01:00', '2026-01-05 09:00'))).toEqual([
      `${FILE}:8:12 $.layers[0].start must be an RFC 3339 time with a time zone, such as 2026-01-05T09:00:00+01:00 (separate date and time with \`T\`, as in 2026-12-01T09:00:00Z)`,
    ]);
  });

  it('an empty rotation, no layers, a login that is not one', () => {
    expect(errorsOf(GOOD.replace('[alice, bob]', '[]'))).toEqual([
      `${FILE}:4:15 $.layers[0].rotation must NOT have fewer than 1 items`,
    ]);
    expect(errorsOf('tz: UTC\nlayers: []\n')).toEqual([
      `${FILE}:2:9 $.layers must NOT have fewer than 1 items`,
    ]);
    expect(errorsOf(GOOD.replace('bob]', 'bob; rm -rf /]'))).toEqual([
      `${FILE}:4:23 $.layers[0].rotation[1] must be a GitHub login (letters, digits and single hyphens, at most 39 characters)`,
    ]);
    expect(errorsOf('tz: UTC\n')).toEqual([`${FILE}:1:1 $ missing required field \`layers\``]);
  });

  it('a start that is not a hand-off says which times would be', () => {
    // `Z` written where `+01:00` was meant: 10:00 in Berlin.
    expect(errorsOf(GOOD.replace('+01:00', 'Z'))).toEqual([
      `${FILE}:8:12 $.layers[0].start must be a hand-off (09:00 on a mon in Europe/Berlin), but it is Mon 2026-01-05 10:00 there: did you mean 2026-01-05T09:00:00+01:00 or 2026-01-12T09:00:00+01:00?`,
    ]);
    // The right time on the wrong weekday.
    expect(errorsOf(GOOD.replace('2026-01-05', '2026-01-06'))[0]).toContain(
      'it is Tue 2026-01-06 09:00 there',
    );
    // On spring-forward day a 02:30 hand-off is at 03:00 CEST: that is the start to write.
    const gap = `tz: Europe/Berlin\nlayers:\n  - rotation: [alice]\n    turn: daily\n    handoff: "02:30"\n    start: 2026-03-29T03:00:00+02:00\n`;
    expect(errorsOf(gap)).toEqual([]);
    // 02:30+01:00 is 01:30Z, which Berlin clocks show as 03:30 CEST.
    expect(errorsOf(gap.replace('03:00:00+02:00', '02:30:00+01:00'))[0]).toContain(
      'it is Sun 2026-03-29 03:30 there: did you mean 2026-03-29T03:00:00+02:00 or 2026-03-30T02:30:00+02:00?',
    );
  });

  it('a layer start far from today (year 1, year 9999) is refused, not computed with a doubtful calendar', () => {
    for (const start of ['0001-01-01T09:00:00Z', '1969-12-29T09:00:00+01:00', '9999-12-27T09:00:00+01:00'])
      expect(errorsOf(GOOD.replace('2026-01-05T09:00:00+01:00', start))).toEqual([
        `${FILE}:8:12 $.layers[0].start must be in the years 1970 to 9998`,
      ]);
  });

  it('semantic errors: ends before starts, a hand-off weekday on daily turns, duplicate or reserved names', () => {
    const text = `tz: UTC
layers:
  - name: a
    rotation: [alice]
    turn: daily
    handoff: "09:00"
    handoff_day: mon
    start: 2026-01-05T09:00:00Z
    end: 2026-01-05T09:00:00Z
  - name: A
    rotation: [bob]
    turn: 1d
    handoff: "09:00"
    start: 2026-01-05T09:00:00Z
  - name: override
    rotation: [carol]
    turn: 1d
    handoff: "09:00"
    start: 2026-01-05T09:00:00Z
overrides:
  - login: dave
    start: 2026-01-06T00:00:00Z
    end: 2026-01-05T00:00:00Z
`;
    expect(errorsOf(text)).toEqual([
      `${FILE}:7:18 $.layers[0].handoff_day a hand-off weekday needs turns of whole weeks (weekly, 1w, 2w, …), not \`daily\``,
      `${FILE}:9:10 $.layers[0].end must be later than \`start\``,
      `${FILE}:10:11 $.layers[1].name another layer is already named \`A\``,
      `${FILE}:15:11 $.layers[2].name \`override\` is reserved for overrides; choose another name`,
      `${FILE}:23:10 $.overrides[0].end must be later than \`start\``,
    ]);
  });

  it('scalars are read as written: a login `true` or `no` is a login, not a boolean', () => {
    const r = parseSchedule(FILE, GOOD.replace('[alice, bob]', '[true, no, 0123]'));
    expect(r.errors).toEqual([]);
    expect(r.schedule?.layers[0]?.rotation).toEqual(['true', 'no', '0123']);
  });

  it('hostile YAML: anchors, tags, huge or deep files, not a mapping, never a throw', () => {
    for (const text of [
      '',
      '[]',
      'just text',
      '!!js/function x',
      `a: &x [1]\nb: *x\n`,
      `tz: ${'['.repeat(5000)}`,
      `tz: "${'x'.repeat(70_000)}"`,
      '\u0000\u0001',
      'tz: UTC\nlayers:\n  - rotation: [alice]\n    rotation: [bob]\n',
    ]) {
      const r = parseSchedule(FILE, text);
      expect(r.schedule).toBeNull();
      expect(r.errors.length).toBeGreaterThan(0);
      for (const e of r.errors) {
        expect(e.file).toBe(FILE);
        expect(e.line).toBeGreaterThanOrEqual(1);
      }
    }
  });
});

describe('docs/on-call.md', () => {
  const doc = readFileSync(join(ROOT, 'docs/on-call.md'), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  const schedules = blocks.filter((b) => /^tz:/m.test(b));

  it('every schedule example is a valid schedule file', () => {
    expect(schedules.length).toBeGreaterThan(0);
    for (const text of schedules) expect(parseSchedule(FILE, text).errors).toEqual([]);
  });

  it('the main example says who is on call as the text explains', () => {
    const s = parseSchedule(FILE, schedules[0] as string).schedule;
    expect(s).not.toBeNull();
    if (!s) return;
    // alice's week from Mon 2026-01-05, then bob, carol, alice; weekday nights dave, erin; erin's override.
    expect(onCallAt(s, new Date('2026-01-05T11:00:00Z'))?.login).toBe('alice');
    expect(onCallAt(s, new Date('2026-01-05T19:00:00Z'))).toMatchObject({ login: 'dave', layer: 'nights' });
    expect(onCallAt(s, new Date('2026-01-06T19:00:00Z'))).toMatchObject({ login: 'erin', layer: 'nights' });
    expect(onCallAt(s, new Date('2026-01-12T11:00:00Z'))?.login).toBe('bob');
    expect(onCallAt(s, new Date('2026-01-14T12:00:00Z'))?.login).toBe('erin');
    expect(onCallAt(s, new Date('2026-01-14T20:00:00Z'))).toMatchObject({ login: 'erin', layer: 'override' });
    expect(onCallAt(s, new Date('2026-01-19T11:00:00Z'))?.login).toBe('carol');
    expect(onCallAt(s, new Date('2026-01-26T11:00:00Z'))?.login).toBe('alice');
  });
});
