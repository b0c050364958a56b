// A local bare mirror of each access repo's default branch, for `timebox serve`: the ledger is folded from
// git history (src/repo/history.ts), which is one `git fetch` away rather than thousands of API calls.
// The mirror is a cache: deleting it costs one fetch, never an answer.
import { spawn } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RepoRef } from './client.js';

export class MirrorError extends Error {
  override name = 'MirrorError';
}

/** `https://github.com` from `https://api.github.com`; `https://ghe.example/api/v3` → `https://ghe.example`. */
export function serverUrlFor(apiUrl: string | undefined): string {
  if (!apiUrl) return 'https://github.com';
  const u = new URL(apiUrl);
  if (u.hostname === 'api.github.com') return 'https://github.com';
  u.pathname = u.pathname.replace(/\/api\/v3\/?$/, '').replace(/\/+$/, '');
  return u.toString().replace(/\/+$/, '');
}

export class Mirrors {
  readonly #root: string;
  readonly #serverUrl: string;

  /** `root`: where the bare mirrors live; `serverUrl`: the git host (`https://github.com`). */
  constructor(root: string, serverUrl: string) {
    this.#root = root;
    this.#serverUrl = serverUrl.replace(/\/+$/, '');
  }

  /** The bare repository for `repo` (it may not exist yet). */
  dir(repo: RepoRef): string {
    return join(this.#root, safe(repo.owner), `${safe(repo.repo)}.git`);
  }

  /**
   * Fetches `branch` into the mirror (creating it on first use) and returns its tip. The token goes to git in
   * the environment (GIT_CONFIG_*), never on a command line or in a config file.
   */
  async fetch(repo: RepoRef, branch: string, token: string): Promise<{ dir: string; tip: string }> {
    const dir = this.dir(repo);
    await this.#init(dir);
    const ref = `refs/heads/${branch}`;
    await git(
      dir,
      ['fetch', '--quiet', '--no-tags', '--prune', '--end-of-options', this.#url(repo), `+${ref}:${ref}`],
      tokenEnv(token),
    );
    const tip = (await git(dir, ['rev-parse', '--verify', '--end-of-options', `${ref}^{commit}`])).trim();
    return { dir, tip };
  }

  /**
   * Brings the commits `shas` (and their history) into the mirror, without moving any of its refs: the
   * policy-change check (src/engine/whatif-check.ts) reads a pull request's base and head, and the heads of
   * the open pull requests, while a reconcile may be fetching the default branch into the same mirror.
   * Returns the mirror and the commits it still lacks (a head GitHub no longer serves).
   */
  async fetchCommits(
    repo: RepoRef,
    shas: readonly string[],
    token: string,
  ): Promise<{ dir: string; missing: string[] }> {
    const dir = this.dir(repo);
    await this.#init(dir);
    const missing = await fetchCommitsInto(dir, this.#url(repo), shas, tokenEnv(token));
    return { dir, missing };
  }

  async #init(dir: string): Promise<void> {
    if (!(await exists(join(dir, 'HEAD')))) {
      await mkdir(dir, { recursive: true });
      await git(dir, ['init', '--quiet', '--bare']);
    }
  }

  #url(repo: RepoRef): string {
    return `${this.#serverUrl}/${encodeURIComponent(repo.owner)}/${encodeURIComponent(repo.repo)}.git`;
  }
}

/** git's environment for HTTPS with an installation or workflow token: never on a command line or in a file. */
export function tokenEnv(token: string | undefined): Record<string, string> {
  if (!token) return {};
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
  return {
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.extraHeader',
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
  };
}

const isSha = (s: string) => /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(s);

/**
 * Fetches the commits `shas` that `dir` lacks from `remote` (a URL or a remote's name) by their ids, writing no
 * ref and no FETCH_HEAD; returns those still missing. All in one fetch; when that fails (one head is gone),
 * each on its own, so that one unreachable commit does not hide the others.
 */
export async function fetchCommitsInto(
  dir: string,
  remote: string,
  shas: readonly string[],
  env: Record<string, string> = {},
): Promise<string[]> {
  const want = [...new Set(shas)].filter(isSha);
  const lacking = async (list: string[]) => {
    const out: string[] = [];
    for (const sha of list) if (!(await hasCommit(dir, sha))) out.push(sha);
    return out;
  };
  const absent = await lacking(want);
  if (absent.length === 0) return [...new Set(shas)].filter((s) => !isSha(s));
  const fetch = (list: string[]) =>
    git(
      dir,
      ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--end-of-options', remote, ...list],
      env,
    );
  try {
    await fetch(absent);
  } catch {
    for (const sha of absent) await fetch([sha]).catch(() => undefined);
  }
  return [...(await lacking(absent)), ...[...new Set(shas)].filter((s) => !isSha(s))];
}

async function hasCommit(dir: string, sha: string): Promise<boolean> {
  try {
    await git(dir, ['cat-file', '-e', '--end-of-options', `${sha}^{commit}`]);
    return true;
  } catch {
    return false;
  }
}

/** Owner and repository names as folder names (GitHub allows only `[A-Za-z0-9._-]`; anything else is escaped). */
function safe(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
  return s === '.' || s === '..' ? `%2e${s.slice(1)}` : s;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function git(cwd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd,
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new MirrorError(`cannot run git: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else
        reject(
          new MirrorError(
            `git ${args[0]} failed in ${cwd}: ${Buffer.concat(err)
              .toString('utf8')
              .trim()
              .replace(/Basic [A-Za-z0-9+/=]+/g, 'Basic ***')}`,
          ),
        );
    });
  });
}
