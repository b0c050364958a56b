// Git's plumbing, spoken: the clean environment every git command runs in, dates and identities as git takes
// them, and parsers of what `ls-tree`, `log` and `diff` print.
import type { CommitInfo, DiffEntry, Identity, TreeEntry } from './types.js';

export const SHA = /^[0-9a-f]{40}$/;

/** A clean environment: no inherited GIT_* variables (tests may run inside git hooks), no user config. */
export function gitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('GIT_')) env[key] = value;
  }
  return {
    ...env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    // Paths are paths, never globs (GitHub's `path` parameters are literal too).
    GIT_LITERAL_PATHSPECS: '1',
    LC_ALL: 'C',
    ...extra,
  };
}

/** `@<seconds> +0000`, git's internal date format. */
function gitDate(date: Date): string {
  return `@${Math.floor(date.getTime() / 1000)} +0000`;
}

export function identityEnv(author: Identity, committer: Identity, now: Date): Record<string, string> {
  return {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_AUTHOR_DATE: gitDate(author.date ?? now),
    GIT_COMMITTER_NAME: committer.name,
    GIT_COMMITTER_EMAIL: committer.email,
    GIT_COMMITTER_DATE: gitDate(committer.date ?? now),
  };
}

/** Git's strict ISO date (`2024-01-01T10:00:00+00:00`) → GitHub's `2024-01-01T10:00:00Z`. */
function isoDate(raw: string): string {
  return new Date(raw).toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * `git diff --raw --numstat -z` (`summary`) and `git diff --patch` (`patches`) of the same two commits → one
 * entry per changed file, with GitHub's `patch` (the hunks without the headers).
 */
export function parseDiff(summary: string, patches: string): DiffEntry[] {
  const tokens = summary.split('\0');
  const entries: DiffEntry[] = [];
  let i = 0;
  // Raw records first (`:old new oldsha newsha STATUS`, then one or two paths)...
  while (i < tokens.length && tokens[i]?.startsWith(':')) {
    const [, , oldSha = '', newSha = '', status = ''] = (tokens[i] ?? '').slice(1).split(' ');
    const letter = status.charAt(0);
    const twoPaths = letter === 'R' || letter === 'C';
    const first = tokens[i + 1] ?? '';
    const second = twoPaths ? (tokens[i + 2] ?? '') : undefined;
    entries.push({
      status: letter,
      path: second ?? first,
      ...(second !== undefined ? { previousPath: first } : {}),
      oldSha,
      newSha,
      additions: 0,
      deletions: 0,
      binary: false,
    });
    i += twoPaths ? 3 : 2;
  }
  // ...then numstat records in the same order (`add\tdel\tpath`, or `add\tdel\t` + two paths for renames).
  for (const entry of entries) {
    const [add = '0', del = '0', path = ''] = (tokens[i] ?? '').split('\t');
    entry.binary = add === '-';
    entry.additions = entry.binary ? 0 : Number(add);
    entry.deletions = entry.binary ? 0 : Number(del);
    i += path === '' ? 3 : 1;
  }
  // The patch lists files in the same order too; GitHub's `patch` is the hunks without the headers.
  const sections = patches.split(/^diff --git /m).slice(1);
  entries.forEach((entry, n) => {
    const section = sections[n] ?? '';
    const hunk = section.indexOf('\n@@');
    if (!entry.binary && hunk >= 0) entry.patch = section.slice(hunk + 1).replace(/\n$/, '');
  });
  return entries;
}

/** `ls-tree -l -z` output: `<mode> <type> <sha> <size>\t<path>` records separated by NUL. */
export function parseEntries(out: string): TreeEntry[] {
  return out
    .split('\0')
    .map((record) => /^(\d+) (blob|tree|commit) ([0-9a-f]{40}) +(-|\d+)\t(.*)$/s.exec(record))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({
      mode: m[1] ?? '',
      type: m[2] as TreeEntry['type'],
      sha: m[3] ?? '',
      size: m[4] === '-' ? undefined : Number(m[4]),
      path: m[5] ?? '',
    }));
}

export function parseCommit(record: string): CommitInfo {
  const [sha = '', tree = '', parents = '', an = '', ae = '', ad = '', cn = '', ce = '', cd = '', ...rest] =
    record.replace(/^\n/, '').split('\x1f');
  return {
    sha,
    tree,
    parents: parents.split(' ').filter((p) => p.length > 0),
    author: { name: an, email: ae, date: isoDate(ad) },
    committer: { name: cn, email: ce, date: isoDate(cd) },
    message: rest.join('\x1f').replace(/\n+$/, ''),
  };
}

/** Repository-relative paths as GitHub stores them: no leading/trailing slash, no `.`/`..`/empty segments. */
export function isValidPath(path: string): boolean {
  return (
    path.length > 0 &&
    !path.includes('\0') &&
    !path.includes('\n') &&
    path.split('/').every((s) => s !== '' && s !== '.' && s !== '..' && s !== '.git')
  );
}
