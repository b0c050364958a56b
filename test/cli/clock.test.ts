// Issue 15.5: every command takes "now" from io.clock, never from the wall clock. Each command below runs on
// a clock in January 2026 (long past on the wall clock) and its answer follows that clock.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixedClock, ManualClock } from '../../src/core/clock.js';
import { gitAt } from '../helpers/git-at.js';
import { exampleRepo, run, tempDir, write } from '../helpers/repo.js';

const FILE = 'requests/alice/bug.yaml';
const request = (length: string) =>
  `requester: alice\nresource: orders-db\nrole: read-only\n${length}\nreason: Reproduce BUG-1234 in prod\n`;

/** A git repo whose one request, for 2h, was committed (and so granted) at 2026-01-05T10:00:00Z. */
function grantedAt10(): string {
  const dir = tempDir();
  const git = (...args: string[]) => gitAt(dir, { when: '2026-01-05T10:00:00Z' }, ...args);
  git('init', '-q', '-b', 'main');
  write(dir, FILE, request('duration: 2h'));
  git('add', '-A');
  git('commit', '-q', '-m', 'grant');
  return dir;
}

describe('commands read the time from io.clock', () => {
  it('status without --at answers at the clock’s time: inside the window the grant, after it none', async () => {
    const dir = grantedAt10();
    const clock = new ManualClock('2026-01-05T11:00:00Z');
    const inside = await run(['status', '--json'], { cwd: dir, clock });
    expect(inside.code, inside.stderr).toBe(0);
    expect(JSON.parse(inside.stdout)).toMatchObject({
      at: '2026-01-05T11:00:00.000Z',
      grants: [{ file: FILE, expires_at: '2026-01-05T12:00:00Z' }],
    });
    clock.advance(2 * 3600_000); // 13:00: the 2h grant ended at 12:00
    const after = await run(['status', '--json'], { cwd: dir, clock });
    expect(JSON.parse(after.stdout)).toEqual({ at: '2026-01-05T13:00:00.000Z', grants: [] });
    // The wall clock (late 2026 or after) would see no grant either way: the first answer is the clock's.
  });

  it('check without --at decides at the clock’s time: an `until` in the clock’s future is no error', async () => {
    const dir = exampleRepo();
    write(dir, FILE, request('until: 2026-01-05T12:00:00Z'));
    const before = await run(['check', '--json', FILE], {
      cwd: dir,
      clock: fixedClock('2026-01-05T10:00:00Z'),
    });
    expect(JSON.parse(before.stdout).results[0]).toMatchObject({ status: 'pending', errors: [] });
    const later = await run(['check', '--json', FILE], {
      cwd: dir,
      clock: fixedClock('2026-01-05T13:00:00Z'),
    });
    const result = JSON.parse(later.stdout).results[0];
    expect(later.code).toBe(1);
    expect(result.status).toBe('invalid');
  });

  it('new names the file after the clock’s day', async () => {
    const dir = exampleRepo();
    const r = await run(
      [
        'new',
        '--requester',
        'alice',
        '--resource',
        'orders-db',
        '--role',
        'read-only',
        '--duration',
        '1h',
        '--reason',
        'Reproduce BUG-1234 in prod',
      ],
      { cwd: dir, clock: fixedClock('2026-01-05T10:00:00Z') },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('wrote requests/alice/2026-01-05-orders-db-read-only.yaml\n');
    expect(existsSync(join(dir, 'requests/alice/2026-01-05-orders-db-read-only.yaml'))).toBe(true);
  });
});
