// Reading the first-parent history of a branch for the ledger: one `git log` for every commit that
// touches the requests folder, one `git cat-file --batch` for every request file's content, one
// `git log --no-walk --stdin` for the author time of merged branches. Never one git process per commit.
import { spawn } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HistoryChange, HistoryCommit } from '../core/ledger.js';
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

/** Parse `git log --raw -z` output in FORMAT into commits with blob ids still to be read. */
export function parseLog(buf: Buffer): {
  commits: (Omit<HistoryCommit, 'changes'> & { raw: RawChange[] })[];
} {
  const text = buf.toString('utf8');
  const commits: (Omit<HistoryCommit, 'changes'> & { raw: RawChange[] })[] = [];
  for (const record of text.split('\x1e')) {
    if (record === '') continue;
    const fields = record.split('\x1f');
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
    const rest = fields.slice(8).join('\x1f');
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
    commits.push({
      sha,
      parents: parents.split(' ').filter(Boolean),
      time,
      authoredAt,
      author,
      committer,
      subject,
      trailers,
      raw,
    });
  }
  return { commits };
}

/** `git cat-file --batch` for many blobs in one process. */
async function readBlobs(root: string, blobs: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (blobs.length === 0) return out;
  const buf = await runGit(root, ['cat-file', '--batch'], `${blobs.join('\n')}\n`);
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(10, pos);
    if (nl === -1) break;
    const header = buf.subarray(pos, nl).toString('utf8');
    const [sha = '', type = '', size = '0'] = header.split(' ');
    pos = nl + 1;
    if (type === 'missing') continue;
    const n = Number(size);
    out.set(sha, buf.subarray(pos, pos + n).toString('utf8'));
    pos += n + 1;
  }
  return out;
}

/** Request-folder commits of `range` (oldest first), with file contents and merged-branch author times. */
export async function readHistory(
  root: string,
  range: string,
  requestsDir: string,
): Promise<HistoryCommit[]> {
  const log = await runGit(root, [
    'log',
    '--first-parent',
    '--reverse',
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
  ]);
  const { commits } = parseLog(log);
  const wanted = new Set<string>();
  for (const c of commits) for (const r of c.raw) if (r.status !== 'D') wanted.add(r.blob);
  const blobs = await readBlobs(root, [...wanted]);

  const mergeTips = commits.filter((c) => c.parents.length > 1).map((c) => c.parents[1] as string);
  const tipTimes = new Map<string, string>();
  if (mergeTips.length > 0) {
    const out = await runGit(
      root,
      ['log', '--no-walk=unsorted', '--stdin', '--format=%H %aI'],
      `${mergeTips.join('\n')}\n`,
    );
    for (const line of out.toString('utf8').split('\n')) {
      const [sha, at] = line.split(' ');
      if (sha && at) tipTimes.set(sha, at);
    }
  }
  return commits.map(({ raw, ...c }) => {
    const changes: HistoryChange[] = [];
    for (const r of raw) {
      if (r.status === 'R' && r.from) {
        changes.push({ status: 'removed', path: r.from });
        changes.push({ status: 'added', path: r.path, renamedFrom: r.from, ...content(blobs, r.blob) });
      } else if (r.status === 'D') changes.push({ status: 'removed', path: r.path });
      else
        changes.push({
          status: r.status === 'A' || r.status === 'C' ? 'added' : 'modified',
          path: r.path,
          ...content(blobs, r.blob),
        });
    }
    const tip = c.parents[1];
    return { ...c, authoredAt: (tip && tipTimes.get(tip)) || c.authoredAt, changes };
  });
}

function content(blobs: Map<string, string>, blob: string): { content?: string } {
  const text = blobs.get(blob);
  return text === undefined ? {} : { content: text };
}

interface CacheFile {
  version: 1;
  ref: string;
  requestsDir: string;
  tip: string;
  commits: HistoryCommit[];
}

const CACHE_VERSION = 1;

/**
 * The history of `ref`, cached per commit under `.git/timebox/` so that a repeated run reads only new
 * commits. The cache is an optimisation only: deleting it changes no answer.
 */
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

/** A JSON file under `.git/timebox/`, or null when absent or unreadable (caches are only optimisations). */
export async function readCache<T>(gitDir: string, name: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(join(gitDir, 'timebox', `${name}.json`), 'utf8')) as T;
  } catch {
    return null;
  }
}

export async function writeCache(gitDir: string, name: string, data: unknown): Promise<void> {
  const file = join(gitDir, 'timebox', `${name}.json`);
  try {
    await mkdir(join(gitDir, 'timebox'), { recursive: true });
    await writeFile(`${file}.tmp`, JSON.stringify(data));
    await rename(`${file}.tmp`, file);
  } catch {
    // A read-only .git only costs speed.
  }
}

export async function cachedHistory(
  root: string,
  ref: string,
  requestsDir: string,
  opts: { cache?: boolean; resolved?: { gitDir: string; tip: string } } = {},
): Promise<{ tip: string; commits: HistoryCommit[]; fromCache: number }> {
  const { gitDir, tip } = opts.resolved ?? (await resolveRef(root, ref));
  if (opts.cache === false) return { tip, commits: await readHistory(root, tip, requestsDir), fromCache: 0 };

  const file = join(gitDir, 'timebox', `ledger-${Buffer.from(requestsDir).toString('hex')}.json`);
  let cached: CacheFile | null = null;
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as CacheFile;
    if (parsed.version === CACHE_VERSION && parsed.requestsDir === requestsDir) cached = parsed;
  } catch {
    cached = null;
  }
  let commits: HistoryCommit[];
  let fromCache = 0;
  if (cached && cached.tip === tip) {
    return { tip, commits: cached.commits, fromCache: cached.commits.length };
  }
  if (cached && (await isFirstParentAncestor(root, cached.tip, tip))) {
    const fresh = await readHistory(root, `${cached.tip}..${tip}`, requestsDir);
    commits = [...cached.commits, ...fresh];
    fromCache = cached.commits.length;
  } else {
    commits = await readHistory(root, tip, requestsDir);
  }
  const data: CacheFile = { version: CACHE_VERSION, ref, requestsDir, tip, commits };
  try {
    await mkdir(join(gitDir, 'timebox'), { recursive: true });
    await writeFile(`${file}.tmp`, JSON.stringify(data));
    await rename(`${file}.tmp`, file);
  } catch {
    // A read-only .git only costs speed.
  }
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
