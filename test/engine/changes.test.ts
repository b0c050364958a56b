// One reading of a change for `check --base` and the App: a rename is a removal plus an addition, removals
// carry the text they remove, and what cannot be read is said per file.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/core/model.js';
import { requestChanges } from '../../src/engine/changes.js';

const before: Record<string, string> = {
  'requests/alice/old.yaml': 'old text',
  'requests/bob/gone.yaml': 'gone text',
};
const after: Record<string, string> = {
  'requests/alice/new.yaml': 'new text',
  'requests/carol/c.yaml': 'c text',
};
const read = {
  before: async (path: string) => before[path] ?? null,
  after: async (c: { path: string }) => {
    const text = after[c.path];
    if (text === undefined) throw new Error(`${c.path}: cannot be read`);
    return text;
  },
};

describe('requestChanges', () => {
  it('takes a rename as the removal of the old path and the addition of the new one', async () => {
    const r = await requestChanges(
      [
        { path: 'requests/alice/new.yaml', status: 'renamed', previous: 'requests/alice/old.yaml' },
        { path: 'requests/bob/gone.yaml', status: 'removed' },
        { path: 'requests/carol/c.yaml', status: 'modified' },
        { path: 'README.md', status: 'added' },
      ],
      DEFAULT_CONFIG,
      read,
    );
    expect(r.paths).toEqual([
      'README.md',
      'requests/alice/new.yaml',
      'requests/alice/old.yaml',
      'requests/bob/gone.yaml',
      'requests/carol/c.yaml',
    ]);
    expect(r.requests).toEqual([
      { path: 'requests/alice/new.yaml', status: 'added', content: 'new text' },
      { path: 'requests/alice/old.yaml', status: 'removed', previous: { content: 'old text' } },
      { path: 'requests/bob/gone.yaml', status: 'removed', previous: { content: 'gone text' } },
      { path: 'requests/carol/c.yaml', status: 'modified', content: 'c text' },
    ]);
    expect(r.unreadable).toEqual([]);
  });

  it('says which request files cannot be read, and decides a removal without its text when that is gone', async () => {
    const r = await requestChanges(
      [
        { path: 'requests/dave/big.yaml', status: 'added' },
        { path: 'requests/erin/e.yaml', status: 'removed' },
        { path: 'requests/erin/same.yaml', status: 'unchanged' },
      ],
      DEFAULT_CONFIG,
      read,
    );
    expect(r.unreadable).toEqual([
      { path: 'requests/dave/big.yaml', message: 'requests/dave/big.yaml: cannot be read' },
    ]);
    expect(r.requests).toEqual([{ path: 'requests/erin/e.yaml', status: 'removed' }]);
    expect(r.paths).toContain('requests/erin/same.yaml');
  });
});
