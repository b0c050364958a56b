// The GitHub settings commands read from the environment, parsed in one place for `apply` (Actions mode),
// `check --pull-request` and `creds`: the token (GITHUB_TOKEN, the workflow's; GH_TOKEN, the gh CLI's), the
// repository (GITHUB_REPOSITORY) and the API (GITHUB_API_URL). Loads no octokit: reading them is free.
import type { RepoRef } from '../engine/forge.js';

export interface GitHubEnv {
  /** GITHUB_TOKEN: the workflow's token (Actions mode needs exactly this one). */
  workflowToken?: string;
  /** GITHUB_TOKEN, else GH_TOKEN (`GH_TOKEN=$(gh auth token)` on a laptop). */
  token?: string;
  /** GITHUB_REPOSITORY as given (`owner/name`). */
  repository?: string;
  /** GITHUB_API_URL, for GitHub Enterprise. */
  apiUrl?: string;
}

export function githubEnv(env: NodeJS.ProcessEnv): GitHubEnv {
  const workflowToken = env.GITHUB_TOKEN || undefined;
  const token = workflowToken ?? (env.GH_TOKEN || undefined);
  return {
    ...(workflowToken ? { workflowToken } : {}),
    ...(token ? { token } : {}),
    ...(env.GITHUB_REPOSITORY ? { repository: env.GITHUB_REPOSITORY } : {}),
    ...(env.GITHUB_API_URL ? { apiUrl: env.GITHUB_API_URL } : {}),
  };
}

/** `owner/name` → RepoRef; throws on anything else. */
export function parseRepoName(fullName: string): RepoRef {
  const m = /^([A-Za-z0-9][A-Za-z0-9-]{0,38})\/([A-Za-z0-9._-]{1,100})$/.exec(fullName);
  if (!m?.[1] || !m[2]) throw new Error(`not a repository name (owner/name): ${JSON.stringify(fullName)}`);
  return { owner: m[1], repo: m[2] };
}
