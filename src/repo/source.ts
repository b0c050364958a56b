// Reading the access repo: from the working tree, or from a git revision (policies from the PR's base).
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

/** A read-only view of the repository's files; paths are repo-relative with `/`. */
export interface RepoSource {
  /** Human description for messages: `working tree` or `origin/main (3f2a1c9)`. */
  label: string;
  /** Files below `dir` (recursive). */
  list(dir: string): Promise<string[]>;
  /** The file's text, or null when it does not exist. */
  read(path: string): Promise<string | null>;
}

export function workingTree(root: string): RepoSource {
  return {
    label: 'working tree',
    async list(dir) {
      const out: string[] = [];
      const walk = async (abs: string): Promise<void> => {
        let entries: import('node:fs').Dirent[];
        try {
          entries = await readdir(abs, { withFileTypes: true });
        } catch {
          return;
        }
        for (const e of entries) {
          const p = join(abs, e.name);
          if (e.isDirectory()) await walk(p);
          else if (e.isFile()) out.push(relative(root, p).split(sep).join('/'));
        }
      };
      await walk(join(root, dir));
      return out.sort();
    },
    async read(path) {
      try {
        return await readFile(join(root, path), 'utf8');
      } catch (err) {
        if (
          (err as NodeJS.ErrnoException).code === 'ENOENT' ||
          (err as NodeJS.ErrnoException).code === 'EISDIR'
        )
          return null;
        throw err;
      }
    },
  };
}

export class GitError extends Error {
  override name = 'GitError';
}

/** simple-git, loaded by the first command that reads a revision: `check` of files in the work tree needs none. */
const simpleGit = async (root: string) => (await import('simple-git')).simpleGit(root);

/** The tree of a git revision. */
export async function gitRevision(root: string, ref: string): Promise<RepoSource> {
  const git = await simpleGit(root);
  let sha: string;
  try {
    sha = (await git.revparse(['--verify', '--end-of-options', `${ref}^{commit}`])).trim();
  } catch {
    throw new GitError(`unknown git revision \`${ref}\` in ${root}`);
  }
  return {
    label: `${ref} (${sha.slice(0, 7)})`,
    async list(dir) {
      const out = await git.raw(['ls-tree', '-r', '-z', '--name-only', sha, '--', `${dir}/`]);
      return out.split('\0').filter(Boolean).sort();
    },
    async read(path) {
      const spec = `${sha}:${path}`;
      // One git process per file: `cat-file --batch` says the type and gives the content at once. A name
      // with a line break cannot be written to it, and is read as before (type first, then the blob).
      if (!/[\r\n]/.test(path)) return readBlob(root, spec);
      try {
        const type = (await git.raw(['cat-file', '-t', spec])).trim();
        if (type !== 'blob') return null;
      } catch {
        return null;
      }
      return git.raw(['cat-file', 'blob', spec]);
    },
  };
}

/** The text of the blob `spec` names (`<commit>:<path>`), or null when it names nothing or no blob. */
function readBlob(root: string, spec: string): Promise<string | null> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('git', ['cat-file', '--batch'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString('utf8');
    });
    child.on('error', (e) => reject(new GitError(`cannot run git: ${e.message}`)));
    child.on('close', (code) => {
      if (code !== 0) return reject(new GitError(`git cat-file failed: ${stderr.trim()}`));
      const all = Buffer.concat(out);
      const nl = all.indexOf(10);
      const [, type, size] = all.subarray(0, nl).toString('utf8').split(' ');
      if (type !== 'blob') return resolvePromise(null);
      resolvePromise(all.subarray(nl + 1, nl + 1 + Number(size)).toString('utf8'));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(`${spec}\n`);
  });
}

export interface ChangedPath {
  path: string;
  status: 'added' | 'modified' | 'removed';
}

/**
 * What changed between the merge base of `base` and HEAD and the working tree (as a PR would show it,
 * plus uncommitted and untracked work so that a local `check` sees what the user sees).
 */
export async function changedSince(
  root: string,
  base: string,
): Promise<{ mergeBase: string; changes: ChangedPath[] }> {
  const git = await simpleGit(root);
  let mergeBase: string;
  try {
    mergeBase = (await git.raw(['merge-base', '--end-of-options', base, 'HEAD'])).trim();
  } catch {
    throw new GitError(`cannot find a common ancestor of \`${base}\` and HEAD in ${root}`);
  }
  const diff = await git.raw(['diff', '--no-renames', '--name-status', '-z', mergeBase, '--']);
  const parts = diff.split('\0').filter(Boolean);
  const changes: ChangedPath[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const code = (parts[i] as string)[0];
    const path = parts[i + 1] as string;
    changes.push({ path, status: code === 'A' ? 'added' : code === 'D' ? 'removed' : 'modified' });
  }
  const untracked = await git.raw(['ls-files', '--others', '--exclude-standard', '-z']);
  for (const path of untracked.split('\0').filter(Boolean)) changes.push({ path, status: 'added' });
  changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { mergeBase, changes };
}
