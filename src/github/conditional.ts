// Conditional reads (GitHub: "Use conditional requests if appropriate", REST API best practices). A read that
// is repeated from event to event sends back the ETag of its last answer in `If-None-Match`; GitHub answers
// `304 Not Modified` with no body when the resource is unchanged, and such an answer does not count against
// the installation's primary rate limit. The body of a 304 is then the one kept with that ETag: the server
// vouches that it is the current one, so nothing is assumed — a changed resource has another ETag and comes
// back as a full 200. No octokit plugin does this (octokit leaves 304 handling to the caller: a 304 is a
// RequestError), hence this small layer over the `request` Timebox already uses.
import { type GitHub, statusOf, type Validated } from './client.js';

/** Where kept answers live (GitHubCache's bounded map). */
export interface ValidatorStore {
  get(key: string): Validated | undefined;
  set(key: string, value: Validated): void;
}

interface Answer {
  data: unknown;
  link: string | undefined;
  /** Answered 304: the kept body is served. */
  notModified: boolean;
}

/** Answers larger than this are not kept (characters of JSON; a page of 100 activity entries is ~60 KB). */
const MAX_KEPT = 128 * 1024;

type Params = Record<string, unknown> & { headers?: Record<string, string> };

/** The key of a read: its URL with query and the media type asked for (they name one representation). */
function keyOf(gh: GitHub, route: string, params: Params): string | undefined {
  const endpoint = (gh.request as { endpoint?: GitHub['request']['endpoint'] }).endpoint;
  if (typeof endpoint !== 'function') return undefined;
  const { url, headers } = endpoint(route as never, params as never) as {
    url: string;
    headers: Record<string, string | undefined>;
  };
  return `${url} ${headers.accept ?? ''}`;
}

/** One GET, conditional when an answer to the same URL was kept in `store` (unless `fresh`). */
export async function conditionalGet(
  gh: GitHub,
  store: ValidatorStore | undefined,
  route: string,
  params: Params,
  options: { fresh?: boolean } = {},
): Promise<Answer> {
  const key = store && keyOf(gh, route, params);
  const known = key && !options.fresh ? store?.get(key) : undefined;
  const request = gh.request as unknown as (
    route: string,
    params: Params,
  ) => Promise<{ data: unknown; headers: Record<string, string | undefined> }>;
  try {
    const res = await request(
      route,
      known ? { ...params, headers: { ...params.headers, 'if-none-match': known.etag } } : params,
    );
    const etag = res.headers.etag;
    if (key && store && etag) {
      // Kept as text: a hit parses a fresh copy, so what callers do with their answers cannot spoil it.
      const json = JSON.stringify(res.data);
      if (json.length <= MAX_KEPT)
        store.set(key, { etag, json, ...(res.headers.link ? { link: res.headers.link } : {}) });
    }
    return { data: res.data, link: res.headers.link, notModified: false };
  } catch (err) {
    if (known && statusOf(err) === 304)
      return { data: JSON.parse(known.json), link: known.link, notModified: true };
    throw err;
  }
}

/**
 * All pages of a list (at most `max` items when given; `more` then says whether some were left), each page a
 * conditional GET, following GitHub's `Link: rel="next"` (page numbers or cursors alike). A page answered 304
 * is served with its kept body and kept `Link`, except a kept page that was full and had no next page: GitHub's
 * ETag need not cover `Link`, so the list may have grown a page since, and that page is read again in full.
 */
export async function conditionalList<T>(
  gh: GitHub,
  store: ValidatorStore | undefined,
  route: string,
  params: Params & { per_page: number },
  max = Number.POSITIVE_INFINITY,
): Promise<{ items: T[]; more: boolean }> {
  const items: T[] = [];
  let at: { route: string; params: Params } = { route, params };
  let answer = await conditionalGet(gh, store, route, params);
  for (;;) {
    const data = answer.data as T[];
    const next = /<([^<>]+)>;\s*rel="next"/.exec(answer.link ?? '')?.[1];
    if (answer.notModified && !next && data.length >= params.per_page) {
      answer = await conditionalGet(gh, store, at.route, at.params, { fresh: true });
      continue;
    }
    items.push(...data);
    if (items.length >= max) return { items, more: true };
    if (!next) return { items, more: false };
    at = { route: `GET ${next}`, params: {} };
    answer = await conditionalGet(gh, store, at.route, at.params);
  }
}
