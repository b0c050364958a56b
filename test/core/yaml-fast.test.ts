// The loader's fast path (src/core/yaml-fast.ts) must read exactly what the composing path reads: the same
// value, the same errors, the same positions — or decline. Documents are generated, printed by the yaml
// library in many styles, then mutated one character at a time with the characters YAML gives meaning to.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CST, Lexer, Parser, stringify } from 'yaml';
import { fastValue } from '../../src/core/yaml-fast.js';
import { type LoadOptions, loadYaml, type PathSegment } from '../../src/core/yaml-loader.js';

function tokens(text: string): CST.Token[] {
  const parser = new Parser();
  const out: CST.Token[] = [];
  for (const lexeme of new Lexer().lex(text)) for (const t of parser.next(lexeme)) out.push(t);
  for (const t of parser.end()) out.push(t);
  return out;
}

/** Every path to a value in `v`, and one that does not exist below each mapping. */
function paths(v: unknown, at: PathSegment[] = []): PathSegment[][] {
  const out: PathSegment[][] = [at];
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) out.push(...paths(x, [...at, i]));
  } else if (v && typeof v === 'object') {
    out.push([...at, 'no-such-key']);
    for (const k of Object.keys(v)) out.push(...paths((v as Record<string, unknown>)[k], [...at, k]));
  }
  return out;
}

/** Both paths read `text` alike; returns whether the fast one took it. */
function same(text: string, options: Omit<LoadOptions, 'fast'> = { scalars: 'strings' }): boolean {
  const fast = loadYaml(text, options);
  const full = loadYaml(text, { ...options, fast: false });
  expect(fast.errors).toEqual(full.errors);
  expect(fast.value).toStrictEqual(full.value);
  if (fast.value && typeof fast.value === 'object') {
    // Own properties as the composing path defines them (a `__proto__` key is data, not a prototype).
    expect(Object.getPrototypeOf(fast.value)).toBe(Object.getPrototypeOf(full.value));
  }
  for (const p of paths(full.value).slice(0, 40)) {
    expect(fast.locate(p)).toEqual(full.locate(p));
    expect(fast.locateKey(p)).toEqual(full.locateKey(p));
  }
  return fastValue(tokens(text.replace(/^\ufeff/, '')), options.maxDepth ?? 32, options.scalars) !== null;
}

const key = fc.oneof(
  fc.constantFrom(
    'requester',
    'resource',
    'role',
    'reason',
    '__proto__',
    '<<',
    'a b',
    '',
    'x:y',
    '#k',
    '-',
    '1',
    'true',
  ),
  fc.string({ maxLength: 6 }),
);
const text = fc.oneof(
  fc.constantFrom(
    'read-only',
    '2h',
    'BUG-1234',
    'null',
    '~',
    'yes',
    '1e3',
    '0x1F',
    "it's",
    'a: b',
    'a #b',
    '#x',
    '- x',
    '',
    ' lead',
    '@at',
    '`tick',
    '%pct',
    '*star',
    '&amp',
    '!bang',
    '|',
    '>',
    '{',
    '[',
    ',',
    '"q"',
    '\\',
    'é ✓',
    'line\nbreak',
    '\t tab',
  ),
  fc.string({ maxLength: 12 }),
);
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, text, tie('list'), tie('map')),
  list: fc.array(tie('node'), { maxLength: 4 }),
  map: fc.dictionary(key, tie('node'), { maxKeys: 5 }),
})).node;
const style = fc.record({
  indent: fc.constantFrom(2, 3, 4),
  indentSeq: fc.boolean(),
  collectionStyle: fc.constantFrom('any', 'block', 'flow') as fc.Arbitrary<'any' | 'block' | 'flow'>,
  defaultStringType: fc.constantFrom(
    'PLAIN',
    'QUOTE_SINGLE',
    'QUOTE_DOUBLE',
    'BLOCK_LITERAL',
  ) as fc.Arbitrary<'PLAIN' | 'QUOTE_SINGLE' | 'QUOTE_DOUBLE' | 'BLOCK_LITERAL'>,
  lineWidth: fc.constantFrom(0, 20, 80),
  flowCollectionPadding: fc.boolean(),
});
const SIGNIFICANT = [
  ' ',
  '\t',
  '\n',
  '#',
  ':',
  '-',
  '?',
  ',',
  '[',
  ']',
  '{',
  '}',
  "'",
  '"',
  '&',
  '*',
  '!',
  '%',
  '|',
  '>',
  '@',
  '`',
  '\r',
  '\ufeff',
  '  ',
  '\n  ',
  ' #c',
  '---\n',
  '...',
];
const mutation = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('insert', 'delete', 'replace'),
  with: fc.constantFrom(...SIGNIFICANT),
});

