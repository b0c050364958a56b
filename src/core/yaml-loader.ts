// A hardened YAML loader for request and policy files (SPEC "Request files are hostile input").
// Pure: text in, value and positioned errors out. It never throws on any input.
import {
  Composer,
  type CST,
  type Document,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  Lexer,
  type Node,
  Parser,
  type YAMLMap,
} from 'yaml';
import { fastValue } from './yaml-fast.js';

export type PathSegment = string | number;

export interface Position {
  line: number;
  column: number;
}

/** One problem in a file, 1-based line and column, JSONPath-like `path` (`$.rules[0].name`). */
export interface FileError extends Position {
  path: string;
  message: string;
}

export interface LoadOptions {
  /** `strings`: every scalar is the string it was written as (requests); `core`: YAML 1.2 core types (policies). */
  scalars: 'strings' | 'core';
  /** Default 64 KiB. */
  maxBytes?: number;
  /** Maximum nesting of mappings and sequences. Default 32. */
  maxDepth?: number;
  /** `false`: always compose the document (tests compare this path with the fast one). Default true. */
  fast?: boolean;
}

export interface LoadedYaml {
  /** The plain JS value, or undefined when the file could not be read as one document. */
  value: unknown;
  errors: FileError[];
  /** Position of the node at `path`, or of its nearest existing ancestor. */
  locate(path: readonly PathSegment[]): Position;
  /** Position of the key of the last segment (for "unknown field"), falling back to `locate`. */
  locateKey(path: readonly PathSegment[]): Position;
}

const DEFAULT_MAX_BYTES = 64 * 1024;
const DEFAULT_MAX_DEPTH = 32;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `['rules', 0, 'name']` → `$.rules[0].name`; odd keys are quoted: `$.roles['read-only']`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '$';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENTIFIER.test(seg)) out += `.${seg}`;
    else out += `['${escapeKey(seg)}']`;
  }
  return out;
}

