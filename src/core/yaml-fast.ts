// The hardened loader's fast path: the plain value of a document written in the common block style, read
// straight from the yaml library's concrete syntax tree (its lexer and parser), without building the
// library's document nodes. It takes only shapes it can prove the composer reads without an error or a
// warning, and the same value as the composer and `toValue` would give; on anything else it answers
// `null` and the loader composes the document as always (test/core/yaml-fast.test.ts compares both paths
// on generated and mutated documents). Scalars are read as the loader's two modes read them: as written
// (`strings`, requests) or by YAML 1.2's core schema (`core`, policies), through the library's own tags.
import { CST, isScalar, Schema } from 'yaml';

type Item = CST.CollectionItem;
type Source = CST.SourceToken;

/** Thrown where the fast path gives up: the document is then composed as usual. */
const GIVE_UP = new Error('not read by the fast path');

const giveUp = (): never => {
  throw GIVE_UP;
};

/**
 * The value of the document in `tokens` (the parser's output for the whole text), or `null` when the text is
 * not one the fast path reads. Mappings are built as `toValue` builds them (own properties, `__proto__` too).
 */
export function fastValue(
  tokens: readonly CST.Token[],
  maxDepth: number,
  scalars: 'strings' | 'core',
): { value: unknown; locators: FastLocators } | null {
  const read: Read = { maxDepth, core: scalars === 'core' };
  try {
    let doc: CST.Document | null = null;
    for (const t of tokens) {
      if (t.type === 'document') {
        if (doc) giveUp();
        doc = t;
      } else if (t.type !== 'comment' && t.type !== 'newline' && !(t.type === 'space' && !hasTab(t))) {
        giveUp();
      }
    }
    if (!doc || doc.start.length > 0 || doc.value?.type !== 'block-map') return null;
    for (const t of doc.end ?? []) if (!isBlank(t)) giveUp();
    const root = doc.value;
    return { value: blockMap(read, root, 0), locators: locators(read, root) };
  } catch {
    // Not a shape this path reads (or one it did not foresee): the composing path reads it and reports.
    return null;
  }
}

const hasTab = (t: Source) => t.source.includes('\t');
const hasBreak = (s: string) => s.includes('\n') || s.includes('\r');

/** What a walk needs: the depth allowed, and how scalars are read. */
interface Read {
  maxDepth: number;
  core: boolean;
}

/** YAML 1.2 core schema's scalar tags that a plain scalar may resolve to, in the composer's order. */
const CORE_TAGS = new Schema({ schema: 'core' }).tags.filter(
  (t): t is typeof t & { test: RegExp; resolve: NonNullable<unknown> } =>
    t.default === true && 'test' in t && t.test instanceof RegExp,
);

/** Whitespace without tabs, a newline, or a comment. */
function isBlank(t: CST.Token): boolean {
  return (t.type === 'space' && !hasTab(t as Source)) || t.type === 'newline' || t.type === 'comment';
}

/**
 * Tokens before an item's value: indentation without tabs, newlines and comments that follow white space
 * around the one indicator `wanted` (`before: 'space'`: nothing but spaces before it). Returns the
 * indicator, if found, and whether a newline follows it.
 */
function props(
  tokens: readonly Source[],
  wanted: 'seq-item-ind' | 'map-value-ind',
  spaced: boolean,
  before: 'space' | 'any',
): { found: Source | null; newlineAfter: boolean } {
  let hasSpace = spaced;
  let found: Source | null = null;
  let newlineAfter = false;
  for (const t of tokens) {
    switch (t.type) {
      case 'space':
        if (hasTab(t)) giveUp();
        hasSpace = true;
        break;
      case 'newline':
        if (!found && before === 'space') giveUp();
        if (found) newlineAfter = true;
        hasSpace = true;
        break;
      case 'comment':
        if (!hasSpace || (!found && before === 'space')) giveUp();
        break;
      default:
        if (t.type !== wanted || found) giveUp();
        found = t;
        hasSpace = false;
    }
  }
  return { found, newlineAfter };
}

/** Blank lines, indentation and comments before a mapping entry. */
function blanks(tokens: readonly Source[]): void {
  for (const t of tokens) if (!isBlank(t)) giveUp();
}

type FlowToken = CST.FlowScalar & { type: 'scalar' | 'single-quoted-scalar' | 'double-quoted-scalar' };
const isFlowScalar = (t: CST.Token | null | undefined): t is FlowToken =>
  t?.type === 'scalar' || t?.type === 'single-quoted-scalar' || t?.type === 'double-quoted-scalar';

