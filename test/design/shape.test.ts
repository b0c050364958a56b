// The shape docs/design.md promises, held: a file or function that grows past the limit, an import circle,
// octokit/probot outside the GitHub edge or a new wall-clock read fails here with its name.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module script without types
import { LIMITS, measure } from '../../scripts/shape.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const shape = measure(root);

describe('the shape of src/ (scripts/shape.mjs)', () => {
  it(`has no file over ${LIMITS.fileLines} lines`, () => {
    expect(shape.longFiles).toEqual([]);
  });
  it(`has no function over ${LIMITS.functionLines} lines`, () => {
    expect(shape.longFunctions).toEqual([]);
  });
  it('has no import circle', () => {
    expect(shape.circles).toEqual([]);
  });
  it('imports octokit and probot only in src/github', () => {
    expect(shape.githubImports).toEqual([]);
  });
  it('reads the wall clock only in src/core/clock.ts (and at most one other file)', () => {
    const files = shape.clockFiles.map((c: { file: string }) => c.file);
    expect(files).toContain('src/core/clock.ts');
    expect(files.length).toBeLessThanOrEqual(LIMITS.clockFiles);
  });
  it('measures what it claims: a long function and a circle in a scratch tree are found', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(resolve(tmpdir(), 'shape-'));
    mkdirSync(resolve(dir, 'src/core'), { recursive: true });
    const body = Array.from({ length: LIMITS.functionLines + 1 }, (_, i) => `  const v${i} = ${i};`).join(
      '\n',
    );
    writeFileSync(
      resolve(dir, 'src/core/a.ts'),
      `import { b } from './b.js';\nexport function a() {\n${body}\n  return b;\n}\n`,
    );
    writeFileSync(
      resolve(dir, 'src/core/b.ts'),
      `import { a } from './a.js';\nexport const b = a;\nexport const t = Date.now();\n`,
    );
    writeFileSync(
      resolve(dir, 'src/core/c.ts'),
      `import { Octokit } from '@octokit/rest';\nexport const o = Octokit;\n`,
    );
    const s = measure(dir);
    expect(s.longFunctions.map((f: { name: string }) => f.name)).toEqual(['a']);
    expect(s.circles).toEqual([['src/core/a.ts', 'src/core/b.ts']]);
    expect(s.githubImports).toEqual([{ file: 'src/core/c.ts', module: '@octokit/rest' }]);
    expect(s.clockFiles.map((c: { file: string }) => c.file)).toEqual(['src/core/b.ts']);
  });
});
