// GitHub API economy for `npm run bench:webhook`: how many requests one event costs, and how many of them
// had to wait for one another.
//
// Method. Timebox runs in this process against the forge double, behind a recording HTTP proxy
// (`startRecorder`, which also counts the git fetches of the keeper's child processes). Every REST request is
// timed at the HTTP client (`timeFetches`: octokit's `fetch`), from the call to the response. A request that
// starts after another one ended may have waited for it; two that overlap did not wait for each other.
// The longest sequential chain is the largest number of requests that follow one another without
// overlapping (a longest path over "ended before started", `longestChain`). It is an upper bound on the
// true dependency chain (two independent reads that happen not to overlap count as a chain), which is the
// safe side for a goal. With the double on loopback, reads issued together always overlap, so in practice
// it is the number of round trips an event waits for. Deliveries are sent one at a time, so the requests
// recorded between a delivery's send and its response are that event's.
//
// What counts: REST requests (`/repos/…`, `/orgs/…`, `/app…`, `/users/…`). Git smart-HTTP fetches
// (the keeper's mirror of the access repo) are counted apart: GitHub does not charge them to the REST rate
// limit. The installation token (`POST /app/installations/{id}/access_tokens`) and the App's login
// (`GET /app`) are paid once per hour and once per process, and are shown in the cold figures.
//
// Three figures per event: requests sent; of which "counted" against the installation's primary rate limit,
// which leaves out (a) conditional GETs answered `304 Not Modified` (GitHub: a 304 to a request made with an
// Authorization header does not count) and (b) the App's own JWT requests (`/app…`, the App's budget, not
// the installation's); writes (POST, PATCH, PUT, DELETE), which GitHub's secondary limits meter. A 304 is
// still a round trip: it is in "sent" and in the sequential chain.
import { mkdtempSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import type { FakeGitHub, JsonObject } from '../src/forge/fake-github.js';
import { startServer } from '../src/github/server.js';

export interface Recorded {
  method: string;
  path: string;
  status: number;
  start: number;
  end: number;
}

export interface Recorder {
  /** The proxy's base URL: give it to Timebox as the API's. */
  url: string;
  /** Everything recorded since the last `take()`. */
  take(): Recorded[];
  close(): Promise<void>;
}

/**
 * Times each REST request where the client makes it: Timebox runs in this process, and octokit requests
 * through the global `fetch`. The start is the call (not the arrival at the proxy, which a new connection
 * delays), the end the response's headers; only requests to `base` are recorded.
 */
export function timeFetches(base: string): { take(): Recorded[]; restore(): void } {
  const original = globalThis.fetch;
  let log: Recorded[] = [];
  globalThis.fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(base)) return original(input, init);
    const start = performance.now();
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const res = await original(input, init);
    log.push({ method, path: url.slice(base.length), status: res.status, start, end: performance.now() });
    return res;
  };
  return {
    take() {
      const t = log;
      log = [];
      return t;
    },
    restore() {
      globalThis.fetch = original;
    },
  };
}

