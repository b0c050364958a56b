// The hardened YAML loader (SPEC "Request files are hostile input"): every hostile construct is a positioned
// error, never a throw, never a surprise value.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Document, parse, visit } from 'yaml';
import {
  type FileError,
  formatPath,
  type LoadOptions,
  loadYaml,
  pointerToPath,
  scanNesting,
} from '../../src/core/yaml-loader.js';
import { ROOT } from '../helpers/repo.js';

const STRINGS: LoadOptions = { scalars: 'strings' };
const CORE: LoadOptions = { scalars: 'core' };

const load = (text: string, options: LoadOptions = STRINGS) => loadYaml(text, options);
const errorsOf = (text: string, options: LoadOptions = STRINGS) => load(text, options).errors;
const error = (line: number, column: number, path: string, message: string): FileError => ({
  line,
  column,
  path,
  message,
});

const DIRECTIVES = 'YAML directives (`%YAML`, `%TAG`) are not allowed';
const ANCHOR = 'anchors (`&name`) are not allowed';
const ALIAS = 'aliases (`*name`) are not allowed';
const MERGE = 'merge keys (`<<`) are not allowed';
const SECOND_DOC = 'only one YAML document is allowed per file (found a second `---` document)';
const KEYS = 'mapping keys must be plain strings';
const EMPTY = 'file is empty';
const tag = (t: string) => `explicit tags (\`${t}\`) are not allowed`;
const duplicate = (key: string, line: number, column: number) =>
  `duplicate key \`${key}\`: each key may appear only once in a mapping (first at line ${line}, column ${column})`;

describe('directives', () => {
  it('%YAML is refused at its position', () => {
    expect(errorsOf('%YAML 1.2\n---\nrequester: alice\n')).toEqual([error(1, 1, '$', DIRECTIVES)]);
  });

  it('%TAG is refused at its position, also after a comment', () => {
    expect(errorsOf('%TAG !e! tag:example.com,2000:\n---\na: b\n')).toEqual([error(1, 1, '$', DIRECTIVES)]);
    expect(errorsOf('# a request\n%TAG !e! tag:example.com,2000:\n---\na: b\n')).toEqual([
      error(2, 1, '$', DIRECTIVES),
    ]);
  });

  it('a %TAG that only repeats the default `!!` prefix is still a directive', () => {
    expect(errorsOf('%TAG !! tag:yaml.org,2002:\n---\na: b\n')).toEqual([error(1, 1, '$', DIRECTIVES)]);
  });

  it('an unknown directive gets the same message, once', () => {
    expect(errorsOf('%FOO bar\n---\na: b\n')).toEqual([error(1, 1, '$', DIRECTIVES)]);
  });

  it('%YAML 1.1 cannot switch core-scalar files to YAML 1.1 booleans', () => {
    const r = load('%YAML 1.1\n---\na: no\n', CORE);
    expect(r.errors).toEqual([error(1, 1, '$', DIRECTIVES)]);
    expect(r.value).toEqual({ a: 'no' });
  });

  it('a % inside a value or a block scalar is not a directive', () => {
    expect(load('reason: 100% sure\n')).toMatchObject({ value: { reason: '100% sure' }, errors: [] });
    expect(load('--- |\n%not a directive\n')).toMatchObject({ value: '%not a directive\n', errors: [] });
  });
});

