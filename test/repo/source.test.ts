// Reading files at a git revision: the text of a blob, null for what is missing or not a file, whatever the
// name (spaces, quotes, a line break), and the same text byte for byte (UTF-8, no newline at the end).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitRevision } from '../../src/repo/source.js';

function repoWith(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'timebox-source-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', root, ...args], {
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'T',
        GIT_AUTHOR_EMAIL: 't@x',
        GIT_COMMITTER_NAME: 'T',
        GIT_COMMITTER_EMAIL: 't@x',
      },
    });
  git('init', '-q', '-b', 'main');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  git('add', '-A');
  git('commit', '-q', '-m', 'files');
  return root;
}

describe('gitRevision', () => {
  const files = {
    'policies/qa.yaml': 'rules: []\n',
    'policies/with space.yaml': 'a: "é ✓"',
    "policies/it's.yaml": 'quoted: yes\n',
    'policies/line\nbreak.yaml': 'odd: name\n',
    CODEOWNERS: '* @acme/admins\n',
  };

  it('reads each file as committed, and null for a folder or a name that is not there', async () => {
    const root = repoWith(files);
    const rev = await gitRevision(root, 'main');
    for (const [path, text] of Object.entries(files)) expect(await rev.read(path)).toBe(text);
    expect(await rev.read('policies')).toBeNull();
    expect(await rev.read('policies/missing.yaml')).toBeNull();
    expect(await rev.read('nothing here')).toBeNull();
    expect((await rev.list('policies')).length).toBe(4);
  });

  it('reads what the revision holds, not the working tree', async () => {
    const root = repoWith(files);
    writeFileSync(join(root, 'policies/qa.yaml'), 'changed: later\n');
    const rev = await gitRevision(root, 'main');
    expect(await rev.read('policies/qa.yaml')).toBe('rules: []\n');
  });
});
