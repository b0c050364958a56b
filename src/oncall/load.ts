// Reading an on-call schedule file (schedules/*.yaml in the access repo). The file is hostile input like a
// request: the hardened loader reads it, schemas/oncall.schema.json checks its shape, then the checks no
// schema can make (a real time zone, a start that is a hand-off, ends after starts). Every problem is
// reported at its file:line; nothing throws.
import { createRequire } from 'node:module';
import type { ValidateFunction } from 'ajv';
import { isValidTimeZone } from '../core/hours.js';
import type { FileProblem, Weekday } from '../core/model.js';
import { compileSchema, validateAgainst } from '../core/schemas.js';
import { parseTimestamp } from '../core/time.js';
import { type FileError, formatPath, loadYaml, type PathSegment } from '../core/yaml-loader.js';
import { type Layer, OVERRIDE, type Override, type Restriction, type Schedule } from './types.js';
import { describeLocal, formatClock, formatLocal, localDay, resolveLocal, weekdayOf } from './zone.js';

// src/oncall and dist/oncall are both two levels below the package root.
const require = createRequire(import.meta.url);
export const oncallSchema: Record<string, unknown> = require('../../schemas/oncall.schema.json');

let compiled: ValidateFunction | undefined;
const validator = () => (compiled ??= compileSchema(oncallSchema));

/** Where schedule files live in the access repo. */
export const SCHEDULES_DIR = 'schedules';

interface RawLayer {
  name?: string;
  rotation: string[];
  turn: string;
  handoff: string;
  handoff_day?: Weekday;
  start: string;
  end?: string;
  restrict?: { days?: Weekday[]; from?: string; to?: string }[];
}

interface RawSchedule {
  description?: string;
  tz: string;
  layers: RawLayer[];
  overrides?: { login: string; start: string; end: string; reason?: string }[];
}

export interface LoadedSchedule {
  /** Null when the file has errors. */
  schedule: Schedule | null;
  errors: FileProblem[];
}

// Layer starts are turned into local days and back; the platform's zone data (and its calendar: no year 0)
// is only trusted well inside the years RFC 3339 can write.
const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(9999, 0, 1);

const ALL_DAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** Read `text`, the schedule file at repo path `path`. */
export function parseSchedule(path: string, text: string): LoadedSchedule {
  // Every scalar as written: a login `true` or `no` stays a login, `09:00` stays a time of day.
  const loaded = loadYaml(text, { scalars: 'strings' });
  const shape = loaded.errors.length > 0 ? loaded.errors : validateAgainst(validator(), loaded.value, loaded);
  const at = (errors: FileError[]): FileProblem[] => errors.map((e) => ({ file: path, ...e }));
  if (shape.length > 0) return { schedule: null, errors: at(shape) };
  const errors: FileError[] = [];
  const schedule = build(loaded.value as RawSchedule, (p, message) => {
    const pos = loaded.locate(p);
    errors.push({ line: pos.line, column: pos.column, path: formatPath(p), message });
  });
  errors.sort((a, b) => a.line - b.line || a.column - b.column);
  return errors.length > 0 ? { schedule: null, errors: at(errors) } : { schedule, errors: [] };
}

type Fail = (path: PathSegment[], message: string) => void;

function build(raw: RawSchedule, fail: Fail): Schedule {
  const tz = raw.tz;
  const zoneOk = isValidTimeZone(tz);
  if (!zoneOk) fail(['tz'], `unknown time zone \`${tz}\` (use an IANA name such as Europe/Berlin or UTC)`);
  const names = new Set<string>();
  const layers = raw.layers.map((l, i): Layer => {
    const name = l.name ?? `layer ${i + 1}`;
    if (l.name !== undefined && l.name.toLowerCase() === OVERRIDE)
      fail(['layers', i, 'name'], `\`${OVERRIDE}\` is reserved for overrides; choose another name`);
    else if (names.has(name.toLowerCase()))
      fail(['layers', i, 'name'], `another layer is already named \`${name}\``);
    names.add(name.toLowerCase());
    return buildLayer(l, i, name, tz, zoneOk, fail);
  });
  const overrides = (raw.overrides ?? []).map((o, i): Override => {
    const start = parseTimestamp(o.start) as number;
    const end = parseTimestamp(o.end) as number;
    if (!(end > start)) fail(['overrides', i, 'end'], 'must be later than `start`');
    return { login: o.login, start, end };
  });
  return { tz, layers, overrides };
}

function buildLayer(l: RawLayer, i: number, name: string, tz: string, zoneOk: boolean, fail: Fail): Layer {
  const weeks = /^(\d+)w$/.exec(l.turn)?.[1];
  const days = /^(\d+)d$/.exec(l.turn)?.[1];
  const turnDays =
    l.turn === 'daily' ? 1 : l.turn === 'weekly' ? 7 : weeks ? Number(weeks) * 7 : Number(days);
  const weekly = l.turn === 'weekly' || weeks !== undefined;
  if (l.handoff_day !== undefined && !weekly)
    fail(
      ['layers', i, 'handoff_day'],
      `a hand-off weekday needs turns of whole weeks (weekly, 1w, 2w, …), not \`${l.turn}\``,
    );
  const handoff = minutes(l.handoff);
  const start = parseTimestamp(l.start) as number;
  const end = l.end === undefined ? null : (parseTimestamp(l.end) as number);
  if (end !== null && !(end > start)) fail(['layers', i, 'end'], 'must be later than `start`');
  if (!(start >= EARLIEST && start < LATEST))
    fail(['layers', i, 'start'], 'must be in the years 1970 to 9998');
  else if (zoneOk) {
    const problem = misaligned(start, handoff, l.handoff_day, tz);
    if (problem) fail(['layers', i, 'start'], problem);
  }
  const restrict =
    l.restrict?.map(
      (r): Restriction => ({
        days: r.days ?? ALL_DAYS,
        from: minutes(r.from ?? '00:00'),
        to: minutes(r.to ?? '00:00'),
      }),
    ) ?? null;
  return { name, rotation: l.rotation, turnDays, handoff, start, end, restrict };
}

/**
 * Why `start` is not a hand-off (the `handoff` time in `tz`, on `day` when given), with the nearest one
 * to write instead; null when it is one. A start off the grid would shift the whole rotation (a `Z` written
 * for `+01:00` would hand the first turn to the wrong person for an hour, then everyone's turn moves).
 */
function misaligned(start: number, handoff: number, day: Weekday | undefined, tz: string): string | null {
  const d = localDay(start, tz);
  const onGrid = (x: number) =>
    resolveLocal(x, handoff, tz) === start && (day === undefined || weekdayOf(x) === day);
  if (onGrid(d) || onGrid(d - 1)) return null;
  const ok = (x: number) => day === undefined || weekdayOf(x) === day;
  // Within 8 days either side there is a hand-off on any weekday.
  let before = d;
  while (before > d - 9 && !(ok(before) && resolveLocal(before, handoff, tz) < start)) before--;
  let after = d;
  while (after < d + 9 && !(ok(after) && resolveLocal(after, handoff, tz) > start)) after++;
  const want = `${formatClock(handoff)}${day ? ` on a ${day}` : ''} in ${tz}`;
  const near = [before, after].map((x) => formatLocal(resolveLocal(x, handoff, tz), tz)).join(' or ');
  return `must be a hand-off (${want}), but it is ${describeLocal(start, tz)} there: did you mean ${near}?`;
}

function minutes(hhmm: string): number {
  const [h = '0', m = '0'] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}
