// The slice of Octokit that Timebox uses: `request` and `paginate`. Probot's per-installation client and
// `@octokit/rest` (Actions mode, GITHUB_TOKEN) both provide it.
import { Octokit } from '@octokit/rest';

export type GitHub = Pick<Octokit, 'request' | 'paginate'>;

export interface RepoRef {
  owner: string;
  repo: string;
}

/** `owner/name` → RepoRef; throws on anything else. */
export function parseRepoName(fullName: string): RepoRef {
  const m = /^([A-Za-z0-9][A-Za-z0-9-]{0,38})\/([A-Za-z0-9._-]{1,100})$/.exec(fullName);
  if (!m?.[1] || !m[2]) throw new Error(`not a repository name (owner/name): ${JSON.stringify(fullName)}`);
  return { owner: m[1], repo: m[2] };
}

/** A token client (Actions mode): `GITHUB_TOKEN`, `GITHUB_API_URL`. */
export function tokenClient(token: string, baseUrl?: string): GitHub {
  const quiet = (): void => {};
  return new Octokit({
    auth: token,
    ...(baseUrl ? { baseUrl } : {}),
    userAgent: 'timebox',
    // Failures are reported by Timebox with their cause; octokit's own request lines would only repeat them.
    log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  });
}

/** HTTP status of an Octokit RequestError, or undefined for other errors. */
export function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown } | null)?.status;
  return typeof s === 'number' ? s : undefined;
}
