// The slice of Octokit that Timebox uses: `request` and `paginate`. Probot's per-installation client and
// `@octokit/rest` (Actions mode, GITHUB_TOKEN) both provide it.
import { Octokit } from '@octokit/rest';

export type { RepoRef } from '../engine/forge.js';
export { parseRepoName } from './env.js';

export type GitHub = Pick<Octokit, 'request' | 'paginate'>;

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