describe('anchors, aliases and merge keys', () => {
  it('an anchor and an alias are refused where they are written', () => {
    const r = load('requester: &a alice\nresource: *a\n');
    expect(r.errors).toEqual([error(1, 12, '$.requester', ANCHOR), error(2, 11, '$.resource', ALIAS)]);
    expect((r.value as Record<string, unknown>).resource).toBeUndefined();
  });

  it('an anchor on a block collection points at the `&`, not at the collection below it', () => {
    expect(errorsOf('rules: &r\n  - a\n')).toEqual([error(1, 8, '$.rules', ANCHOR)]);
    expect(errorsOf('a: &x\n  b: c\n')).toEqual([error(1, 4, '$.a', ANCHOR)]);
  });

  it('an anchor on an empty value, in a flow sequence, on a key, on the whole document', () => {
    expect(errorsOf('a: &x\nb: c\n')).toEqual([error(1, 4, '$.a', ANCHOR)]);
    expect(errorsOf('roles: [&x a, b]\n')).toEqual([error(1, 9, '$.roles[0]', ANCHOR)]);
    expect(errorsOf('&k a: b\n')).toEqual([error(1, 1, '$', ANCHOR)]);
    expect(errorsOf('&x\n')).toEqual([error(1, 1, '$', ANCHOR)]);
  });

  it('an alias to an anchor that does not exist, and an alias as the whole document', () => {
    expect(errorsOf('a: b\nc: *nope\n')).toEqual([error(2, 4, '$.c', ALIAS)]);
    expect(load('*x\n')).toMatchObject({ value: undefined, errors: [error(1, 1, '$', ALIAS)] });
  });

  it('aliases are never expanded (no billion laughs)', () => {
    const lines = ['l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i < 10; i++)
      lines.push(
        `l${i}: &l${i} [${Array(10)
          .fill(`*l${i - 1}`)
          .join(', ')}]`,
      );
    const r = load(`${lines.join('\n')}\n`);
    expect(r.errors.filter((e) => e.message === ALIAS)).toHaveLength(90);
    expect(r.errors.filter((e) => e.message === ANCHOR)).toHaveLength(10);
    expect(JSON.stringify(r.value).length).toBeLessThan(2000);
  });

  it('a merge key is refused and merges nothing', () => {
    const r = load('<<: {role: admin}\nrequester: alice\n');
    expect(r.errors).toEqual([error(1, 1, '$', MERGE)]);
    expect(r.value).toEqual({ requester: 'alice' });
  });

  it('a merge of an anchored mapping is refused at the `<<`', () => {
    const r = load('a: &b {x: 1}\nc:\n  <<: *b\n');
    expect(r.errors).toEqual([error(1, 4, '$.a', ANCHOR), error(3, 3, '$.c', MERGE)]);
    expect((r.value as { c: unknown }).c).toEqual({});
  });

  it('merge keys are refused in flow mappings and in core-scalar (policy) files too', () => {
    expect(errorsOf('x: {<<: {a: 1}}\n')).toEqual([error(1, 5, '$.x', MERGE)]);
    expect(errorsOf('x:\n  <<: {a: 1}\n', CORE)).toEqual([error(2, 3, '$.x', MERGE)]);
  });

  it('a quoted "<<" is an ordinary key (YAML 1.2 has no merge keys), not a merge', () => {
    expect(load('"<<": x\n')).toMatchObject({ value: { '<<': 'x' }, errors: [] });
  });
});

describe('explicit tags', () => {
  it('a standard tag is refused at the `!!`', () => {
    expect(errorsOf('requester: !!str alice\n')).toEqual([
      error(1, 12, '$.requester', tag('tag:yaml.org,2002:str')),
    ]);
  });

  it('an unknown or unresolvable tag gives exactly one error, at the tag', () => {
    expect(errorsOf('a: !custom b\n')).toEqual([error(1, 4, '$.a', tag('!custom'))]);
    expect(errorsOf('a: !!int 3\n')).toEqual([error(1, 4, '$.a', tag('tag:yaml.org,2002:int'))]);
    expect(errorsOf('a: !!binary aGVsbG8=\n', CORE)).toEqual([
      error(1, 4, '$.a', tag('tag:yaml.org,2002:binary')),
    ]);
  });

  it('the non-specific `!`, verbatim tags, tags on collections and on keys', () => {
    expect(errorsOf('a: ! b\n')).toEqual([error(1, 4, '$.a', tag('!'))]);
    expect(errorsOf('a: !<tag:yaml.org,2002:str> b\n')).toEqual([
      error(1, 4, '$.a', tag('tag:yaml.org,2002:str')),
    ]);
    expect(errorsOf('a: !!map\n  b: c\n')).toEqual([error(1, 4, '$.a', tag('tag:yaml.org,2002:map'))]);
    expect(errorsOf('!!str a: b\n')).toEqual([error(1, 1, '$', tag('tag:yaml.org,2002:str'))]);
  });
});

describe('no type coercion in request files', () => {
  it('every scalar is the string it is written as', () => {
    const text = [
      'duration: 1h',
      'no: no',
      'login: 0123',
      'flag: true',
      'big: 1e3',
      'tilde: ~',
      'nil: null',
      'inf: .inf',
      'hex: 0x1F',
      'octal: 0o17',
      'plus: +1',
      'date: 2001-12-14',
      'yes: yes',
      'off: off',
      'upper: TRUE',
      'zero: -0',
      'quoted: "0123"',
      "single: '1e3'",
      'empty:',
    ].join('\n');
    expect(load(text)).toEqual(
      expect.objectContaining({
        errors: [],
        value: {
          duration: '1h',
          no: 'no',
          login: '0123',
          flag: 'true',
          big: '1e3',
          tilde: '~',
          nil: 'null',
          inf: '.inf',
          hex: '0x1F',
          octal: '0o17',
          plus: '+1',
          date: '2001-12-14',
          yes: 'yes',
          off: 'off',
          upper: 'TRUE',
          zero: '-0',
          quoted: '0123',
          single: '1e3',
          empty: '',
        },
      }),
    );
  });

  it('keys are strings as written too', () => {
    expect(load('1: a\ntrue: b\nnull: c\n~: d\n0123: e\n').value).toEqual({
      '1': 'a',
      true: 'b',
      null: 'c',
      '~': 'd',
      '0123': 'e',
    });
  });

  it('`requester: 0123` is the login "0123"', () => {
    expect(load('requester: 0123\n').value).toEqual({ requester: '0123' });
  });
});

describe('core scalars (policies): YAML 1.2, not 1.1', () => {
  it('1 is a number and true a boolean, while no, yes, off and 1h stay strings', () => {
    const r = load(
      'a: 1\nb: true\nc: no\nd: ~\ne: 1h\nf: "1"\ng: yes\nh: off\ni: 0o17\nj: 1e3\nk: null\n',
      CORE,
    );
    expect(r.errors).toEqual([]);
    expect(r.value).toEqual({
      a: 1,
      b: true,
      c: 'no',
      d: null,
      e: '1h',
      f: '1',
      g: 'yes',
      h: 'off',
      i: 15,
      j: 1000,
      k: null,
    });
  });

  it('a leading zero is decimal in YAML 1.2 (0123 is 123, not octal 83)', () => {
    expect(load('a: 0123\n', CORE).value).toEqual({ a: 123 });
  });

  it('a null key is not a plain string', () => {
    expect(errorsOf('~: b\n', CORE)).toEqual([error(1, 1, '$', KEYS)]);
    expect(errorsOf('? \n: b\n', CORE)).toEqual([error(1, 3, '$', KEYS)]);
  });
});

describe('duplicate keys', () => {
  it('a key given twice is an error at the second one, naming the first', () => {
    const r = load('requester: alice\nresource: orders-db\nrequester: mallory\n');
    expect(r.errors).toEqual([error(3, 1, '$.requester', duplicate('requester', 1, 1))]);
  });

  it('quoting does not make a different key', () => {
    expect(errorsOf('a: 1\n"a": 2\n')).toEqual([error(2, 1, '$.a', duplicate('a', 1, 1))]);
    expect(errorsOf("a: 1\n'a': 2\n")).toEqual([error(2, 1, '$.a', duplicate('a', 1, 1))]);
  });

  it('in nested and flow mappings, with the full path', () => {
    expect(errorsOf('a:\n  b: 1\n  b: 2\n')).toEqual([error(3, 3, '$.a.b', duplicate('b', 2, 3))]);
    expect(errorsOf('roles: {x: 1, x: 2}\n')).toEqual([error(1, 15, '$.roles.x', duplicate('x', 1, 9))]);
  });

  it('core scalars: 1 and "1", true and "true" are the same key once loaded', () => {
    expect(errorsOf('1: a\n"1": b\n', CORE)).toEqual([error(2, 1, "$['1']", duplicate('1', 1, 1))]);
    expect(errorsOf('true: a\n"true": b\n', CORE)).toEqual([error(2, 1, '$.true', duplicate('true', 1, 1))]);
    expect(errorsOf('1: a\n0x1: b\n', CORE)).toEqual([error(2, 1, "$['1']", duplicate('1', 1, 1))]);
  });

  it('__proto__ twice is a duplicate too', () => {
    expect(errorsOf('__proto__: 1\n__proto__: 2\n')).toEqual([
      error(2, 1, '$.__proto__', duplicate('__proto__', 1, 1)),
    ]);
  });
});

describe('__proto__, constructor and prototype keys change nothing', () => {
  const snapshot = () => Object.getOwnPropertyNames(Object.prototype).sort();

  for (const options of [STRINGS, CORE]) {
    it(`are ordinary own keys (${options.scalars})`, () => {
      const before = snapshot();
      const r = load(
        '__proto__: {polluted: yes}\nconstructor: {prototype: {polluted: yes}}\nprototype: {polluted: yes}\nnested: {__proto__: {polluted: yes}}\n',
        options,
      );
      expect(r.errors).toEqual([]);
      const value = r.value as Record<string, unknown>;
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
      expect(snapshot()).toEqual(before);
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect(Object.keys(value)).toEqual(['__proto__', 'constructor', 'prototype', 'nested']);
      expect(Object.hasOwn(value, '__proto__')).toBe(true);
      expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).toEqual({ polluted: 'yes' });
      expect((value as { polluted?: unknown }).polluted).toBeUndefined();
      const nested = value.nested as Record<string, unknown>;
      expect(Object.getPrototypeOf(nested)).toBe(Object.prototype);
      expect(Object.hasOwn(nested, '__proto__')).toBe(true);
      expect(nested.polluted).toBeUndefined();
    });
  }
});

