// Review requests on GitHub (`/pulls/{pull_number}/requested_reviewers`): what GitHubForge's
// `requestedReviewers`, `requestReviewers` and `removeReviewRequests` do. GitHub notifies whoever is asked.
import type { RepoRef, ReviewRequests } from '../engine/forge.js';
import type { GitHub } from './client.js';

const PATH = '/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers' as const;

export async function requestedReviewers(gh: GitHub, repo: RepoRef, number: number): Promise<ReviewRequests> {
  const { data } = await gh.request(`GET ${PATH}`, { ...repo, pull_number: number });
  return { users: data.users.map((u) => u.login), teams: data.teams.map((t) => t.slug) };
}

export async function requestReviewers(
  gh: GitHub,
  repo: RepoRef,
  number: number,
  add: ReviewRequests,
): Promise<void> {
  if (add.users.length === 0 && add.teams.length === 0) return;
  await gh.request(`POST ${PATH}`, {
    ...repo,
    pull_number: number,
    reviewers: add.users,
    team_reviewers: add.teams,
  });
}

export async function removeReviewRequests(
  gh: GitHub,
  repo: RepoRef,
  number: number,
  remove: ReviewRequests,
): Promise<void> {
  if (remove.users.length === 0 && remove.teams.length === 0) return;
  await gh.request(`DELETE ${PATH}`, {
    ...repo,
    pull_number: number,
    reviewers: remove.users,
    team_reviewers: remove.teams,
  });
}