/** Inside single quotes: `\` and `'` escaped, control characters as `\uXXXX`. */
function escapeKey(key: string): string {
  let out = '';
  for (const c of key) {
    const code = c.charCodeAt(0);
    if (c === '\\' || c === "'") out += `\\${c}`;
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return out;
}

/** JSON pointer (ajv `instancePath`) → path segments; numeric segments become numbers only inside sequences. */
export function pointerToPath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function emptyLoad(errors: FileError[]): LoadedYaml {
  const origin = { line: 1, column: 1 };
  return { value: undefined, errors, locate: () => origin, locateKey: () => origin };
}

export function loadYaml(text: string, options: LoadOptions): LoadedYaml {
  try {
    return loadUnsafe(text, options);
  } catch (err) {
    // The yaml library reports problems as errors, not throws; this is a last line of defence.
    const message = err instanceof Error ? err.message : String(err);
    return emptyLoad([{ line: 1, column: 1, path: '$', message: `cannot read YAML: ${message}` }]);
  }
}

function loadUnsafe(text: string, options: LoadOptions): LoadedYaml {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const size = Buffer.byteLength(text, 'utf8');
  if (size > maxBytes) {
    return emptyLoad([
      {
        line: 1,
        column: 1,
        path: '$',
        message: `file is ${size} bytes; at most ${maxBytes} bytes are allowed`,
      },
    ]);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const pos = positionsIn(text);

  // The yaml library's parser and composer recurse once or more per level of nesting: a few KB of `[[[…`
  // or `- - - …` overflow the stack (at worst inside V8's regexp compiler, which aborts the process). Measure
  // the nesting before the library sees the text, and refuse what is far too deep.
  // One pass of the lexer serves both the measure and the parser.
  const lexemes = Array.from(new Lexer().lex(text));
  const deep = scanNesting(lexemes, maxDepth);
  if (deep.refuse) {
    return emptyLoad([
      { ...pos(deep.offset ?? 0), path: '$', message: `nesting is deeper than ${maxDepth} levels` },
    ]);
  }

  const tokens = parse(lexemes);
  if (options.fast !== false) {
    // The common block style, read straight from the syntax tree (src/core/yaml-fast.ts). Positions are found
    // in that tree too; only an empty value's position is left to the composer (the document is composed).
    const fast = fastValue(tokens, maxDepth, options.scalars);
    if (fast) {
      let full: LoadedYaml | undefined;
      const slow = () => (full ??= loadUnsafe(text, { ...options, fast: false }));
      const { locate, locateKey } = fast.locators;
      const or = (at: number | null, composed: () => Position) => (at === null ? composed() : pos(at));
      return {
        value: fast.value,
        errors: [],
        locate: (p) => or(locate(p), () => slow().locate(p)),
        locateKey: (p) => or(locateKey(p), () => slow().locateKey(p)),
      };
    }
  }
  const docs = compose(tokens, options.scalars);
  // Anchors, tags and directives as written: nodes know their own range, not where their `&a` or `!t` is.
  // Without any of these characters there can be no anchor, tag or directive: skip the walk.
  const props = /[&!%]/.test(text) ? findProps(tokens) : { anchor: [], tag: [], directive: [] };
  const errors: FileError[] = [];
  const err = (offset: number, path: readonly PathSegment[], message: string) =>
    errors.push({ ...pos(offset), path: formatPath(path), message });

  const doc = docs[0] as Document.Parsed | undefined;
  for (const offset of props.directive) err(offset, [], 'YAML directives (`%YAML`, `%TAG`) are not allowed');
  if (!doc) {
    if (errors.length > 0) return emptyLoad(errors);
    return emptyLoad([{ line: 1, column: 1, path: '$', message: 'file is empty' }]);
  }
  if (docs.length > 1) {
    const second = docs[1] as Document.Parsed;
    err(second.range[0], [], 'only one YAML document is allowed per file (found a second `---` document)');
  }
  const tagFallback = libraryErrors(doc, text, props, pos, errors);
  const { locate, locateKey } = locators(doc, pos);

  const root = doc.contents as Node | null;
  if (isBlank(root)) {
    errors.push({ line: 1, column: 1, path: '$', message: 'file is empty' });
    errors.sort((a, b) => a.line - b.line || a.column - b.column);
    return { value: undefined, errors: dedupe(errors), locate, locateKey };
  }
  const value = toValue({ scalars: options.scalars, maxDepth, props, pos, err }, root, [], 0);
  for (const e of tagFallback) {
    if (!errors.some((x) => x.line === e.line && x.column === e.column)) errors.push(e);
  }
  errors.sort((a, b) => a.line - b.line || a.column - b.column);
  return {
    value: errors.length > 0 && value === undefined ? undefined : value,
    errors: dedupe(errors),
    locate,
    locateKey,
  };
}

/** Offset → line and column, from our own line table (lines end at \n, as editors count them), clamped to the text. */
function positionsIn(text: string): (offset: number) => Position {
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  return (offset) => {
    const at = Math.max(0, Math.min(offset, text.length));
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] as number) <= at) lo = mid;
      else hi = mid - 1;
    }
    const start = lineStarts[lo] as number;
    const end = lo + 1 < lineStarts.length ? (lineStarts[lo + 1] as number) - 1 : text.length;
    return { line: lo + 1, column: Math.min(at, end) - start + 1 };
  };
}

/** The lexemes parsed into the concrete syntax tree (kept: it says where props are written). */
function parse(lexemes: readonly string[]): CST.Token[] {
  const parser = new Parser();
  const tokens: CST.Token[] = [];
  for (const lexeme of lexemes) for (const token of parser.next(lexeme)) tokens.push(token);
  for (const token of parser.end()) tokens.push(token);
  return tokens;
}

/** The syntax tree composed into documents. */
function compose(tokens: readonly CST.Token[], scalars: LoadOptions['scalars']): Document.Parsed[] {
  const composer = new Composer({
    schema: scalars === 'strings' ? 'failsafe' : 'core',
    // Duplicate keys are found in toValue, by the key's name as it ends up in the value (core: `1` and "1").
    uniqueKeys: false,
    merge: false,
    prettyErrors: false,
    strict: true,
    keepSourceTokens: false,
  });
  return Array.from(composer.compose(tokens));
}

/**
 * The library's errors and warnings, added to `errors`; returns its tag errors apart, a fallback for the ones
 * toValue reports where the tag is written.
 */
