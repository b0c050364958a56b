// The revert pull request: after a grant is revoked, Timebox removes its request file through a pull
// request that it merges itself, with trailers (reason, activity) so that `git log` shows the revocation.
// Idempotent: a file already gone is not reverted again, and a revert PR Timebox opened before (a retry
// after a crash) is reused — but only after checking that it is Timebox's and that its diff, at the exact
// head commit that will be merged, is the removal of that one file and nothing else. Anyone with write
// access can push to a branch or open a PR on a predictable branch name; nothing they prepared is merged.
import { randomBytes } from 'node:crypto';
import { revertMessage } from '../core/trailers.js';
import { type GitHub, type RepoRef, statusOf } from './client.js';

export interface RevertInput {
  file: string;
  /** `expired`, `early revocation by alice`, … */
  reason: string;
  activity?: string;
  /** The PR that granted it, when known. */
  pull?: number;
  defaultBranch: string;
  /** Timebox's bot (`timebox[bot]`, `github-actions[bot]`): only pull requests it opened are reused. */
  botLogin: string;
}

export interface RevertResult {
  /** Nothing to do: the file is not on the default branch any more. */
  alreadyGone?: boolean;
  pull?: number;
  merged?: string;
  /** Why the revert PR was opened but not merged (a person must merge it). */
  mergeRefused?: string;
  /** Open pull requests on this file's revert branches that Timebox did not merge, and why. */
  ignored?: { pull: number; why: string }[];
}

/** The branch a revert of `file` lives on (before Timebox named them `<this>-<random>`). */
export function revertBranch(file: string): string {
  return `timebox/revert/${file.replace(/[^A-Za-z0-9._/-]/g, '-').replace(/\.\.+/g, '.')}`;
}

/** Whether `ref` is a revert branch of `file`: the old fixed name, or it with `-<8 hex>` as Timebox names them. */
export function isRevertBranchOf(ref: string, file: string): boolean {
  const stem = revertBranch(file);
  return ref === stem || (ref.startsWith(`${stem}-`) && /^[0-9a-f]{8}$/.test(ref.slice(stem.length + 1)));
}

const IGNORED_MARKER = '<!-- timebox:revert-ignored -->';

interface OpenPull {
  number: number;
  user: { login: string; id: number; type?: string } | null;
  head: { ref: string; sha: string; repo: { full_name: string } | null };
  base: { ref: string };
}

export async function revertRequest(gh: GitHub, repo: RepoRef, input: RevertInput): Promise<RevertResult> {
  const message = revertMessage(input);
  const base = input.defaultBranch;
  if ((await blobAt(gh, repo, input.file, base)) === null) return { alreadyGone: true };

  const ignored: { pull: number; why: string }[] = [];
  const open = (
    (await gh.paginate('GET /repos/{owner}/{repo}/pulls', {
      ...repo,
      state: 'open',
      per_page: 100,
    })) as OpenPull[]
  ).filter((p) => isRevertBranchOf(p.head.ref, input.file));
  if (open.length > 0) {
    const botId = await accountId(gh, input.botLogin);
    for (const p of open) {
      const mine = isBot(p.user, input.botLogin, botId);
      const why = mine ? await notTheRemoval(gh, repo, p, input.file, base) : 'Timebox did not open it';
      if (why === null) {
        // Checked at p.head.sha; merged only if the head is still exactly that commit.
        const out = await mergePinned(gh, repo, p.number, p.head.sha, message);
        if (out.merged) {
          await deleteBranch(gh, repo, p.head.ref);
          return { pull: p.number, merged: out.merged, ...(ignored.length > 0 ? { ignored } : {}) };
        }
        if (out.status !== 409) return { pull: p.number, mergeRefused: out.refused, ignored };
        ignored.push({ pull: p.number, why: `its head moved after Timebox checked it (${out.refused})` });
        await closeOwn(
          gh,
          repo,
          p.number,
          'a commit was pushed to it after Timebox checked it',
          input.botLogin,
        );
        continue;
      }
      ignored.push({ pull: p.number, why });
      if (mine) await closeOwn(gh, repo, p.number, why, input.botLogin);
      else await commentOnce(gh, repo, p.number, why, input.botLogin);
    }
  }

  // A fresh revert: Timebox's own commit, on a new branch created pointing straight at it.
  const { data: tipRef } = await gh.request('GET /repos/{owner}/{repo}/git/ref/{ref}', {
    ...repo,
    ref: `heads/${base}`,
  });
  const tip = tipRef.object.sha;
  const { data: tipCommit } = await gh.request('GET /repos/{owner}/{repo}/git/commits/{commit_sha}', {
    ...repo,
    commit_sha: tip,
  });
  const { data: tree } = await gh.request('POST /repos/{owner}/{repo}/git/trees', {
    ...repo,
    base_tree: tipCommit.tree.sha,
    tree: [{ path: input.file, mode: '100644', type: 'blob', sha: null }],
  });
  const { data: commit } = await gh.request('POST /repos/{owner}/{repo}/git/commits', {
    ...repo,
    message: `${message.title}\n\n${message.body}`,
    tree: tree.sha,
    parents: [tip],
  });
  const branch = await createBranch(gh, repo, input.file, commit.sha);
  const { data: pr } = await gh.request('POST /repos/{owner}/{repo}/pulls', {
    ...repo,
    title: message.title,
    head: branch,
    base,
    body: `Access granted by \`${input.file}\` has ended (${input.reason}). Timebox removes the request file so that the history shows it.${input.activity ? `\n\nActivity: ${input.activity}` : ''}`,
  });
  const out = await mergePinned(gh, repo, pr.number, commit.sha, message);
  const extra = ignored.length > 0 ? { ignored } : {};
  if (!out.merged) return { pull: pr.number, mergeRefused: out.refused, ...extra };
  await deleteBranch(gh, repo, branch);
  return { pull: pr.number, merged: out.merged, ...extra };
}

