// Bare git repositories for the fake GitHub, driven with plumbing only (no work tree): objects are written
// with hash-object, trees are built in a temporary index (GIT_INDEX_FILE) and commits made with commit-tree.
// Everything is async (promisified execFile) so HTTP handlers never block the event loop.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Clock, systemClock } from '../core/clock.js';
import { addCommitSignature } from '../repo/openpgp.js';

const run = promisify(execFile);

import { gitEnv, identityEnv, isValidPath, parseCommit, parseDiff, parseEntries, SHA } from './git/parse.js';
import {
  type CommitInfo,
  type CommitSpec,
  type DiffEntry,
  GitInputError,
  type Identity,
  type Signer,
  type TreeEntry,
  type TreeInput,
  ZERO_SHA,
} from './git/types.js';

export * from './git/types.js';

/**
 * Git commands that move no ref (some write objects or a temporary index): a remembered `branchTips` stays
 * true across them. Any other command may move a ref and makes it be read again.
 */
const KEEPS_REFS = new Set(
  (
    'cat-file check-ref-format commit-tree diff diff-tree for-each-ref hash-object log ls-files ls-tree merge-base ' +
    'merge-tree read-tree rev-list rev-parse update-index write-tree'
  ).split(' '),
);

interface RunOptions {
  input?: string | Uint8Array;
  env?: Record<string, string>;
}

export class GitRepo {
  readonly dir: string;
  #lock: Promise<unknown> = Promise.resolve();
  /** Results computed from immutable objects (keyed by shas), so repeated API reads spawn no git. */
  readonly #memo = new Map<string, Promise<unknown>>();
  /**
   * Signatures the forge made, by commit (what the API's `verification` reports). A signed commit pushed
   * from outside shows as unsigned: the forge checks no one else's keys.
   */
  readonly #signatures = new Map<string, { signature: string; payload: string }>();

  readonly #clock: Clock;
  /** Bumped before and after every command that may move a ref (see KEEPS_REFS). */
  #refsGeneration = 0;
  /** The last `for-each-ref` of the branches, and the generation it was started in. */
  #tips: { generation: number; tips: Promise<Map<string, string>> } | undefined;

  private constructor(dir: string, clock: Clock) {
    this.dir = dir;
    this.#clock = clock;
  }

  /**
   * `git init --bare -b main` at `dir`. `clock` dates what names no date of its own (the forge passes its
   * clock; a repository used on its own dates commits by the wall clock).
   */
  static async init(dir: string, defaultBranch = 'main', clock: Clock = systemClock): Promise<GitRepo> {
    await run('git', ['init', '--quiet', '--bare', '-b', defaultBranch, dir], { env: gitEnv() });
    return new GitRepo(dir, clock);
  }

  async git(args: string[], options: RunOptions = {}): Promise<string> {
    return (await this.#exec(args, options, 'utf8')) as string;
  }

  async #exec(args: string[], options: RunOptions, encoding: 'utf8' | 'buffer'): Promise<string | Buffer> {
    if (KEEPS_REFS.has(args[0] ?? '')) return this.#spawn(args, options, encoding);
    this.#refsGeneration++;
    try {
      return await this.#spawn(args, options, encoding);
    } finally {
      this.#refsGeneration++;
    }
  }

