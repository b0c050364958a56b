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

/** A kept answer of a conditional read (./conditional.ts): its ETag, its body as JSON text and, for a page, its `Link`. */
export interface Validated {
  etag: string;
  json: string;
  link?: string;
}

/** A map that forgets its oldest entries past `max` (insertion order; a hit moves an entry to the end). */
class Bounded<V> {
  readonly #m = new Map<string, V>();
  constructor(readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.#m.get(key);
    if (v !== undefined) {
      this.#m.delete(key);
      this.#m.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): void {
    this.#m.delete(key);
    this.#m.set(key, value);
    while (this.#m.size > this.max) {
      const oldest = this.#m.keys().next().value;
      if (oldest === undefined) break;
      this.#m.delete(oldest);
    }
  }
  delete(key: string): void {
    this.#m.delete(key);
  }
}

/**
 * What the App keeps between events to spare GitHub requests (docs/decisions.md, "GitHub API economy"). Only
 * what cannot change under the key, or changes rarely and is bounded by a short time:
 * - blobs by sha (content-addressed: a sha names one text forever);
 * - a pull request's changed files by its base and head commits (GitHub lists them from those two commits);
 * - a pull request's commits by its base and head commits, likewise;
 * - whose permission and which teams the last event of a pull request asked about, only to ask again early:
 *   permissions and team members are still read live on every event (a revocation counts at the next one).
 * Reviews, who pushed, permissions, team members and the pull request itself are read live on every event, as
 * conditional requests (./conditional.ts): each answer is kept with its ETag and sent back in If-None-Match;
 * GitHub's 304 (not counted against the rate limit) vouches that the kept answer is the current one.
 */
export class GitHubCache {
  /** Answers of repeated reads with their ETags, by URL (./conditional.ts; none over 128 KiB). */
  readonly validators = new Bounded<Validated>(1000);
  readonly blobs = new Bounded<string>(2000);
  readonly files = new Bounded<unknown[]>(500);
  readonly commits = new Bounded<unknown[]>(500);
  /** Per pull request: whose permission and which teams the last event asked about (asked early next time). */
  readonly asked = new Bounded<{ logins: string[]; teams: string[] }>(1000);
}