describe('multiple documents', () => {
  it('a second document is refused where it starts', () => {
    expect(errorsOf('a: b\n---\nc: d\n')).toEqual([error(2, 1, '$', SECOND_DOC)]);
    expect(errorsOf('---\na: b\n---\nc: d\n')).toEqual([error(3, 1, '$', SECOND_DOC)]);
    expect(errorsOf('a: b\n...\n---\nc: d\n')).toEqual([error(3, 1, '$', SECOND_DOC)]);
  });

  it('even an empty second document', () => {
    expect(errorsOf('a: b\n---\n')).toEqual([error(2, 1, '$', SECOND_DOC)]);
  });

  it('only the first document is read', () => {
    expect(load('a: b\n---\nc: d\n').value).toEqual({ a: 'b' });
  });

  it('one document with a leading `---` or a trailing `...` is fine', () => {
    expect(load('---\na: b\n')).toMatchObject({ value: { a: 'b' }, errors: [] });
    expect(load('a: b\n...\n')).toMatchObject({ value: { a: 'b' }, errors: [] });
  });
});

describe('size cap', () => {
  const sized = (bytes: number, unit = 'x') => {
    const unitBytes = Buffer.byteLength(unit);
    const text = `a: ${unit.repeat(Math.floor((bytes - 4) / unitBytes))}\n`;
    expect(Buffer.byteLength(text)).toBe(bytes);
    return text;
  };

  it('is 64 KiB by default', () => {
    expect(errorsOf(sized(65_537), { scalars: 'strings' })).toEqual([
      error(1, 1, '$', 'file is 65537 bytes; at most 65536 bytes are allowed'),
    ]);
    expect(errorsOf(sized(65_537), { scalars: 'strings', maxBytes: 65_537 })).toEqual([]);
  });

  it('64 KiB is allowed, 64 KiB + 1 byte is refused with a message naming the limit', () => {
    expect(errorsOf(sized(65_536))).toEqual([]);
    const r = load(sized(65_537));
    expect(r.value).toBeUndefined();
    expect(r.errors).toEqual([error(1, 1, '$', 'file is 65537 bytes; at most 65536 bytes are allowed')]);
  });

  it('counts UTF-8 bytes, not characters', () => {
    const two = sized(65_536, 'é');
    expect(two.length).toBeLessThan(40_000);
    expect(errorsOf(two)).toEqual([]);
    const over = sized(65_538, 'é');
    expect(over.length).toBeLessThan(40_000);
    expect(errorsOf(over)).toEqual([
      error(1, 1, '$', 'file is 65538 bytes; at most 65536 bytes are allowed'),
    ]);
    const emoji = sized(65_540, '🔥');
    expect(emoji.length).toBeLessThan(40_000);
    expect(errorsOf(emoji)[0]?.message).toBe('file is 65540 bytes; at most 65536 bytes are allowed');
  });

  it('the cap can be set per kind of file', () => {
    expect(errorsOf('a: 123456\n', { scalars: 'strings', maxBytes: 10 })).toEqual([]);
    expect(errorsOf('a: 1234567\n', { scalars: 'strings', maxBytes: 10 })).toEqual([
      error(1, 1, '$', 'file is 11 bytes; at most 10 bytes are allowed'),
    ]);
  });
});