/** A proxy in front of `target` (the forge double) recording each request's start and end. */
export async function startRecorder(target: string): Promise<Recorder> {
  const to = new URL(target);
  let log: Recorded[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const start = performance.now();
    const out = httpRequest(
      {
        host: to.hostname,
        port: to.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: to.host },
      },
      (answer) => {
        // Pagination links name the double's own address: point them back through the proxy.
        const headers = { ...answer.headers };
        if (typeof headers.link === 'string') headers.link = headers.link.split(to.origin).join(self());
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
        answer.on('end', () => {
          log.push({
            method: req.method ?? 'GET',
            path: req.url ?? '',
            status: answer.statusCode ?? 0,
            start,
            end: performance.now(),
          });
        });
      },
    );
    out.on('error', (err) => {
      res.writeHead(502);
      res.end(String(err));
    });
    req.pipe(out);
  });
  const self = () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: self(),
    take() {
      const t = log;
      log = [];
      return t;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Git smart-HTTP traffic (not charged to the REST rate limit). */
export const isGit = (r: Recorded): boolean =>
  /\.git\/(info\/refs|git-upload-pack|git-receive-pack)/.test(r.path);

/** The largest number of requests that each started after the previous one ended. */
export function longestChain(records: readonly Recorded[]): number {
  const byStart = [...records].sort((a, b) => a.start - b.start);
  const chain: number[] = [];
  let best = 0;
  for (const [i, r] of byStart.entries()) {
    let c = 1;
    for (let j = 0; j < i; j++) {
      const p = byStart[j] as Recorded;
      if (p.end <= r.start) c = Math.max(c, (chain[j] ?? 0) + 1);
    }
    chain[i] = c;
    best = Math.max(best, c);
  }
  return best;
}

export interface EventCost {
  /** REST requests sent. */
  requests: number;
  /** Of which answered `304 Not Modified` to a conditional GET: GitHub does not count these. */
  notModified: number;
  /** Of which made with the App's JWT (`/app…`: the App's login, installation tokens): the App's budget. */
  asApp: number;
  /** Counted against the installation's primary rate limit: sent, less 304s and the App's own. */
  counted: number;
  /** Of which writes (POST, PATCH, PUT, DELETE): GitHub's secondary limits apply to these. */
  writes: number;
  /** Longest chain of sequential REST requests. */
  sequential: number;
  /** Git fetches, apart. */
  git: number;
  /** `METHOD /path` per REST request, in start order (for `--list`). */
  list: string[];
}

export function costOf(records: readonly Recorded[]): EventCost {
  const rest = records.filter((r) => !isGit(r)).sort((a, b) => a.start - b.start);
  const notModified = rest.filter((r) => r.status === 304).length;
  const asApp = rest.filter((r) => /^\/app(\/|$|\?)/.test(r.path)).length;
  return {
    requests: rest.length,
    notModified,
    asApp,
    counted: rest.length - notModified - asApp,
    writes: rest.filter((r) => r.method !== 'GET' && r.method !== 'HEAD').length,
    sequential: longestChain(rest),
    git: records.length - rest.length,
    list: rest.map((r) => `${r.method} ${r.path.replace(/\?.*$/, '')} ${r.status}`),
  };
}

/** GitHub's documented limits for an App installation (docs/github-app.md, "API budget"). */
export const LIMITS = {
  /** Primary: requests per hour per installation (more for large organisations; 5,000 is the floor). */
  perHour: 5000,
  /** Secondary: content-creating requests per minute. */
  writesPerMinute: 80,
} as const;

// --- the measured scenario -------------------------------------------------------------------------------

export interface Scenario {
  fake: FakeGitHub;
  privateKey: string;
  secret: string;
  repo: string;
  /** The text of request file `i`. */
  request: (i: number) => string;
}

export interface LifecycleCost {
  files: number;
  /** The first event of a fresh process: installation token, App login and the base's configuration. */
  openCold: EventCost;
  /** The second event on the same pull request (an approving review): the goal's event. */
  reviewWarm: EventCost;
  /** A third event (a push to the branch, `synchronize`): warm, the same reads as any later event. */
  syncWarm: EventCost;
  /** The merge's push to the default branch: provenance check runs and the keeper's reconcile. */
  mergePush: EventCost;
}

/**
 * One pull request's life in a fresh `timebox serve` behind the recorder: opened, approved, a push to it,
 * merged. Provisioning itself talks to the database, not to GitHub; the keeper's GitHub side (its mirror
 * fetch, verdict check runs) is in the merge push's figures.
 */
export async function lifecycle(s: Scenario, files: number, branch: string): Promise<LifecycleCost> {
  const recorder = await startRecorder(s.fake.url);
  const timer = timeFetches(recorder.url);
  const server = await startServer({
    appId: '1',
    privateKey: s.privateKey,
    webhookSecret: s.secret,
    port: 0,
    host: '127.0.0.1',
    baseUrl: recorder.url,
    log: pino({ level: 'silent' }),
    sweepIntervalMs: 0,
    writeIntervalMs: 0,
    // Counts, not times: a loaded machine must not turn a delivery into "still processing".
    intake: { responseTimeoutMs: 120_000 },
    stateDir: mkdtempSync(join(tmpdir(), 'timebox-bench-api-')),
  });
  const url = `${server.url}/api/github/webhooks`;
  const send = async (event: string, payload: JsonObject): Promise<EventCost> => {
    recorder.take();
    timer.take();
    const d = await s.fake.deliver(url, event, payload, s.secret);
    if (d.status !== 200) throw new Error(`${event}: delivery answered ${d.status}: ${d.body}`);
    // REST from the client's side; git fetches (a child process) from the proxy's.
    return costOf([...timer.take(), ...recorder.take().filter(isGit)]);
  };
  try {
    const changes: Record<string, string> = {};
    for (let i = 0; i < files; i++)
      changes[`requests/alice/${branch}-${String(i).padStart(2, '0')}.yaml`] = s.request(i);
    await s.fake.commit(s.repo, { branch, files: changes, author: 'alice' });
    const pull = await s.fake.openPull({ repo: s.repo, head: branch, user: 'alice' });
    const openCold = await send(
      'pull_request',
      await s.fake.webhookPayload('pull_request', 'opened', { repo: s.repo, pull, sender: 'alice' }),
    );
    const review = await s.fake.review({ repo: s.repo, pull, user: 'carol', state: 'APPROVED' });
    const reviewWarm = await send(
      'pull_request_review',
      await s.fake.webhookPayload('pull_request_review', 'submitted', {
        repo: s.repo,
        pull,
        sender: 'carol',
        review,
      }),
    );
    await s.fake.commit(s.repo, {
      branch,
      files: { [`requests/alice/${branch}-00.yaml`]: s.request(99) },
      author: 'alice',
    });
    const syncWarm = await send(
      'pull_request',
      await s.fake.webhookPayload('pull_request', 'synchronize', { repo: s.repo, pull, sender: 'alice' }),
    );
    // The push made the approval stale: approve again so that the merge is one Timebox approved.
    await s.fake.review({ repo: s.repo, pull, user: 'carol', state: 'APPROVED' });
    await s.fake.mergePull(s.repo, pull, 'carol');
    const mergePush = await send(
      'push',
      await s.fake.webhookPayload('push', { repo: s.repo, branch: 'main', sender: 'carol' }),
    );
    return { files, openCold, reviewWarm, syncWarm, mergePush };
  } finally {
    timer.restore();
    await server.close();
    await recorder.close();
  }
}

// --- printing -------------------------------------------------------------------------------------------

const fmt = (c: EventCost): string =>
  `${c.requests} requests: ${c.counted} counted${c.notModified ? `, ${c.notModified} x 304` : ''}${c.asApp ? `, ${c.asApp} as App` : ''}; ${c.writes} writes; ${c.sequential} sequential${c.git ? `; +${c.git} git` : ''}`;

/**
 * Request PRs per hour one installation serves, from the measured lifecycle plus the expiry revert.
 * The revert is not measured here (it needs the clock moved past expiry and a database); its REST cost is
 * counted from src/engine/revert.ts: the request file's blob, open PRs, the requester's account, the
 * removal commit (ref, commit, tree, commit), branch, pull request, merge, branch deletion = 11, plus the
 * revert merge's own push event, costed like the measured merge push.
 */
export const REVERT_REQUESTS = 11;
/** Of which writes: tree, commit, branch, pull request, merge, branch deletion. */
export const REVERT_WRITES = 6;

export function apiRows(costs: readonly LifecycleCost[]): {
  rows: [string, string, string][];
  goals: string[];
} {
  const rows: [string, string, string][] = [];
  const goals: string[] = [];
  for (const c of costs) {
    const label = `(API ${c.files} file${c.files === 1 ? '' : 's'})`;
    rows.push(
      [`${label} opened, cold process`, fmt(c.openCold), 'incl. token + App login'],
      [`${label} review, warm`, fmt(c.reviewWarm), 'second event on the PR'],
      [`${label} synchronize, warm`, fmt(c.syncWarm), ''],
      [`${label} merge push`, fmt(c.mergePush), 'provenance + keeper'],
    );
    // The revert's requests are all taken as counted (none of its reads is repeated often enough to be a 304).
    const total = (pick: (e: EventCost) => number, revert: number): number =>
      pick(c.openCold) + pick(c.reviewWarm) * 2 + pick(c.mergePush) * 2 + revert;
    const sent = total((e) => e.requests, REVERT_REQUESTS);
    const counted = total((e) => e.counted, REVERT_REQUESTS);
    const uncached = total((e) => e.requests - e.asApp, REVERT_REQUESTS);
    const writes = total((e) => e.writes, REVERT_WRITES);
    rows.push([
      `${label} PR lifecycle`,
      `${sent} requests, ${counted} counted -> ${Math.floor(LIMITS.perHour / counted)} request PRs/hour`,
      `open + 2 reviews + merge push + revert (${REVERT_REQUESTS}) + its push; ${LIMITS.perHour}/h; ${Math.floor(LIMITS.perHour / uncached)}/h if 304s counted`,
    ]);
    rows.push([
      `${label} writes per lifecycle`,
      `${writes} -> ${Math.floor((LIMITS.writesPerMinute * 60) / writes)} request PRs/hour`,
      `secondary limit ${LIMITS.writesPerMinute} writes/min`,
    ]);
    if (c.files === 1) {
      const w = c.reviewWarm;
      goals.push(
        `goal (API 1 file, warm) <= 8 requests counted against the rate limit: ${w.counted <= 8 ? 'met' : 'NOT met'} (${w.counted}; ${w.requests} sent, ${w.notModified} answered 304)`,
        `goal (API 1 file, warm) <= 3 sequential: ${w.sequential <= 3 ? 'met' : 'NOT met'} (${w.sequential})`,
        `(API 1 file, warm) requests sent, 304s included: ${w.requests}${w.requests <= 8 ? '' : ' (over 8: each 304 is still a round trip, bounded by the sequential goal)'}`,
      );
    }
  }
  return { rows, goals };
}
