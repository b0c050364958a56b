// `npm run bench:startup`: what a cold `timebox` process costs, against a bare `node -e 0` measured in the
// same run. Each round runs, one after the other (so that a slow moment of the machine hits all alike):
//   (N) baseline - `node -e 0`: starting Node.js itself;
//   (H) --help   - `node bin/timebox.js --help`: the launcher, commander and every command's options;
//   (C) check    - `node bin/timebox.js check requests/alice/….yaml` in a small temporary access repo (this
//                  repo's policies/ and schemas/, one request file): what a local `check` or an Actions job pays.
// Wall time is the median of the measured rounds, timed around the spawned process (its output is captured
// and checked, never printed). Peak RSS is the kernel's figure for each process: `/usr/bin/time -f %M` when
// it is installed, else `process.resourceUsage().maxRSS` written at exit by a preloaded hook (the same hook
// for all three, so the figures stay comparable); measured in separate runs so that it never skews the times.
// Runs the compiled dist/ that bin/timebox.js loads: `npm run build` first.
// Goals: (H) <= 2x (N), (C) <= 3x (N). A missed goal is reported, never an exit code.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as lib from './lib.js';

const HELP_GOAL = 2;
const CHECK_GOAL = 3;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'timebox.js');
const TIME = '/usr/bin/time';
const REQUEST = 'requests/alice/2026-12-01-orders-db-read-only.yaml';

const USAGE = `usage: npm run bench:startup -- [--rounds N] [--rss-rounds N] [--keep] [--bin PATH]

  --rounds N      measured rounds after one warm-up round (default 15; the median is reported)
  --rss-rounds N  separate runs of each command for its peak RSS (default 3; the median is reported)
  --keep          keep the temporary access repo and print its path
  --bin PATH      the launcher to run (default bin/timebox.js; e.g. one beside a build with another --outDir)

Runs bin/timebox.js, which loads dist/: run \`npm run build\` after changing src/.
`;

interface Command {
  key: 'node' | 'help' | 'check';
  label: string;
  args: string[];
  /** What a correct run prints on stdout: a run that does not print it is a failed benchmark, not a figure. */
  expect: RegExp;
}

/** A small access repo: this repo's policies/ and schemas/, and one request file that `check` decides. */
function makeRepo(): string {
  const root = lib.tempDir('timebox-startup-');
  cpSync(join(ROOT, 'policies'), join(root, 'policies'), { recursive: true });
  cpSync(join(ROOT, 'schemas'), join(root, 'schemas'), { recursive: true });
  lib.writeInto(
    root,
    REQUEST,
    lib.requestYaml({
      requester: 'alice',
      resource: 'orders-db',
      role: 'read-only',
      duration: '2h',
      reason: 'Reproduce BUG-1234, EU order totals off by VAT',
      ticket: 'BUG-1234',
    }),
  );
  return root;
}

/** A preloaded module that writes the process's peak RSS (KiB) to $TIMEBOX_BENCH_RSS_FILE at exit. */
function rssHook(dir: string): string {
  const file = join(dir, 'rss-hook.mjs');
  writeFileSync(
    file,
    "import { writeFileSync } from 'node:fs';\n" +
      "process.on('exit', () => writeFileSync(process.env.TIMEBOX_BENCH_RSS_FILE, String(process.resourceUsage().maxRSS)));\n",
  );
  return file;
}

