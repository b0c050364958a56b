// `npm run bench:whatif`: how much does `timebox whatif` cost beside a cold `timebox status` over the same
// history? whatif reads the same history (one git log, one cat-file) and then decides every version twice,
// under the base policies and the working tree's; status folds it once.
// The history is bench:ledger's (bench/ledger.ts `generateRepo`: by default 100,000 commits, 20,000 grants,
// a quarter through merged pull requests), checked out, with real policies committed on main for its
// resources (`<service>-<db|cache|queue>`, roles read-only, read-write, admin) and a proposed change in the
// working tree (shorter reads, narrower office hours for writes, admin denied), so that decisions change.
// Then, in one process and alternating, after one warm-up round:
//   (S)  status  - `runStatus --json`, cold (the cache in .git/timebox/ deleted first);
//   (W)  whatif  - `runWhatif --base main --teams teams.yaml --json` (it keeps no cache).
// Goal: (W) <= 2x (S). A missed goal is reported, never an exit code.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runStatus } from '../src/cli/ledger.js';
import { runWhatif } from '../src/cli/whatif.js';
import * as lib from './lib.js';

const GOAL = 2;

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    commits: { type: 'string', default: '100000' },
    grants: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (values.help) {
  lib.exitWithUsage(
    'usage: npm run bench:whatif -- [--commits N] [--grants N] [--rounds N] [--keep]\n' +
      '  --commits  commits reachable from main (default 100000), as bench:ledger generates them\n' +
      '  --grants   request files added (default: commits / 5)\n' +
      '  --rounds   measured rounds after one warm-up round (default 3; the median is reported)\n' +
      '  --keep     keep the generated repo and print its path\n',
  );
}
const commits = lib.wholeNumber('commits', values.commits, 10);
const grants = lib.wholeNumber('grants', values.grants ?? String(Math.floor(commits / 5)), 1);
const rounds = lib.wholeNumber('rounds', values.rounds, 1);

// bench/ledger.ts runs its own benchmark when imported; `--rss-child floor` is its no-op entry (it reports one
// line of figures, swallowed here), after which `generateRepo` is ours to call: the same history, same seed.
const { generateRepo } = await (async () => {
  const [argv, write] = [process.argv, process.stdout.write];
  process.argv = [argv[0] as string, argv[1] as string, '--rss-child', 'floor'];
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return await import('./ledger.js');
  } finally {
    process.argv = argv;
    process.stdout.write = write;
  }
})();

const SERVICES = ['orders', 'billing', 'customers', 'payments', 'search', 'inventory', 'shipping', 'reports'];
const KINDS = ['db', 'cache', 'queue'];

function policy(proposed: boolean): string {
  const resources = SERVICES.flatMap((s) =>
    KINDS.map(
      (k) => `  ${s}-${k}:
    provider: postgres
    connection: ${s}
    roles:
      read-only: { grant: [${s}_read], read_only: true }
      read-write: { grant: [${s}_write] }
      admin: { grant: [${s}_admin] }
`,
    ),
  );
  return `resources:
${resources.join('')}rules:
  - name: read
    requesters: ["*"]
    resources: ["*"]
    roles: [read-only]
    max_duration: ${proposed ? '4h' : '1d'}
    approvals:
      - { from: ["@acme/leads"], count: 1 }
  - name: write
    requesters: ["@acme/eng"]
    resources: ["*-db", "*-cache"]
    roles: [read-write]
    max_duration: 1d
    hours: { days: [mon, tue, wed, thu, fri], from: "${proposed ? '09:00' : '06:00'}", to: "${proposed ? '17:00' : '22:00'}", tz: Europe/Berlin }
    approvals:
      - { from: ["@acme/leads"], count: 1 }
      - { from: ["@acme/dba"], count: 1 }
  - name: admin
    requesters: ["@acme/sre"]
    resources: ["*"]
    roles: [admin]
    approvals:
      - { from: ["@acme/security"], count: 1 }
${proposed ? '  - name: no-admin\n    effect: deny\n    resources: ["*"]\n    roles: [admin]\n' : ''}`;
}

