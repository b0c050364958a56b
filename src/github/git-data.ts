// Git data on GitHub for GitHubForge: the root commit of a ref, and a commit removing one file (a revert's).
import type { GitHub, RepoRef } from './client.js';

/**
 * The root commit, from the last page of the commit list. With several roots, GitHub's oldest is taken;
 * `timebox apply` takes the smallest sha (docs/github-app.md).
 */
export async function rootCommit(gh: GitHub, repo: RepoRef, ref: string): Promise<string> {
  const first = await gh.request('GET /repos/{owner}/{repo}/commits', { ...repo, sha: ref, per_page: 1 });
  const last = /[?&]page=(\d+)[^>]*>;\s*rel="last"/.exec(first.headers.link ?? '')?.[1];
  const data = last
    ? (
        await gh.request('GET /repos/{owner}/{repo}/commits', {
          ...repo,
          sha: ref,
          per_page: 1,
          page: Number(last),
        })
      ).data
    : first.data;
  const sha = data[data.length - 1]?.sha;
  if (!sha) throw new Error(`${repo.owner}/${repo.repo}: ${ref} has no commits`);
  return sha;
}

/** A commit on top of `branch`'s tip that removes `path` (not yet on any branch); returns its sha. */
export async function removalCommit(
  gh: GitHub,
  repo: RepoRef,
  branch: string,
  path: string,
  message: string,
): Promise<string> {
  const { data: tipRef } = await gh.request('GET /repos/{owner}/{repo}/git/ref/{ref}', {
    ...repo,
    ref: `heads/${branch}`,
  });
  const tip = tipRef.object.sha;
  const { data: tipCommit } = await gh.request('GET /repos/{owner}/{repo}/git/commits/{commit_sha}', {
    ...repo,
    commit_sha: tip,
  });
  const { data: tree } = await gh.request('POST /repos/{owner}/{repo}/git/trees', {
    ...repo,
    base_tree: tipCommit.tree.sha,
    tree: [{ path, mode: '100644', type: 'blob', sha: null }],
  });
  const { data: commit } = await gh.request('POST /repos/{owner}/{repo}/git/commits', {
    ...repo,
    message,
    tree: tree.sha,
    parents: [tip],
  });
  return commit.sha;
}