/** Runs one command; fails loudly if it did not do its job. */
function run(cmd: Command, cwd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): number {
  const start = performance.now();
  const r = spawnSync(argv[0] as string, argv.slice(1), { cwd, env, encoding: 'utf8' });
  const ms = performance.now() - start;
  if (r.status !== 0 || !cmd.expect.test(r.stdout)) {
    throw new Error(
      `${cmd.label} failed (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}\n(is dist/ built? npm run build)`,
    );
  }
  return ms;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '15' },
      'rss-rounds': { type: 'string', default: '3' },
      keep: { type: 'boolean', default: false },
      bin: { type: 'string', default: BIN },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) lib.exitWithUsage(USAGE);
  const rounds = lib.wholeNumber('rounds', values.rounds, 1);
  const rssRounds = lib.wholeNumber('rss-rounds', values['rss-rounds'], 1);
  const bin = resolve(values.bin);
  if (!existsSync(join(dirname(bin), '..', 'dist', 'cli', 'main.js'))) {
    throw new Error(`${join(dirname(bin), '..', 'dist')} is not built: run \`npm run build\` first`);
  }
  // Without the validators `npm run build` precompiles, every start compiles the schemas (src/core/schemas.ts).
  const precompiled = existsSync(join(dirname(bin), '..', 'dist', 'core', 'schema-validators.cjs'));

  const node = process.execPath;
  const commands: Command[] = [
    { key: 'node', label: '(N) node -e 0', args: [node, '-e', '0'], expect: /^$/ },
    { key: 'help', label: '(H) timebox --help', args: [node, bin, '--help'], expect: /^Usage: timebox /m },
    {
      key: 'check',
      label: '(C) timebox check <1 file>',
      args: [node, bin, 'check', REQUEST],
      expect: /^1 file: 1 pending$/m,
    },
  ];

  const repo = makeRepo();
  try {
    lib.printMachine('startup');
    lib.out(`access repo: policies/ and schemas/ of this repo, one request file (${REQUEST})`);
    lib.out(
      `launcher: ${bin}; schema validators ${precompiled ? 'precompiled by the build' : 'NOT precompiled (compiled at each start)'}`,
    );
    lib.printRoundsPlan(rounds);

    const times: Record<Command['key'], number[]> = { node: [], help: [], check: [] };
    for (let round = 0; round <= rounds; round++) {
      for (const cmd of commands) {
        const ms = run(cmd, repo, cmd.args);
        if (round > 0) times[cmd.key].push(ms);
      }
      if (round === 0 || round % 5 === 0 || round === rounds) lib.roundDone(round);
    }

    // Peak RSS, in runs of their own.
    const useTime = existsSync(TIME);
    const rssFile = join(repo, 'rss.txt');
    const hook = useTime ? '' : rssHook(repo);
    const rss: Record<Command['key'], number[]> = { node: [], help: [], check: [] };
    for (let i = 0; i < rssRounds; i++) {
      for (const cmd of commands) {
        if (useTime) run(cmd, repo, [TIME, '-f', '%M', '-o', rssFile, ...cmd.args]);
        else {
          const [bin, ...rest] = cmd.args;
          run(cmd, repo, [bin as string, '--import', hook, ...rest], {
            ...process.env,
            TIMEBOX_BENCH_RSS_FILE: rssFile,
          });
        }
        const kib = Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1));
        if (!Number.isFinite(kib) || kib <= 0) throw new Error(`no peak RSS for ${cmd.label}`);
        rss[cmd.key].push(kib * 1024);
      }
    }

    const t = lib.medians(times);
    const m = lib.medians(rss);
    const x = (n: number) => `${(n / t.node).toFixed(2)}x`;
    const xr = (n: number) => `${(n / m.node).toFixed(2)}x`;
    lib.out('');
    lib.out(
      `peak RSS: ${useTime ? `${TIME} -f %M` : 'process.resourceUsage().maxRSS at exit (preloaded hook)'}, median of ${rssRounds} runs each`,
    );
    lib.printTable([
      ['(N) node -e 0', `${t.node.toFixed(0)} ms`, `baseline; peak RSS ${lib.mib(m.node)}`],
      [
        '(H) timebox --help',
        `${t.help.toFixed(0)} ms`,
        `${x(t.help)} (N)  goal <= ${HELP_GOAL}x; peak RSS ${lib.mib(m.help)} (${xr(m.help)})`,
      ],
      [
        '(C) timebox check <1 file>',
        `${t.check.toFixed(0)} ms`,
        `${x(t.check)} (N)  goal <= ${CHECK_GOAL}x; peak RSS ${lib.mib(m.check)} (${xr(m.check)})`,
      ],
    ]);
    lib.out('all rounds (ms):');
    for (const cmd of commands) lib.out(`  ${cmd.label.padEnd(28)} ${lib.roundsList(times[cmd.key])}`);
    lib.out('');
    const verdict = (what: string, n: number, goal: number) =>
      lib.out(`goal ${what} <= ${goal}x node -e 0: ${n / t.node <= goal ? 'met' : 'NOT met'} (${x(n)})`);
    verdict('timebox --help', t.help, HELP_GOAL);
    verdict('timebox check <1 file>', t.check, CHECK_GOAL);
  } finally {
    if (values.keep) lib.out(`kept: ${repo}`);
    else lib.removeDir(repo);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench/startup.ts: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
