import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type CodeOwners,
  findCodeOwners,
  ownersOf,
  parseCodeOwners,
  parseOwner,
} from '../../src/core/codeowners.js';

// GitHub's example file from "About code owners" (docs.github.com), verbatim.
const GITHUB_EXAMPLE = [
  '# This is a comment.',
  '# Each line is a file pattern followed by one or more owners.',
  '',
  '# These owners will be the default owners for everything in',
  '# the repo. Unless a later match takes precedence,',
  '# @global-owner1 and @global-owner2 will be requested for',
  '# review when someone opens a pull request.',
  '*       @global-owner1 @global-owner2',
  '',
  '# Order is important; the last matching pattern takes the most',
  '# precedence. When someone opens a pull request that only',
  '# modifies JS files, only @js-owner and not the global',
  '# owner(s) will be requested for a review.',
  '*.js    @js-owner #This is an inline comment.',
  '',
  "# You can also use email addresses if you prefer. They'll be",
  '# used to look up users just like we do for commit author',
  '# emails.',
  '*.go docs@example.com',
  '',
  '# Teams can be specified as code owners as well. Teams should',
  '# be identified in the format @org/team-name. Teams must have',
  '# explicit write access to the repository. In this example,',
  '# the octocats team in the octo-org organization owns all .txt files.',
  '*.txt @octo-org/octocats',
  '',
  '# In this example, @doctocat owns any files in the build/logs',
  '# directory at the root of the repository and any of its',
  '# subdirectories.',
  '/build/logs/ @doctocat',
  '',
  '# The `docs/*` pattern will match files like',
  '# `docs/getting-started.md` but not further nested files like',
  '# `docs/build-app/troubleshooting.md`.',
  'docs/*  docs@example.com',
  '',
  '# In this example, @octocat owns any file in an apps directory',
  '# anywhere in your repository.',
  'apps/ @octocat',
  '',
  '# In this example, @doctocat owns any file in the `/docs`',
  '# directory in the root of your repository and any of its',
  '# subdirectories.',
  '/docs/ @doctocat',
  '',
  '# In this example, any change inside the `/scripts` directory',
  '# will require approval from @doctocat or @octocat.',
  '/scripts/ @doctocat @octocat',
  '',
  '# In this example, @octocat owns any file in a `/logs` directory such as',
  '# `/build/logs`, `/scripts/logs`, and `/deeply/nested/logs`. Any changes',
  '# in a `/logs` directory will require approval from @octocat.',
  '**/logs @octocat',
  '',
  '# In this example, @octocat owns any file in the `/apps`',
  '# directory in the root of your repository except for the `/apps/github`',
  '# subdirectory, as its owners are left empty. Without an owner, changes',
  '# to `apps/github` can be made with the approval of any user who has',
  '# write access to the repository.',
  '/apps/ @octocat',
  '/apps/github',
  '',
  '# In this example, @octocat owns any file in the `/apps`',
  '# directory in the root of your repository except for the `/apps/github`',
  '# subdirectory, as this subdirectory has its own owner @doctocat',
  '/apps/ @octocat',
  '/apps/github @doctocat',
  '',
].join('\n');

const EXAMPLE_LINES = GITHUB_EXAMPLE.split('\n');

/** 1-based line number of the `nth` line of the example that equals `text` exactly. */
function lineOf(text: string, nth = 1): number {
  let seen = 0;
  for (let i = 0; i < EXAMPLE_LINES.length; i++) {
    if (EXAMPLE_LINES[i] === text && ++seen === nth) return i + 1;
  }
  throw new Error(`line not in example: ${text}`);
}

/** The example cut right after line `line`, so that line holds the last rule. */
function exampleUpTo(line: number): CodeOwners {
  return parseCodeOwners(EXAMPLE_LINES.slice(0, line).join('\n'), '.github/CODEOWNERS');
}

const GLOBAL = ['@global-owner1', '@global-owner2'];

function matches(pattern: string, path: string): boolean {
  const co = parseCodeOwners(`${pattern} @owner`, 'CODEOWNERS');
  expect(co.warnings).toEqual([]);
  expect(co.rules).toHaveLength(1);
  return ownersOf(co, path).line === 1;
}

