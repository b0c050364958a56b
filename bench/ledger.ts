// `npm run bench:ledger`: how much slower are `timebox status` and `timebox audit` than one raw
// `git log --name-status` over the same history?
// Builds a synthetic access repo with `git fast-import` (never through porcelain) in a temporary directory:
// by default 100,000 commits reachable from `main`, 20,000 of which grant access by adding
// `requests/<login>/<n>.yaml` (a quarter through merged pull requests), some extending, revoking or
// reverting expired requests, and most touching docs/, policies/, src/ and test/ only. Then times, in one
// process and alternating, after one warm-up round:
//   (R)  raw       - `git log --name-status main`, output drained and discarded;
//   (S)  status    - `runStatus --json`, cold (cache in .git/timebox/ deleted first) and warm (cache in place);
//   (A)  audit     - `runAudit --format json`, cold and warm;
// and the phases inside them (git log, parse, cat-file, cache, buildLedger, parseRequest, JSON output).
// Goals: cold <= 1.5x (R), warm <= 0.2x (R). A missed goal is reported, never an exit code.
// Memory: each of status and audit, cold and warm, runs again in a fresh node process (same flags, so with
// tsx) that reports its own peak RSS (`process.resourceUsage().maxRSS`, as `/usr/bin/time -v` would), so
// that no phase inherits another's peak. Goals: <= 256 MiB at 100,000 commits; above that, a second repo of
// `--compare` commits (default 100,000; same grants) is generated and each peak must stay <= 1.2x its own
// there: memory grows with the grants, not with the length of history.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runAudit, runStatus } from '../src/cli/ledger.js';
import { parseRequest } from '../src/core/decide.js';
import { activeAt, buildLedger, type HistoryCommit, type Ledger } from '../src/core/ledger.js';
import { DEFAULT_CONFIG } from '../src/core/model.js';
import { cachedHistory, parseLog, readHistory } from '../src/repo/history.js';
import * as lib from './lib.js';

const COLD_GOAL = 1.5;
const WARM_GOAL = 0.2;
/** Peak RSS of one status or audit run, in a fresh process. */
const MEMORY_GOAL = 256 * 1024 * 1024;
/** Peak RSS at more commits (same grants) against the `--compare` repo's. */
const MEMORY_GROWTH_GOAL = 1.2;
/** How often each memory figure is taken (in a fresh process each time); the largest is reported. */
const MEMORY_RUNS = 2;
const REQUESTS = 'requests';
/** The `git log` format of src/repo/history.ts, to time that one git process alone. */
const LOG_FORMAT = '%x1e%H%x1f%P%x1f%cI%x1f%aI%x1f%an <%ae>%x1f%cn%x1f%s%x1f%(trailers:only,unfold)%x1f';

export interface BenchOptions {
  commits: number;
  grants: number;
  rounds: number;
  keep: boolean;
  /** Write a commit-graph with changed-path Bloom filters after the import, as `git maintenance` would. */
  commitGraph: boolean;
  /** Commits of the repo whose peak RSS the run's is compared with (0: none). */
  compare: number;
  /** Internal: run one command in this (fresh) process and report its peak RSS (see `measureMemory`). */
  rssChild?: { what: string; repo: string };
}

export function readOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      commits: { type: 'string', default: '100000' },
      grants: { type: 'string', default: '20000' },
      rounds: { type: 'string', default: '3' },
      keep: { type: 'boolean', default: false },
      'commit-graph': { type: 'boolean', default: false },
      compare: { type: 'string' },
      'rss-child': { type: 'string' },
      repo: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    lib.exitWithUsage(
      'usage: npm run bench:ledger -- [--commits N] [--grants N] [--rounds N] [--keep] [--commit-graph]\n' +
        '  --commits  commits reachable from main, side-branch commits included (default 100000)\n' +
        '  --grants   request files added, each one grant (default 20000)\n' +
        '  --rounds   measured rounds after one warm-up round (default 3; the median is reported)\n' +
        '  --keep     keep the generated repo and print its path\n' +
        '  --commit-graph  write a commit-graph with changed-path Bloom filters first (as `git maintenance`\n' +
        '                  does); the default is a freshly imported pack without one\n' +
        '  --compare  above 100000 commits: also generate a repo of N commits (default 100000, same grants)\n' +
        '             and compare peak RSS with it (goal <= 1.2x); 0: no comparison\n',
    );
  }
  const commits = lib.wholeNumber('commits', values.commits, 10);
  const grants = lib.wholeNumber('grants', values.grants, 1);
  if (plan(commits, grants).others < 0) {
    process.stderr.write(
      `--commits ${commits} is too few for --grants ${grants} (about 1.5 commits per grant needed)\n`,
    );
    process.exit(2);
  }
  const compare =
    values.compare !== undefined
      ? lib.wholeNumber('compare', values.compare, 0)
      : commits > 100_000
        ? 100_000
        : 0;
  if (compare > 0 && plan(compare, grants).others < 0) {
    process.stderr.write(`--compare ${compare} is too few commits for --grants ${grants}\n`);
    process.exit(2);
  }
  return {
    commits,
    grants,
    rounds: lib.wholeNumber('rounds', values.rounds, 1),
    keep: values.keep,
    commitGraph: values['commit-graph'],
    compare,
    ...(values['rss-child'] ? { rssChild: { what: values['rss-child'], repo: values.repo ?? '.' } } : {}),
  };
}

