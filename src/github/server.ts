// `timebox serve`'s HTTP side: Probot's webhook middleware behind a size limit, plus a health check.
// Signatures are checked by @octokit/webhooks (X-Hub-Signature-256, HMAC-SHA256, constant time).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import { Probot, ProbotOctokit } from 'probot';
import { type AppOptions, rememberedBotLogin, timeboxApp } from './app.js';
import type { GitHub } from './client.js';
import { Keeper } from './keeper.js';
import { Mirrors, serverUrlFor } from './mirror.js';
import { CheckCache } from './pull-check.js';
import { steadyRequests } from './requests.js';
import { type SweepResult, sweepInstallations } from './sweep.js';

export const WEBHOOK_PATH = '/api/github/webhooks';
/** GitHub caps webhook payloads at 25 MB; anything larger is not from GitHub. */
export const DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024;

export interface ServerOptions extends AppOptions {
  appId: string;
  privateKey: string;
  webhookSecret: string;
  port?: number;
  host?: string;
  /** GitHub Enterprise or a test double: the REST API's base URL. */
  baseUrl?: string;
  maxBodyBytes?: number;
  log?: Logger;
  /**
   * How often to look for repositories due a full reconcile and stale-PR sweep (each repository's own
   * period is `reconcile_interval` in its timebox.yaml); default 1 minute, 0 = never (not even at start).
   */
  sweepIntervalMs?: number;
  /** Least time between two writes (POST/PATCH/…) to GitHub; default 50 ms (see docs/decisions.md). */
  writeIntervalMs?: number;
  /** Where the access repos' git mirrors live (a cache); default `$XDG_CACHE_HOME/timebox` or `~/.cache/timebox`. */
  stateDir?: string;
  /** Provider secrets (`TIMEBOX_POSTGRES_<CONNECTION>_URL`, …); default process.env. */
  providerEnv?: NodeJS.ProcessEnv;
  /** The git host to fetch access repos from; default derived from `baseUrl` (`https://github.com`). */
  gitUrl?: string;
  /** Waits between retries of a failing revocation. */
  retryMs?: readonly number[];
}

/**
 * Probot's client without octokit's throttling and retry plugins (Bottleneck queues: ~9 ms per request),
 * with Timebox's own: writes one at a time `writeIntervalMs` apart, 5xx retried with backoff, rate limits
 * waited out (src/github/requests.ts).
 */
export function timeboxOctokit(writeIntervalMs: number): typeof ProbotOctokit {
  const Steady = ProbotOctokit.plugin(steadyRequests({ writeIntervalMs }));
  return Steady.defaults((options: Record<string, unknown> = {}) => ({
    ...options,
    throttle: { ...(options.throttle as object | undefined), enabled: false },
    retry: { enabled: false },
  })) as unknown as typeof ProbotOctokit;
}

export interface RunningServer {
  url: string;
  port: number;
  probot: Probot;
  server: Server;
  keeper: Keeper;
  /** Run the periodic work now for every repository (`now` overrides the clock, for tests). */
  sweep(now?: () => Date): Promise<SweepResult>;
  close(): Promise<void>;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const log = opts.log ?? pino({ name: 'timebox', level: process.env.LOG_LEVEL ?? 'info' });
  const probot = new Probot({
    appId: opts.appId,
    privateKey: opts.privateKey,
    secret: opts.webhookSecret,
    log,
    Octokit: timeboxOctokit(opts.writeIntervalMs ?? 50),
    ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}),
  });
  const ownLogin = rememberedBotLogin(probot);
  const keeper = new Keeper({
    mirrors: new Mirrors(opts.stateDir ?? defaultStateDir(), opts.gitUrl ?? serverUrlFor(opts.baseUrl)),
    env: opts.providerEnv ?? process.env,
    installation: async (id) => {
      const octokit = await probot.auth(id);
      return {
        gh: octokit as unknown as GitHub,
        token: async () => ((await octokit.auth({ type: 'installation' })) as { token: string }).token,
      };
    },
    botLogin: ownLogin,
    log,
    cache: new CheckCache(),
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.retryMs ? { retryMs: opts.retryMs } : {}),
  });
  await probot.load(timeboxApp({ ...opts, keeper, botLogin: ownLogin }));
  const middleware = await probot.getNodeMiddleware({ path: WEBHOOK_PATH, log });
  const max = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'request failed');
      if (!res.headersSent) reply(res, 500, { error: 'internal error' });
    });
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
    if (req.method === 'GET' && (path === '/healthz' || path === '')) {
      reply(res, 200, { ok: true, app: 'timebox' });
      return;
    }
    if (path !== WEBHOOK_PATH) {
      reply(res, 404, { error: `no route ${req.method} ${path}` });
      return;
    }
    if (req.method === 'POST') {
      const body = await readCapped(req, max);
      if (body === null) {
        log.warn(
          { delivery: req.headers['x-github-delivery'], length: req.headers['content-length'] },
          `refused a webhook body over ${max} bytes`,
        );
        res.setHeader('connection', 'close');
        reply(res, 413, { error: `payload larger than ${max} bytes` });
        req.resume();
        return;
      }
      // @octokit/webhooks reads a string `body` as the raw payload (the signature is over these bytes).
      (req as IncomingMessage & { body?: string }).body = body;
    }
    await middleware(req, res);
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 3000, opts.host ?? '0.0.0.0', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host && opts.host !== '0.0.0.0' ? opts.host : '127.0.0.1';
  log.info(
    { port, path: WEBHOOK_PATH, api: opts.baseUrl ?? 'https://api.github.com' },
    'timebox serve listening',
  );
  const sweep = async (now?: () => Date, force = true): Promise<SweepResult> => {
    const result = await sweepInstallations(probot, now ?? opts.now, keeper, force);
    for (const c of result.closed)
      log.info({ repo: c.repo, closed: c.pulls }, `closed stale request PRs in ${c.repo}`);
    for (const e of result.errors) log.warn({ repo: e.repo }, `sweep of ${e.repo} failed: ${e.message}`);
    for (const r of result.reconciled) {
      if (r.granted.length + r.revoked.length + r.failures.length + r.refused.length > 0)
        log.info(
          { repo: r.repo, granted: r.granted.length, revoked: r.revoked.length, failures: r.failures.length },
          `reconciled ${r.repo} at ${r.tip.slice(0, 7)}`,
        );
    }
    return result;
  };
  const every = opts.sweepIntervalMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  if (every > 0) {
    // At start every repository (catch-up); then those whose reconcile_interval has passed.
    setImmediate(() => {
      sweep().catch((err: unknown) => log.error({ err }, 'sweep failed'));
    });
    timer = setInterval(() => {
      sweep(undefined, false).catch((err: unknown) => log.error({ err }, 'sweep failed'));
    }, every);
    timer.unref();
  }
  return {
    url: `http://${host}:${port}`,
    port,
    probot,
    server,
    keeper,
    sweep: (now?: () => Date) => sweep(now),
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (timer) clearInterval(timer);
        void keeper.stop();
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

function defaultStateDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'timebox');
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The body as UTF-8, or null as soon as it is known to exceed `max` bytes (nothing more is buffered). */
function readCapped(req: IncomingMessage, max: number): Promise<string | null> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}
