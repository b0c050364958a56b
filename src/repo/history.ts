// Reading the first-parent history of a branch for the ledger: one `git log` for every commit that
// touches the requests folder, one `git cat-file --batch` for every request file's content (and the raw
// object of every commit with `Timebox-*` trailers, whose signature OpenPGP.js checks in process against the
// trusted keys while the rest is still read), one `git log --no-walk --stdin` for the author time of merged
// branches. Never one git process per commit; with the cache, each signature is checked once.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { HistoryChange, HistoryCommit } from '../core/ledger.js';
import { timeboxTrailerKeys } from '../core/trust.js';
import { checkCommitSignature, type PublicKey } from './openpgp.js';
import { GitError } from './source.js';

function runGit(root: string, args: string[], input?: string): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('git', args, {
      cwd: root,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new GitError(`cannot run git: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolvePromise(Buffer.concat(out));
      else reject(new GitError(`git ${args[0]} failed: ${Buffer.concat(err).toString('utf8').trim()}`));
    });
    if (child.stdin) {
      // git may exit before reading everything (e.g. an unknown revision); the exit code tells, not EPIPE.
      child.stdin.on('error', () => {});
      child.stdin.end(input);
    }
  });
}

const FORMAT = '%x1e%H%x1f%P%x1f%cI%x1f%aI%x1f%an <%ae>%x1f%cn%x1f%s%x1f%(trailers:only,unfold)%x1f';

interface RawChange {
  status: string;
  blob: string;
  path: string;
  from?: string;
}

type LogCommit = Omit<HistoryCommit, 'changes'> & { raw: RawChange[] };

const RS = 0x1e;
const US = 0x1f;

/**
 * One record of FORMAT (the bytes between two RS). Every field is decoded on its own, so that no string
 * kept for the ledger is a slice of a larger one: a kept sha would otherwise keep the whole log chunk alive.
 */
function parseRecord(buf: Buffer, start: number, end: number): LogCommit {
  const fields: string[] = [];
  let pos = start;
  while (fields.length < 8) {
    const us = buf.indexOf(US, pos);
    if (us === -1 || us >= end) break;
    fields.push(buf.toString('utf8', pos, us));
    pos = us + 1;
  }
  // Fewer than 8 separators: the last field runs to the end, as splitting the record would give it.
  let rest = '';
  if (fields.length < 8) fields.push(buf.toString('utf8', pos, end));
  else rest = buf.toString('utf8', pos, end);
  const [
    sha = '',
    parents = '',
    time = '',
    authoredAt = '',
    author = '',
    committer = '',
    subject = '',
    trailerText = '',
  ] = fields;
  const trailers: Record<string, string[]> = {};
  for (const line of trailerText.split('\n')) {
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = (m[1] as string).toLowerCase();
    const list = trailers[key] ?? [];
    list.push((m[2] as string).trim());
    trailers[key] = list;
  }
  const raw: RawChange[] = [];
  const parts = rest.replace(/^\0?\n?/, '').split('\0');
  for (let i = 0; i < parts.length; i++) {
    const head = parts[i] as string;
    if (!head.startsWith(':')) continue;
    const [, , , blob = '', status = ''] = head.slice(1).split(' ');
    if (status.startsWith('R') || status.startsWith('C')) {
      raw.push({
        status: status[0] as string,
        blob,
        from: parts[i + 1] as string,
        path: parts[i + 2] as string,
      });
      i += 2;
    } else {
      raw.push({ status: status[0] as string, blob, path: parts[i + 1] as string });
      i += 1;
    }
  }
  return {
    sha,
    parents: parents.split(' ').filter(Boolean),
    time,
    authoredAt,
    author,
    committer,
    subject,
    trailers,
    raw,
  };
}

/**
 * Each complete record of `buf` (those followed by an RS; with `final`, the last one too), as splitting the
 * text at RS would give them; returns the offset of the incomplete rest.
 */
function eachRecord(buf: Buffer, final: boolean, onCommit: (c: LogCommit) => void): number {
  let start = -1;
  for (;;) {
    const found = buf.indexOf(RS, start + 1);
    if (found === -1 && !final) return Math.max(start, 0);
    const next = found === -1 ? buf.length : found;
    if (next > start + 1) onCommit(parseRecord(buf, start + 1, next));
    if (found === -1) return buf.length;
    start = next;
  }
}

/** Parse `git log --raw -z` output in FORMAT into commits with blob ids still to be read. */
export function parseLog(buf: Buffer | string): { commits: LogCommit[] } {
  const commits: LogCommit[] = [];
  eachRecord(typeof buf === 'string' ? Buffer.from(buf, 'utf8') : buf, true, (c) => commits.push(c));
  return { commits };
}
/**
 * One long-running `git cat-file --batch`: object ids go in as the log names them, contents come back in
 * the same order and are handed to `onObject` while git log is still walking (parsing overlaps git's work).
 */
function blobReader(root: string, onObject: (sha: string, data: Buffer) => void) {
  const child = spawn('git', ['cat-file', '--batch'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  let buf: Buffer = Buffer.alloc(0);
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString('utf8');
  });
  child.stdout.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    let pos = 0;
    for (;;) {
      const nl = buf.indexOf(10, pos);
      if (nl === -1) break;
      const [sha = '', type = '', size = '0'] = buf.subarray(pos, nl).toString('utf8').split(' ');
      if (type === 'missing') {
        pos = nl + 1;
        continue;
      }
      const n = Number(size);
      if (buf.length < nl + 1 + n + 1) break;
      onObject(sha, Buffer.from(buf.subarray(nl + 1, nl + 1 + n)));
      pos = nl + 1 + n + 1;
    }
    buf = buf.subarray(pos);
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => reject(new GitError(`cannot run git: ${e.message}`)));
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new GitError(`git cat-file failed: ${stderr.trim()}`)),
    );
  });
  child.stdin.on('error', () => {});
  return {
    request: (sha: string) => child.stdin.write(`${sha}\n`),
    finish: async () => {
      child.stdin.end();
      await done;
    },
  };
}

/** Called for each request file version as its content arrives (the ledger parses it there). */
export type PrepareChange = (change: HistoryChange) => void;

/**
 * Request-folder commits of `range` (oldest first), with file contents and merged-branch author times.
 * Commits with `Timebox-*` trailers carry their signature checked against `keys` (none: every signature is
 * untrusted), for the ledger to decide whether Timebox made them (src/core/trust.ts).
 */
export async function readHistory(
  root: string,
  range: string,
  requestsDir: string,
  prepare?: PrepareChange,
  keys: readonly PublicKey[] = [],
): Promise<HistoryCommit[]> {
  const waiting = new Map<string, HistoryChange[]>();
  const signed = new Map<string, HistoryCommit>();
  /** Signature checks (OpenPGP.js is asynchronous) still running: all are awaited before returning. */
  const checks: Promise<void>[] = [];
  const blobs = blobReader(root, (sha, data) => {
    const commit = signed.get(sha);
    if (commit) {
      signed.delete(sha);
      checks.push(
        checkCommitSignature(data, keys).then((check) => {
          commit.signature = check;
        }),
      );
      return;
    }
    const text = data.toString('utf8');
    for (const change of waiting.get(sha) ?? []) {
      change.content = text;
      prepare?.(change);
      // Read once: the ledger folds the parsed request, so the text need not be kept (nor cached).
      if (change.parsed) change.content = undefined;
    }
    waiting.delete(sha);
  });
  const wantBlob = (change: HistoryChange, blob: string) => {
    const list = waiting.get(blob);
    if (list) list.push(change);
    else {
      waiting.set(blob, [change]);
      blobs.request(blob);
    }
  };

  const commits: HistoryCommit[] = [];
  const toCommit = (c: LogCommit): HistoryCommit => {
    const changes: HistoryChange[] = [];
    for (const r of c.raw) {
      if (r.status === 'R' && r.from) {
        changes.push({ status: 'removed', path: r.from });
        const added: HistoryChange = { status: 'added', path: r.path, renamedFrom: r.from };
        changes.push(added);
        wantBlob(added, r.blob);
      } else if (r.status === 'D') changes.push({ status: 'removed', path: r.path });
      else {
        const change: HistoryChange = {
          status: r.status === 'A' || r.status === 'C' ? 'added' : 'modified',
          path: r.path,
        };
        changes.push(change);
        wantBlob(change, r.blob);
      }
    }
    // One object shape for every commit, and no reference to the parsed record.
    const commit: HistoryCommit = {
      sha: c.sha,
      parents: c.parents,
      time: c.time,
      authoredAt: c.authoredAt,
      author: c.author,
      committer: c.committer,
      subject: c.subject,
      trailers: c.trailers,
      changes,
    };
    // Without keys no signature can count: the commit objects are not read at all.
    if (keys.length > 0 && timeboxTrailerKeys(commit).length > 0 && !signed.has(commit.sha)) {
      signed.set(commit.sha, commit);
      blobs.request(commit.sha);
    }
    return commit;
  };

  // Newest first, streamed: each complete record is handled as it arrives.
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      'git',
      [
        'log',
        '--first-parent',
        '--diff-merges=first-parent',
        '-M',
        '--raw',
        '-z',
        '--no-abbrev',
        `--format=${FORMAT}`,
        '--end-of-options',
        range,
        '--',
        `${requestsDir}/`,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // Records are cut from the bytes as they arrive; only the incomplete last one is carried over.
    let pending: Buffer = Buffer.alloc(0);
    const onCommit = (c: LogCommit) => commits.push(toCommit(c));
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      pending = pending.subarray(eachRecord(pending, false, onCommit));
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString('utf8');
    });
    child.on('error', (e) => reject(new GitError(`cannot run git: ${e.message}`)));
    child.on('close', (code) => {
      if (code !== 0) return reject(new GitError(`git log failed: ${stderr.trim()}`));
      eachRecord(pending, true, onCommit);
      resolve();
    });
  }).catch(async (err) => {
    await blobs.finish().catch(() => {});
    throw err;
  });
  await blobs.finish();
  await Promise.all(checks);
  commits.reverse();

  const mergeTips = commits.filter((c) => c.parents.length > 1).map((c) => c.parents[1] as string);
  if (mergeTips.length > 0) {
    const out = await runGit(
      root,
      ['log', '--no-walk=unsorted', '--stdin', '--format=%H %aI'],
      `${mergeTips.join('\n')}\n`,
    );
    const tipTimes = new Map<string, string>();
    for (const line of out.toString('utf8').split('\n')) {
      const [sha, at] = line.split(' ');
      if (sha && at) tipTimes.set(sha, at);
    }
    for (const c of commits) {
      const tip = c.parents[1];
      const at = tip ? tipTimes.get(tip) : undefined;
      if (at) c.authoredAt = at;
    }
  }
  return commits;
}

/** The first line of the history cache; one line per commit (oldest first) follows. */
interface CacheHeader {
  version: typeof CACHE_VERSION;
  ref: string;
  requestsDir: string;
  /** The keys signatures were checked against, as PublicKey.state (other keys or key states: read again). */
  keys: string[];
  tip: string;
  /** Lines after the header: a shorter file was cut off, and is not used. */
  count: number;
}

/**
 * 3: signatures checked by OpenPGP.js (revocation and expiry count), keys named by their state.
 * 4: one JSON line per commit (NDJSON), request texts left out once parsed.
 */
const CACHE_VERSION = 4;

/** The repository's git directory and the commit `ref` names. */
export async function resolveRef(root: string, ref: string): Promise<{ gitDir: string; tip: string }> {
  try {
    const out = (
      await runGit(root, [
        'rev-parse',
        '--absolute-git-dir',
        '--verify',
        '--end-of-options',
        `${ref}^{commit}`,
      ])
    )
      .toString('utf8')
      .trim()
      .split('\n');
    return { gitDir: out[0] as string, tip: out[1] as string };
  } catch {
    throw new GitError(`unknown git revision \`${ref}\` in ${root}`);
  }
}