// --- generating the history ----------------------------------------------------------------------------

const NAMES = [
  'alice',
  'bob',
  'dave',
  'erin',
  'frank',
  'grace',
  'heidi',
  'ivan',
  'judy',
  'mallory',
  'niaj',
  'olivia',
  'peggy',
  'rupert',
  'sybil',
  'trent',
  'victor',
  'walter',
  'yusuf',
  'zoe',
];
const APPROVERS = ['carol', 'dba-ann', 'dba-bo', 'sre-cy', 'sec-eve'];
const SERVICES = ['orders', 'billing', 'customers', 'payments', 'search', 'inventory', 'shipping', 'reports'];
const KINDS = ['db', 'cache', 'queue'];
const ROLES = ['read-only', 'read-only', 'read-only', 'read-write', 'admin'];
const DURATIONS = ['1h', '2h', '2h', '4h', '8h', '1h30m', '1d'];
const LONGER = ['4h', '8h', '1d', '1d12h'];
const VERBS = ['Investigate', 'Reproduce', 'Backfill', 'Audit', 'Debug'];
const WHAT = ['totals off by VAT', 'slow checkout queries', 'missing rows after import', 'duplicate events'];
const MODULES = Array.from(
  { length: 40 },
  (_, i) => `${SERVICES[i % SERVICES.length]}${i >= 8 ? `-${i}` : ''}`,
);
const DURATION_SECONDS: Record<string, number> = {
  '1h': 3600,
  '1h30m': 5400,
  '2h': 7200,
  '4h': 14400,
  '8h': 28800,
  '1d': 86400,
  '1d12h': 129600,
};

export interface GeneratedRepo {
  root: string;
  /** Commits reachable from main (first-parent chain plus side-branch commits). */
  commits: number;
  mainCommits: number;
  merges: number;
  grants: number;
  mergedGrants: number;
  extensions: number;
  revocations: number;
  expiryReverts: number;
  expiredFilesRemoved: number;
  otherCommits: number;
  streamBytes: number;
  first: string;
  last: string;
}

type Slot = 'grant' | 'merge-grant' | 'other' | 'merge-other' | 'expire';

interface Present {
  path: string;
  text: string;
  expires: number;
  busy: boolean;
  gone: boolean;
}

interface Person {
  name: string;
  email: string;
}

const person = (login: string): Person => ({ name: login, email: `${login}@example.com` });
const GITHUB: Person = { name: 'GitHub', email: 'noreply@github.com' };

/** Plausible source text for `path` at revision `rev`: a few hundred bytes, unique per revision. */
function fileText(path: string, rev: number): string {
  const lines = [`// ${path}`, `// revision ${rev}`];
  const n = 8 + (path.length % 12);
  for (let i = 0; i < n; i++)
    lines.push(`export const value${i} = ${(rev * 31 + i * 7) % 1000}; // ${path.length}`);
  return `${lines.join('\n')}\n`;
}

/** Writes a fast-import stream to `git fast-import --quiet` in a fresh repo; returns what it made. */
export async function generateRepo(commits: number, grants: number): Promise<GeneratedRepo> {
  if (plan(commits, grants).others < 0)
    throw new Error(`--commits ${commits} is too few for --grants ${grants}`);
  const root = lib.tempDir('timebox-bench-ledger-');
  try {
    // A fixed seed, so every run generates the same history (up to its dates).
    return await generateInto(root, lib.random(20261201), commits, grants);
  } catch (err) {
    lib.removeDir(root);
    throw err;
  }
}

/** How many commits of each kind: merged grants and merged other work cost two commits (branch + merge). */
function plan(commits: number, grants: number) {
  const mergedGrants = Math.round(grants * 0.25);
  const otherMerges = Math.round(commits * 0.03);
  const expireSlots = Math.round(grants * 0.05);
  const others = commits - 2 * mergedGrants - 2 * otherMerges - (grants - mergedGrants) - expireSlots - 1;
  return { mergedGrants, otherMerges, expireSlots, others };
}