describe('GitHub documented example file', () => {
  const co = parseCodeOwners(GITHUB_EXAMPLE, '.github/CODEOWNERS');

  it('parses every rule, in order, with no warnings', () => {
    expect(co.path).toBe('.github/CODEOWNERS');
    expect(co.warnings).toEqual([]);
    expect(co.rules.map((r) => r.pattern)).toEqual([
      '*',
      '*.js',
      '*.go',
      '*.txt',
      '/build/logs/',
      'docs/*',
      'apps/',
      '/docs/',
      '/scripts/',
      '**/logs',
      '/apps/',
      '/apps/github',
      '/apps/',
      '/apps/github',
    ]);
    expect(co.rules[0]).toEqual({
      pattern: '*',
      owners: GLOBAL,
      line: lineOf('*       @global-owner1 @global-owner2'),
    });
    expect(co.rules.find((r) => r.pattern === '/scripts/')?.owners).toEqual(['@doctocat', '@octocat']);
    expect(co.rules[11]).toEqual({ pattern: '/apps/github', owners: [], line: lineOf('/apps/github') });
  });

  it('drops the inline comment after the owners', () => {
    expect(co.rules[1]).toEqual({
      pattern: '*.js',
      owners: ['@js-owner'],
      line: lineOf('*.js    @js-owner #This is an inline comment.'),
    });
  });

  // Whole file: the last matching rule wins, so later rules shadow some of the documented examples.
  const cases: Array<[string, string[], string, number?]> = [
    ['README.md', GLOBAL, '*       @global-owner1 @global-owner2'],
    ['.github/workflows/ci.yml', GLOBAL, '*       @global-owner1 @global-owner2'],
    ['a.js', ['@js-owner'], '*.js    @js-owner #This is an inline comment.'],
    ['src/deep/app.js', ['@js-owner'], '*.js    @js-owner #This is an inline comment.'],
    ['main.go', ['docs@example.com'], '*.go docs@example.com'],
    ['internal/pkg/file.go', ['docs@example.com'], '*.go docs@example.com'],
    ['notes/todo.txt', ['@octo-org/octocats'], '*.txt @octo-org/octocats'],
    // `/build/logs/` says @doctocat, but the later `**/logs` also matches and wins.
    ['build/logs/x', ['@octocat'], '**/logs @octocat'],
    ['build/other/x.log', GLOBAL, '*       @global-owner1 @global-owner2'],
    // `docs/*` matches, but the later `/docs/` matches too and wins; nested files only match `/docs/`.
    ['docs/getting-started.md', ['@doctocat'], '/docs/ @doctocat'],
    ['docs/build-app/troubleshooting.md', ['@doctocat'], '/docs/ @doctocat'],
    ['web/apps/index.html', ['@octocat'], 'apps/ @octocat'],
    ['scripts/deploy.sh', ['@doctocat', '@octocat'], '/scripts/ @doctocat @octocat'],
    ['scripts/logs/today.log', ['@octocat'], '**/logs @octocat'],
    ['deeply/nested/logs/x/y.txt', ['@octocat'], '**/logs @octocat'],
    ['logs', ['@octocat'], '**/logs @octocat'],
    ['apps/main/index.js', ['@octocat'], '/apps/ @octocat', 2],
    // The final `/apps/github @doctocat` overrides the earlier empty `/apps/github`.
    ['apps/github/x', ['@doctocat'], '/apps/github @doctocat'],
  ];
  it.each(cases)('%s → %j', (path, owners, ruleText, nth) => {
    expect(ownersOf(co, path)).toEqual({ owners, line: lineOf(ruleText, nth) });
  });
});