const TEAMS = `"@acme/eng": [alice, bob, dave, erin, frank, grace, heidi, ivan, judy]
"@acme/leads": [carol]
"@acme/dba": [dba-ann, dba-bo]
"@acme/sre": [sre-cy]
"@acme/security": [sec-eve]
`;

const git = (root: string, ...args: string[]) =>
  execFileSync('git', args, {
    cwd: root,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'bench',
      GIT_AUTHOR_EMAIL: 'bench@example.com',
      GIT_COMMITTER_NAME: 'bench',
      GIT_COMMITTER_EMAIL: 'bench@example.com',
    },
  });

const g0 = performance.now();
const repo = await generateRepo(commits, grants);
const root = repo.root;
// A work tree with real policies on main (a commit outside requests/: the history replayed is unchanged),
// and the proposed change beside it.
git(root, 'checkout', '-q', '-f', 'main');
rmSync(join(root, 'policies'), { recursive: true, force: true });
lib.writeInto(root, 'policies/bench.yaml', policy(false));
lib.writeInto(root, 'teams.yaml', TEAMS);
// bench:ledger's CODEOWNERS is filler text; an access repo's names owners.
lib.writeInto(root, '.github/CODEOWNERS', 'requests/ @acme/leads\n');
git(root, 'add', '-A', 'policies', 'teams.yaml', '.github/CODEOWNERS');
git(root, 'commit', '-q', '-m', 'Real policies for bench:whatif');
lib.writeInto(root, 'policies/bench.yaml', policy(true));
const genMs = performance.now() - g0;

try {
  lib.printMachine('whatif');
  lib.out(
    `history: ${repo.commits} commits (${repo.mainCommits} on the first-parent line), ${repo.grants} grants, ` +
      `${repo.extensions} extensions; generated and checked out in ${(genMs / 1000).toFixed(1)} s` +
      `${values.keep ? ` at ${root}` : ''}`,
  );
  lib.printRoundsPlan(rounds);
  lib.out();
  const gc = lib.collector();
  const times = { status: [] as number[], whatif: [] as number[] };
  let summary = '';
  for (let round = 0; round <= rounds; round++) {
    const measure = lib.measurer(gc, round);
    const status = async () => {
      rmSync(join(root, '.git', 'timebox'), { recursive: true, force: true });
      const io = lib.collectingIo(root);
      const exit = await measure(times.status, () => runStatus(io, { repo: root, json: true }));
      if (exit !== 0) throw new Error(`status exited ${exit}: ${io.err.join('')}`);
    };
    const whatif = async () => {
      const io = lib.collectingIo(root);
      const exit = await measure(times.whatif, () =>
        runWhatif(io, { repo: root, base: 'main', teams: 'teams.yaml', json: true }),
      );
      if (exit !== 0) throw new Error(`whatif exited ${exit}: ${io.err.join('')}`);
      const doc = JSON.parse(io.out.join('')) as {
        changed: { before: string; after: string }[];
        unchanged: number;
      };
      const kinds = new Map<string, number>();
      for (const c of doc.changed)
        kinds.set(`${c.before} → ${c.after}`, (kinds.get(`${c.before} → ${c.after}`) ?? 0) + 1);
      summary = `${doc.changed.length} changed (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}), ${doc.unchanged} unchanged; ${io.err.join('').trim()}`;
    };
    for (const step of round % 2 === 0 ? [status, whatif] : [whatif, status]) await step();
    lib.roundDone(round);
  }
  const m = lib.medians(times);
  const ratio = m.whatif / m.status;
  lib.printTable([
    ['(S) status --json, cold', `${m.status.toFixed(0)} ms`, ''],
    ['(W) whatif --base main --json', `${m.whatif.toFixed(0)} ms`, `${ratio.toFixed(2)}x (S)`],
    ...lib.peakRssRows(),
  ]);
  lib.out(`whatif: ${summary}`);
  lib.out(`all rounds (ms): S ${lib.roundsList(times.status)} | W ${lib.roundsList(times.whatif)}`);
  lib.out();
  lib.out(`goal whatif <= ${GOAL}x status cold: ${ratio <= GOAL ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`);
} finally {
  if (!values.keep) lib.removeDir(root);
}