async function generateInto(
  root: string,
  rand: () => number,
  commits: number,
  grants: number,
): Promise<GeneratedRepo> {
  const pick = lib.picker(rand);
  const { mergedGrants, otherMerges, expireSlots, others } = plan(commits, grants);
  await git(root, ['init', '-q', '-b', 'main']);
  const slots: Slot[] = [
    ...Array<Slot>(grants - mergedGrants).fill('grant'),
    ...Array<Slot>(mergedGrants).fill('merge-grant'),
    ...Array<Slot>(otherMerges).fill('merge-other'),
    ...Array<Slot>(expireSlots).fill('expire'),
    ...Array<Slot>(others).fill('other'),
  ];
  for (let i = slots.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [slots[i], slots[j]] = [slots[j] as Slot, slots[i] as Slot];
  }
  const mainCommits = slots.length + 1;

  // Committer times: irregular gaps, scaled so that the last commit lands a minute ago.
  const gaps = Array.from({ length: mainCommits }, () => 0.1 + rand() * 1.9);
  const total = gaps.reduce((a, b) => a + b, 0);
  const end = Math.floor(Date.now() / 1000) - 60;
  const span = mainCommits * 600; // ten minutes per main-line commit on average
  const times: number[] = [];
  let t = end - span;
  for (const g of gaps) {
    t += (g / total) * span;
    times.push(Math.floor(t));
  }
  for (let i = 1; i < times.length; i++)
    if ((times[i] as number) <= (times[i - 1] as number)) times[i] = (times[i - 1] as number) + 1;

  const child = spawn('git', ['fast-import', '--quiet'], { cwd: root, stdio: ['pipe', 'ignore', 'pipe'] });
  const err: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const closed = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  let chunk: string[] = [];
  let chunkBytes = 0;
  let streamBytes = 0;
  const flush = async () => {
    const text = chunk.join('');
    chunk = [];
    chunkBytes = 0;
    streamBytes += Buffer.byteLength(text);
    if (!child.stdin.write(text)) await once(child.stdin, 'drain');
  };
  const emit = async (s: string) => {
    chunk.push(s);
    chunkBytes += s.length;
    if (chunkBytes > 1 << 22) await flush();
  };
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;
  const ident = (kind: 'author' | 'committer', p: Person, at: number) =>
    `${kind} ${p.name} <${p.email}> ${at} +0000\n`;
  let mark = 0;
  const commit = async (c: {
    ref: string;
    author: Person;
    authorAt: number;
    committer: Person;
    at: number;
    message: string;
    from?: number;
    merge?: number;
    ops: string[];
  }): Promise<number> => {
    mark++;
    await emit(
      `commit ${c.ref}\nmark :${mark}\n${ident('author', c.author, c.authorAt)}${ident('committer', c.committer, c.at)}` +
        `${data(c.message)}${c.from ? `from :${c.from}\n` : ''}${c.merge ? `merge :${c.merge}\n` : ''}${c.ops.join('')}\n`,
    );
    return mark;
  };
  const modify = (path: string, text: string) => `M 100644 inline ${path}\n${data(text)}`;
  const remove = (path: string) => `D ${path}\n`;

  // The ordinary files of the repo: docs, policies, sources, tests, CI.
  const files: string[] = ['README.md', 'package.json', '.github/CODEOWNERS', '.github/workflows/ci.yml'];
  for (let i = 0; i < 30; i++) files.push(`docs/${pick(SERVICES)}-${i}.md`);
  for (let i = 0; i < 12; i++) files.push(`policies/team-${i}.yaml`);
  for (const m of MODULES) for (let i = 0; i < 8; i++) files.push(`src/${m}/file-${i}.ts`);
  for (const m of MODULES.slice(0, 20)) for (let i = 0; i < 5; i++) files.push(`test/${m}/file-${i}.test.ts`);
  const revs = new Map<string, number>();
  const touch = (path: string) => {
    const rev = (revs.get(path) ?? 0) + 1;
    revs.set(path, rev);
    return modify(path, fileText(path, rev));
  };
  /** One ordinary change: 1-3 files edited, now and then a file added or removed. */
  const ordinaryOps = (): { ops: string[]; what: string } => {
    const ops: string[] = [];
    const roll = rand();
    if (roll < 0.04) {
      const path = `src/${pick(MODULES)}/added-${files.length}.ts`;
      files.push(path);
      ops.push(touch(path));
      return { ops, what: `Add ${path}` };
    }
    if (roll < 0.06 && files.length > 200) {
      const i = 4 + Math.floor(rand() * (files.length - 4));
      const [path] = files.splice(i, 1);
      ops.push(remove(path as string));
      return { ops, what: `Remove ${path}` };
    }
    const n = 1 + Math.floor(rand() * 3);
    const touched = new Set<string>();
    for (let i = 0; i < n; i++) touched.add(pick(files));
    for (const p of touched) ops.push(touch(p));
    return { ops, what: `Update ${[...touched][0]}` };
  };

  const counters = new Map<string, number>();
  const present = new Map<string, Present>();
  const order: Present[] = [];
  let orderHead = 0;
  const pending: { due: number; kind: 'extend' | 'revoke'; file: Present }[] = [];
  const stats = {
    extensions: 0,
    revocations: 0,
    expiryReverts: 0,
    expiredFilesRemoved: 0,
    merges: 0,
    others: 0,
  };
  let pr = 100;

  /** A new request file; its text, path and expiry (as of `at`). */
  const newRequest = (at: number): Present => {
    const login = rand() < 0.9 ? `${pick(NAMES)}${Math.floor(rand() * 10) || ''}` : pick(APPROVERS);
    const n = (counters.get(login) ?? 0) + 1;
    counters.set(login, n);
    const svc = pick(SERVICES);
    const duration = pick(DURATIONS);
    const fields: Record<string, string> = {
      requester: login,
      resource: `${svc}-${pick(KINDS)}`,
      role: pick(ROLES),
      duration,
      reason: `${pick(VERBS)} ${pick(['INC', 'BUG', 'OPS'])}-${1000 + pr}, ${svc} ${pick(WHAT)}`,
    };
    if (rand() < 0.6) fields.ticket = `OPS-${1000 + pr}`;
    return {
      path: `${REQUESTS}/${login}/${n}.yaml`,
      text: lib.requestYaml(fields),
      expires: at + (DURATION_SECONDS[duration] as number),
      busy: false,
      gone: false,
    };
  };
  const opened = (file: Present, slot: number) => {
    present.set(file.path, file);
    order.push(file);
    const roll = rand();
    if (roll < 0.08) {
      file.busy = true;
      pending.push({ due: slot + 1 + Math.floor(rand() * 4), kind: 'extend', file });
    } else if (roll < 0.18) {
      file.busy = true;
      pending.push({ due: slot + 1 + Math.floor(rand() * 4), kind: 'revoke', file });
    }
  };

  let tip = await commit({
    ref: 'refs/heads/main',
    author: person('admin-fay'),
    authorAt: times[0] as number,
    committer: person('admin-fay'),
    at: times[0] as number,
    message: 'Initial access repo\n',
    ops: files.map((p) => touch(p)),
  });
  /** A commit by `login` on the pull request branch, off the current tip of main. */
  const branchCommit = (login: string, at: number, message: string, ops: string[]) =>
    commit({
      ref: 'refs/heads/pr',
      author: person(login),
      authorAt: at,
      committer: person(login),
      at,
      message,
      from: tip,
      ops,
    });

  for (let s = 0; s < slots.length; s++) {
    const at = times[s + 1] as number;
    const prev = times[s] as number;
    const slot = slots[s] as Slot;
    pr++;
    if (slot === 'grant') {
      const file = newRequest(at);
      const login = file.path.split('/')[1] as string;
      tip = await commit({
        ref: 'refs/heads/main',
        author: person(login),
        authorAt: at - 300,
        committer: GITHUB,
        at,
        message:
          `Request access for ${login} (#${pr})\n\n` +
          `Timebox-Request: ${file.path}\nTimebox-Requested-By: ${login}\nTimebox-Approved-By: ${pick(APPROVERS)}\n` +
          `Timebox-Pull-Request: ${pr}\n`,
        from: tip,
        ops: [modify(file.path, file.text)],
      });
      opened(file, s);
    } else if (slot === 'merge-grant') {
      const file = newRequest(at);
      const login = file.path.split('/')[1] as string;
      const branchAt = Math.floor((prev + at) / 2);
      const side = await branchCommit(login, branchAt, `Request access to ${file.path}\n`, [
        modify(file.path, file.text),
      ]);
      tip = await commit({
        ref: 'refs/heads/main',
        author: person('carol'),
        authorAt: at,
        committer: GITHUB,
        at,
        message: `Merge pull request #${pr} from ${login}/request-${pr}\n\nRequest access to ${file.path}\n\nTimebox-Approved-By: carol\n`,
        from: tip,
        merge: side,
        ops: [modify(file.path, file.text)],
      });
      stats.merges++;
      opened(file, s);
    } else if (slot === 'merge-other') {
      const { ops, what } = ordinaryOps();
      const login = pick(NAMES);
      const branchAt = Math.floor((prev + at) / 2);
      const side = await branchCommit(login, branchAt, `${what}\n`, ops);
      tip = await commit({
        ref: 'refs/heads/main',
        author: person(pick(APPROVERS)),
        authorAt: at,
        committer: GITHUB,
        at,
        message: `Merge pull request #${pr} from ${login}/topic-${pr}\n\n${what}\n`,
        from: tip,
        merge: side,
        ops,
      });
      stats.merges++;
    } else {
      // An expiry revert, a due extension or revocation, or else ordinary work.
      const ops: string[] = [];
      let message = '';
      let author = person(pick(NAMES));
      if (slot === 'expire') {
        const removed: string[] = [];
        const want = 1 + Math.floor(rand() * 4);
        while (orderHead < order.length && removed.length < want) {
          const f = order[orderHead] as Present;
          if (f.gone) {
            orderHead++;
            continue;
          }
          if (f.busy || f.expires > at) break;
          orderHead++;
          f.gone = true;
          present.delete(f.path);
          removed.push(f.path);
          ops.push(remove(f.path));
        }
        if (removed.length > 0) {
          stats.expiryReverts++;
          stats.expiredFilesRemoved += removed.length;
          author = person('timebox-bot');
          message =
            `Revert expired requests\n\n${removed.join('\n')}\n\n` +
            `Timebox-Revocation-Reason: expired\nTimebox-Activity: ${Math.floor(rand() * 50)} statements\n`;
        }
      } else if ((pending[0]?.due ?? Number.POSITIVE_INFINITY) <= s) {
        const p = pending.shift() as (typeof pending)[number];
        p.file.busy = false;
        if (p.kind === 'extend') {
          const longer = pick(LONGER);
          p.file.text = p.file.text.replace(/^duration: .*$/m, `duration: ${longer}`);
          p.file.expires = at + (DURATION_SECONDS[longer] as number);
          ops.push(modify(p.file.path, p.file.text));
          stats.extensions++;
          message = `Extend ${p.file.path} to ${longer} (#${pr})\n\nTimebox-Approved-By: ${pick(APPROVERS)}\n`;
        } else {
          p.file.gone = true;
          present.delete(p.file.path);
          ops.push(remove(p.file.path));
          stats.revocations++;
          author = person(p.file.path.split('/')[1] as string);
          message =
            `Revoke ${p.file.path}: done early (#${pr})\n\n` +
            `Timebox-Revocation-Reason: done early\nTimebox-Activity: ${Math.floor(rand() * 200)} statements\n`;
        }
      }
      if (ops.length === 0) {
        const o = ordinaryOps();
        ops.push(...o.ops);
        message = `${o.what}\n`;
        stats.others++;
      }
      tip = await commit({
        ref: 'refs/heads/main',
        author,
        authorAt: at - 60,
        committer: author,
        at,
        message,
        from: tip,
        ops,
      });
    }
  }
  await flush();
  child.stdin.end();
  const code = await closed;
  if (code !== 0) throw new Error(`git fast-import failed: ${Buffer.concat(err).toString('utf8').trim()}`);
  await git(root, ['update-ref', '-d', 'refs/heads/pr']);
  const iso = (sec: number) => new Date(sec * 1000).toISOString();
  return {
    root,
    commits: mark,
    mainCommits,
    merges: stats.merges,
    grants,
    mergedGrants,
    extensions: stats.extensions,
    revocations: stats.revocations,
    expiryReverts: stats.expiryReverts,
    expiredFilesRemoved: stats.expiredFilesRemoved,
    otherCommits: stats.others + otherMerges * 2 + 1,
    streamBytes,
    first: iso(times[0] as number),
    last: iso(times[times.length - 1] as number),
  };
}