/** Written in pieces of about this many characters: the cache is never one string of the whole file. */
const WRITE_CHUNK = 1 << 20;

const cachePath = (gitDir: string, name: string, ext = 'ndjson') => join(gitDir, 'timebox', `${name}.${ext}`);

/**
 * Writes `header`, then one JSON line per item, to `.git/timebox/<name>.ndjson` (through a temporary file,
 * renamed when complete). `header.count` must be the number of items: the reader checks it.
 */
export async function writeCacheLines(
  gitDir: string,
  name: string,
  header: { count: number },
  items: Iterable<unknown>,
): Promise<void> {
  const file = cachePath(gitDir, name);
  try {
    await mkdir(join(gitDir, 'timebox'), { recursive: true });
    const handle = await open(`${file}.tmp`, 'w');
    try {
      let chunk = `${JSON.stringify(header)}\n`;
      for (const item of items) {
        chunk += `${JSON.stringify(item)}\n`;
        if (chunk.length >= WRITE_CHUNK) {
          await handle.write(chunk);
          chunk = '';
        }
      }
      await handle.write(chunk);
    } finally {
      await handle.close();
    }
    await rename(`${file}.tmp`, file);
    // The whole-document cache of earlier versions (`<name>.json`) is never read again.
    await rm(cachePath(gitDir, name, 'json'), { force: true });
  } catch {
    // A read-only .git only costs speed.
  }
}

