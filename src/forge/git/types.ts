// What the forge's git store reads and writes: identities, commit specs and infos, tree and diff entries.

export const ZERO_SHA = '0'.repeat(40);

export interface Identity {
  name: string;
  email: string;
  /** Defaults to now. */
  date?: Date;
}

/** Path → new content, or null to delete the file. */
export type FileChanges = Record<string, string | Uint8Array | null>;

export interface CommitSpec {
  /** Parent commit; none for a root commit. */
  parent?: string | undefined;
  files: FileChanges;
  author: Identity;
  committer: Identity;
  message: string;
  /** Sign the commit (GitHub's web-flow signature). */
  sign?: Signer | undefined;
}

/** An armored OpenPGP signature of a commit object's bytes, made at `at`. */
export type Signer = (data: Buffer, at: Date) => Promise<string>;

export interface CommitInfo {
  sha: string;
  tree: string;
  parents: string[];
  author: { name: string; email: string; date: string };
  committer: { name: string; email: string; date: string };
  message: string;
  /** Set when the forge signed this commit: the armored signature and the bytes it signs. */
  signature?: { signature: string; payload: string };
}

export interface TreeEntry {
  mode: string;
  type: 'blob' | 'tree' | 'commit';
  sha: string;
  /** Blob size in bytes; undefined for trees and submodules. */
  size: number | undefined;
  path: string;
}

export interface DiffEntry {
  /** Git's status letter: A, D, M, R, C or T. */
  status: string;
  path: string;
  /** Source path of a rename or copy. */
  previousPath?: string;
  oldSha: string;
  newSha: string;
  additions: number;
  deletions: number;
  binary: boolean;
  /** Unified diff hunks without the `diff --git`/`---`/`+++` headers, as GitHub's `patch` field. */
  patch?: string;
}

/** An entry of git data's create-a-tree: `sha: null` deletes the path. */
export interface TreeInput {
  path: string;
  mode: string;
  type: 'blob' | 'tree' | 'commit';
  sha: string | null;
}

/** Input git (or GitHub) refuses: the route answers it 422 with this message. */
export class GitInputError extends Error {}