describe('each documented example rule, as the last rule of the file', () => {
  // Cutting the example right after a rule makes it the last rule, which is how each comment describes it.
  // [rule text, occurrence, path, owners] — owners null means this rule must not decide the path.
  const cases: Array<[string, number, string, string[] | null]> = [
    ['*       @global-owner1 @global-owner2', 1, 'any/file.md', GLOBAL],
    ['*.js    @js-owner #This is an inline comment.', 1, 'a.js', ['@js-owner']],
    ['*.js    @js-owner #This is an inline comment.', 1, 'a.ts', null],
    ['*.go docs@example.com', 1, 'cmd/tool/main.go', ['docs@example.com']],
    ['*.txt @octo-org/octocats', 1, 'a/b.txt', ['@octo-org/octocats']],
    ['/build/logs/ @doctocat', 1, 'build/logs/x', ['@doctocat']],
    ['/build/logs/ @doctocat', 1, 'build/logs/sub/dir/x.log', ['@doctocat']],
    ['/build/logs/ @doctocat', 1, 'src/build/logs/x', null],
    ['docs/*  docs@example.com', 1, 'docs/getting-started.md', ['docs@example.com']],
    ['docs/*  docs@example.com', 1, 'docs/build-app/troubleshooting.md', null],
    ['apps/ @octocat', 1, 'apps/x', ['@octocat']],
    ['apps/ @octocat', 1, 'deep/down/apps/x/y', ['@octocat']],
    ['apps/ @octocat', 1, 'apps', null],
    ['/docs/ @doctocat', 1, 'docs/build-app/troubleshooting.md', ['@doctocat']],
    ['/docs/ @doctocat', 1, 'site/docs/index.md', null],
    ['/scripts/ @doctocat @octocat', 1, 'scripts/a/b.sh', ['@doctocat', '@octocat']],
    ['**/logs @octocat', 1, 'build/logs/x', ['@octocat']],
    ['**/logs @octocat', 1, 'scripts/logs/x', ['@octocat']],
    ['**/logs @octocat', 1, 'deeply/nested/logs/x', ['@octocat']],
    ['**/logs @octocat', 1, 'logs/x', ['@octocat']],
    ['/apps/ @octocat', 1, 'apps/web/x', ['@octocat']],
    ['/apps/github', 1, 'apps/github/x', []],
    ['/apps/github', 1, 'apps/github', []],
    ['/apps/github', 1, 'apps/web/x', null],
    ['/apps/github @doctocat', 1, 'apps/github/x', ['@doctocat']],
  ];
  it.each(cases)('cut after %j (#%i): %s → %j', (ruleText, nth, path, owners) => {
    const line = lineOf(ruleText, nth);
    const result = ownersOf(exampleUpTo(line), path);
    if (owners === null) expect(result.line).not.toBe(line);
    else expect(result).toEqual({ owners, line });
  });

  it('without a later rule, docs/build-app/troubleshooting.md falls back to the default owners', () => {
    const co = exampleUpTo(lineOf('docs/*  docs@example.com'));
    expect(ownersOf(co, 'docs/build-app/troubleshooting.md')).toEqual({
      owners: GLOBAL,
      line: lineOf('*       @global-owner1 @global-owner2'),
    });
  });

  it('a rule with no owners clears ownership but still reports its line', () => {
    const co = parseCodeOwners('/apps/ @octocat\n/apps/github\n', 'CODEOWNERS');
    expect(ownersOf(co, 'apps/github/index.js')).toEqual({ owners: [], line: 2 });
    expect(ownersOf(co, 'apps/main/index.js')).toEqual({ owners: ['@octocat'], line: 1 });
    expect(ownersOf(co, 'README.md')).toEqual({ owners: [], line: null });
  });
});