/**
 * Reads a file of `writeCacheLines` line by line: the header, which `accept` may refuse, then each item
 * to `onItem`. The header, or null when the file is absent, unreadable, refused or incomplete (then the
 * items seen so far must be dropped: caches are only optimisations).
 */
export async function readCacheLines<H extends { count: number }>(
  gitDir: string,
  name: string,
  accept: (header: H) => boolean,
  onItem: (item: unknown, index: number) => void,
): Promise<H | null> {
  const stream = createReadStream(cachePath(gitDir, name), { highWaterMark: 1 << 20 });
  let header: H | null = null;
  let items = 0;
  let rest: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let buf = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
      let start = 0;
      for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10, start)) {
        const value: unknown = JSON.parse(buf.toString('utf8', start, nl));
        start = nl + 1;
        if (header === null) {
          header = value as H;
          if (typeof header?.count !== 'number' || !accept(header)) return null;
        } else if (items < header.count) onItem(value, items++);
        else return null;
      }
      buf = buf.subarray(start);
      rest = buf;
    }
    return header !== null && rest.length === 0 && items === header.count ? header : null;
  } catch {
    return null;
  } finally {
    stream.destroy();
  }
}

/**
 * The history of `ref`, cached per commit under `.git/timebox/` so that a repeated run reads only new
 * commits. The cache is an optimisation only: deleting it changes no answer.
 */
