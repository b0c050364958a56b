// A hardened YAML loader for request and policy files (SPEC "Request files are hostile input").
// Pure: text in, value and positioned errors out. It never throws on any input.
import {
  type Document,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
} from 'yaml';

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

export const DEFAULT_MAX_BYTES = 64 * 1024;
const DEFAULT_MAX_DEPTH = 32;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `['rules', 0, 'name']` → `$.rules[0].name`; odd keys are quoted: `$.roles['read-only']`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '$';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENTIFIER.test(seg)) out += `.${seg}`;
    else out += `[${JSON.stringify(seg).replace(/^"|"$/g, "'")}]`;
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

  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, {
    schema: options.scalars === 'strings' ? 'failsafe' : 'core',
    uniqueKeys: true,
    merge: false,
    lineCounter,
    prettyErrors: false,
    strict: true,
    keepSourceTokens: false,
  });
  const pos = (offset: number): Position => {
    const p = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
    return { line: p.line, column: p.col };
  };
  const errors: FileError[] = [];
  const err = (offset: number, path: readonly PathSegment[], message: string) =>
    errors.push({ ...pos(offset), path: formatPath(path), message });

  const list = Array.isArray(docs) ? docs : [docs];
  const doc = list[0] as Document.Parsed | undefined;
  if (!doc) return emptyLoad([{ line: 1, column: 1, path: '$', message: 'file is empty' }]);
  if (list.length > 1) {
    const second = list[1] as Document.Parsed;
    err(second.range[0], [], 'only one YAML document is allowed per file (found a second `---` document)');
  }
  for (const e of doc.errors) err(e.pos[0], [], yamlMessage(e.code, e.message));
  for (const w of doc.warnings) err(w.pos[0], [], yamlMessage(w.code, w.message));

  const directive = /^%/m.exec(text);
  if (directive && (doc.directives.yaml.explicit || hasTagDirective(doc))) {
    err(directive.index, [], 'YAML directives (`%YAML`, `%TAG`) are not allowed');
  }

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
  const offsetOf = (node: Node | null): number => node?.range?.[0] ?? 0;
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

  const toValue = (node: unknown, path: PathSegment[], depth: number): unknown => {
    if (node === null || node === undefined) return options.scalars === 'strings' ? '' : null;
    const n = node as Node;
    const at = offsetOf(n);
    if (depth > maxDepth) {
      err(at, path, `nesting is deeper than ${maxDepth} levels`);
      return undefined;
    }
    if (isAlias(n)) {
      err(at, path, 'aliases (`*name`) are not allowed');
      return undefined;
    }
    if ((n as { anchor?: string }).anchor) err(at, path, 'anchors (`&name`) are not allowed');
    if ((n as { tag?: string }).tag)
      err(at, path, `explicit tags (\`${(n as { tag?: string }).tag}\`) are not allowed`);
    if (isScalar(n)) {
      if (options.scalars === 'strings') {
        return n.value === null || n.value === undefined ? '' : String(n.value);
      }
      return n.value;
    }
    if (isSeq(n)) return n.items.map((item, i) => toValue(item, [...path, i], depth + 1));
    if (isMap(n)) {
      const obj: Record<string, unknown> = {};
      for (const pair of n.items) {
        if (!isPair(pair)) continue;
        const key = pair.key;
        if (!isScalar(key) || isCollection(key)) {
          err(offsetOf(key as Node), path, 'mapping keys must be plain strings');
          continue;
        }
        if (key.anchor) err(offsetOf(key), path, 'anchors (`&name`) are not allowed');
        if (key.tag) err(offsetOf(key), path, `explicit tags (\`${key.tag}\`) are not allowed`);
        if (key.value === null || key.value === undefined || typeof key.value === 'object') {
          err(offsetOf(key), path, 'mapping keys must be plain strings');
          continue;
        }
        const name = String(key.value);
        if (name === '<<' && key.type === 'PLAIN') {
          err(offsetOf(key), path, 'merge keys (`<<`) are not allowed');
          continue;
        }
        // defineProperty: a key such as `__proto__` becomes an ordinary own property and changes nothing.
        Object.defineProperty(obj, name, {
          value: toValue(pair.value, [...path, name], depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return obj;
    }
    err(at, path, 'unsupported YAML node');
    return undefined;
  };

  if (doc.contents === null) {
    errors.push({ line: 1, column: 1, path: '$', message: 'file is empty' });
    return { value: undefined, errors, locate, locateKey };
  }
  const value = toValue(doc.contents, [], 0);
  errors.sort((a, b) => a.line - b.line || a.column - b.column);
  return {
    value: errors.length > 0 && value === undefined ? undefined : value,
    errors: dedupe(errors),
    locate,
    locateKey,
  };
}

function hasTagDirective(doc: Document.Parsed): boolean {
  const tags = doc.directives.tags;
  return Object.keys(tags).some((k) => k !== '!!' || tags[k] !== 'tag:yaml.org,2002:');
}

function yamlMessage(code: string, message: string): string {
  switch (code) {
    case 'DUPLICATE_KEY':
      return 'duplicate key: each key may appear only once in a mapping';
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