/** Null when the PR's diff at its head is exactly the removal of `file` against `base`; else why not. */
async function notTheRemoval(
  gh: GitHub,
  repo: RepoRef,
  p: OpenPull,
  file: string,
  base: string,
): Promise<string | null> {
  if (p.base.ref !== base) return `it targets ${p.base.ref}, not ${base}`;
  if (p.head.repo?.full_name.toLowerCase() !== `${repo.owner}/${repo.repo}`.toLowerCase())
    return 'its branch is in another repository';
  // The diff of that exact commit (a sha, not the branch, so what is checked is what the pinned merge takes).
  const { data } = await gh.request('GET /repos/{owner}/{repo}/compare/{basehead}', {
    ...repo,
    basehead: `${base}...${p.head.sha}`,
    per_page: 100,
  });
  const files = data.files ?? [];
  const only = files[0];
  if (files.length === 1 && only?.filename === file && only.status === 'removed') return null;
  const listed = files
    .slice(0, 5)
    .map((f) => `${f.status} ${f.filename}`)
    .join(', ');
  return `its changes are not exactly the removal of ${file} (${listed || 'no changes'}${files.length > 5 ? ', …' : ''})`;
}

async function mergePinned(
  gh: GitHub,
  repo: RepoRef,
  number: number,
  sha: string,
  message: { title: string; body: string },
): Promise<{ merged?: string; refused?: string; status?: number }> {
  try {
    const { data } = await gh.request('PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge', {
      ...repo,
      pull_number: number,
      merge_method: 'merge',
      sha,
      commit_title: message.title,
      commit_message: message.body,
    });
    return { merged: data.sha };
  } catch (err) {
    const status = statusOf(err);
    if (status === 405 || status === 409 || status === 422) {
      return { status, refused: `GitHub refused the merge (${status}): ${(err as Error).message}` };
    }
    throw err;
  }
}

/**
 * `timebox/revert/<file>-<random>`, created at `sha`; a name someone already took is never reused. When a
 * branch is in the way of every such name (someone made `timebox/revert/requests`), `timebox-revert-<random>`
 * (a retry after a crash does not find that PR again: it opens another, and the first stays unmerged).
 */
async function createBranch(gh: GitHub, repo: RepoRef, file: string, sha: string): Promise<string> {
  const names = [revertBranch(file), revertBranch(file), 'timebox-revert'];
  for (const [i, stem] of names.entries()) {
    const branch = `${stem}-${randomBytes(4).toString('hex')}`;
    try {
      await gh.request('POST /repos/{owner}/{repo}/git/refs', { ...repo, ref: `refs/heads/${branch}`, sha });
      return branch;
    } catch (err) {
      // 422: the name exists, or a branch named like one of its folders is in the way.
      if (statusOf(err) !== 422 || i === names.length - 1) throw err;
    }
  }
  throw new Error('unreachable');
}

async function deleteBranch(gh: GitHub, repo: RepoRef, branch: string): Promise<void> {
  await gh
    .request('DELETE /repos/{owner}/{repo}/git/refs/{ref}', { ...repo, ref: `heads/${branch}` })
    .catch(() => undefined);
}

/**
 * Whether GitHub names Timebox's bot as the PR's author: the account with the bot's id (a login can be
 * renamed and taken by another account, an id cannot), of type Bot, and still called `botLogin`.
 */
function isBot(user: OpenPull['user'], botLogin: string, botId: number | null): boolean {
  return (
    botId !== null &&
    user?.id === botId &&
    user.type === 'Bot' &&
    user.login.toLowerCase() === botLogin.toLowerCase()
  );
}

/** The account id of `login`, or null when GitHub knows no such account (then no PR counts as Timebox's). */
async function accountId(gh: GitHub, login: string): Promise<number | null> {
  try {
    const { data } = await gh.request('GET /users/{username}', { username: login });
    return Number(data.id);
  } catch (err) {
    if (statusOf(err) === 404) return null;
    throw err;
  }
}

/** Says once, on a PR Timebox will not merge, why — where reviewers of that PR see it. */
async function commentOnce(gh: GitHub, repo: RepoRef, number: number, why: string, botLogin: string) {
  const comments = await gh.paginate('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    ...repo,
    issue_number: number,
    per_page: 100,
  });
  const said = comments.some(
    (c) => c.body?.includes(IGNORED_MARKER) && c.user?.login.toLowerCase() === botLogin.toLowerCase(),
  );
  if (said) return;
  await gh.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    ...repo,
    issue_number: number,
    body: `${IGNORED_MARKER}\n**Timebox will not merge this pull request**: ${why}. Its branch is named like Timebox's revert branches; Timebox removes the request file through a pull request of its own. Review anything else here as any other change.`,
  });
}

/** Closes a revert PR Timebox opened and will not merge (its branch changed), saying why. */
async function closeOwn(gh: GitHub, repo: RepoRef, number: number, why: string, botLogin: string) {
  await commentOnce(gh, repo, number, why, botLogin);
  await gh.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', {
    ...repo,
    pull_number: number,
    state: 'closed',
  });
}

/** The blob sha of `path` on `ref`, or null when it is not there. */
async function blobAt(gh: GitHub, repo: RepoRef, path: string, ref: string): Promise<string | null> {
  try {
    const { data } = await gh.request('GET /repos/{owner}/{repo}/contents/{path}', { ...repo, path, ref });
    return Array.isArray(data) || data.type !== 'file' ? null : data.sha;
  } catch (err) {
    if (statusOf(err) === 404) return null;
    throw err;
  }
}