function libraryErrors(
  doc: Document.Parsed,
  text: string,
  props: Props,
  pos: (offset: number) => Position,
  errors: FileError[],
): FileError[] {
  const tagFallback: FileError[] = [];
  let indentSaid = false;
  for (const e of [...doc.errors, ...doc.warnings]) {
    if (e.code === 'BAD_DIRECTIVE' && props.directive.length > 0) continue;
    if (e.code === 'BLOCK_AS_IMPLICIT_KEY' || e.code === 'MULTILINE_IMPLICIT_KEY') {
      // A line indented deeper than the key above it, which already has a value: the library says so twice,
      // at the value above. Say it once, at the line that is indented wrong.
      if (indentSaid) continue;
      indentSaid = true;
      const wrong = overIndentedLine(text, e.pos[0]);
      if (wrong) {
        errors.push({ line: wrong.line, column: wrong.column, path: '$', message: wrong.message });
        continue;
      }
    }
    if (e.code === 'TAG_RESOLVE_FAILED') {
      tagFallback.push({ ...pos(e.pos[0]), path: '$', message: yamlMessage(e.code, e.message) });
      continue;
    }
    errors.push({ ...pos(e.pos[0]), path: formatPath([]), message: yamlMessage(e.code, e.message) });
  }
  return tagFallback;
}

const offsetOf = (node: Node | null): number => node?.range?.[0] ?? 0;

/** `locate` and `locateKey` of a LoadedYaml, over the document's nodes. */
function locators(
  doc: Document.Parsed,
  pos: (offset: number) => Position,
): Pick<LoadedYaml, 'locate' | 'locateKey'> {
  const locateNode = (path: readonly PathSegment[]): Node | null => {
    let node: unknown = doc.contents;
    let last: Node | null = (doc.contents as Node | null) ?? null;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) return last;
        node = pair.value;
      } else if (isSeq(node)) {
        node = node.items[Number(seg)];
      } else return last;
      if (node && typeof node === 'object' && 'range' in node) last = node as Node;
      else return last;
    }
    return last;
  };
  const locate = (path: readonly PathSegment[]) => pos(offsetOf(locateNode(path)));
  const locateKey = (path: readonly PathSegment[]): Position => {
    if (path.length === 0) return locate(path);
    const parent = locateNode(path.slice(0, -1));
    const seg = String(path[path.length - 1]);
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === seg);
      if (pair && isScalar(pair.key) && pair.key.range) return pos(pair.key.range[0]);
    }
    return locate(path);
  };
  return { locate, locateKey };
}

/** No content at all: nothing, or an empty plain scalar without anchor or tag. */
function isBlank(root: Node | null): boolean {
  return (
    root === null ||
    (isScalar(root) &&
      root.type === 'PLAIN' &&
      root.range?.[0] === root.range?.[1] &&
      !root.anchor &&
      !root.tag)
  );
}

/** What toValue needs: the options, where props are written, and where to report. */
interface Walk {
  scalars: LoadOptions['scalars'];
  maxDepth: number;
  props: Props;
  pos: (offset: number) => Position;
  err: (offset: number, path: readonly PathSegment[], message: string) => void;
}

/** Anchor and tag errors, positioned at the `&name` / `!tag` written before the node. */
function checkProps(w: Walk, n: Node, path: readonly PathSegment[]): void {
  const at = offsetOf(n);
  if (n.anchor) w.err(lastAtOrBefore(w.props.anchor, at) ?? at, path, 'anchors (`&name`) are not allowed');
  if (n.tag)
    w.err(lastAtOrBefore(w.props.tag, at) ?? at, path, `explicit tags (\`${n.tag}\`) are not allowed`);
}

/** The node as a plain JS value, reporting what the hardened loader refuses. */
function toValue(w: Walk, node: unknown, path: PathSegment[], depth: number): unknown {
  if (node === null || node === undefined) return w.scalars === 'strings' ? '' : null;
  const n = node as Node;
  const at = offsetOf(n);
  if (depth > w.maxDepth) {
    w.err(at, path, `nesting is deeper than ${w.maxDepth} levels`);
    return undefined;
  }
  if (isAlias(n)) {
    w.err(at, path, 'aliases (`*name`) are not allowed');
    return undefined;
  }
  checkProps(w, n, path);
  if (isScalar(n)) {
    if (w.scalars === 'strings') {
      return n.value === null || n.value === undefined ? '' : String(n.value);
    }
    return n.value;
  }
  if (isSeq(n)) return n.items.map((item, i) => toValue(w, item, [...path, i], depth + 1));
  if (isMap(n)) return mapToValue(w, n, path, depth);
  w.err(at, path, 'unsupported YAML node');
  return undefined;
}