function mutate(doc: string, ms: { at: number; op: string; with: string }[]): string {
  let out = doc;
  for (const m of ms) {
    const at = m.at % (out.length + 1);
    if (m.op === 'insert') out = out.slice(0, at) + m.with + out.slice(at);
    else if (m.op === 'delete') out = out.slice(0, at) + out.slice(at + 1);
    else out = out.slice(0, at) + m.with + out.slice(at + 1);
  }
  return out;
}

describe('the fast path reads what the composing path reads', () => {
  it('on generated mappings in every printing style, and on each of them mutated', () => {
    let taken = 0;
    let runs = 0;
    fc.assert(
      fc.property(
        fc.dictionary(key, value, { minKeys: 1, maxKeys: 6 }),
        style,
        fc.array(mutation, { maxLength: 3 }),
        fc.boolean(),
        (v, s, ms, comments) => {
          let doc = stringify(v, s);
          if (comments) doc = doc.replace(/\n/g, (m, i: number) => (i % 3 === 0 ? ' # note\n' : m));
          runs++;
          if (same(doc)) taken++;
          same(mutate(doc, ms));
          same(mutate(doc, ms), { scalars: 'strings', maxDepth: 2 });
        },
      ),
      { numRuns: Number(process.env.YAML_FAST_RUNS ?? 300) },
    );
    // The comparison means something only if the fast path takes a good share of the documents.
    expect(taken / (2 * runs)).toBeGreaterThan(0.1);
  }, 180_000);

  it('on hand-picked edge cases', () => {
    const cases = [
      'a: 1\n',
      '__proto__: x\nb: y\n',
      '__proto__:\n  polluted: yes\n',
      '<<: x\n',
      '"<<": x\n',
      'a: 1\na: 2\n',
      'a: 1\n"a": 2\n',
      'a:\tb\n',
      'a: b\n\t# tab\n',
      'a: b#c\n',
      'a: "b"#c\n',
      'a: [x, y]#c\n',
      'a: [x, y] #c\n',
      'a: [x,,y]\n',
      'a: [x, y,]\n',
      'a: [ x, y ]\n',
      'a: [x, [y]]\n',
      'a: {x: y}\n',
      'a: &anchor x\nb: *anchor\n',
      'a: !!str x\n',
      '%YAML 1.2\n---\na: b\n',
      '---\na: b\n',
      'a: b\n---\nc: d\n',
      'a: b\n...\n',
      '? a\n: b\n',
      'a:\n- x\n- y\n',
      'a:\n  - x\n  -\n  - - y\n    - z\n',
      'a:\n  - k: v\n    l: w\n  - k: u\n',
      'a:\n  b:\n    c:\n      d: e\n',
      'a:\n  b: c\n   d: e\n',
      'a:\n  b: c\n d: e\n',
      'a: b\n  c: d\n',
      'a:\n  multi\n  line\n',
      'a: multi\n  line\n',
      'a: "multi\n  line"\n',
      'a: |\n  literal\n',
      'a: >\n  folded\n',
      `${'k'.repeat(1030)}: v\n`,
      '\ufeffa: b\n',
      '# only a comment\n',
      '',
      'a: b\n# trailing\n',
      'a: b\n  # indented trailing\n',
      'a: "\\u0041\\x41"\n',
      "a: 'it''s'\n",
      'a: "unterminated\n',
      'a: @x\n',
      'a: `x\n',
      'a: %x\n',
      '- a\n- b\n',
      'plain scalar\n',
      'a: b\r\nc: d\r\n',
      'n: ~\nb: true\nB: FALSE\ni: 012\no: 0o17\nh: 0x1F\nf: 1.50\ne: 1e3\ninf: -.inf\nnan: .NaN\ns: "1"\n',
      '1: a\n"1": b\n',
      'true: a\nnull: b\n',
      '~: a\n',
      '1.0: a\n1: b\n',
      'a: { k: v, l: [x, 1], m: {}, n: [] }\n',
      'a: {k: v, k: w}\n',
      'a: {k: v,}\n',
      'a: {k}\n',
      'a: {k: }\n',
      'a: {"k":v}\n',
      'a: {? k: v}\n',
      'a: [k: v]\n',
      'a: { k: v } # c\n',
      'a: { k: v }# c\n',
      'a : b\n',
      'a:b\n',
      '"a\\nb": c\n',
    ];
    let taken = 0;
    for (const c of cases) if (same(c)) taken++;
    expect(taken).toBeGreaterThan(10);
    for (const depth of [0, 1, 2, 3]) for (const c of cases) same(c, { scalars: 'strings', maxDepth: depth });
  });

  it('on every YAML file of this repository', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        if (name === 'node_modules' || name === '.git' || name === 'dist' || name === 'test-output') continue;
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (/\.ya?ml$/.test(name)) files.push(path);
      }
    };
    walk(join(import.meta.dirname, '..', '..'));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      same(readFileSync(f, 'utf8'), { scalars: 'strings', maxBytes: 1 << 20 });
      same(readFileSync(f, 'utf8'), { scalars: 'core', maxBytes: 1 << 20 });
    }
  });
});