// --- git, drained ----------------------------------------------------------------------------------------

/** Run git (stdin from `input`, if any); resolves to its output, or to its byte count with `drain`. */
function run(
  root: string,
  args: string[],
  input: string | undefined,
  drain: boolean,
): Promise<Buffer | number> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd: root,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let bytes = 0;
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => {
      bytes += b.length;
      if (!drain) out.push(b);
    });
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0)
        reject(new Error(`git ${args[0]} failed: ${Buffer.concat(err).toString('utf8').trim()}`));
      else resolve(drain ? bytes : Buffer.concat(out));
    });
    if (input !== undefined) {
      child.stdin?.on('error', reject);
      child.stdin?.end(input);
    }
  });
}

const git = (root: string, args: string[], input?: string) =>
  run(root, args, input, false) as Promise<Buffer>;

/** (R) One raw `git log --name-status` over the full history of main; returns the bytes it printed. */
const rawLog = (root: string) =>
  run(root, ['log', '--name-status', 'main'], undefined, true) as Promise<number>;

/** The git log of src/repo/history.ts `readHistory`, alone. */
function timeboxLog(root: string): Promise<Buffer> {
  return git(root, [
    'log',
    '--first-parent',
    '--reverse',
    '--diff-merges=first-parent',
    '-M',
    '--raw',
    '-z',
    '--no-abbrev',
    `--format=${LOG_FORMAT}`,
    '--end-of-options',
    'main',
    '--',
    `${REQUESTS}/`,
  ]);
}

