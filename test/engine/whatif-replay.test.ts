// replayPolicyChange (src/engine/whatif-check.ts) on a real git repository: more versions than one turn of
// the event loop decides (they are decided in slices), and open pull requests read from their head commits
// against their merge base, each change carrying its pull request's number.
import { describe, expect, it } from 'vitest';
import { replayPolicyChange } from '../../src/engine/whatif-check.js';
import { ordersPolicy } from '../helpers/github.js';
import { git, tempDir, write } from '../helpers/repo.js';

const request = (requester: string, duration: string) =>
  `requester: ${requester}\nresource: orders-db\nrole: read-only\nduration: ${duration}\nreason: Reproduce BUG-1234\n`;
const policy = (max: string) =>
  ordersPolicy('orders_read').replace('max_duration: 4h', `max_duration: ${max}`);
const TEAMS = { '@acme/qa': ['alice', 'bob'], '@acme/qa-leads': ['carol'] };

function commit(dir: string, message: string): string {
  git(dir, 'add', '-A');
  git(dir, '-c', 'user.name=Admin', '-c', 'user.email=admin@example.com', 'commit', '-q', '-m', message);
  return git(dir, 'rev-parse', 'HEAD').trim();
}

describe('replayPolicyChange', () => {
  it('decides every version across slices, and the open pull requests by their heads', async () => {
    const dir = tempDir();
    git(dir, 'init', '-q', '-b', 'main');
    write(dir, 'policies/qa.yaml', policy('4h'));
    commit(dir, 'access repo');
    // 1,234 past versions (no trusted merge: each waits for its approval), 3h each.
    for (let i = 0; i < 1234; i++) write(dir, `requests/alice/r${i}.yaml`, request('alice', '3h'));
    write(dir, 'requests/alice/short.yaml', request('alice', '1h'));
    const base = commit(dir, 'requests');
    git(dir, 'switch', '-q', '-c', 'open-pr');
    write(dir, 'requests/bob/open.yaml', request('bob', '3h'));
    const openHead = commit(dir, 'bob asks');
    // A head that shares no history with the base: left out, and said.
    git(dir, 'switch', '-q', '--orphan', 'unrelated');
    write(dir, 'requests/erin/x.yaml', request('erin', '3h'));
    const orphan = commit(dir, 'unrelated');
    git(dir, 'switch', '-q', '-c', 'tighten', 'main');
    write(dir, 'policies/qa.yaml', policy('2h'));
    const head = commit(dir, 'reads up to 2h');
    let asked: string[] = [];

    const replay = await replayPolicyChange({
      root: dir,
      base,
      head,
      open: [
        { number: 12, author: 'bob', headSha: openHead },
        { number: 13, author: 'erin', headSha: orphan },
      ],
      at: new Date('2026-01-08T09:00:00Z'),
      teams: async (names) => {
        asked = names;
        return TEAMS;
      },
    });
    if (!replay.ok) throw new Error(JSON.stringify(replay.errors));
    expect(replay.merged).toBe(1235);
    expect(replay.open).toBe(1);
    expect(replay.unreadable).toEqual([13]);
    expect(replay.result.unchanged).toBe(1);
    expect(replay.result.changed).toHaveLength(1235);
    expect(new Set(replay.result.changed.map((c) => `${c.before} → ${c.after}`))).toEqual(
      new Set(['pending → denied']),
    );
    const open = replay.result.changed.filter((c) => c.commit === null);
    expect(open).toEqual([
      expect.objectContaining({ file: 'requests/bob/open.yaml', pull: 12, at: '2026-01-08T09:00:00Z' }),
    ]);
    expect(asked).toEqual(['@acme/qa', '@acme/qa-leads']);
  }, 60_000);

  it('says which side does not load, and replays nothing', async () => {
    const dir = tempDir();
    git(dir, 'init', '-q', '-b', 'main');
    write(dir, 'policies/qa.yaml', policy('4h'));
    const base = commit(dir, 'access repo');
    write(dir, 'policies/qa.yaml', 'rules: [');
    const head = commit(dir, 'broken');
    const replay = await replayPolicyChange({
      root: dir,
      base,
      head,
      open: [],
      at: new Date(),
      teams: async () => ({}),
    });
    expect(replay.ok).toBe(false);
    if (!replay.ok) expect(replay.side).toBe('proposed');
  });
});