describe('pattern matching', () => {
  const cases: Array<[string, string, boolean]> = [
    // No slash: any depth; matches a file or a directory (and everything below it).
    ['logs', 'logs', true],
    ['logs', 'logs/a/b', true],
    ['logs', 'a/b/logs', true],
    ['logs', 'a/logs/b', true],
    ['logs', 'logs.txt', false],
    ['logs', 'catalogs', false],
    ['*.js', 'a.js', true],
    ['*.js', 'a/b/c.js', true],
    ['*.js', 'a.jsx', false],
    ['*.js', '.js', true],
    // Only a trailing slash: still any depth, but directories only.
    ['apps/', 'apps/x', true],
    ['apps/', 'a/apps/x/y', true],
    ['apps/', 'apps', false],
    ['apps/', 'myapps/x', false],
    // Leading slash: anchored to the root.
    ['/logs', 'logs/x', true],
    ['/logs', 'a/logs/x', false],
    ['/docs/', 'docs/x/y', true],
    ['/docs/', 'docs', false],
    // Slash in the middle: anchored too.
    ['build/logs', 'build/logs', true],
    ['build/logs', 'build/logs/x/y', true],
    ['build/logs', 'a/build/logs/x', false],
    ['build/logs', 'build/logsx', false],
    ['/build/logs', 'build/logs/x', true],
    // `dir/*` matches direct children only (GitHub's documented exception to gitignore).
    ['docs/*', 'docs/getting-started.md', true],
    ['docs/*', 'docs/build-app/troubleshooting.md', false],
    ['docs/*', 'docs', false],
    ['docs/*', 'x/docs/a.md', false],
    ['/*', 'README.md', true],
    ['/*', 'src/index.ts', false],
    ['docs/*.md', 'docs/a.md', true],
    ['docs/*.md', 'docs/sub/a.md', false],
    ['foo/*/baz', 'foo/bar/baz', true],
    ['foo/*/baz', 'foo/bar/baz/qux', true],
    ['foo/*/baz', 'foo/baz', false],
    // `*` alone matches every file, dotfiles included.
    ['*', 'README', true],
    ['*', 'a/b/c/d.txt', true],
    ['*', '.github/CODEOWNERS', true],
    ['*', '.env', true],
    // `**`
    ['**', 'a/b/c', true],
    ['**/logs', 'logs/x', true],
    ['**/logs', 'a/b/c/logs/x', true],
    ['**/logs', 'a/b/c/logs', true],
    ['**/logs', 'a/logsx', false],
    ['foo/**', 'foo/a', true],
    ['foo/**', 'foo/a/b/c', true],
    ['foo/**', 'foo', false],
    ['foo/**', 'x/foo/a', false],
    ['foo/**/bar', 'foo/bar', true],
    ['foo/**/bar', 'foo/a/b/bar', true],
    ['foo/**/bar', 'foo/a/bar/c', true],
    ['foo/**/bar', 'x/foo/bar', false],
    ['foo/**/*.md', 'foo/x.md', true],
    ['foo/**/*.md', 'foo/a/b/x.md', true],
    ['foo/**/*.md', 'foo/a/b/x.txt', false],
    ['**/**/x', 'a/b/x', true],
    ['/**/x', 'x', true],
    // `?` is one character other than `/`.
    ['f?o', 'foo', true],
    ['f?o', 'fo', false],
    ['f?o', 'fooo', false],
    ['a?b', 'a/b', false],
    ['?', 'x', true],
    // Regex metacharacters are literal.
    ['a.b', 'axb', false],
    ['a.b', 'a.b', true],
    ['a+b(c)', 'a+b(c)', true],
    ['$x^', '$x^', true],
    // Case-sensitive.
    ['/Docs/', 'docs/x', false],
    ['/Docs/', 'Docs/x', true],
    ['*.MD', 'README.md', false],
    ['*.md', 'README.MD', false],
    ['readme.md', 'README.md', false],
  ];
  it.each(cases)('%j vs %j → %s', (pattern, path, expected) => {
    expect(matches(pattern, path)).toBe(expected);
  });

  it('matches non-ASCII names, one character per `?`', () => {
    expect(matches('caf?.md', 'café.md')).toBe(true);
    expect(matches('?.txt', '😀.txt')).toBe(true);
  });

  it('does not backtrack catastrophically on many wildcards', () => {
    const co = parseCodeOwners('**/a*a*a*a*a*a*a*a*b/**/x @o', 'CODEOWNERS');
    const path = `${'a/'.repeat(200)}${'a'.repeat(60)}c/y`;
    const start = performance.now();
    expect(ownersOf(co, path)).toEqual({ owners: [], line: null });
    expect(performance.now() - start).toBeLessThan(2000);
  });
});

describe('rule order and ownership', () => {
  it('the last matching rule wins, not the most specific', () => {
    const co = parseCodeOwners('/apps/github/ @doctocat\n/apps/ @octocat\n', 'CODEOWNERS');
    expect(ownersOf(co, 'apps/github/x')).toEqual({ owners: ['@octocat'], line: 2 });
  });

  it('owners on a later line for the same pattern replace earlier ones (GitHub: owners must share a line)', () => {
    const co = parseCodeOwners('*.js @a @b\n*.js @c\n', 'CODEOWNERS');
    expect(ownersOf(co, 'x.js')).toEqual({ owners: ['@c'], line: 2 });
  });

  it('a path that matches nothing has no owners and no line', () => {
    const co = parseCodeOwners('/src/ @a\n*.go @b\n', 'CODEOWNERS');
    expect(ownersOf(co, 'README.md')).toEqual({ owners: [], line: null });
    expect(ownersOf(co, 'lib/src/x.ts')).toEqual({ owners: [], line: null });
  });

  it('keeps owner spelling as written, including teams and emails', () => {
    const co = parseCodeOwners('* @Acme/QA-Leads @OctoCat Jane.Doe@Example.com\n', 'CODEOWNERS');
    expect(ownersOf(co, 'x')).toEqual({
      owners: ['@Acme/QA-Leads', '@OctoCat', 'Jane.Doe@Example.com'],
      line: 1,
    });
  });

  it('separates pattern and owners by any run of spaces or tabs', () => {
    const co = parseCodeOwners('*.ts\t\t@a \t @b', 'CODEOWNERS');
    expect(co.rules).toEqual([{ pattern: '*.ts', owners: ['@a', '@b'], line: 1 }]);
  });

  it('returns a copy of the owners, so callers cannot change the rules', () => {
    const co = parseCodeOwners('* @a', 'CODEOWNERS');
    ownersOf(co, 'x').owners.push('@evil');
    expect(ownersOf(co, 'x').owners).toEqual(['@a']);
    expect(co.rules[0]?.owners).toEqual(['@a']);
  });

  it('tolerates a leading slash on the looked-up path', () => {
    const co = parseCodeOwners('/requests/ @a', 'CODEOWNERS');
    expect(ownersOf(co, '/requests/alice/x.yaml')).toEqual({ owners: ['@a'], line: 1 });
  });
});