/** A one-line flow scalar's value: its text, or (core) what the core schema makes of a plain one. */
function scalar(read: Read, token: CST.Token): unknown {
  if (!isFlowScalar(token) || hasBreak(token.source)) return giveUp();
  let bad = false;
  const resolved = CST.resolveAsScalar(token, true, () => {
    bad = true;
  });
  if (bad || !resolved) return giveUp();
  if (!read.core || token.type !== 'scalar') return resolved.value;
  return coreScalar(resolved.value);
}

function coreScalar(text: string): unknown {
  for (const tag of CORE_TAGS) {
    if (!tag.test.test(text)) continue;
    const value = (tag.resolve as (s: string, onError: (m: string) => void, o: object) => unknown)(
      text,
      giveUp,
      { intAsBigInt: false },
    );
    return isScalar(value) ? value.value : value;
  }
  return text;
}

/** An empty value, as the composer makes it: an empty plain scalar. */
const empty = (read: Read): unknown => (read.core ? coreScalar('') : '');

/** A mapping key as `toValue` names it; null keys and merge keys are for the composer to report. */
function keyName(read: Read, key: CST.Token | null | undefined): string {
  if (!isFlowScalar(key) || key.end?.length || key.source.length > 1000) return giveUp();
  const value = scalar(read, key);
  if (value === null || typeof value === 'object') giveUp();
  const name = String(value);
  if (name === '<<' && key.type === 'scalar') giveUp();
  return name;
}

/**
 * Sets `obj[name]` as `toValue` does: an own, enumerable, writable property. Only `__proto__` is not one
 * that assignment makes (it would set the prototype), so only it is defined (defining every key is slow).
 */
function define(obj: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__')
    Object.defineProperty(obj, name, { value, enumerable: true, writable: true, configurable: true });
  else obj[name] = value;
}

function node(read: Read, token: CST.Token | undefined, newline: boolean, depth: number): unknown {
  if (depth > read.maxDepth) giveUp();
  if (token === undefined) return empty(read);
  switch (token.type) {
    case 'block-map':
      if (!newline) giveUp();
      return blockMap(read, token, depth);
    case 'block-seq':
      if (!newline) giveUp();
      return blockSeq(read, token, depth);
    case 'flow-collection':
      if (newline) giveUp();
      return flow(read, token, depth);
    default:
      if (newline) giveUp();
      return scalar(read, token);
  }
}

function blockMap(read: Read, map: CST.BlockMap, depth: number): Record<string, unknown> {
  if (depth > read.maxDepth) giveUp();
  const obj: Record<string, unknown> = {};
  const seen = new Set<string>();
  const items = map.items as Item[];
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as Item & { explicitKey?: true };
    if (item.explicitKey) giveUp();
    blanks(item.start);
    if (!item.sep) {
      // A comment after the last entry; anything else is for the composer to report.
      if (item.key || item.value || i !== items.length - 1) giveUp();
      continue;
    }
    if (!item.key || !('indent' in item.key) || item.key.indent !== map.indent) giveUp();
    const name = keyName(read, item.key);
    if (seen.has(name)) giveUp();
    seen.add(name);
    const sep = props(item.sep, 'map-value-ind', false, 'space');
    if (!sep.found) giveUp();
    define(obj, name, node(read, item.value, sep.newlineAfter, depth + 1));
  }
  return obj;
}

function blockSeq(read: Read, seq: CST.BlockSequence, depth: number): unknown[] {
  if (depth > read.maxDepth) giveUp();
  const out: unknown[] = [];
  const items = seq.items as Item[];
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as Item;
    if (item.key || item.sep) giveUp();
    const start = props(item.start, 'seq-item-ind', true, 'any');
    if (!start.found) {
      if (item.value || i !== items.length - 1) giveUp();
      continue;
    }
    // `- key: value` and `- - item` are read as the composer reads them; a value on a later line is not.
    if (start.found.indent !== seq.indent || start.newlineAfter) giveUp();
    const value = item.value;
    if (value?.type === 'block-map') out.push(blockMap(read, value, depth + 1));
    else if (value?.type === 'block-seq') out.push(blockSeq(read, value, depth + 1));
    else out.push(node(read, value, false, depth + 1));
  }
  return out;
}

