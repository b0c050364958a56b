// `timebox oncall [SCHEDULE]`: who is on call at a time (default now, from the Io's clock), their shift,
// and the next hand-offs, for one schedule file or every file in the access repo's schedules/.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { parseSchedule, SCHEDULES_DIR } from '../oncall/load.js';
import { type Schedule, type Shift, upcomingShifts } from '../oncall/schedule.js';
import { describeLocal } from '../oncall/zone.js';
import { workingTree } from '../repo/source.js';
import { colors, type Io, parseAt, repoRoot } from './context.js';
import { ConfigError, EXIT, readProblem, UsageError } from './errors.js';

export interface OncallOptions {
  /** A schedule file (relative to the current directory), or a bare name for schedules/NAME.yaml. */
  schedule?: string;
  repo?: string;
  at?: string;
  /** How many hand-offs after the current shift to list (default 3). */
  next?: string;
  json?: boolean;
}

interface Handoff {
  at: string;
  /** Null: nobody is on call from then on. */
  login: string | null;
  layer: string | null;
}

interface Report {
  file: string;
  tz: string;
  on_call: { login: string; layer: string; start: string; end: string } | null;
  next: Handoff[];
}

export async function runOncall(io: Io, opts: OncallOptions): Promise<number> {
  const root = repoRoot(io, opts.repo);
  const at = parseAt(opts.at, () => io.clock.now());
  const count = opts.next === undefined ? 3 : Number(opts.next);
  if (!Number.isInteger(count) || count < 0 || count > 100)
    throw new UsageError(`--next must be a whole number from 0 to 100 (got ${opts.next})`);

  const files = await scheduleFiles(io, root, opts.schedule);
  const reports: Report[] = [];
  for (const { file, text } of files) {
    const { schedule, errors } = parseSchedule(file, text);
    if (!schedule) throw new ConfigError(`${file} is not a valid on-call schedule`, errors);
    reports.push(report(file, schedule, at, count));
  }

  if (opts.json) {
    io.stdout(`${JSON.stringify({ at: at.toISOString(), schedules: reports }, null, 2)}\n`);
    return EXIT.ok;
  }
  const c = colors(io);
  const blocks = reports.map((r) => {
    const local = (iso: string) => describeLocal(Date.parse(iso), r.tz);
    const head = `${c.bold(r.file)} ${c.dim(`(${r.tz})`)} at ${local(at.toISOString())}`;
    const now = r.on_call
      ? `  on call  ${c.green(r.on_call.login)} ${c.dim(`(${r.on_call.layer})`)}  ${local(r.on_call.start)} – ${local(r.on_call.end)}`
      : `  on call  ${c.yellow('nobody')} ${c.dim('(no layer or override covers this time)')}`;
    const width = Math.max(0, ...r.next.map((h) => (h.login ?? 'nobody').length));
    const next = r.next.map(
      (h, i) =>
        `  ${i === 0 ? 'next   ' : '       '}  ${local(h.at)}  ${(h.login ?? 'nobody').padEnd(width)}${h.layer ? c.dim(`  (${h.layer})`) : ''}`,
    );
    return [head, now, ...next].join('\n');
  });
  io.stdout(`${blocks.join('\n\n')}\n`);
  return EXIT.ok;
}

function report(file: string, schedule: Schedule, at: Date, count: number): Report {
  const t = at.getTime();
  const shifts = upcomingShifts(schedule, at, count + 1);
  const current = shifts.find((s) => s.start.getTime() <= t && t < s.end.getTime());
  return {
    file,
    tz: schedule.tz,
    on_call: current
      ? {
          login: current.login,
          layer: current.layer,
          start: current.start.toISOString(),
          end: current.end.toISOString(),
        }
      : null,
    next: handoffs(shifts, t).slice(0, count),
  };
}

/** The changes of who is on call after `t`: each shift's start, and "nobody" where a gap opens. */
function handoffs(shifts: Shift[], t: number): Handoff[] {
  const out: Handoff[] = [];
  let prevEnd: number | null = null;
  for (const s of shifts) {
    const start = s.start.getTime();
    if (prevEnd !== null && prevEnd < start && prevEnd > t)
      out.push({ at: new Date(prevEnd).toISOString(), login: null, layer: null });
    if (start > t) out.push({ at: s.start.toISOString(), login: s.login, layer: s.layer });
    prevEnd = s.end.getTime();
  }
  return out;
}

async function scheduleFiles(
  io: Io,
  root: string,
  given: string | undefined,
): Promise<{ file: string; text: string }[]> {
  if (given === undefined) {
    const tree = workingTree(root);
    const paths = (await tree.list(SCHEDULES_DIR)).filter((p) => /\.ya?ml$/.test(p));
    if (paths.length === 0)
      throw new ConfigError(
        `no on-call schedules in ${SCHEDULES_DIR}/ of ${root}: add one (see docs/on-call.md) or name a schedule file`,
      );
    return Promise.all(paths.map(async (file) => ({ file, text: (await tree.read(file)) ?? '' })));
  }
  // `primary` is short for schedules/primary.yaml (or .yml), the way an approval step names it.
  const bare = /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(given) && !/\.ya?ml$/.test(given);
  const named = [`${given}.yaml`, `${given}.yml`].map((f) => resolve(root, SCHEDULES_DIR, f));
  const abs = bare ? (named.find((f) => existsSync(f)) ?? (named[0] as string)) : resolve(io.cwd, given);
  const rel = relative(root, abs);
  const file = rel.startsWith('..') || isAbsolute(rel) ? given : rel.split(sep).join('/');
  try {
    return [{ file, text: await readFile(abs, 'utf8') }];
  } catch (err) {
    throw new UsageError(`cannot read schedule ${given} (${abs}): ${readProblem(err)}`);
  }
}