// --- measuring -----------------------------------------------------------------------------------------

interface CliRun {
  exit: number;
  output: string;
  notes: number;
}

async function status(root: string): Promise<CliRun> {
  const io = lib.collectingIo(root);
  const exit = await runStatus(io, { repo: root, json: true });
  return { exit, output: io.out.join(''), notes: io.err.length };
}

async function audit(root: string): Promise<CliRun> {
  const io = lib.collectingIo(root);
  const exit = await runAudit(io, { repo: root, format: 'json' });
  return { exit, output: io.out.join(''), notes: io.err.length };
}

function dropCache(root: string): void {
  lib.removeDir(join(root, '.git', 'timebox'));
}

const ms = (n: number) => `${n.toFixed(0)} ms`;

// --- memory: one fresh process per figure ----------------------------------------------------------------

/** In the fresh process: one command, its output counted and dropped (as a pipe to `wc -c` would). */
async function rssChild(what: string, root: string): Promise<void> {
  let bytes = 0;
  const io = {
    ...lib.collectingIo(root),
    stdout: (t: string) => {
      bytes += t.length;
    },
  };
  const start = performance.now();
  let exit = 0;
  if (what === 'status') exit = await runStatus(io, { repo: root, json: true });
  else if (what === 'audit') exit = await runAudit(io, { repo: root, format: 'json' });
  else if (what !== 'floor') throw new Error(`--rss-child ${what}: status, audit or floor`);
  lib.reportFromChild({ ms: performance.now() - start, exit, bytes });
}