/** `[a, "b"]` or `{ k: v, l: [x] }` on one line: scalars and such collections only, no empty item. */
function flow(read: Read, fc: CST.FlowCollection, depth: number): unknown {
  if (depth > read.maxDepth) giveUp();
  const isMap = fc.start.type === 'flow-map-start';
  const obj: Record<string, unknown> = {};
  const seen = new Set<string>();
  const list: unknown[] = [];
  fc.items.forEach((item, i) => {
    let commas = 0;
    for (const t of item.start) {
      if (t.type === 'comma') commas++;
      else if (t.type !== 'space' || hasTab(t)) giveUp();
    }
    if (commas !== (i === 0 ? 0 : 1)) giveUp();
    const value = () => {
      const v = item.value;
      if (!v) return node(read, undefined, false, depth + 1);
      return v.type === 'flow-collection' ? flow(read, v, depth + 1) : node(read, v, false, depth + 1);
    };
    if (!isMap) {
      if (item.key !== undefined || item.sep !== undefined || !item.value) giveUp();
      list.push(value());
      return;
    }
    if (!item.sep || !item.key) giveUp();
    const name = keyName(read, item.key);
    if (seen.has(name)) giveUp();
    seen.add(name);
    let found = false;
    for (const t of item.sep as Source[]) {
      if (t.type === 'map-value-ind' && !found) found = true;
      else if (t.type !== 'space' || hasTab(t)) giveUp();
    }
    if (!found) giveUp();
    define(obj, name, value());
  });
  const [close, ...rest] = fc.end;
  if (close?.type !== (isMap ? 'flow-map-end' : 'flow-seq-end')) giveUp();
  let spaced = false;
  for (const t of rest) {
    if (!isBlank(t) || (t.type === 'comment' && !spaced)) giveUp();
    spaced = t.type !== 'comment';
  }
  return isMap ? obj : list;
}

// --- positions -------------------------------------------------------------------------------------------

/**
 * Offsets of nodes and keys, found in the syntax tree the way the loader's `locate` and `locateKey` find
 * them in the composed document (the node at a path, or its nearest existing ancestor). `null` where the
 * answer is an empty value, whose position the composer works out: the caller composes then.
 */
export interface FastLocators {
  locate(path: readonly (string | number)[]): number | null;
  locateKey(path: readonly (string | number)[]): number | null;
}

/** A node of the syntax tree the fast path read, or an empty value (no token). */
type At = CST.Token | 'empty';

/** The entries of a mapping the fast path read: key token and value. */
function entries(token: CST.Token): { key: CST.Token; value: At }[] | null {
  if (
    token.type === 'block-map' ||
    (token.type === 'flow-collection' && token.start.type === 'flow-map-start')
  ) {
    const out: { key: CST.Token; value: At }[] = [];
    for (const item of token.items as Item[]) {
      if (item.key) out.push({ key: item.key, value: item.value ?? 'empty' });
    }
    return out;
  }
  return null;
}

/** The items of a sequence the fast path read (a trailing comment is no item). */
function elements(token: CST.Token): At[] | null {
  if (token.type === 'block-seq') {
    return (token.items as Item[])
      .filter((i) => i.start.some((t) => t.type === 'seq-item-ind'))
      .map((i) => i.value ?? 'empty');
  }
  if (token.type === 'flow-collection' && token.start.type === 'flow-seq-start') {
    return token.items.map((i) => i.value ?? 'empty');
  }
  return null;
}

function locators(read: Read, root: CST.BlockMap): FastLocators {
  const name = (key: CST.Token) => String(scalar(read, key));
  /** locateNode of the loader: the node at `path`, or the last one found on the way. */
  const nodeAt = (path: readonly (string | number)[]): At => {
    let node: At = root;
    let last: At = root;
    for (const seg of path) {
      if (node === 'empty') return last;
      const map = entries(node);
      const seq: At[] | null = map ? null : elements(node);
      if (map) {
        const entry = map.find((e) => name(e.key) === String(seg));
        if (!entry) return last;
        node = entry.value;
      } else if (seq) {
        const next: At | undefined = seq[Number(seg)];
        if (next === undefined) return last;
        node = next;
      } else return last;
      last = node;
    }
    return last;
  };
  const offset = (at: At): number | null => (at === 'empty' ? null : (at as { offset: number }).offset);
  /** Any surprise: no answer, and the caller composes. */
  const safely =
    (find: (path: readonly (string | number)[]) => number | null) =>
    (path: readonly (string | number)[]): number | null => {
      try {
        return find(path);
      } catch {
        return null;
      }
    };
  return {
    locate: safely((path) => offset(nodeAt(path))),
    locateKey: safely((path) => {
      if (path.length === 0) return offset(root);
      const parent = nodeAt(path.slice(0, -1));
      const map = parent === 'empty' ? null : entries(parent);
      const entry = map?.find((e) => name(e.key) === String(path[path.length - 1]));
      if (entry) return offset(entry.key);
      return offset(nodeAt(path));
    }),
  };
}
