// `timebox oncall`: run through runOncall with an in-memory Io and a fixed clock (the command is not yet
// registered in src/cli/main.ts).
import { describe, expect, it } from 'vitest';
import type { Io } from '../../src/cli/context.js';
import { ConfigError, UsageError } from '../../src/cli/errors.js';
import { type OncallOptions, runOncall } from '../../src/cli/oncall.js';
import { type Clock, fixedClock } from '../../src/core/clock.js';
import { tempDir, write } from '../helpers/repo.js';

const PRIMARY = `tz: Europe/Berlin
layers:
  - name: weekly
    rotation: [alice, bob, carol]
    turn: weekly
    handoff: "09:00"
    handoff_day: mon
    start: 2026-03-02T09:00:00+01:00
overrides:
  - login: erin
    start: 2026-03-31T09:00:00+02:00
    end: 2026-04-01T09:00:00+02:00
`;
const OFFICE = `tz: America/New_York
layers:
  - name: office
    rotation: [dave]
    turn: daily
    handoff: "09:00"
    start: 2026-03-02T09:00:00-05:00
    restrict:
      - days: [mon, tue, wed, thu, fri]
        from: "09:00"
        to: "17:00"
`;

function repo(files: Record<string, string> = { 'schedules/primary.yaml': PRIMARY }): string {
  const dir = tempDir();
  write(dir, 'policies/.keep', '');
  for (const [path, text] of Object.entries(files)) write(dir, path, text);
  return dir;
}

async function oncall(cwd: string, opts: OncallOptions, clock: Clock = fixedClock('2026-03-30T10:00:00Z')) {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    color: false,
    isTTY: false,
    cwd,
    env: {},
    clock,
  };
  const code = await runOncall(io, opts);
  return { code, stdout, stderr };
}

describe('timebox oncall', () => {
  it('prints who is on call now (from the clock), the shift, and the next hand-offs', async () => {
    const dir = repo();
    // Now: Mon 2026-03-30 12:00 CEST, the first day of the week after spring forward: bob's week (turn 4), cut short by erin's override.
    const r = await oncall(dir, {});
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      [
        'schedules/primary.yaml (Europe/Berlin) at Mon 2026-03-30 12:00',
        '  on call  bob (weekly)  Mon 2026-03-30 09:00 – Tue 2026-03-31 09:00',
        '  next     Tue 2026-03-31 09:00  erin   (override)',
        '           Wed 2026-04-01 09:00  bob    (weekly)',
        '           Mon 2026-04-06 09:00  carol  (weekly)',
        '',
      ].join('\n'),
    );
  });

  it('--at and --json', async () => {
    const dir = repo();
    const r = await oncall(dir, { at: '2026-03-31T12:00:00+02:00', json: true, next: '1' });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      at: '2026-03-31T10:00:00.000Z',
      schedules: [
        {
          file: 'schedules/primary.yaml',
          tz: 'Europe/Berlin',
          on_call: {
            login: 'erin',
            layer: 'override',
            start: '2026-03-31T07:00:00.000Z',
            end: '2026-04-01T07:00:00.000Z',
          },
          next: [{ at: '2026-04-01T07:00:00.000Z', login: 'bob', layer: 'weekly' }],
        },
      ],
    });
  });

  it('every schedule in schedules/ by default; nobody and gaps are said', async () => {
    const dir = repo({ 'schedules/primary.yaml': PRIMARY, 'schedules/office.yml': OFFICE });
    // Saturday 2026-03-07 12:00Z: nobody in the office schedule until Monday 09:00 EST.
    const r = await oncall(dir, { json: true, next: '2' }, fixedClock('2026-03-07T12:00:00Z'));
    const doc = JSON.parse(r.stdout) as { schedules: { file: string; on_call: unknown; next: unknown[] }[] };
    expect(doc.schedules.map((s) => s.file)).toEqual(['schedules/office.yml', 'schedules/primary.yaml']);
    expect(doc.schedules[0]?.on_call).toBeNull();
    expect(doc.schedules[0]?.next).toEqual([
      { at: '2026-03-09T13:00:00.000Z', login: 'dave', layer: 'office' }, // 09:00 EDT, after spring forward
      { at: '2026-03-09T21:00:00.000Z', login: null, layer: null }, // 17:00 EDT
    ]);
    const text = await oncall(dir, { schedule: 'office' }, fixedClock('2026-03-07T12:00:00Z'));
    expect(text.stdout).toContain('on call  nobody (no layer or override covers this time)');
    expect(text.stdout).toContain('Mon 2026-03-09 17:00  nobody');
  });

  it('a schedule named by path (relative to the current directory) or by name', async () => {
    const dir = repo();
    const byPath = await oncall(`${dir}/schedules`, { schedule: 'primary.yaml', repo: '..', json: true });
    expect(JSON.parse(byPath.stdout).schedules[0].file).toBe('schedules/primary.yaml');
    const byName = await oncall(dir, { schedule: 'primary', json: true });
    expect(JSON.parse(byName.stdout).schedules[0].on_call.login).toBe('bob');
  });

  it('errors: an invalid schedule at file:line, a missing file, no schedules, a bad --at or --next', async () => {
    const dir = repo({ 'schedules/primary.yaml': PRIMARY.replace('Europe/Berlin', 'Europe/Atlantis') });
    const err = await oncall(dir, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe('schedules/primary.yaml is not a valid on-call schedule');
    expect((err as ConfigError).problems).toEqual([
      expect.objectContaining({ file: 'schedules/primary.yaml', line: 1, column: 5, path: '$.tz' }),
    ]);
    await expect(oncall(dir, { schedule: 'nope.yaml' })).rejects.toThrow(UsageError);
    await expect(oncall(repo({}), {})).rejects.toThrow(/no on-call schedules in schedules\//);
    await expect(oncall(repo(), { at: 'tomorrow' })).rejects.toThrow(/--at must be an RFC 3339 time/);
    await expect(oncall(repo(), { next: '-1' })).rejects.toThrow(/--next must be a whole number/);
  });
});