describe('comments, whitespace and line endings', () => {
  it('ignores comment lines, indented comments and blank lines, keeping physical line numbers', () => {
    const co = parseCodeOwners('# comment @x\n\n   \n  # indented @y\n*.md @docs\n', 'CODEOWNERS');
    expect(co.warnings).toEqual([]);
    expect(co.rules).toEqual([{ pattern: '*.md', owners: ['@docs'], line: 5 }]);
  });

  it('strips inline comments after owners or after a pattern with no owners', () => {
    const co = parseCodeOwners(
      '*.js @a # owned by @b too\n/vendor/ # nobody owns this\n*.py @c\t#tab comment',
      'X',
    );
    expect(co.warnings).toEqual([]);
    expect(co.rules).toEqual([
      { pattern: '*.js', owners: ['@a'], line: 1 },
      { pattern: '/vendor/', owners: [], line: 2 },
      { pattern: '*.py', owners: ['@c'], line: 3 },
    ]);
  });

  it('a `#` that does not follow whitespace is not a comment', () => {
    const co = parseCodeOwners('issue#12.md @a\n* @a#b\n', 'CODEOWNERS');
    expect(co.rules).toEqual([{ pattern: 'issue#12.md', owners: ['@a'], line: 1 }]);
    expect(ownersOf(co, 'notes/issue#12.md')).toEqual({ owners: ['@a'], line: 1 });
    expect(co.warnings).toHaveLength(1);
    expect(co.warnings[0]?.line).toBe(2);
    expect(co.warnings[0]?.message).toContain('"@a#b"');
  });

  it('a line starting with `#` is a comment even when it looks like a rule', () => {
    const co = parseCodeOwners('#secret.txt @a\n', 'CODEOWNERS');
    expect(co.rules).toEqual([]);
    expect(co.warnings).toEqual([]);
    expect(ownersOf(co, '#secret.txt')).toEqual({ owners: [], line: null });
  });

  it('`\\#` does not escape a leading `#` (GitHub documents that it does not work): the line is skipped', () => {
    const co = parseCodeOwners('* @default\n\\#secret.txt @a\n', 'CODEOWNERS');
    expect(co.rules.map((r) => r.pattern)).toEqual(['*']);
    expect(co.warnings).toHaveLength(1);
    expect(co.warnings[0]?.line).toBe(2);
    expect(co.warnings[0]?.message).toMatch(/escaping a leading "#"/);
    expect(ownersOf(co, '#secret.txt')).toEqual({ owners: ['@default'], line: 1 });
  });

  it('ignores trailing whitespace', () => {
    const co = parseCodeOwners('/apps/github   \n*.md @a  \t\n', 'CODEOWNERS');
    expect(co.rules).toEqual([
      { pattern: '/apps/github', owners: [], line: 1 },
      { pattern: '*.md', owners: ['@a'], line: 2 },
    ]);
  });

  it('handles CRLF line endings', () => {
    const co = parseCodeOwners('# c\r\n* @a\r\n\r\n/docs/ @b @c\r\n/docs/x\r\n', 'CODEOWNERS');
    expect(co.warnings).toEqual([]);
    expect(co.rules).toEqual([
      { pattern: '*', owners: ['@a'], line: 2 },
      { pattern: '/docs/', owners: ['@b', '@c'], line: 4 },
      { pattern: '/docs/x', owners: [], line: 5 },
    ]);
    expect(ownersOf(co, 'docs/a.md')).toEqual({ owners: ['@b', '@c'], line: 4 });
    expect(ownersOf(co, 'docs/x/a.md')).toEqual({ owners: [], line: 5 });
  });

  it('handles the whole example with CRLF endings exactly like LF', () => {
    const lf = parseCodeOwners(GITHUB_EXAMPLE, 'CODEOWNERS');
    const crlf = parseCodeOwners(GITHUB_EXAMPLE.replace(/\n/g, '\r\n'), 'CODEOWNERS');
    expect(crlf).toEqual(lf);
  });

  it('ignores a byte-order mark', () => {
    const co = parseCodeOwners('\uFEFF* @a\n', 'CODEOWNERS');
    expect(co.rules).toEqual([{ pattern: '*', owners: ['@a'], line: 1 }]);
  });

  it('an empty file has no rules, no warnings and owns nothing', () => {
    for (const text of ['', '\n\n', '# only comments\n']) {
      const co = parseCodeOwners(text, 'CODEOWNERS');
      expect(co).toEqual({ path: 'CODEOWNERS', rules: [], warnings: [] });
      expect(ownersOf(co, 'a.txt')).toEqual({ owners: [], line: null });
    }
  });
});

