// The revert pull request: after a grant is revoked, Timebox removes its request file through a pull
// request that it merges itself, with trailers (reason, activity) so that `git log` shows the revocation.
// Idempotent: a file already gone is not reverted again, and an open revert PR for it is reused.
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
}

export interface RevertResult {
  /** Nothing to do: the file is not on the default branch any more. */
  alreadyGone?: boolean;
  pull?: number;
  merged?: string;
  /** Why the revert PR was opened but not merged (a person must merge it). */
  mergeRefused?: string;
}

/** The branch a revert of `file` lives on: stable, so a retry finds the same one. */
export function revertBranch(file: string): string {
  return `timebox/revert/${file.replace(/[^A-Za-z0-9._/-]/g, '-').replace(/\.\.+/g, '.')}`;
}

export async function revertRequest(gh: GitHub, repo: RepoRef, input: RevertInput): Promise<RevertResult> {
  const message = revertMessage(input);
  const branch = revertBranch(input.file);
  const base = input.defaultBranch;
  const fileSha = await blobAt(gh, repo, input.file, base);
  if (fileSha === null) return { alreadyGone: true };

  // An open revert PR for this file (a retry after a crash) is reused.
  const open = await gh.paginate('GET /repos/{owner}/{repo}/pulls', {
    ...repo,
    state: 'open',
    head: `${repo.owner}:${branch}`,
    per_page: 100,
  });
  let number = open.find((p) => p.head.ref === branch)?.number;
  if (number === undefined) {
    const { data: tip } = await gh.request('GET /repos/{owner}/{repo}/git/ref/{ref}', {
      ...repo,
      ref: `heads/${base}`,
    });
    try {
      await gh.request('POST /repos/{owner}/{repo}/git/refs', {
        ...repo,
        ref: `refs/heads/${branch}`,
        sha: tip.object.sha,
      });
    } catch (err) {
      // A branch left by an earlier attempt: start it again from the tip.
      if (statusOf(err) !== 422) throw err;
      await gh.request('PATCH /repos/{owner}/{repo}/git/refs/{ref}', {
        ...repo,
        ref: `heads/${branch}`,
        sha: tip.object.sha,
        force: true,
      });
    }
    const onBranch = await blobAt(gh, repo, input.file, branch);
    if (onBranch !== null) {
      await gh.request('DELETE /repos/{owner}/{repo}/contents/{path}', {
        ...repo,
        path: input.file,
        message: `${message.title}\n\n${message.body}`,
        sha: onBranch,
        branch,
      });
    }
    const { data: pr } = await gh.request('POST /repos/{owner}/{repo}/pulls', {
      ...repo,
      title: message.title,
      head: branch,
      base,
      body: `Access granted by \`${input.file}\` has ended (${input.reason}). Timebox removes the request file so that the history shows it.${input.activity ? `\n\nActivity: ${input.activity}` : ''}`,
    });
    number = pr.number;
  }
  try {
    const { data } = await gh.request('PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge', {
      ...repo,
      pull_number: number,
      merge_method: 'merge',
      commit_title: message.title,
      commit_message: message.body,
    });
    await gh
      .request('DELETE /repos/{owner}/{repo}/git/refs/{ref}', { ...repo, ref: `heads/${branch}` })
      .catch(() => undefined);
    return { pull: number, merged: data.sha };
  } catch (err) {
    const status = statusOf(err);
    if (status === 405 || status === 409 || status === 422) {
      return {
        pull: number,
        mergeRefused: `GitHub refused the merge (${status}): ${(err as Error).message}`,
      };
    }
    throw err;
  }
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