function mapToValue(w: Walk, n: YAMLMap, path: PathSegment[], depth: number): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  const seen = new Map<string, number>();
  for (const pair of n.items) {
    if (!isPair(pair)) continue;
    const key = pair.key;
    if (!isScalar(key) || isCollection(key)) {
      w.err(offsetOf(key as Node), path, 'mapping keys must be plain strings');
      continue;
    }
    checkProps(w, key, path);
    if (key.value === null || key.value === undefined || typeof key.value === 'object') {
      w.err(offsetOf(key), path, 'mapping keys must be plain strings');
      continue;
    }
    const name = String(key.value);
    if (name === '<<' && key.type === 'PLAIN') {
      w.err(offsetOf(key), path, 'merge keys (`<<`) are not allowed');
      continue;
    }
    const first = seen.get(name);
    if (first !== undefined) {
      const p = w.pos(first);
      w.err(
        offsetOf(key),
        [...path, name],
        `duplicate key \`${name}\`: each key may appear only once in a mapping (first at line ${p.line}, column ${p.column})`,
      );
      continue;
    }
    seen.set(name, offsetOf(key));
    // defineProperty: a key such as `__proto__` becomes an ordinary own property and changes nothing.
    Object.defineProperty(obj, name, {
      value: toValue(w, pair.value, [...path, name], depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return obj;
}

/**
 * How deep the text (or its lexemes) nests, from the lexer alone (a flat state machine, safe on any
 * input): open flow brackets plus the block collections still open by indentation (`-`, `?` and
 * `key:` push one at their column; a line starting at a column closes those at or right of it, except
 * that a `-` or `:` may sit at the column of the mapping that holds it). The count never exceeds the
 * real depth (a flow pair `[a: b]` or a flow key is not counted), and the real depth is at most about
 * twice the count. `depth` is the greatest count, `offset` where it first passes `maxDepth + 1`
 * collections (a node deeper than `maxDepth`, as `toValue` counts), and `refuse` is set once it passes
 * about twice that (the scan stops there): only then is the library not called, so that documents a
 * little too deep still get the precise error (with its path) from `toValue`.
 */
export function scanNesting(
  source: string | readonly string[],
  maxDepth: number,
): { depth: number; offset: number | null; refuse: boolean } {
  const soft = maxDepth + 1;
  const hard = Math.max(64, 2 * soft);
  const open: { col: number; map: boolean }[] = [];
  let flow = 0;
  let offset = 0;
  let lineStart = 0;
  let first = true;
  let afterValue = false;
  let key: { col: number; at: number } | null = null;
  let scalarNext = false;
  let tooDeep: number | null = null;
  let most = 0;
  const deeper = (at: number): boolean => {
    const depth = open.length + flow;
    if (depth > most) most = depth;
    if (depth > soft && tooDeep === null) tooDeep = at;
    return depth > hard;
  };
  for (const token of typeof source === 'string' ? new Lexer().lex(source) : source) {
    const at = offset;
    // Control tokens (document, scalar and flow-error markers) take no room in the text.
    if (token === '\x02' || token === '\x1f' || token === '\x18') {
      if (token === '\x02') open.length = 0;
      if (token === '\x18') flow = 0;
      scalarNext = token === '\x1f';
      continue;
    }
    offset += token.length;
    const c = token[0];
    const scalar = scalarNext || c === '"' || c === "'" || c === '*';
    scalarNext = false;
    if (!scalar) {
      if (token === '\n' || token === '\r\n' || token === '') {
        lineStart = offset;
        first = true;
        afterValue = false;
        key = null;
        continue;
      }
      if (c === ' ' || c === '\t' || c === '#' || c === '%' || c === '\ufeff') continue;
      if (token === '---' || token === '...') {
        open.length = 0;
        flow = 0;
        continue;
      }
    }
    if (flow > 0) {
      first = false;
      if (!scalar && (token === '[' || token === '{')) {
        flow += 1;
        if (deeper(at)) return { depth: most, offset: tooDeep, refuse: true };
      } else if (!scalar && (token === ']' || token === '}')) flow -= 1;
    } else {
      const col = at - lineStart;
      // Block scalar content (`|`, `>`) starts with its indentation: it continues its node, opens nothing.
      const content = scalar && (c === ' ' || c === '\t' || c === '\n' || c === '\r');
      if (first && !content) {
        while (open.length > 0) {
          const top = open.at(-1) as { col: number; map: boolean };
          if (top.col < col || (top.col === col && top.map && (token === '-' || token === ':'))) break;
          open.pop();
        }
      }
      first = false;
      if (scalar) {
        // A key if `:` follows.
        key = afterValue || content ? null : { col, at };
      } else {
        if ((token === '-' || token === '?') && !afterValue) {
          open.push({ col, map: token === '?' });
          if (deeper(at)) return { depth: most, offset: tooDeep, refuse: true };
        } else if (token === ':' && key !== null) {
          open.push({ col: key.col, map: true });
          afterValue = true;
          if (deeper(key.at)) return { depth: most, offset: tooDeep, refuse: true };
        } else if (token === '[' || token === '{') {
          flow = 1;
          if (deeper(at)) return { depth: most, offset: tooDeep, refuse: true };
        }
        key = null;
      }
    }
    // Multi-line scalars: the next token's column counts from their last line.
    const nl = token.lastIndexOf('\n');
    if (nl !== -1) {
      lineStart = at + nl + 1;
      first = nl === token.length - 1;
    }
  }
  return { depth: most, offset: tooDeep, refuse: false };
}

interface Props {
  anchor: number[];
  tag: number[];
  directive: number[];
}

/** Offsets of every anchor, tag and directive in the concrete syntax tree (iterative: nesting may be deep). */
function findProps(tokens: readonly unknown[]): Props {
  const found: Props = { anchor: [], tag: [], directive: [] };
  const stack: unknown[] = [...tokens];
  while (stack.length > 0) {
    const t = stack.pop();
    if (!t || typeof t !== 'object') continue;
    if (Array.isArray(t)) {
      for (const x of t) stack.push(x);
      continue;
    }
    const { type, offset } = t as { type?: unknown; offset?: unknown };
    if ((type === 'anchor' || type === 'tag' || type === 'directive') && typeof offset === 'number') {
      found[type].push(offset);
    }
    for (const v of Object.values(t)) if (v && typeof v === 'object') stack.push(v);
  }
  for (const list of Object.values(found)) list.sort((a: number, b: number) => a - b);
  return found;
}

/** The greatest offset in the sorted `list` that is `<= at`, if any. */
function lastAtOrBefore(list: readonly number[], at: number): number | undefined {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid] as number) <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 ? list[lo - 1] : undefined;
}

/**
 * The first line after `offset`'s line that is indented deeper than that line (the key above already has a
 * value on its own line, so the deeper line can belong to nothing).
 */
function overIndentedLine(
  text: string,
  offset: number,
): { line: number; column: number; message: string } | null {
  const lines = text.split('\n');
  const at = text.slice(0, offset).split('\n').length - 1;
  const indent = (l: string) => l.length - l.trimStart().length;
  const above = lines[at] ?? '';
  for (let i = at + 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    if (indent(line) <= indent(above)) return null;
    const key = /^\s*([^:#\s][^:#]*?)\s*:/.exec(above)?.[1];
    return {
      line: i + 1,
      column: indent(line) + 1,
      message: `indented ${indent(line)} space${indent(line) === 1 ? '' : 's'}, deeper than the line above (${indent(above)})${key ? `, whose \`${key}\` already has a value` : ''}: fields of one mapping must start in the same column`,
    };
  }
  return null;
}

function yamlMessage(code: string, message: string): string {
  switch (code) {
    case 'RESOURCE_EXHAUSTION':
      return 'nesting is too deep to read';
    case 'TAG_RESOLVE_FAILED':
      return 'explicit tags are not allowed';
    default:
      return message.replace(/\s+at line \d+, column \d+:?[\s\S]*$/, '').trim();
  }
}

function dedupe(errors: FileError[]): FileError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = `${e.line}:${e.column}:${e.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
