// The hardened loader's fast path: the plain value of a document written in the common block style, read
// straight from the yaml library's concrete syntax tree (its lexer and parser), without building the
// library's document nodes. It takes only shapes it can prove the composer reads without an error or a
// warning, and the same value as the composer and `toValue` would give; on anything else it answers
// `null` and the loader composes the document as always (test/core/yaml-fast.test.ts compares both paths
// on generated and mutated documents). Scalars are read as strings only: the `strings` mode of requests.
import { CST } from 'yaml';

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
export function fastStrings(tokens: readonly CST.Token[], maxDepth: number): { value: unknown } | null {
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
    return { value: blockMap(doc.value, 0, maxDepth) };
  } catch {
    // Not a shape this path reads (or one it did not foresee): the composing path reads it and reports.
    return null;
  }
}

const hasTab = (t: Source) => t.source.includes('\t');
const hasBreak = (s: string) => s.includes('\n') || s.includes('\r');

/** Whitespace without tabs, a newline, or a comment. */
function isBlank(t: CST.Token): boolean {
  return (t.type === 'space' && !hasTab(t as Source)) || t.type === 'newline' || t.type === 'comment';
}

/**
 * Tokens before an item or its indicator: blank lines, indentation without tabs, comments that follow white
 * space (`spaced`: the tokens start on a new line). Returns the indicator `wanted`, if it is the one other
 * token, and whether a newline follows it.
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

/** Blank lines, indentation and comments before a mapping entry, as they start on a new line. */
function blanks(tokens: readonly Source[]): void {
  for (const t of tokens) if (!isBlank(t)) giveUp();
}

function scalar(token: CST.Token): string {
  if (
    token.type !== 'scalar' &&
    token.type !== 'single-quoted-scalar' &&
    token.type !== 'double-quoted-scalar'
  )
    giveUp();
  const flow = token as CST.FlowScalar;
  if (hasBreak(flow.source)) giveUp();
  let bad = false;
  const resolved = CST.resolveAsScalar(flow, true, () => {
    bad = true;
  });
  if (bad || !resolved) giveUp();
  return (resolved as { value: string }).value;
}

function node(token: CST.Token | undefined, newline: boolean, depth: number, maxDepth: number): unknown {
  if (depth > maxDepth) giveUp();
  if (token === undefined) return '';
  switch (token.type) {
    case 'block-map':
      if (!newline) giveUp();
      return blockMap(token, depth, maxDepth);
    case 'block-seq':
      if (!newline) giveUp();
      return blockSeq(token, depth, maxDepth);
    case 'flow-collection':
      if (newline) giveUp();
      return flowSeq(token, depth, maxDepth);
    default:
      if (newline) giveUp();
      return scalar(token);
  }
}

function blockMap(map: CST.BlockMap, depth: number, maxDepth: number): Record<string, unknown> {
  if (depth > maxDepth) giveUp();
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
    const key = item.key;
    if (
      key?.type !== 'scalar' &&
      key?.type !== 'single-quoted-scalar' &&
      key?.type !== 'double-quoted-scalar'
    )
      return giveUp();
    if (key.indent !== map.indent || key.end?.length || key.source.length > 1000) giveUp();
    const name = scalar(key);
    if ((name === '<<' && key.type === 'scalar') || seen.has(name)) giveUp();
    seen.add(name);
    const sep = props(item.sep, 'map-value-ind', false, 'space');
    if (!sep.found) giveUp();
    Object.defineProperty(obj, name, {
      value: node(item.value, sep.newlineAfter, depth + 1, maxDepth),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return obj;
}

function blockSeq(seq: CST.BlockSequence, depth: number, maxDepth: number): unknown[] {
  if (depth > maxDepth) giveUp();
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
    if (start.found.indent !== seq.indent) giveUp();
    const value = item.value;
    // `- key: value` and `- - item` are read as the composer reads them; a value on a later line is not.
    if (start.newlineAfter) giveUp();
    if (value?.type === 'block-map') out.push(blockMap(value, depth + 1, maxDepth));
    else if (value?.type === 'block-seq') out.push(blockSeq(value, depth + 1, maxDepth));
    else out.push(node(value, false, depth + 1, maxDepth));
  }
  return out;
}

/** `[a, "b", 'c']` on one line: scalars only. */
function flowSeq(flow: CST.FlowCollection, depth: number, maxDepth: number): string[] {
  if (depth > maxDepth || flow.start.type !== 'flow-seq-start') giveUp();
  const out: string[] = [];
  flow.items.forEach((item, i) => {
    if (item.key !== undefined || item.sep !== undefined || !item.value) giveUp();
    let commas = 0;
    for (const t of item.start) {
      if (t.type === 'comma') commas++;
      else if (t.type !== 'space' || hasTab(t)) giveUp();
    }
    if (commas !== (i === 0 ? 0 : 1) || depth + 1 > maxDepth) giveUp();
    out.push(scalar(item.value as CST.Token));
  });
  const [close, ...rest] = flow.end;
  if (close?.type !== 'flow-seq-end') giveUp();
  let spaced = false;
  for (const t of rest) {
    if (t.type === 'comment' && !spaced) giveUp();
    if (!isBlank(t)) giveUp();
    spaced = t.type !== 'comment';
  }
  return out;
}