interface MemoryFigures {
  /** node, tsx and the modules status and audit load, with no command run. */
  floor: number;
  statusCold: number;
  statusWarm: number;
  auditCold: number;
  auditWarm: number;
}

const MEMORY_ROWS: [keyof MemoryFigures, string][] = [
  ['statusCold', 'status --json, cold'],
  ['statusWarm', 'status --json, warm'],
  ['auditCold', 'audit --format json, cold'],
  ['auditWarm', 'audit --format json, warm'],
];

/** The peak RSS of each command (cold: no cache; warm: the cache the cold run wrote), the largest of `runs`. */
async function measureMemory(root: string, runs: number): Promise<MemoryFigures> {
  const self = fileURLToPath(import.meta.url);
  const peak = async (what: string) =>
    (await lib.inChild(self, ['--rss-child', what, '--repo', root])).maxRss;
  const m: MemoryFigures = { floor: 0, statusCold: 0, statusWarm: 0, auditCold: 0, auditWarm: 0 };
  for (let i = 0; i < runs; i++) {
    m.floor = Math.max(m.floor, await peak('floor'));
    for (const what of ['status', 'audit'] as const) {
      dropCache(root);
      const cold = await peak(what);
      const warm = await peak(what);
      const [c, w] =
        what === 'status' ? (['statusCold', 'statusWarm'] as const) : (['auditCold', 'auditWarm'] as const);
      m[c] = Math.max(m[c], cold);
      m[w] = Math.max(m[w], warm);
    }
  }
  return m;
}

/** The memory figures and their goal lines: this repo's, and against a repo of `--compare` commits. */
async function reportMemory(opts: BenchOptions, root: string): Promise<void> {
  const mem = await measureMemory(root, MEMORY_RUNS);
  let base: MemoryFigures | null = null;
  if (opts.compare > 0) {
    process.stderr.write(`generating the ${opts.compare}-commit repo to compare peak RSS with\n`);
    const other = await generateRepo(opts.compare, opts.grants);
    try {
      base = await measureMemory(other.root, MEMORY_RUNS);
    } finally {
      lib.removeDir(other.root);
    }
  }
  lib.out();
  lib.out(
    `peak RSS, each command in a fresh process (node ${process.execArgv.join(' ')}), largest of ${MEMORY_RUNS} runs` +
      `${base ? `; against a repo of ${opts.compare} commits with the same ${opts.grants} grants` : ''}:`,
  );
  const rows: lib.Row[] = [
    [
      'node + modules, no command',
      lib.mib(mem.floor),
      base ? `${lib.mib(base.floor)} at ${opts.compare}` : '',
    ],
  ];
  for (const [key, what] of MEMORY_ROWS) {
    const ratio = base ? mem[key] / base[key] : 0;
    rows.push([
      what,
      lib.mib(mem[key]),
      base ? `${lib.mib(base[key])} at ${opts.compare}, ${ratio.toFixed(2)}x` : '',
    ]);
  }
  lib.printTable(rows);
  lib.out();
  for (const [key, what] of MEMORY_ROWS) {
    lib.out(
      `goal peak RSS <= ${lib.mib(MEMORY_GOAL, 0)} (${what}, ${opts.commits} commits): ` +
        `${mem[key] <= MEMORY_GOAL ? 'met' : 'NOT met'} (${lib.mib(mem[key])})`,
    );
  }
  if (base) {
    for (const [key, what] of MEMORY_ROWS) {
      const ratio = mem[key] / base[key];
      lib.out(
        `goal peak RSS at ${opts.commits} commits <= ${MEMORY_GROWTH_GOAL}x at ${opts.compare} (${what}): ` +
          `${ratio <= MEMORY_GROWTH_GOAL ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`,
      );
    }
  }
}