describe('unsupported syntax skips the line with a warning', () => {
  const skipped: Array<[string, RegExp]> = [
    ['!*.md @b', /negation/],
    ['*.[ch] @b', /character ranges/],
    ['[Mm]akefile @b', /character ranges/],
    ['\\#x @b', /escaping a leading "#"/],
    ['foo\\ bar @b', /backslash/],
    ['/ @b', /never matches/],
    ['a//b @b', /empty path segment/],
    ['*.md user', /invalid owner "user"/],
    ['*.md @b @@maintainer', /invalid owner "@@maintainer"/],
    ['*.md @org/team/sub', /invalid owner/],
    ['*.md @-bad', /invalid owner/],
    ['*.md jane@localhost', /invalid owner/],
    ['*.md @b,@c', /invalid owner/],
  ];
  it.each(skipped)('%j', (line, message) => {
    const co = parseCodeOwners(`* @a\n${line}\n*.txt @t\n`, 'docs/CODEOWNERS');
    expect(co.rules.map((r) => r.line)).toEqual([1, 3]);
    expect(co.warnings).toHaveLength(1);
    expect(co.warnings[0]?.line).toBe(2);
    expect(co.warnings[0]?.message).toMatch(message);
    expect(co.warnings[0]?.message).toMatch(/^docs\/CODEOWNERS:2: .*line skipped$/);
    // The skipped line does not affect matching.
    for (const path of ['x.md', 'src/x.c', 'Makefile', '#x', 'foo bar', 'a/b']) {
      expect(ownersOf(co, path)).toEqual({ owners: ['@a'], line: 1 });
    }
    expect(ownersOf(co, 'x.txt')).toEqual({ owners: ['@t'], line: 3 });
  });

  it('one skipped line does not invalidate the rest of the file', () => {
    const co = parseCodeOwners(`${GITHUB_EXAMPLE}\n!*.js @nobody\n`, 'CODEOWNERS');
    expect(co.rules).toHaveLength(14);
    expect(co.warnings.map((w) => w.line)).toEqual([EXAMPLE_LINES.length + 1]);
    expect(ownersOf(co, 'a.js').owners).toEqual(['@js-owner']);
  });

  it('treats braces and extglobs literally (never alternation), keeping the rule with a warning', () => {
    const co = parseCodeOwners('* @a\n*.{js,ts} @b\n+(x|y).md @c\n', 'CODEOWNERS');
    expect(co.rules.map((r) => r.pattern)).toEqual(['*', '*.{js,ts}', '+(x|y).md']);
    expect(co.warnings.map((w) => w.line)).toEqual([2, 3]);
    expect(co.warnings[0]?.message).toMatch(/matched literally/);
    expect(ownersOf(co, 'a.js')).toEqual({ owners: ['@a'], line: 1 });
    expect(ownersOf(co, 'a.ts')).toEqual({ owners: ['@a'], line: 1 });
    expect(ownersOf(co, 'src/a.{js,ts}')).toEqual({ owners: ['@b'], line: 2 });
    expect(ownersOf(co, 'x.md')).toEqual({ owners: ['@a'], line: 1 });
    expect(ownersOf(co, '+(x|y).md')).toEqual({ owners: ['@c'], line: 3 });
  });

  it('braces that are not alternation (a template directory) match without a warning', () => {
    const co = parseCodeOwners('/{{cookiecutter.name}}/ @a\n', 'CODEOWNERS');
    expect(co.warnings).toEqual([]);
    expect(ownersOf(co, '{{cookiecutter.name}}/setup.py')).toEqual({ owners: ['@a'], line: 1 });
  });

  it('warns when an owner stands alone where the pattern belongs, but keeps it as a pattern', () => {
    const co = parseCodeOwners('@octocat\n', 'CODEOWNERS');
    expect(co.rules).toEqual([{ pattern: '@octocat', owners: [], line: 1 }]);
    expect(co.warnings[0]?.message).toMatch(/pattern missing/);
    expect(ownersOf(co, 'src/a.ts')).toEqual({ owners: [], line: null });
  });

  it('ignores a file of 3 MiB or more entirely, as GitHub does', () => {
    const big = `* @a\n${'#'.repeat(3 * 1024 * 1024)}`;
    const co = parseCodeOwners(big, 'CODEOWNERS');
    expect(co.rules).toEqual([]);
    expect(co.warnings).toHaveLength(1);
    expect(co.warnings[0]?.line).toBe(0);
    expect(ownersOf(co, 'x')).toEqual({ owners: [], line: null });

    const justUnder = `* @a\n${'#'.repeat(3 * 1024 * 1024 - 6)}`;
    expect(parseCodeOwners(justUnder, 'CODEOWNERS').rules).toHaveLength(1);
  });

  it('counts the size limit in UTF-8 bytes', () => {
    // 1,048,576 three-byte characters are exactly 3 MiB.
    const co = parseCodeOwners(`#${'€'.repeat(1024 * 1024)}\n* @a`, 'CODEOWNERS');
    expect(co.rules).toEqual([]);
    const small = parseCodeOwners(`#${'€'.repeat(1024 * 1024 - 3)}\n* @a`, 'CODEOWNERS');
    expect(small.rules).toHaveLength(1);
  });
});

