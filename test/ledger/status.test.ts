// `timebox status --at T` tells what was known at T (SPEC: the `status --json` shape): the expiry a grant
// had then, and, when later history ended it early, when and how (`ended_at`, `end_reason`). Real git.
import { describe, expect, it } from 'vitest';
import { gitAt as gitAtAs } from '../helpers/git-at.js';
import { run, tempDir, write } from '../helpers/repo.js';

const gitAt = (dir: string, when: string, ...args: string[]) => gitAtAs(dir, { when }, ...args);

function commit(dir: string, when: string, files: Record<string, string | null>): void {
  for (const [path, text] of Object.entries(files)) {
    if (text === null) gitAt(dir, when, 'rm', '-q', path);
    else write(dir, path, text);
  }
  gitAt(dir, when, 'add', '-A');
  gitAt(dir, when, 'commit', '-q', '--allow-empty', '-m', `change at ${when}`);
}

function repo(): string {
  const dir = tempDir();
  gitAt(dir, '2026-01-05T00:00:00Z', 'init', '-q', '-b', 'main');
  commit(dir, '2026-01-05T00:00:00Z', { 'README.md': '# access\n' });
  return dir;
}

const FILE = 'requests/alice/bug.yaml';
const request = (length: string) =>
  `requester: alice\nresource: orders-db\nrole: read-only\n${length}\nreason: Reproduce BUG-1234 in prod\n`;

async function status(dir: string, at: string) {
  const r = await run(['status', '--json', '--at', at], { cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { at: string; grants: Record<string, string>[] };
}

describe('timebox status --at: what was known at that time', () => {
  it('a grant until 12:00 removed at 11:00: at 10:30 it expires at 12:00, and ended at 11:00 (revoked)', async () => {
    const dir = repo();
    commit(dir, '2026-01-05T10:00:00Z', { [FILE]: request('until: 2026-01-05T12:00:00Z') });
    commit(dir, '2026-01-05T11:00:00Z', { [FILE]: null });

    expect(await status(dir, '2026-01-05T10:30:00Z')).toEqual({
      at: '2026-01-05T10:30:00.000Z',
      grants: [
        {
          file: FILE,
          requester: 'alice',
          resource: 'orders-db',
          role: 'read-only',
          starts_at: '2026-01-05T10:00:00Z',
          expires_at: '2026-01-05T12:00:00Z',
          ended_at: '2026-01-05T11:00:00Z',
          end_reason: 'revoked',
        },
      ],
    });
    // After the removal, nothing is active.
    expect((await status(dir, '2026-01-05T11:30:00Z')).grants).toEqual([]);

    const table = await run(['status', '--at', '2026-01-05T10:30:00Z'], { cwd: dir });
    expect(table.stdout).toMatch(/^FILE\s+REQUESTER\s+RESOURCE\s+ROLE\s+STARTS\s+EXPIRES\s+ENDED\n/);
    expect(table.stdout).toContain('2026-01-05T12:00:00Z  2026-01-05T11:00:00Z (revoked)');
  });

  it('an edit after T (a longer window) is not the expiry known at T: the old grant was replaced', async () => {
    const dir = repo();
    commit(dir, '2026-01-05T10:00:00Z', { [FILE]: request('duration: 2h') });
    commit(dir, '2026-01-05T10:45:00Z', { [FILE]: request('duration: 4h') });

    expect((await status(dir, '2026-01-05T10:30:00Z')).grants).toEqual([
      expect.objectContaining({
        starts_at: '2026-01-05T10:00:00Z',
        expires_at: '2026-01-05T12:00:00Z',
        ended_at: '2026-01-05T10:45:00Z',
        end_reason: 'replaced',
      }),
    ]);
    // At 11:00 the edit is known: the new grant, which has not ended early.
    const later = (await status(dir, '2026-01-05T11:00:00Z')).grants;
    expect(later).toHaveLength(1);
    expect(later[0]).toMatchObject({ starts_at: '2026-01-05T10:45:00Z', expires_at: '2026-01-05T14:45:00Z' });
    expect(later[0]).not.toHaveProperty('ended_at');
    expect(later[0]).not.toHaveProperty('end_reason');
  });

  it('a grant that ran to its expiry has no ended_at: its expires_at was the truth', async () => {
    const dir = repo();
    commit(dir, '2026-01-05T10:00:00Z', { [FILE]: request('duration: 2h') });
    // The revert after expiry changes nothing about when access ended.
    commit(dir, '2026-01-05T12:05:00Z', { [FILE]: null });
    const grants = (await status(dir, '2026-01-05T11:00:00Z')).grants;
    expect(grants).toEqual([expect.objectContaining({ expires_at: '2026-01-05T12:00:00Z' })]);
    expect(grants[0]).not.toHaveProperty('ended_at');
    const table = await run(['status', '--at', '2026-01-05T11:00:00Z'], { cwd: dir });
    expect(table.stdout).toMatch(/^FILE\s+REQUESTER\s+RESOURCE\s+ROLE\s+STARTS\s+EXPIRES\n/);
  });
});
