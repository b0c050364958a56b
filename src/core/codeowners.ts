// GitHub CODEOWNERS: parsing and ownership lookup, following GitHub's "About code owners" page.
// Pure: no fs, no git, no network. Callers read the file and pass its text in.
//
// Semantics (GitHub's documented rules first, then the choices where the docs are silent):
// - Locations: `.github/CODEOWNERS`, `CODEOWNERS`, `docs/CODEOWNERS`; the first that exists in that order is used.
// - A rule is a pattern followed by zero or more owners (`@user`, `@org/team`, `user@example.com`). The last
//   matching rule wins; a matching rule with no owners leaves the file without owners (`/apps/github`).
// - `#` at the start of a line, or after whitespace, starts a comment (`*.js @js-owner #inline comment`).
// - Patterns follow gitignore, with GitHub's exceptions. A line GitHub cannot use is skipped with a warning and
//   does not affect matching: `!` negation, `[ ]` character ranges, any `\` escape (GitHub documents that `\#`
//   does not work, so `\#foo` is NOT a pattern for `#foo`), a bare `/`, empty path segments, invalid owners,
//   and files of 3 MiB or more (GitHub does not load them at all).
// - `docs/*` matches files directly in `docs/` only (documented); generalised: a last segment that is exactly
//   `*` never reaches into subdirectories. Any other last segment also matches everything below a directory
//   it names (`logs`, `**/logs`, `/build/logs`), as in gitignore.
// - Braces and extglobs are not gitignore syntax: `{a,b}` and `@(a|b)` are matched literally, never as
//   alternation; the rule is kept, with a warning because the author probably meant alternation.
// - Matching is case-sensitive, and `*`/`?` match dotfiles. Owners keep the spelling used in the file.

const CODEOWNERS_LOCATIONS = ['.github/CODEOWNERS', 'CODEOWNERS', 'docs/CODEOWNERS'] as const;

/** GitHub ignores CODEOWNERS files that are not "under 3 MB"; we read that as 3 MiB of UTF-8. */
const MAX_BYTES = 3 * 1024 * 1024;

export interface CodeOwnersRule {
  pattern: string;
  owners: string[];
  line: number;
}

export interface CodeOwnersWarning {
  /** 1-based line in the CODEOWNERS file; 0 for problems with the whole file. */
  line: number;
  message: string;
}

export interface CodeOwners {
  path: string;
  rules: CodeOwnersRule[];
  warnings: CodeOwnersWarning[];
}

export interface CodeOwnerUser {
  kind: 'user';
  login: string;
}

export interface CodeOwnerTeam {
  kind: 'team';
  org: string;
  team: string;
  /** `@org/team`, lowercased, for lookups. */
  slug: string;
}

export interface CodeOwnerEmail {
  kind: 'email';
  email: string;
}

export interface OwnersOfResult {
  owners: string[];
  /** Line of the deciding rule, or null when no rule matches. */
  line: number | null;
}

const USER = /^@([A-Za-z0-9][A-Za-z0-9_-]*)$/;
const TEAM = /^@([A-Za-z0-9][A-Za-z0-9_-]*)\/([A-Za-z0-9_][A-Za-z0-9._-]*)$/;
const EMAIL =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

/** Classify an owner token; null when it is none of `@user`, `@org/team` or an email address. */
export function parseOwner(token: string): CodeOwnerUser | CodeOwnerTeam | CodeOwnerEmail | null {
  if (typeof token !== 'string') return null;
  const user = USER.exec(token);
  if (user?.[1]) return { kind: 'user', login: user[1] };
  const team = TEAM.exec(token);
  if (team?.[1] && team[2]) {
    return { kind: 'team', org: team[1], team: team[2], slug: `@${team[1]}/${team[2]}`.toLowerCase() };
  }
  if (EMAIL.test(token)) return { kind: 'email', email: token };
  return null;
}

/**
 * The CODEOWNERS file GitHub uses: the first location where `read` finds one, in `CODEOWNERS_LOCATIONS` order
 * (null: none). `read` returns null for a file that is not there.
 */
export async function findCodeOwners(
  read: (path: string) => Promise<string | null>,
): Promise<CodeOwners | null> {
  for (const path of CODEOWNERS_LOCATIONS) {
    const text = await read(path);
    if (text !== null) return parseCodeOwners(text, path);
  }
  return null;
}

// --- pattern compilation -------------------------------------------------------------------------------

const BRACES = /\{[^{}]*,[^{}]*\}/;
const EXTGLOB = /[?*+@!]\([^()]*\)/;