export async function main(argv: string[]): Promise<void> {
  const opts = readOptions(argv);
  if (opts.rssChild) return rssChild(opts.rssChild.what, opts.rssChild.repo);
  const stopSampler = lib.startRssSampler(true);
  const gc = lib.collector();

  const g0 = performance.now();
  const repo = await generateRepo(opts.commits, opts.grants);
  if (opts.commitGraph) await git(repo.root, ['commit-graph', 'write', '--reachable', '--changed-paths']);
  const genMs = performance.now() - g0;
  try {
    lib.printMachine('ledger');
    lib.out(`git: ${(await git(repo.root, ['--version'])).toString('utf8').trim()}`);
    lib.out(
      `history: ${repo.commits} commits (${repo.mainCommits} on the first-parent line, ${repo.merges} merges), ` +
        `${repo.grants} grants (${repo.mergedGrants} through merges), ${repo.extensions} extensions, ` +
        `${repo.revocations} early revocations, ${repo.expiryReverts} expiry reverts (${repo.expiredFilesRemoved} files), ` +
        `${repo.otherCommits} commits touching no request; ${repo.first} .. ${repo.last}`,
    );
    lib.out(
      `generated with git fast-import in ${ms(genMs)} (${lib.mib(repo.streamBytes)} stream); ` +
        `${opts.commitGraph ? 'commit-graph with changed-path Bloom filters' : 'no commit-graph'}` +
        `${opts.keep ? ` at ${repo.root}` : ''}`,
    );
    lib.printRoundsPlan(opts.rounds);
    lib.out();

    const times = {
      raw: [] as number[],
      statusCold: [] as number[],
      statusWarm: [] as number[],
      auditCold: [] as number[],
      auditWarm: [] as number[],
      gitLog: [] as number[],
      parseLog: [] as number[],
      catFile: [] as number[],
      readHistory: [] as number[],
      cacheWrite: [] as number[],
      cacheRead: [] as number[],
      buildLedger: [] as number[],
      parseRequests: [] as number[],
      statusOut: [] as number[],
      auditOut: [] as number[],
    };
    let rawBytes = 0;
    const last: { status: CliRun | null; audit: CliRun | null } = { status: null, audit: null };
    let history: HistoryCommit[] = [];
    let ledger: Ledger | null = null;
    let logBytes = 0;
    let blobCount = 0;
    for (let round = 0; round <= opts.rounds; round++) {
      const measure = lib.measurer(gc, round);
      rawBytes = await measure(times.raw, () => rawLog(repo.root));
      // status and audit take turns at running first after (R), so that neither always pays for that slot.
      const runStatusPair = async () => {
        dropCache(repo.root);
        last.status = await measure(times.statusCold, () => status(repo.root));
        last.status = await measure(times.statusWarm, () => status(repo.root));
      };
      const runAuditPair = async () => {
        dropCache(repo.root);
        last.audit = await measure(times.auditCold, () => audit(repo.root));
        last.audit = await measure(times.auditWarm, () => audit(repo.root));
      };
      for (const pair of round % 2 === 0 ? [runStatusPair, runAuditPair] : [runAuditPair, runStatusPair]) {
        await pair();
      }

      // The phases, one by one.
      const log = await measure(times.gitLog, () => timeboxLog(repo.root));
      logBytes = log.length;
      const parsed = await measure(times.parseLog, () => parseLog(log));
      const blobs = new Set<string>();
      for (const c of parsed.commits) for (const r of c.raw) if (r.status !== 'D') blobs.add(r.blob);
      blobCount = blobs.size;
      await measure(times.catFile, () =>
        git(repo.root, ['cat-file', '--batch'], `${[...blobs].join('\n')}\n`),
      );
      history = await measure(times.readHistory, () => readHistory(repo.root, 'main', REQUESTS));
      dropCache(repo.root);
      await measure(times.cacheWrite, () => cachedHistory(repo.root, 'main', REQUESTS));
      const cached = await measure(times.cacheRead, () => cachedHistory(repo.root, 'main', REQUESTS));
      if (cached.fromCache !== cached.commits.length)
        throw new Error('the warm read did not come from the cache');
      const now = new Date();
      ledger = await measure(times.buildLedger, () => buildLedger(history, DEFAULT_CONFIG, now));
      await measure(times.parseRequests, () => {
        let ok = 0;
        for (const c of history) {
          for (const ch of c.changes) {
            if (ch.content !== undefined && parseRequest(ch.path, ch.content, DEFAULT_CONFIG).request) ok++;
          }
        }
        return ok;
      });
      const l = ledger;
      await measure(times.statusOut, () => {
        const grants = activeAt(l, now).map((g) => ({
          file: g.file,
          requester: g.requester,
          resource: g.resource,
          role: g.role,
          starts_at: g.starts_at,
          expires_at: g.ends_at,
        }));
        return JSON.stringify({ at: now.toISOString(), grants }, null, 2).length;
      });
      await measure(
        times.auditOut,
        () => JSON.stringify({ events: l.events, notes: l.notes }, null, 2).length,
      );
      lib.roundDone(round);
    }

    const m = lib.medians(times);
    const x = (n: number) => `${(n / m.raw).toFixed(2)}x`;
    const verdict = (n: number, goal: number) =>
      n / m.raw <= goal ? `goal <= ${goal}x: met` : `goal <= ${goal}x: NOT met`;
    const goalRow = (what: string, n: number, goal: number): lib.Row => [
      what,
      ms(n),
      `${x(n)}  ${verdict(n, goal)}`,
    ];
    const rows: lib.Row[] = [
      ['(R) git log --name-status main', ms(m.raw), `1.00x  ${lib.mib(rawBytes)} output`],
      goalRow('(S) status --json, cold', m.statusCold, COLD_GOAL),
      goalRow('(S) status --json, warm', m.statusWarm, WARM_GOAL),
      goalRow('(A) audit --format json, cold', m.auditCold, COLD_GOAL),
      goalRow('(A) audit --format json, warm', m.auditWarm, WARM_GOAL),
      ['', '', ''],
      ['phases:', '', ''],
      [
        'git log --first-parent --raw -- requests/',
        ms(m.gitLog),
        `${x(m.gitLog)}  ${lib.mib(logBytes)} output`,
      ],
      ['parseLog', ms(m.parseLog), x(m.parseLog)],
      ['git cat-file --batch', ms(m.catFile), `${x(m.catFile)}  ${blobCount} blobs`],
      [
        'readHistory (all of the above and more)',
        ms(m.readHistory),
        `${x(m.readHistory)}  ${history.length} commits`,
      ],
      ['cachedHistory cold (read + write cache)', ms(m.cacheWrite), x(m.cacheWrite)],
      ['cachedHistory warm (read cache)', ms(m.cacheRead), x(m.cacheRead)],
      ['buildLedger', ms(m.buildLedger), `${x(m.buildLedger)}  ${ledger?.grants.length} grants`],
      ['  of which parseRequest (YAML + schema)', ms(m.parseRequests), x(m.parseRequests)],
      ['status output (activeAt + JSON)', ms(m.statusOut), x(m.statusOut)],
      ['audit output (JSON)', ms(m.auditOut), `${x(m.auditOut)}  ${ledger?.events.length} events`],
      ['', '', ''],
      ...lib.peakRssRows().map(([a, b, c]): lib.Row => [`${a}, this process (all phases)`, b, c]),
    ];
    lib.printTable(rows);
    lib.out();
    lib.out(
      `all rounds (ms): R ${lib.roundsList(times.raw)} | S cold ${lib.roundsList(times.statusCold)} | S warm ${lib.roundsList(times.statusWarm)} | ` +
        `A cold ${lib.roundsList(times.auditCold)} | A warm ${lib.roundsList(times.auditWarm)}`,
    );
    const active = (JSON.parse(last.status?.output ?? '{"grants":[]}') as { grants: unknown[] }).grants
      .length;
    const events = (JSON.parse(last.audit?.output ?? '{"events":[]}') as { events: unknown[] }).events.length;
    lib.out(
      `status: exit ${last.status?.exit}, ${active} active grants, ${lib.mib(last.status?.output.length ?? 0)}; ` +
        `audit: exit ${last.audit?.exit}, ${events} events, ${lib.mib(last.audit?.output.length ?? 0)}; ` +
        `notes on stderr: ${last.audit?.notes ?? 0}`,
    );
    lib.out();
    const goals: [string, number, number][] = [
      ['status cold', m.statusCold, COLD_GOAL],
      ['status warm', m.statusWarm, WARM_GOAL],
      ['audit cold', m.auditCold, COLD_GOAL],
      ['audit warm', m.auditWarm, WARM_GOAL],
    ];
    for (const [name, n, goal] of goals) {
      lib.out(
        `${n / m.raw <= goal ? 'goal met' : 'goal NOT met'}: ${name} is ${x(n)} the raw git log (goal <= ${goal}x)`,
      );
    }

    await reportMemory(opts, repo.root);
  } finally {
    stopSampler();
    if (!opts.keep) lib.removeDir(repo.root);
  }
}

await main(process.argv.slice(2));