export async function cachedHistory(
  root: string,
  ref: string,
  requestsDir: string,
  opts: {
    cache?: boolean;
    resolved?: { gitDir: string; tip: string };
    prepare?: PrepareChange;
    /** The keys of `audit.signing_keys` (src/repo/signing-keys.ts). */
    keys?: readonly PublicKey[];
  } = {},
): Promise<{ tip: string; commits: HistoryCommit[]; fromCache: number }> {
  const { gitDir, tip } = opts.resolved ?? (await resolveRef(root, ref));
  const keys = opts.keys ?? [];
  if (opts.cache === false)
    return { tip, commits: await readHistory(root, tip, requestsDir, opts.prepare, keys), fromCache: 0 };
  const keyStates = keys.map((k) => k.state).sort();

  const name = `ledger-${Buffer.from(requestsDir).toString('hex')}`;
  let cachedCommits: HistoryCommit[] = [];
  const cached = await readCacheLines<CacheHeader>(
    gitDir,
    name,
    (h) =>
      h.version === CACHE_VERSION &&
      h.requestsDir === requestsDir &&
      h.keys?.join(',') === keyStates.join(','),
    (c) => cachedCommits.push(c as HistoryCommit),
  );
  if (!cached) cachedCommits = [];
  if (cached && cached.tip === tip) return { tip, commits: cachedCommits, fromCache: cachedCommits.length };
  let commits: HistoryCommit[];
  let fromCache = 0;
  if (cached && (await isFirstParentAncestor(root, cached.tip, tip))) {
    const fresh = await readHistory(root, `${cached.tip}..${tip}`, requestsDir, opts.prepare, keys);
    commits = cachedCommits.concat(fresh);
    fromCache = cachedCommits.length;
  } else {
    commits = await readHistory(root, tip, requestsDir, opts.prepare, keys);
  }
  cachedCommits = [];
  const header: CacheHeader = {
    version: CACHE_VERSION,
    ref,
    requestsDir,
    keys: keyStates,
    tip,
    count: commits.length,
  };
  await writeCacheLines(gitDir, name, header, commits);
  return { tip, commits, fromCache };
}

async function isFirstParentAncestor(root: string, ancestor: string, tip: string): Promise<boolean> {
  try {
    const out = await runGit(root, ['rev-list', '--first-parent', '--end-of-options', tip, `^${ancestor}^@`]);
    // ancestor is on the first-parent chain iff walking back from tip reaches it before passing its parents.
    return out.toString('utf8').split('\n').includes(ancestor);
  } catch {
    return false;
  }
}

/** The access repo's identity: the oldest root commit of `ref` (stable for the life of the repo). */
export async function rootCommit(root: string, ref: string): Promise<string> {
  const out = await runGit(root, ['rev-list', '--max-parents=0', '--end-of-options', ref]);
  const roots = out.toString('utf8').split('\n').filter(Boolean).sort();
  if (roots.length === 0) throw new GitError(`${ref} has no root commit in ${root}`);
  return roots[0] as string;
}