/** Why GitHub cannot use this pattern, or null when it can. */
function patternProblem(pattern: string): string | null {
  if (pattern.startsWith('\\#')) {
    return 'escaping a leading "#" with "\\" does not work in CODEOWNERS (GitHub documents this)';
  }
  if (pattern.startsWith('!')) return 'negation ("!") does not work in CODEOWNERS';
  if (pattern.includes('[')) return 'character ranges ("[ ]") do not work in CODEOWNERS';
  if (pattern.includes('\\')) return 'backslash escapes are not supported in CODEOWNERS patterns';
  if (/^\/+$/.test(pattern)) return `the pattern "${pattern}" never matches anything; use "*" for every file`;
  const body = pattern.replace(/^\//, '').replace(/\/$/, '');
  if (body === '' || body.split('/').includes(''))
    return `the pattern "${pattern}" has an empty path segment`;
  return null;
}

// A compiled pattern is a list of tokens over path segments. Matching is a memoised walk over
// (token, segment) pairs plus a two-pointer wildcard match inside one segment, so it is polynomial in the
// path length whatever the pattern; a regex translation backtracks exponentially on patterns like `a*a*a*b`.

/** One path segment: a literal, or a glob whose `*` and `?` are wildcards (code points, to count `?` right). */
interface SegmentToken {
  kind: 'segment';
  literal: string | null;
  glob: string[];
}

/** Any run of whole segments, at least `min` long. */
interface AnyToken {
  kind: 'any';
  min: number;
}

type Token = SegmentToken | AnyToken;

type Matcher = Token[] | null;

function pushAny(tokens: Token[], min: number): void {
  const last = tokens[tokens.length - 1];
  if (last?.kind === 'any') last.min += min;
  else tokens.push({ kind: 'any', min });
}

/** Compile a pattern that passed `patternProblem`. */
function compilePattern(pattern: string): Token[] {
  const dirOnly = pattern.endsWith('/');
  const body = pattern.replace(/^\//, '').replace(/\/$/, '');
  // A slash at the start or in the middle anchors the pattern to the repo root; otherwise it matches at any depth.
  const anchored = pattern.startsWith('/') || body.includes('/');
  const segments = body.split('/');
  const last = segments.length - 1;

  const tokens: Token[] = [];
  if (!anchored) pushAny(tokens, 0);
  segments.forEach((seg, i) => {
    if (seg === '**') {
      // `a/**/b`: zero or more directories; a trailing `a/**`: everything inside `a`, not `a` itself.
      pushAny(tokens, i === last ? 1 : 0);
    } else if (/[*?]/.test(seg)) {
      tokens.push({ kind: 'segment', literal: null, glob: Array.from(seg.replace(/\*+/g, '*')) });
    } else {
      tokens.push({ kind: 'segment', literal: seg, glob: [] });
    }
  });

  const lastSeg = segments[last];
  if (dirOnly) {
    // `dir/` names a directory: it matches every file below it, never a file of that name.
    pushAny(tokens, 1);
  } else if (lastSeg !== '**' && lastSeg !== '*') {
    // A pattern that names a directory also matches everything below it (`logs`, `/build/logs`).
    // GitHub's exception: a last segment of exactly `*` (`docs/*`) only matches direct children.
    pushAny(tokens, 0);
  }
  return tokens;
}

/** `*` and `?` wildcard match within one segment; O(glob × text) at worst. */
function globMatch(glob: string[], text: string[]): boolean {
  let g = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    const c = glob[g];
    if (c === '*') {
      star = g++;
      mark = t;
    } else if (g < glob.length && (c === '?' || c === text[t])) {
      g++;
      t++;
    } else if (star >= 0) {
      g = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (glob[g] === '*') g++;
  return g === glob.length;
}

/** A looked-up path, split once and shared by every rule tried. */
class PathSegments {
  readonly parts: string[];
  private readonly points: (string[] | undefined)[] = [];

  constructor(path: string) {
    this.parts = path.split('/');
  }

  codePoints(i: number): string[] {
    let cps = this.points[i];
    if (!cps) {
      cps = Array.from(this.parts[i] ?? '');
      this.points[i] = cps;
    }
    return cps;
  }
}

function matchTokens(tokens: Token[], path: PathSegments): boolean {
  const n = path.parts.length;
  // memo[ti * (n + 1) + si]: 0 unknown, 1 match, 2 no match.
  const memo = new Uint8Array((tokens.length + 1) * (n + 1));
  const walk = (ti: number, si: number): boolean => {
    if (ti === tokens.length) return si === n;
    const key = ti * (n + 1) + si;
    const known = memo[key];
    if (known) return known === 1;
    const token = tokens[ti] as Token;
    let ok = false;
    if (token.kind === 'any') {
      for (let k = si + token.min; k <= n && !ok; k++) ok = walk(ti + 1, k);
    } else if (si < n) {
      const matched =
        token.literal !== null
          ? token.literal === path.parts[si]
          : globMatch(token.glob, path.codePoints(si));
      ok = matched && walk(ti + 1, si + 1);
    }
    memo[key] = ok ? 1 : 2;
    return ok;
  };
  return walk(0, 0);
}

// Compiled patterns live beside the plain-data rules, keyed by rule object, so `CodeOwners` stays plain JSON
// and rules built by hand (or mutated) still work: a stale or missing entry is recompiled on first use.
interface Compiled {
  pattern: string;
  matcher: Matcher;
}

const compiled = new WeakMap<CodeOwnersRule, Compiled>();

function matcherFor(rule: CodeOwnersRule): Matcher {
  const cached = compiled.get(rule);
  if (cached && cached.pattern === rule.pattern) return cached.matcher;
  const pattern = rule.pattern;
  const matcher =
    typeof pattern === 'string' && patternProblem(pattern) === null ? compilePattern(pattern) : null;
  compiled.set(rule, { pattern, matcher });
  return matcher;
}

// --- parsing -------------------------------------------------------------------------------------------

function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Parse the text of a CODEOWNERS file. `path` is the file's repo path, used only in warning messages. */
export function parseCodeOwners(text: string, path: string): CodeOwners {
  const result: CodeOwners = { path, rules: [], warnings: [] };
  const warn = (line: number, message: string) => {
    result.warnings.push({ line, message: line > 0 ? `${path}:${line}: ${message}` : `${path}: ${message}` });
  };

  if (text.length * 3 >= MAX_BYTES && utf8Length(text) >= MAX_BYTES) {
    warn(0, 'the file is 3 MiB or larger; GitHub does not load it, so no code owners apply');
    return result;
  }

  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    // `#` at the start, or after whitespace, begins a comment; what is left is `pattern owner...`.
    const content = raw.replace(/(?:^|\s)#.*$/s, '').trim();
    if (content === '') return;

    const [pattern = '', ...owners] = content.split(/\s+/);
    const problem = patternProblem(pattern);
    if (problem !== null) {
      warn(line, `${problem}; line skipped`);
      return;
    }
    const invalid = owners.filter((owner) => parseOwner(owner) === null);
    if (invalid.length > 0) {
      const list = invalid.map((owner) => `"${owner}"`).join(', ');
      warn(line, `invalid owner ${list} (expected @user, @org/team or an email address); line skipped`);
      return;
    }

    if (BRACES.test(pattern) || EXTGLOB.test(pattern)) {
      warn(line, `"${pattern}" is matched literally: braces and extglobs are not alternation in CODEOWNERS`);
    }
    if (owners.length === 0 && parseOwner(pattern) !== null) {
      warn(line, `"${pattern}" is used as a pattern with no owners; is the pattern missing?`);
    }

    const rule: CodeOwnersRule = { pattern, owners, line };
    compiled.set(rule, { pattern, matcher: compilePattern(pattern) });
    result.rules.push(rule);
  });
  return result;
}

// --- lookup --------------------------------------------------------------------------------------------

/**
 * The owners of a repo-relative file path (`requests/alice/x.yaml`). The last matching rule wins; a matching
 * rule with no owners means the file has no owners. No match (or no CODEOWNERS file) gives no owners and
 * `line: null`. Never throws.
 */
export function ownersOf(codeowners: CodeOwners | null, filePath: string): OwnersOfResult {
  try {
    if (!codeowners || typeof filePath !== 'string' || !Array.isArray(codeowners.rules)) {
      return { owners: [], line: null };
    }
    const target = filePath.replace(/^\/+/, '');
    if (target === '') return { owners: [], line: null };
    const path = new PathSegments(target);
    const rules = codeowners.rules;
    for (let i = rules.length - 1; i >= 0; i--) {
      const rule = rules[i];
      const matcher = rule ? matcherFor(rule) : null;
      if (rule && matcher && matchTokens(matcher, path)) {
        return { owners: Array.isArray(rule.owners) ? [...rule.owners] : [], line: rule.line };
      }
    }
  } catch {
    // Fall through: a malformed hand-built CodeOwners must not break callers.
  }
  return { owners: [], line: null };
}
