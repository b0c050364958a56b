// A RepoSource over the GitHub API: the tree of one commit, read through the git data endpoints
// (trees and blobs), so policies and CODEOWNERS come from the PR's base without a clone.
import type { RepoSource } from '../repo/source.js';
import { type GitHub, type RepoRef, statusOf } from './client.js';

interface TreeEntry {
  path?: string;
  type?: string;
  sha?: string;
}

/** The largest file read through the API; bigger files are refused with a clear error. */
export const MAX_BLOB_BYTES = 1024 * 1024;

export function githubSource(gh: GitHub, repo: RepoRef, commitSha: string, label?: string): RepoSource {
  const trees = new Map<string, Promise<TreeEntry[]>>();
  const tree = (sha: string, recursive = false): Promise<TreeEntry[]> => {
    const key = `${sha}${recursive ? ':r' : ''}`;
    let p = trees.get(key);
    if (!p) {
      p = gh
        .request('GET /repos/{owner}/{repo}/git/trees/{tree_sha}', {
          ...repo,
          tree_sha: sha,
          ...(recursive ? { recursive: '1' } : {}),
        })
        .then(({ data }) => {
          if (data.truncated) {
            throw new Error(
              `the tree ${sha.slice(0, 7)} of ${repo.owner}/${repo.repo} is too large for the API (truncated)`,
            );
          }
          return data.tree;
        });
      trees.set(key, p);
    }
    return p;
  };
  /** The entry at `path`, walking one directory level per request (null when absent). */
  const entry = async (path: string): Promise<TreeEntry | null> => {
    const parts = path.split('/').filter(Boolean);
    let sha = commitSha;
    let found: TreeEntry | null = null;
    for (const [i, name] of parts.entries()) {
      const entries = await tree(sha);
      found = entries.find((e) => e.path === name) ?? null;
      if (!found?.sha) return null;
      if (i < parts.length - 1) {
        if (found.type !== 'tree') return null;
        sha = found.sha;
      }
    }
    return found;
  };
  return {
    label: label ?? `${repo.owner}/${repo.repo}@${commitSha.slice(0, 7)}`,
    async list(dir) {
      const e = await entry(dir);
      if (!e?.sha || e.type !== 'tree') return [];
      const prefix = dir.replace(/\/+$/, '');
      return (await tree(e.sha, true))
        .filter((x) => x.type === 'blob' && x.path)
        .map((x) => `${prefix}/${x.path}`)
        .sort();
    },
    async read(path) {
      const e = await entry(path);
      if (!e?.sha || e.type !== 'blob') return null;
      return readBlob(gh, repo, e.sha, path);
    },
  };
}

/** A blob's text by its sha (files of a pull request come with their blob sha). */
export async function readBlob(gh: GitHub, repo: RepoRef, sha: string, path: string): Promise<string> {
  let data: { content: string; encoding: string; size?: number | null };
  try {
    ({ data } = await gh.request('GET /repos/{owner}/{repo}/git/blobs/{file_sha}', {
      ...repo,
      file_sha: sha,
    }));
  } catch (err) {
    if (statusOf(err) === 404) throw new Error(`${path}: blob ${sha.slice(0, 7)} not found`);
    throw err;
  }
  if ((data.size ?? 0) > MAX_BLOB_BYTES) {
    throw new Error(`${path}: ${data.size} bytes is more than Timebox reads (${MAX_BLOB_BYTES})`);
  }
  if (data.encoding === 'base64') return Buffer.from(data.content, 'base64').toString('utf8');
  if (data.encoding === 'utf-8' || data.encoding === 'utf8') return data.content;
  throw new Error(`${path}: unexpected blob encoding ${data.encoding}`);
}
