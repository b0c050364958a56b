// GitRepo.branchTips is remembered between reads, and read again once any command that may move a ref ran.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitRepo } from '../../src/forge/git-store.js';

describe('branch tips of a bare repository', () => {
  let root: string;
  let repo: GitRepo;
  let first: string;
  let second: string;
  const who = { name: 'Bob', email: 'bob@example.com', date: new Date('2030-01-01T00:00:00Z') };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'timebox-git-tips-'));
    repo = await GitRepo.init(join(root, 'r.git'));
    first = await repo.writeCommit({ files: { 'a.txt': 'a\n' }, author: who, committer: who, message: 'a' });
    second = await repo.writeCommit({
      parent: first,
      files: { 'a.txt': 'b\n' },
      author: who,
      committer: who,
      message: 'b',
    });
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('follows every ref move made through the repository', async () => {
    await repo.updateBranch('main', first, undefined);
    expect(await repo.branchTips()).toEqual(new Map([['main', first]]));
    await repo.updateBranch('main', second, first);
    expect(await repo.branchTips()).toEqual(new Map([['main', second]]));
    await repo.setRef('refs/heads/feature/x', first, undefined);
    expect(await repo.branchTips()).toEqual(
      new Map([
        ['feature/x', first],
        ['main', second],
      ]),
    );
    await repo.setRef('refs/heads/feature/x', undefined, first);
    expect(await repo.branchTips()).toEqual(new Map([['main', second]]));
  });

  it('is not confused by a caller changing the map it got, nor by reads that move no ref', async () => {
    const tips = await repo.branchTips();
    tips.delete('main');
    await repo.writeBlob('no ref moves\n');
    expect(await repo.branchTips()).toEqual(new Map([['main', second]]));
  });

  it('reads again after a ref moved while a read was under way', async () => {
    await repo.updateBranch('main', first, second);
    const [during] = await Promise.all([repo.branchTips(), repo.updateBranch('main', second, first)]);
    expect([first, second]).toContain(during.get('main'));
    expect((await repo.branchTips()).get('main')).toBe(second);
    // And a read started while a move is under way (it may finish first) is not kept past the move.
    const [, started] = await Promise.all([repo.updateBranch('main', first, second), repo.branchTips()]);
    expect([first, second]).toContain(started.get('main'));
    expect((await repo.branchTips()).get('main')).toBe(first);
  });

  it('reads what git itself reports', async () => {
    await repo.updateBranch('main', second, first);
    const out = execFileSync('git', ['--git-dir', join(root, 'r.git'), 'rev-parse', 'refs/heads/main'], {
      encoding: 'utf8',
    });
    expect((await repo.branchTips()).get('main')).toBe(out.trim());
  });
});
