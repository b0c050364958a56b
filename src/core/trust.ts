// Which commits' `Timebox-*` trailers the ledger believes (docs/audit.md, "What the record trusts"). Anyone
// can write `Timebox-Approved-By: carol` into a commit message; only the merge commits Timebox itself makes
// through the GitHub API count. Such a commit is known by three facts together:
//   - it is signed by a key of `audit.signing_keys` (GitHub's web-flow key: GitHub made the commit, nobody
//     pushed it), so its author and parents are what GitHub wrote;
//   - its author is Timebox's identity (`audit.timebox`): GitHub writes the account that called the merge
//     API as the author of a merge commit, and a person merging in the web UI is the author of theirs;
//   - it has two parents: Timebox merges with `merge_method: merge`; squash and rebase commits (whose
//     message or author a person chooses) have one.
// Pure: the history reader checks the signature; this decides.

/**
 * The facts of a commit this module judges (the ledger's `HistoryCommit` has them). Declared here, not
 * imported from the ledger, which imports this module: the core has no import circle.
 */
export interface JudgedCommit {
  parents: readonly string[];
  author: string;
  /** Lower-cased trailer key → values. */
  trailers: Record<string, string[]>;
  signature?: CommitSignature;
}

/** A commit's signature as the history reader checked it against the trusted keys. */
export type CommitSignature =
  | { status: 'valid'; signer: string }
  | { status: 'none' | 'untrusted' | 'bad'; detail?: string };

export interface TrailerTrust {
  /** Who Timebox merges as: logins (`timebox[bot]`) or e-mail addresses. Empty: no commit is Timebox's. */
  identities: readonly string[];
  /** Whether `audit.signing_keys` names any key. None: no commit is Timebox's. */
  keys: boolean;
}

/** The setting whose absence makes every commit untrusted (`audit.timebox`, `audit.signing_keys`), or null. */
export function unsetTrust(trust: TrailerTrust): string | null {
  if (trust.identities.length === 0) return 'audit.timebox';
  if (!trust.keys) return 'audit.signing_keys';
  return null;
}

const TIMEBOX_PREFIX = 'timebox-';

/** The `Timebox-*` trailer keys of a commit (lower-case, as the reader stores them). */
export function timeboxTrailerKeys(commit: Pick<JudgedCommit, 'trailers'>): string[] {
  return Object.keys(commit.trailers).filter((k) => k.startsWith(TIMEBOX_PREFIX));
}

function emailOf(person: string): string {
  return (/<([^<>]*)>\s*$/.exec(person)?.[1] ?? '').trim().toLowerCase();
}

/** GitHub.com's no-reply domain: an address there is the one GitHub gives the account it names. */
const NOREPLY = 'users.noreply.github.com';

/**
 * Whether `email` is `identity`: the same address, or for a login, GitHub.com's no-reply address for that
 * account (`<id>+<login>@users.noreply.github.com`, as GitHub writes an App's merges). Only that exact
 * domain: a look-alike (`…@users.noreply.github.com.evil.example`) is an address anyone may verify. On
 * GitHub Enterprise Server, configure the full address.
 */
export function isIdentity(identity: string, email: string): boolean {
  const id = identity.trim().replace(/^@/, '').toLowerCase();
  const e = email.trim().toLowerCase();
  if (id === '' || e === '') return false;
  if (id.includes('@')) return e === id;
  const at = e.lastIndexOf('@');
  if (at < 0 || e.slice(at + 1) !== NOREPLY) return false;
  return e.slice(0, at).replace(/^\d+\+/, '') === id;
}

/** Why `commit` is not one Timebox made (each reason), or an empty list when it is. */
export function untrustedReasons(commit: JudgedCommit, trust: TrailerTrust): string[] {
  const reasons: string[] = [];
  const unset = unsetTrust(trust);
  if (unset) reasons.push(`timebox.yaml sets no ${unset}`);
  if (trust.identities.length > 0 && !trust.identities.some((id) => isIdentity(id, emailOf(commit.author))))
    reasons.push(`authored by ${commit.author}`);
  if (commit.parents.length !== 2) reasons.push('not a merge commit');
  const sig = commit.signature;
  if (!sig) {
    if (trust.keys) reasons.push('signature not checked');
  } else if (sig.status === 'none') reasons.push('unsigned');
  else if (sig.status === 'untrusted')
    reasons.push(`not signed by a key of audit.signing_keys${sig.detail ? ` (${sig.detail})` : ''}`);
  else if (sig.status === 'bad') reasons.push(`bad signature${sig.detail ? ` (${sig.detail})` : ''}`);
  return reasons;
}