  async #spawn(args: string[], options: RunOptions, encoding: 'utf8' | 'buffer'): Promise<string | Buffer> {
    const promise = run('git', ['--git-dir', this.dir, ...args], {
      env: gitEnv(options.env),
      encoding,
      maxBuffer: 256 * 1024 * 1024,
    });
    // A command that does not read its stdin may exit first: ignore EPIPE, the exit status tells.
    promise.child.stdin?.on('error', () => {});
    if (options.input === undefined) promise.child.stdin?.end();
    else promise.child.stdin?.end(options.input);
    const { stdout } = await promise;
    return stdout;
  }

  /** Caches `compute()` under `key` when every `shas` is a full object id (objects never change). */
  #cached<T>(key: string, shas: string[], compute: () => Promise<T>): Promise<T> {
    if (!shas.every((sha) => SHA.test(sha))) return compute();
    const full = `${key}:${shas.join(':')}`;
    let result = this.#memo.get(full) as Promise<T> | undefined;
    if (!result) {
      result = compute();
      this.#memo.set(full, result);
      // Failures and "not found" are not facts about immutable objects: compute them again next time.
      result.then(
        (value) => value === undefined && this.#memo.delete(full),
        () => this.#memo.delete(full),
      );
    }
    return result;
  }

  /** Runs `fn` after every earlier write to this repository finished (ref updates are compare-and-swap). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#lock.then(fn, fn);
    this.#lock = next.catch(() => undefined);
    return next;
  }

  // ---- writing --------------------------------------------------------------------------------------------

  /** Writes the blobs, tree and commit of `spec`; moves no ref. Returns the commit sha. */
  async writeCommit(spec: CommitSpec): Promise<string> {
    const index = join(this.dir, `fake-index-${randomUUID()}`);
    const env = { GIT_INDEX_FILE: index };
    try {
      if (spec.parent) await this.git(['read-tree', spec.parent], { env });
      const entries = Object.entries(spec.files);
      const bad = entries.find(([path]) => !isValidPath(path));
      if (bad) throw new Error(`invalid path in commit: ${JSON.stringify(bad[0])}`);
      const deletions = entries.filter(([, content]) => content === null).map(([path]) => path);
      // `--index-info` lines: `100644 <blob>\t<path>` stages a file, mode 0 removes one (the equivalent of
      // update-index --cacheinfo / --force-remove, which need a work tree for the latter).
      const lines = await Promise.all(
        entries.map(async ([path, content]) => {
          if (content === null) return `0 ${ZERO_SHA}\t${path}`;
          const blob = (await this.git(['hash-object', '-w', '--stdin'], { input: content })).trim();
          return `100644 ${blob}\t${path}`;
        }),
      );
      if (deletions.length > 0) {
        const present = new Set(
          (await this.git(['ls-files', '-z'], { env })).split('\0').filter((p) => p.length > 0),
        );
        const missing = deletions.filter((p) => !present.has(p));
        if (missing.length > 0)
          throw new Error(`cannot delete files that do not exist: ${missing.join(', ')}`);
      }
      if (lines.length > 0) {
        await this.git(['update-index', '--add', '--index-info'], { env, input: `${lines.join('\n')}\n` });
      }
      const tree = (await this.git(['write-tree'], { env })).trim();
      return await this.writeCommitObject({
        tree,
        parents: spec.parent ? [spec.parent] : [],
        author: spec.author,
        committer: spec.committer,
        message: spec.message,
        sign: spec.sign,
      });
    } finally {
      await rm(index, { force: true });
    }
  }

  /** Moves `refs/heads/<branch>` to `sha` if it still points at `old` (undefined: must not exist yet). */
  async updateBranch(branch: string, sha: string, old: string | undefined): Promise<void> {
    await this.git(['update-ref', `refs/heads/${branch}`, sha, old ?? '']);
  }

  /** `git hash-object -w`: the blob's sha. */
  async writeBlob(content: string | Uint8Array): Promise<string> {
    return (await this.git(['hash-object', '-w', '--stdin'], { input: content })).trim();
  }

  /**
   * The tree of `base` (a tree sha; none: an empty tree) with `entries` applied in order, as GitHub's create-a-tree
   * does: a blob or submodule entry replaces whatever is at its path, a tree entry grafts that whole tree there,
   * and `sha: null` removes the path (a file, or a directory and everything under it). Built in a temporary
   * index from a flat listing, so nested paths (`a/b/c.yaml`) work. Throws GitInputError on bad input.
   */
  async writeTree(base: string | undefined, entries: TreeInput[]): Promise<string> {
    const files = new Map<string, { mode: string; sha: string }>();
    const put = (path: string, mode: string, sha: string): void => {
      remove(path);
      // A file where a directory of the path was: the directory goes (and a file in the way of a directory).
      const parts = path.split('/');
      for (let i = 1; i < parts.length; i++) files.delete(parts.slice(0, i).join('/'));
      files.set(path, { mode, sha });
    };
    const remove = (path: string): void => {
      files.delete(path);
      for (const key of [...files.keys()]) if (key.startsWith(`${path}/`)) files.delete(key);
    };
    if (base !== undefined) {
      for (const e of await this.lsTree(base, true)) {
        if (e.type !== 'tree') files.set(e.path, { mode: e.mode, sha: e.sha });
      }
    }
    for (const entry of entries) {
      if (!isValidPath(entry.path)) throw new GitInputError('tree.path contains a malformed path component');
      if (entry.sha === null) {
        remove(entry.path);
        continue;
      }
      if (entry.type !== 'commit' && (await this.objectType(entry.sha)) !== entry.type) {
        throw new GitInputError(`tree.sha ${entry.sha} is not a valid ${entry.type}`);
      }
      if (entry.type === 'tree') {
        remove(entry.path);
        for (const e of await this.lsTree(entry.sha, true)) {
          if (e.type !== 'tree') put(`${entry.path}/${e.path}`, e.mode, e.sha);
        }
      } else {
        put(entry.path, entry.mode, entry.sha);
      }
    }
    const index = join(this.dir, `fake-index-${randomUUID()}`);
    const env = { GIT_INDEX_FILE: index };
    try {
      const lines = [...files].map(([path, { mode, sha }]) => `${mode} ${sha}\t${path}`);
      if (lines.length > 0) {
        await this.git(['update-index', '--add', '--index-info'], { env, input: `${lines.join('\n')}\n` });
      }
      return (await this.git(['write-tree'], { env })).trim();
    } finally {
      await rm(index, { force: true });
    }
  }

  /**
   * `git commit-tree`: a commit of `tree` with `parents`, the message byte for byte. Moves no ref. With
   * `sign`, the commit carries a `gpgsig` header over the rest of the object, as GitHub's web-flow commits do.
   */
  async writeCommitObject(spec: {
    tree: string;
    parents: string[];
    author: Identity;
    committer: Identity;
    message: string;
    sign?: Signer | undefined;
  }): Promise<string> {
    const args = ['commit-tree', spec.tree, ...spec.parents.flatMap((p) => ['-p', p]), '-F', '-'];
    const now = this.#clock.now();
    const env = identityEnv(spec.author, spec.committer, now);
    const sha = (await this.git(args, { input: spec.message, env })).trim();
    return spec.sign ? this.#signed(sha, spec.sign, spec.committer.date ?? now) : sha;
  }

  /** The same commit with a `gpgsig` header (after `committer`, where git puts it): a new object id. */
  async #signed(sha: string, sign: Signer, at: Date): Promise<string> {
    const raw = (await this.#exec(['cat-file', 'commit', sha], {}, 'buffer')) as Buffer;
    const armored = (await sign(raw, at)).trimEnd();
    const signed = addCommitSignature(raw, armored);
    const out = (await this.git(['hash-object', '-t', 'commit', '-w', '--stdin'], { input: signed })).trim();
    this.#signatures.set(out, { signature: `${armored}\n`, payload: raw.toString('utf8') });
    return out;
  }

  /**
   * The tree of applying `commit` (whose parent is `parent`) onto `onto`: what a rebase writes. Null when it
   * conflicts or git cannot say (`--merge-base` needs git 2.40).
   */
  async replayTree(parent: string, commit: string, onto: string): Promise<string | null> {
    try {
      const out = await this.git([
        'merge-tree',
        '--write-tree',
        '--no-messages',
        `--merge-base=${parent}`,
        onto,
        commit,
      ]);
      return out.split('\n')[0]?.trim() || null;
    } catch {
      return null;
    }
  }

  /** The object a full ref name (`refs/heads/main`, `refs/tags/v1`) points at, unpeeled. */
  async readRef(ref: string): Promise<string | undefined> {
    if (ref.startsWith('refs/heads/')) return this.branchTip(ref.slice('refs/heads/'.length));
    return this.#revParse(ref);
  }

  /**
   * Compare-and-swap of a full ref name: `old` undefined means it must not exist yet; `sha` undefined deletes it.
   * Throws when the ref moved meanwhile.
   */
  async setRef(ref: string, sha: string | undefined, old: string | undefined): Promise<void> {
    if (sha === undefined) await this.git(['update-ref', '-d', ref, old ?? '']);
    else await this.git(['update-ref', ref, sha, old ?? '']);
  }

  async checkRefName(ref: string): Promise<boolean> {
    try {
      await this.git(['check-ref-format', ref]);
      return true;
    } catch {
      return false;
    }
  }

  /** `a` is `b` or one of its ancestors. */
  async isAncestor(a: string, b: string): Promise<boolean> {
    return this.#cached('ancestor', [a, b], async () => {
      try {
        await this.git(['merge-base', '--is-ancestor', a, b]);
        return true;
      } catch {
        return false;
      }
    });
  }

  /** `git rev-list --reverse --topo-order <include> --not <exclude>`: oldest first. */
  async revList(include: string, exclude: string[]): Promise<string[]> {
    const out = await this.git(['rev-list', '--reverse', '--topo-order', include, '--not', ...exclude, '--']);
    return out.split('\n').filter((line) => line.length > 0);
  }

  /**
   * Paths a commit added, removed and modified against its first parent (or all added for a root commit), as a
   * push payload lists them: no rename detection, a rename is a removal and an addition.
   */
  async changedPaths(commit: string): Promise<{ added: string[]; removed: string[]; modified: string[] }> {
    return this.#cached('changed', [commit], async () => {
      const parent = (await this.commitInfo(commit))?.parents[0];
      const args = ['diff-tree', '-r', '--no-renames', '--name-status', '-z'];
      const out = await this.git(parent ? [...args, parent, commit] : [...args, '--root', commit]);
      const tokens = out.split('\0');
      const changed = { added: [] as string[], removed: [] as string[], modified: [] as string[] };
      // `diff-tree --root <commit>` starts with the commit's own sha.
      let i = SHA.test(tokens[0] ?? '') ? 1 : 0;
      while (i + 1 < tokens.length) {
        const status = tokens[i] ?? '';
        const path = tokens[i + 1] ?? '';
        if (status === 'A') changed.added.push(path);
        else if (status === 'D') changed.removed.push(path);
        else if (status) changed.modified.push(path);
        i += 2;
      }
      return changed;
    });
  }

  async checkBranchName(branch: string): Promise<void> {
    try {
      await this.git(['check-ref-format', `refs/heads/${branch}`]);
    } catch {
      throw new Error(`invalid branch name ${JSON.stringify(branch)}`);
    }
  }

  // ---- reading --------------------------------------------------------------------------------------------

  async branchTip(branch: string): Promise<string | undefined> {
    // A loose ref is a file holding the sha: reading it costs no process. (update-ref and pushes into the
    // bare repository write loose refs; packed ones fall back to git.)
    if (/^[A-Za-z0-9._/$(){}`;&|!#%+=,-]+$/.test(branch) && !branch.split('/').includes('..')) {
      try {
        const sha = (await readFile(join(this.dir, 'refs', 'heads', ...branch.split('/')), 'utf8')).trim();
        if (SHA.test(sha)) return sha;
      } catch {
        // not a loose ref
      }
    }
    return this.#revParse(`refs/heads/${branch}^{commit}`);
  }

  /** Someone moved a ref with git directly (a test's push that GitHub's log does not show): read them again. */
  refsMovedOutside(): void {
    this.#refsGeneration++;
  }

  /**
   * Every branch → its tip, in one git call, remembered until a command that may move a ref starts (every ref
   * of the forge moves through this object; git's HTTP side only serves fetches). Reading every pull request's
   * head and base this way spawned a process per read, most of the forge's cost under load.
   */
  async branchTips(): Promise<Map<string, string>> {
    const generation = this.#refsGeneration;
    if (this.#tips?.generation !== generation) {
      const tips = this.#readBranchTips();
      this.#tips = { generation, tips };
      tips.catch(() => {
        if (this.#tips?.tips === tips) this.#tips = undefined;
      });
    }
    // A copy: callers may change theirs.
    return new Map(await this.#tips.tips);
  }

  async #readBranchTips(): Promise<Map<string, string>> {
    const out = await this.git(['for-each-ref', '--format=%(objectname) %(refname:lstrip=2)', 'refs/heads/']);
    const tips = new Map<string, string>();
    for (const line of out.split('\n')) {
      const space = line.indexOf(' ');
      if (space > 0) tips.set(line.slice(space + 1), line.slice(0, space));
    }
    return tips;
  }

  /**
   * The commit a GitHub `ref` parameter names: a full sha, a branch or tag name, `heads/<b>`, `tags/<t>` or
   * `refs/...`. Never general revision syntax (`main~1`, `@{u}`), which GitHub does not accept either.
   */
  async resolveCommit(ref: string): Promise<string | undefined> {
    return this.#resolve(ref, 'commit');
  }

  /** Like resolveCommit, but also accepts a tree sha, and answers the tree. */
  async resolveTree(ref: string): Promise<string | undefined> {
    return this.#resolve(ref, 'tree');
  }

  async #resolve(ref: string, peel: 'commit' | 'tree'): Promise<string | undefined> {
    if (SHA.test(ref)) {
      const type = await this.objectType(ref);
      if (type === 'commit' || (peel === 'tree' && type === 'tree')) {
        // Objects never change: the tree of a commit is remembered.
        return peel === 'tree' ? this.#cached('tree-of', [ref], () => this.#revParse(`${ref}^{tree}`)) : ref;
      }
      return undefined;
    }
    // Characters git forbids in ref names anyway are revision syntax (`main~1`, `main^{tree}`, `@{u}`).
    if (/[\s~^:?*[\\]|\.\.|@\{/.test(ref) || ref.startsWith('-')) return undefined;
    const candidates = ref.startsWith('refs/')
      ? [ref]
      : ref.startsWith('heads/') || ref.startsWith('tags/')
        ? [`refs/${ref}`]
        : [`refs/heads/${ref}`, `refs/tags/${ref}`];
    for (const candidate of candidates) {
      const sha = await this.#revParse(`${candidate}^{${peel}}`);
      if (sha) return sha;
    }
    return undefined;
  }

  async #revParse(rev: string): Promise<string | undefined> {
    try {
      const out = (await this.git(['rev-parse', '--verify', '--quiet', '--end-of-options', rev])).trim();
      return out || undefined;
    } catch {
      return undefined;
    }
  }

  async objectType(sha: string): Promise<string | undefined> {
    if (!SHA.test(sha)) return undefined;
    return this.#cached('type', [sha], async () => {
      try {
        return (await this.git(['cat-file', '-t', sha])).trim();
      } catch {
        return undefined;
      }
    });
  }

  async mergeBase(a: string, b: string): Promise<string | undefined> {
    return this.#cached('merge-base', [a, b], async () => {
      try {
        return (await this.git(['merge-base', a, b])).trim() || undefined;
      } catch {
        return undefined;
      }
    });
  }

  /**
   * The tree of merging `theirs` into `ours`; null when the merge conflicts; undefined when git cannot tell
   * (`merge-tree --write-tree` needs git 2.38 or later).
   */
  async mergeTree(ours: string, theirs: string): Promise<string | null | undefined> {
    return this.#cached('merge-tree', [ours, theirs], async () => {
      try {
        const out = await this.git(['merge-tree', '--write-tree', '--no-messages', ours, theirs]);
        return out.split('\n')[0]?.trim() || undefined;
      } catch (e) {
        return (e as { code?: unknown }).code === 1 ? null : undefined;
      }
    });
  }

  /** Commits reachable from `head` but not from `base` (`git rev-list --count base..head`). */
  async countCommits(base: string, head: string): Promise<number> {
    return this.#cached('count', [base, head], async () =>
      Number((await this.git(['rev-list', '--count', `${base}..${head}`])).trim()),
    );
  }

  /** Commits reachable from `head` but not from `base`, oldest first, as a pull request lists them. */
  async log(base: string, head: string): Promise<CommitInfo[]> {
    return this.#cached('log', [base, head], () =>
      this.#log(['--reverse', '--topo-order', `${base}..${head}`, '--']),
    );
  }

  /**
   * History of `commit`, newest first (GitHub's list-commits); optionally of one path. `--date-order` never
   * lists a parent before its children, even when commits share a timestamp.
   */
  async history(commit: string, filter: { path?: string; since?: string; until?: string } = {}) {
    return this.#log([
      '--date-order',
      ...(filter.since ? [`--since=${filter.since}`] : []),
      ...(filter.until ? [`--until=${filter.until}`] : []),
      commit,
      '--',
      ...(filter.path ? [filter.path] : []),
    ]);
  }

  async commitInfo(sha: string): Promise<CommitInfo | undefined> {
    if ((await this.objectType(sha)) !== 'commit') return undefined;
    return this.#cached('commit', [sha], async () => (await this.#log(['-1', sha, '--']))[0]);
  }

  /** A commit's message byte for byte (CommitInfo.message drops trailing newlines, as GitHub's API shows it). */
  async rawMessage(sha: string): Promise<string> {
    return this.#cached('raw-message', [sha], async () => {
      const raw = await this.git(['cat-file', 'commit', sha]);
      const blank = raw.indexOf('\n\n');
      return blank < 0 ? '' : raw.slice(blank + 2);
    });
  }

  async #log(args: string[]): Promise<CommitInfo[]> {
    const format = ['%H', '%T', '%P', '%an', '%ae', '%aI', '%cn', '%ce', '%cI', '%B'].join('%x1f');
    const out = await this.git(['log', '-z', `--format=${format}`, ...args]);
    return out
      .split('\0')
      .filter((record) => record.length > 0)
      .map((record) => {
        const info = parseCommit(record);
        const signature = this.#signatures.get(info.sha);
        return signature ? { ...info, signature } : info;
      });
  }

  async lsTree(tree: string, recursive: boolean): Promise<TreeEntry[]> {
    const args = ['ls-tree', '-l', '-z', ...(recursive ? ['-r', '-t'] : []), tree];
    return this.#cached(`ls-tree:${recursive}`, [tree], async () => parseEntries(await this.git(args)));
  }

  /** The entry at `path` in a commit or tree (`''` is the root tree itself). */
  async entryAt(treeish: string, path: string): Promise<TreeEntry | undefined> {
    if (path === '') {
      const sha = await this.#revParse(`${treeish}^{tree}`);
      return sha ? { mode: '040000', type: 'tree', sha, size: undefined, path: '' } : undefined;
    }
    try {
      const out = await this.git(['ls-tree', '-l', '-z', treeish, '--', path]);
      return parseEntries(out).find((e) => e.path === path);
    } catch {
      return undefined;
    }
  }

  async readBlob(sha: string): Promise<Buffer | undefined> {
    if ((await this.objectType(sha)) !== 'blob') return undefined;
    return this.#cached(
      'blob',
      [sha],
      async () => (await this.#exec(['cat-file', 'blob', sha], {}, 'buffer')) as Buffer,
    );
  }

  /** `git diff -M from to`: status, paths, blob shas, line counts and patch of every changed file. */
  async diff(from: string, to: string): Promise<DiffEntry[]> {
    return this.#cached('diff', [from, to], () => this.#diff(from, to));
  }
  async #diff(from: string, to: string): Promise<DiffEntry[]> {
    const common = ['-M', '--no-ext-diff', '--no-textconv', '--no-color', from, to, '--'];
    const [summary, patches] = await Promise.all([
      this.git(['diff', '--raw', '--numstat', '-z', '--no-abbrev', ...common]),
      this.git(['diff', '--patch', '--full-index', ...common]),
    ]);
    return parseDiff(summary, patches);
  }
}