describe('deep nesting', () => {
  const NESTED = 'nesting is deeper than 32 levels';

  it('10,000 nested flow sequences are an error, not a crash', () => {
    const n = 10_000;
    const r = load(`${'['.repeat(n)}${']'.repeat(n)}`);
    expect(r.errors).toContainEqual(expect.objectContaining({ line: 1, column: 34, message: NESTED }));
    expect(r.errors.every((e) => !e.message.startsWith('cannot read YAML'))).toBe(true);
  });

  it('10,000 nested flow mappings and block sequences too', () => {
    const n = 10_000;
    const maps = load(`${'{a: '.repeat(n)}x${'}'.repeat(n)}`);
    expect(maps.errors).toContainEqual(expect.objectContaining({ line: 1, column: 133, message: NESTED }));
    const seqs = load('- '.repeat(n));
    expect(seqs.errors).toContainEqual(expect.objectContaining({ line: 1, column: 67, message: NESTED }));
  });

  it('deep block mappings are refused at the first level too deep', () => {
    const text = Array.from({ length: 40 }, (_, i) => `${' '.repeat(i)}a:`).join('\n');
    const r = load(text);
    expect(r.errors).toEqual([error(34, 34, `$${'.a'.repeat(33)}`, NESTED)]);
  });

  it('the boundary: 33 nested sequences are read, 34 are not', () => {
    expect(errorsOf(`${'['.repeat(33)}${']'.repeat(33)}`)).toEqual([]);
    expect(errorsOf(`${'['.repeat(34)}${']'.repeat(34)}`)).toEqual([
      error(1, 34, `$${'[0]'.repeat(33)}`, NESTED),
    ]);
  });

  it('thousands of compact levels and a dedent overflowed the YAML parser: now refused where too deep', () => {
    // Before: the library's parser recursed once per level it closed ("cannot read YAML: Maximum call
    // stack size exceeded", at 1:1). Now the nesting is measured first and the library is not called.
    expect(errorsOf(`${'- '.repeat(10_000)}x\nb: 1\n`)).toEqual([error(1, 67, '$', NESTED)]);
    expect(errorsOf(`${'? '.repeat(10_000)}\nx\n`, CORE)).toEqual([error(1, 67, '$', NESTED)]);
    // Block nesting: a sequence under each key, 200 levels of each.
    const block = Array.from({ length: 200 }, (_, i) => `${'  '.repeat(i)}- a:`).join('\n');
    expect(errorsOf(`${block}\nb: 1\n`)).toEqual([error(17, 35, '$', NESTED)]);
  });

  it('deep flow nesting no longer aborts the process (V8 ran out of stack compiling a regexp: FATAL ERROR)', () => {
    // In a child process: the crash it guards against cannot be caught, it ends the process.
    const dir = mkdtempSync(join(tmpdir(), 'timebox-nesting-'));
    try {
      const script = join(dir, 'load.mts');
      const loader = pathToFileURL(join(ROOT, 'src/core/yaml-loader.ts')).href;
      writeFileSync(
        script,
        `import { loadYaml } from ${JSON.stringify(loader)};
for (const scalars of ['strings', 'core'])
  for (const unit of ['[', '{', '[{', '- [', '{a: ']) {
    const r = loadYaml(unit.repeat(5000), { scalars });
    if (!r.errors.some((e) => e.message === 'nesting is deeper than 32 levels')) throw new Error(unit);
  }
process.stdout.write('survived');
`,
      );
      const child = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8' });
      expect(child.stderr).not.toContain('FATAL ERROR');
      expect({ status: child.status, stdout: child.stdout }).toEqual({ status: 0, stdout: 'survived' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the nesting measured before the library never exceeds the real depth, nor half of it is missed (property)', () => {
    // Documents in every style the yaml library writes: block and flow, indents 1–8, sequences
    // indented or not, every scalar style (block scalars, multi-line quoted and plain scalars).
    const depthOf = (v: unknown): number =>
      v && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0;
    const leaf = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom('a b: c', 'x\ny', '- x', '[a', '? q', '#c', ' lead', '|', "'q'", '"d"', ''),
      fc.integer(),
    );
    const { tree } = fc.letrec<{ tree: unknown; arr: unknown[]; obj: Record<string, unknown> }>((tie) => ({
      tree: fc.oneof({ depthSize: 'large' }, leaf, tie('arr'), tie('obj')),
      arr: fc.array(tie('tree'), { maxLength: 4 }),
      obj: fc.dictionary(
        fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('a', '- x', 'k#')),
        tie('tree'),
        {
          maxKeys: 4,
        },
      ),
    }));
    fc.assert(
      fc.property(
        tree.filter((t) => typeof t === 'object' && t !== null),
        fc.integer({ min: 1, max: 8 }),
        fc.boolean(),
        fc.constantFrom('any', 'block', 'flow'),
        fc.constantFrom('PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE', 'BLOCK_LITERAL', 'BLOCK_FOLDED'),
        fc.integer({ min: 0, max: 40 }),
        fc.array(fc.boolean(), { maxLength: 20 }),
        (value, indent, indentSeq, collectionStyle, defaultStringType, lineWidth, flows) => {
          const doc = new Document(value);
          let i = 0;
          visit(doc, {
            Collection(_, node) {
              if (flows.length > 0) node.flow = flows[i++ % flows.length] as boolean;
            },
          });
          const text = doc.toString({
            indent,
            indentSeq,
            collectionStyle: collectionStyle as 'any',
            defaultStringType: defaultStringType as 'PLAIN',
            lineWidth,
            minContentWidth: 0,
          });
          let real: number;
          try {
            real = depthOf(parse(text));
          } catch {
            return; // the library wrote something it cannot read back (tiny indents and widths)
          }
          const { depth } = scanNesting(text, 1000);
          expect(depth).toBeLessThanOrEqual(real);
          expect(real).toBeLessThanOrEqual(2 * depth + 1);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('maxDepth counts every node below the root, scalars included', () => {
    const options: LoadOptions = { scalars: 'strings', maxDepth: 2 };
    expect(errorsOf('a: {b: c}\n', options)).toEqual([]);
    expect(errorsOf('a: {b: {c: d}}\n', options)).toEqual([
      error(1, 12, '$.a.b.c', 'nesting is deeper than 2 levels'),
    ]);
  });
});

describe('byte order mark and line endings', () => {
  it('a BOM is skipped and not counted as a column', () => {
    const r = load('\ufeffrequester: &a alice\n');
    expect(r.errors).toEqual([error(1, 12, '$.requester', ANCHOR)]);
    expect(Object.keys(r.value as object)).toEqual(['requester']);
  });

  it('a BOM alone is an empty file', () => {
    expect(errorsOf('\ufeff')).toEqual([error(1, 1, '$', EMPTY)]);
  });

  it('CRLF line endings keep line numbers right and leave no \\r in values', () => {
    const r = load('a: b\r\nc: d\r\ne: &x f\r\ng: *x\r\n');
    expect(r.errors).toEqual([error(3, 4, '$.e', ANCHOR), error(4, 4, '$.g', ALIAS)]);
    expect((r.value as Record<string, unknown>).a).toBe('b');
    expect(errorsOf('a: b\r\nc: d\r\na: e\r\n')).toEqual([error(3, 1, '$.a', duplicate('a', 1, 1))]);
  });

  it('CRLF inside a block scalar', () => {
    const r = load('reason: |\r\n  line1\r\n  line2\r\nx: *a\r\n');
    expect(r.errors).toEqual([error(4, 4, '$.x', ALIAS)]);
    expect((r.value as Record<string, unknown>).reason).toBe('line1\nline2\n');
  });
});

describe('keys that are not plain strings', () => {
  it('a sequence as an explicit key', () => {
    expect(load('? [a]\n: b\n')).toMatchObject({ value: {}, errors: [error(1, 3, '$', KEYS)] });
    expect(errorsOf('? - a\n: b\n')).toEqual([error(1, 3, '$', KEYS)]);
  });

  it('a mapping or a sequence as an implicit key', () => {
    expect(errorsOf('{a: 1}: x\n')).toEqual([error(1, 1, '$', KEYS)]);
    expect(errorsOf('[a, b]: x\n')).toEqual([error(1, 1, '$', KEYS)]);
  });

  it('nested, with the path of the mapping', () => {
    expect(errorsOf('roles:\n  ? {x: y}\n  : z\n')).toEqual([error(2, 5, '$.roles', KEYS)]);
  });

  it('an alias as a key', () => {
    expect(errorsOf('a: &x b\n*x : c\n')).toEqual([error(1, 4, '$.a', ANCHOR), error(2, 1, '$', KEYS)]);
  });
});

describe('empty files', () => {
  for (const [name, text] of [
    ['nothing', ''],
    ['only comments', '# a comment\n# another\n'],
    ['only blank lines', '\n   \n\n'],
    ['only a document marker', '---\n'],
    ['start and end markers', '---\n...\n'],
    ['a marker and a comment', '--- # nothing here\n'],
  ] as const) {
    it(`${name} is "file is empty"`, () => {
      expect(load(text)).toMatchObject({ value: undefined, errors: [error(1, 1, '$', EMPTY)] });
      expect(load(text, CORE)).toMatchObject({ value: undefined, errors: [error(1, 1, '$', EMPTY)] });
    });
  }

  it('an empty quoted string is a value, not an empty file', () => {
    expect(load('""\n')).toMatchObject({ value: '', errors: [] });
  });
});

describe('syntax errors from the parser', () => {
  it('are positioned and never throw', () => {
    expect(errorsOf('a:\n\tb: c\n')).toEqual([error(2, 1, '$', expect.stringContaining('Tab'))]);
    expect(errorsOf('a: [\n')).toEqual([error(2, 1, '$', expect.stringContaining('Flow sequence'))]);
  });
});

describe('locate and locateKey', () => {
  const r = load('rules:\n  - name: a\n    roles: [x, y]\nother: 1\n');

  it('locate finds the value at a path', () => {
    expect(r.locate([])).toEqual({ line: 1, column: 1 });
    expect(r.locate(['rules', 0])).toEqual({ line: 2, column: 5 });
    expect(r.locate(['rules', 0, 'name'])).toEqual({ line: 2, column: 11 });
    expect(r.locate(['rules', 0, 'roles', 1])).toEqual({ line: 3, column: 16 });
  });

  it('locate falls back to the nearest existing ancestor', () => {
    expect(r.locate(['rules', 0, 'missing'])).toEqual({ line: 2, column: 5 });
    expect(r.locate(['rules', 5])).toEqual({ line: 2, column: 3 });
    expect(r.locate(['nope', 'deeper'])).toEqual({ line: 1, column: 1 });
  });

  it('locateKey finds the key', () => {
    expect(r.locateKey(['other'])).toEqual({ line: 4, column: 1 });
    expect(r.locateKey(['rules', 0, 'roles'])).toEqual({ line: 3, column: 5 });
    expect(r.locateKey(['rules', 0, 'missing'])).toEqual({ line: 2, column: 5 });
  });
});

describe('formatPath', () => {
  it.each([
    [[], '$'],
    [['rules', 0, 'name'], '$.rules[0].name'],
    [[0, 1], '$[0][1]'],
    [['_x1', 'Y'], '$._x1.Y'],
    [['roles', 'read-only'], "$.roles['read-only']"],
    [['a', '0'], "$.a['0']"],
    [['1a'], "$['1a']"],
    [[''], "$['']"],
    [['a b'], "$['a b']"],
    [['é'], "$['é']"],
    [['a"b'], `$['a"b']`],
    [["it's"], "$['it\\'s']"],
    [['a\\b'], "$['a\\\\b']"],
    [["\\'"], "$['\\\\\\'']"],
    [['line\nbreak'], "$['line\\u000abreak']"],
    [['nul\u0000'], "$['nul\\u0000']"],
  ] as const)('%j → %s', (path, expected) => {
    expect(formatPath(path)).toBe(expected);
  });
});

describe('pointerToPath', () => {
  it.each([
    ['', []],
    ['/rules/0/name', ['rules', '0', 'name']],
    ['/a~1b', ['a/b']],
    ['/c~0d', ['c~d']],
    ['/~01', ['~1']],
    ['/~10', ['/0']],
    ['/', ['']],
    ['/a/', ['a', '']],
    ['/__proto__', ['__proto__']],
  ] as const)('%j → %j', (pointer, expected) => {
    expect(pointerToPath(pointer)).toEqual(expected);
  });
});

describe('properties (fast-check)', () => {
  const FRAGMENTS = [
    '&',
    '&a ',
    '*',
    '*a',
    '<<',
    '<<: ',
    '%YAML 1.2',
    '%TAG ! !',
    '---',
    '...',
    '!!',
    '!!str ',
    '!',
    '!<x>',
    '{',
    '}',
    '[',
    ']',
    ',',
    ': ',
    ':',
    '- ',
    '? ',
    '\n',
    '\r\n',
    '\r',
    '\t',
    '  ',
    '"',
    "'",
    '#',
    '|',
    '>',
    '|-',
    'a',
    'key',
    '0123',
    '__proto__',
    '\ufeff',
    '\\',
    '\u0000',
    '\u2028',
    'é',
    '🔥',
  ];
  const yamlish = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 40 }).map((parts) => parts.join(''));
  const anyText = fc.oneof(
    fc.string(),
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: 'binary' }),
    yamlish,
  );

  /** Never through the last-line-of-defence catch: the loader itself handles every input. */
  const handled = (text: string, options: LoadOptions) => {
    const r = loadYaml(text, options);
    expect(Array.isArray(r.errors)).toBe(true);
    expect(r.errors.filter((e) => e.message.startsWith('cannot read YAML'))).toEqual([]);
    return r;
  };

  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        handled(s, STRINGS);
        handled(s, CORE);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        handled(s, STRINGS);
        handled(s, CORE);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on strings built from YAML-significant fragments', () => {
    fc.assert(
      fc.property(yamlish, (s) => {
        handled(s, STRINGS);
        handled(s, CORE);
      }),
      { numRuns: 1000 },
    );
  });

  it('every error has a line and column inside the input and a message', () => {
    fc.assert(
      fc.property(anyText, fc.constantFrom(STRINGS, CORE), (s, options) => {
        const lines = s.replace(/^\ufeff/, '').split('\n');
        for (const e of handled(s, options).errors) {
          expect(Number.isInteger(e.line) && Number.isInteger(e.column)).toBe(true);
          expect(e.line).toBeGreaterThanOrEqual(1);
          expect(e.column).toBeGreaterThanOrEqual(1);
          expect(e.line).toBeLessThanOrEqual(lines.length + 1);
          expect(e.column).toBeLessThanOrEqual((lines[e.line - 1] ?? '').length + 1);
          expect(e.message.trim()).not.toBe('');
          expect(e.path.startsWith('$')).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('request files yield only strings, lists and plain objects, and never pollute Object.prototype', () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const check = (v: unknown): void => {
      if (v === undefined || typeof v === 'string') return;
      if (Array.isArray(v)) {
        for (const x of v) check(x);
        return;
      }
      expect(typeof v).toBe('object');
      expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
      for (const x of Object.values(v as object)) check(x);
    };
    fc.assert(
      fc.property(yamlish, (s) => {
        check(handled(s, STRINGS).value);
      }),
      { numRuns: 1000 },
    );
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
  });

  it('a plain scalar is read back as exactly the string written', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9][a-z0-9._+-]{0,20}$/), (s) => {
        expect(load(`key: ${s}\n`)).toMatchObject({ value: { key: s }, errors: [] });
      }),
      { numRuns: 500 },
    );
  });
});

describe('regressions found by property tests', () => {
  it('an error at the end of a line stays on that line', () => {
    const text = '*\n{>\n&: ';
    const lines = text.split('\n');
    for (const e of loadYaml(text, { scalars: 'strings' }).errors) {
      expect(e.column).toBeLessThanOrEqual((lines[e.line - 1] ?? '').length + 1);
    }
  });
});