describe('ownersOf robustness', () => {
  it('returns no owners for a missing CODEOWNERS file', () => {
    expect(ownersOf(null, 'a.txt')).toEqual({ owners: [], line: null });
  });

  it('never throws on malformed input', () => {
    const weird = {
      path: 'x',
      rules: [
        null,
        { pattern: 42, owners: ['@a'], line: 1 },
        { pattern: '[', owners: ['@b'], line: 2 },
        { pattern: '*', owners: null, line: 3 },
      ],
      warnings: [],
    } as unknown as CodeOwners;
    expect(() => ownersOf(weird, 'a')).not.toThrow();
    expect(ownersOf(weird, 'a')).toEqual({ owners: [], line: 3 });
    expect(ownersOf({ path: 'x' } as unknown as CodeOwners, 'a')).toEqual({ owners: [], line: null });
    expect(ownersOf(parseCodeOwners('* @a', 'x'), undefined as unknown as string)).toEqual({
      owners: [],
      line: null,
    });
    expect(ownersOf(parseCodeOwners('* @a', 'x'), '')).toEqual({ owners: [], line: null });
  });

  it('works on rules built by hand and picks up edited patterns', () => {
    const co: CodeOwners = {
      path: 'CODEOWNERS',
      rules: [{ pattern: 'docs/*', owners: ['@d'], line: 7 }],
      warnings: [],
    };
    expect(ownersOf(co, 'docs/a.md')).toEqual({ owners: ['@d'], line: 7 });
    expect(ownersOf(co, 'docs/a/b.md')).toEqual({ owners: [], line: null });
    const rule = co.rules[0];
    if (rule) rule.pattern = '/docs/';
    expect(ownersOf(co, 'docs/a/b.md')).toEqual({ owners: ['@d'], line: 7 });
  });

  it('answers 10,000 lookups against the example quickly', () => {
    const co = parseCodeOwners(GITHUB_EXAMPLE, 'CODEOWNERS');
    const start = performance.now();
    for (let i = 0; i < 10_000; i++) ownersOf(co, `requests/user${i}/grant-${i}.yaml`);
    expect(performance.now() - start).toBeLessThan(2000);
  });
});

