// Builders for GitHub's git-side objects: commits (REST and git data), diff entries, contents items and refs.
import { API_URL, base64Lines, encodePath, type JsonObject, nodeId, WEB_URL } from '../builders.js';

export interface GitPerson {
  name: string;
  email: string;
  date: string;
}

export interface CommitParts {
  sha: string;
  tree: string;
  parents: string[];
  author: GitPerson;
  committer: GitPerson;
  message: string;
  /** The forge's own (web-flow) signature, when it signed the commit. */
  signature?: { signature: string; payload: string } | undefined;
}

const UNSIGNED = { verified: false, reason: 'unsigned', signature: null, payload: null, verified_at: null };

/** `verification`: commits GitHub signed with its web-flow key are `valid`; the forge checks no other key. */
function verificationOf(c: CommitParts): JsonObject {
  if (!c.signature) return UNSIGNED;
  return {
    verified: true,
    reason: 'valid',
    signature: c.signature.signature,
    payload: c.signature.payload,
    verified_at: c.committer.date,
  };
}

/** A `commit` (pulls/list-commits items): git data plus the GitHub users linked to its e-mails. */
export function buildCommit(
  fullName: string,
  c: CommitParts,
  author: JsonObject | null,
  committer: JsonObject | null,
): JsonObject {
  const api = `${API_URL}/repos/${fullName}`;
  return {
    url: `${api}/commits/${c.sha}`,
    sha: c.sha,
    node_id: nodeId('C', c.sha),
    html_url: `${WEB_URL}/${fullName}/commit/${c.sha}`,
    comments_url: `${api}/commits/${c.sha}/comments`,
    commit: {
      url: `${api}/git/commits/${c.sha}`,
      author: c.author,
      committer: c.committer,
      message: c.message,
      comment_count: 0,
      tree: { sha: c.tree, url: `${api}/git/trees/${c.tree}` },
      verification: verificationOf(c),
    },
    author,
    committer,
    parents: c.parents.map((sha) => ({
      sha,
      url: `${api}/commits/${sha}`,
      html_url: `${WEB_URL}/${fullName}/commit/${sha}`,
    })),
  };
}

/** A `git-commit` (`GET /git/commits/{sha}`). */
export function buildGitCommit(fullName: string, c: CommitParts): JsonObject {
  const api = `${API_URL}/repos/${fullName}`;
  return {
    sha: c.sha,
    node_id: nodeId('C', c.sha),
    url: `${api}/git/commits/${c.sha}`,
    html_url: `${WEB_URL}/${fullName}/commit/${c.sha}`,
    author: c.author,
    committer: c.committer,
    tree: { sha: c.tree, url: `${api}/git/trees/${c.tree}` },
    message: c.message,
    parents: c.parents.map((sha) => ({
      sha,
      url: `${api}/git/commits/${sha}`,
      html_url: `${WEB_URL}/${fullName}/commit/${sha}`,
    })),
    verification: verificationOf(c),
  };
}

export interface DiffParts {
  status: 'added' | 'removed' | 'modified' | 'renamed' | 'copied' | 'changed';
  filename: string;
  previousFilename?: string;
  sha: string;
  additions: number;
  deletions: number;
  patch?: string;
}

/** A `diff-entry` (pulls/list-files items). URLs name the head commit, as GitHub's do. */
export function buildDiffEntry(fullName: string, headSha: string, d: DiffParts): JsonObject {
  const path = encodePath(d.filename);
  const file: JsonObject = {
    sha: d.sha,
    filename: d.filename,
    status: d.status,
    additions: d.additions,
    deletions: d.deletions,
    changes: d.additions + d.deletions,
    blob_url: `${WEB_URL}/${fullName}/blob/${headSha}/${path}`,
    raw_url: `${WEB_URL}/${fullName}/raw/${headSha}/${path}`,
    contents_url: `${API_URL}/repos/${fullName}/contents/${path}?ref=${headSha}`,
  };
  if (d.patch !== undefined) file.patch = d.patch;
  if (d.previousFilename !== undefined) file.previous_filename = d.previousFilename;
  return file;
}

export interface ContentParts {
  type: 'file' | 'dir' | 'symlink' | 'submodule';
  path: string;
  sha: string;
  size: number;
  ref: string;
}

/** An item of the contents API; files fetched directly also carry `content` and `encoding`. */
export function buildContent(fullName: string, c: ContentParts, content?: Uint8Array): JsonObject {
  const api = `${API_URL}/repos/${fullName}`;
  const path = encodePath(c.path);
  const self = `${api}/contents/${path}?ref=${encodeURIComponent(c.ref)}`;
  const git = `${api}/git/${c.type === 'dir' ? 'trees' : 'blobs'}/${c.sha}`;
  const html = `${WEB_URL}/${fullName}/${c.type === 'dir' ? 'tree' : 'blob'}/${c.ref}/${path}`;
  const item: JsonObject = {
    type: c.type,
    ...(content ? { encoding: 'base64' } : {}),
    size: c.size,
    name: c.path.split('/').pop() ?? c.path,
    path: c.path,
    ...(content ? { content: base64Lines(content) } : {}),
    sha: c.sha,
    url: self,
    git_url: git,
    html_url: html,
    download_url: c.type === 'file' ? `https://raw.githubusercontent.com/${fullName}/${c.ref}/${path}` : null,
    _links: { self, git, html },
  };
  return item;
}

/** A `git-ref` (`GET /git/ref/{ref}`): `ref` is the full name, `refs/heads/main`. */
export function buildGitRef(fullName: string, ref: string, sha: string, type: string): JsonObject {
  const api = `${API_URL}/repos/${fullName}`;
  return {
    ref,
    node_id: nodeId('REF', `${fullName}:${ref}`),
    url: `${api}/git/${ref}`,
    object: { type, sha, url: `${api}/git/${type === 'tag' ? 'tags' : 'commits'}/${sha}` },
  };
}
