// The command an access review prints to rebuild it (src/audit/review.ts) goes through a real POSIX shell
// unchanged: every word is quoted so that `sh -c` hands the program exactly the values the review was built
// with — quotes, `$(…)`, backticks, spaces, newlines, globs and leading dashes included — and running the
// printed command gives the same review again.
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rebuildCommand, shellQuote } from '../../src/audit/review.js';
import { fixedClock } from '../../src/core/clock.js';
import { exampleRepo, git, run, tempDir, write } from '../helpers/repo.js';

/** The words `sh -c` makes of `script` after the function `timebox` it defines, each as the program gets it. */
function wordsThroughSh(script: string): string[] {
  const out = execFileSync('sh', ['-c', `timebox() { printf '%s\\0' "$@"; }\n${script}`], {
    encoding: 'utf8',
    // An empty folder: a quote that failed would show as a changed word, and anything it ran would run here.
    cwd: tempDir(),
  });
  return out.split('\0').slice(0, -1);
}

const HOSTILE = [
  "it's",
  "'",
  "''",
  "'\\''",
  '$(touch pwned)',
  '`touch pwned`',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, on purpose
  '${HOME}',
  '$HOME',
  'two words',
  ' leading and trailing ',
  'line\nbreak',
  '\n',
  '"double"',
  'back\\slash',
  '*-db',
  '[a-z]*',
  '-rf',
  '--who=mallory',
  'a;b|c&d>e<f',
  '#not a comment',
  '~root',
  '',
  '```',
  'é ünïcödé ☃',
];

describe('shellQuote', () => {
  it('hostile values arrive through sh -c unchanged', () => {
    const script = `timebox ${HOSTILE.map(shellQuote).join(' ')}`;
    expect(wordsThroughSh(script)).toEqual(HOSTILE);
  });

  it('any string without NUL arrives unchanged, and a single quote is escaped the POSIX way', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('orders-db')).toBe('orders-db');
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('\0')),
          { minLength: 1, maxLength: 20 },
        ),
        (words) => {
          expect(wordsThroughSh(`timebox ${words.map(shellQuote).join(' ')}`)).toEqual(words);
        },
      ),
      { numRuns: 50 },
    );
  });
});

/** `timebox audit --format review` with these options, as the program gets them: one `--option=value` word each. */
const reviewArgv = (o: {
  ref?: string;
  since: string;
  until: string;
  who: readonly string[];
  resources: readonly string[];
}): string[] => [
  'audit',
  '--format',
  'review',
  ...(o.ref ? [`--ref=${o.ref}`] : []),
  `--since=${o.since}`,
  `--until=${o.until}`,
  ...o.who.map((w) => `--who=${w}`),
  ...o.resources.map((r) => `--resource=${r}`),
];

describe('rebuildCommand', () => {
  it('gives the program each option and value as the review had them, one word each', () => {
    const command = rebuildCommand({
      sha: 'a'.repeat(40),
      since: new Date('2026-07-01T00:00:00Z'),
      until: new Date('2026-07-31T23:59:59Z'),
      who: ["o'brien", '-x'],
      resources: HOSTILE,
    });
    expect(wordsThroughSh(command)).toEqual(
      reviewArgv({
        ref: 'a'.repeat(40),
        since: '2026-07-01T00:00:00.000Z',
        until: '2026-07-31T23:59:59.000Z',
        who: ["o'brien", '-x'],
        resources: HOSTILE,
      }),
    );
  });
});

describe('timebox audit --format review', () => {
  it('prints a command that, run by sh, passes hostile --who and --resource values unchanged and rebuilds the same review', async () => {
    const dir = exampleRepo();
    write(
      dir,
      'requests/alice/a.yaml',
      'requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-7\n',
    );
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'alice');
    const resources = ['orders-*', "it's $(touch pwned) `id`", 'two words\nand a line', '-leading-dash'];
    const who = ['alice', "o'brien\n$HOME"];
    const argv = reviewArgv({ since: '2026-01-01T00:00:00Z', until: '2099-01-01T00:00:00Z', who, resources });
    const clock = fixedClock('2099-01-01T00:00:00Z');
    const first = await run(argv, { cwd: dir, clock });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('| alice | 1 |');
    // The command is the fenced block after "Anyone can rebuild it", to the letter (line breaks included).
    const block = /Anyone can rebuild it from the same history:\n\n(`{3,})sh\n([\s\S]*?)\n\1\n/.exec(
      first.stdout,
    );
    expect(block).not.toBeNull();
    const words = wordsThroughSh(block?.[2] ?? '');
    const head = git(dir, 'rev-parse', 'HEAD').trim();
    expect(words).toEqual(
      reviewArgv({
        ref: head,
        since: '2026-01-01T00:00:00.000Z',
        until: '2099-01-01T00:00:00.000Z',
        who,
        resources,
      }),
    );
    const again = await run(words, { cwd: dir, clock });
    expect(again.code).toBe(0);
    // The same review, but that it names the commit it was asked for by its id rather than as HEAD.
    expect(again.stdout).toBe(first.stdout.replace('Built from `HEAD`', `Built from \`${head}\``));
  }, 60_000);
});