describe('findCodeOwners', () => {
  /** The file findCodeOwners picks when `present` exist, and the paths it asked for, in order. */
  const pick = async (present: string[]) => {
    const asked: string[] = [];
    const co = await findCodeOwners(async (p) => {
      asked.push(p);
      return present.includes(p) ? `# ${p}\n* @owner\n` : null;
    });
    return { path: co?.path ?? null, asked, co };
  };

  it('looks in the locations in GitHub search order', async () => {
    expect((await pick([])).asked).toEqual(['.github/CODEOWNERS', 'CODEOWNERS', 'docs/CODEOWNERS']);
  });

  const cases: Array<[string[], string | null]> = [
    [['.github/CODEOWNERS', 'CODEOWNERS', 'docs/CODEOWNERS'], '.github/CODEOWNERS'],
    [['docs/CODEOWNERS', 'CODEOWNERS'], 'CODEOWNERS'],
    [['docs/CODEOWNERS', '.github/CODEOWNERS'], '.github/CODEOWNERS'],
    [['docs/CODEOWNERS'], 'docs/CODEOWNERS'],
    [['.github/codeowners', 'Codeowners', 'CODEOWNERS.md'], null],
    [[], null],
  ];
  it.each(cases)('with %j → %j', async (present, expected) => {
    const { path, co } = await pick(present);
    expect(path).toBe(expected);
    if (expected) expect(co?.rules).toEqual([{ pattern: '*', owners: ['@owner'], line: 2 }]);
  });

  it('stops at the first location that exists', async () => {
    expect((await pick(['CODEOWNERS'])).asked).toEqual(['.github/CODEOWNERS', 'CODEOWNERS']);
  });
});

describe('parseOwner', () => {
  it('classifies users, teams and emails without changing their spelling', () => {
    expect(parseOwner('@octocat')).toEqual({ kind: 'user', login: 'octocat' });
    expect(parseOwner('@Octo-Cat')).toEqual({ kind: 'user', login: 'Octo-Cat' });
    expect(parseOwner('@octocat_acme')).toEqual({ kind: 'user', login: 'octocat_acme' });
    expect(parseOwner('@octo-org/octocats')).toEqual({
      kind: 'team',
      org: 'octo-org',
      team: 'octocats',
      slug: '@octo-org/octocats',
    });
    expect(parseOwner('@Acme/QA-Leads')).toEqual({
      kind: 'team',
      org: 'Acme',
      team: 'QA-Leads',
      slug: '@acme/qa-leads',
    });
    expect(parseOwner('docs@example.com')).toEqual({ kind: 'email', email: 'docs@example.com' });
    expect(parseOwner('Jane.Doe+ops@Mail.Example.co.uk')).toEqual({
      kind: 'email',
      email: 'Jane.Doe+ops@Mail.Example.co.uk',
    });
  });

  it('rejects anything else', () => {
    for (const token of [
      '',
      '@',
      'octocat',
      '@@maintainer',
      '@-octocat',
      '@octo cat',
      '@org/',
      '@/team',
      '@org/team/sub',
      'user@',
      '@example.com',
      'user@localhost',
      'a@b@c.com',
      '#comment',
      ' @octocat',
    ]) {
      expect(parseOwner(token), token).toBeNull();
    }
  });
});

describe("the example access repo's CODEOWNERS (.github/CODEOWNERS)", () => {
  const text = readFileSync(new URL('../../.github/CODEOWNERS', import.meta.url), 'utf8');
  const co = parseCodeOwners(text, '.github/CODEOWNERS');
  const owners = (p: string) => ownersOf(co, p).owners;

  it('parses without warnings', () => {
    expect(co.warnings).toEqual([]);
  });

  it('guards every governance path, the teams file and the action code included, with the security team', () => {
    for (const p of [
      'policies/qa.yaml',
      'schemas/request.schema.json',
      'timebox.yaml',
      '.github/CODEOWNERS',
      '.github/workflows/timebox-check.yml',
      'teams.yaml',
      '.github/timebox-teams.yaml',
      'action.yml',
      'bin/timebox.js',
      'src/core/approvals.ts',
      'package.json',
      'package-lock.json',
    ])
      expect(owners(p), p).toEqual(['@acme/security']);
  });

  it('leaves request files to their policy (no code owner)', () => {
    expect(owners('requests/alice/bug-1234.yaml')).toEqual([]);
  });
});
