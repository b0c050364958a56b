// The forge double's request pipeline: each request is matched to an operation of GitHub's OpenAPI
// description, validated, authenticated and authorized as GitHub does for Apps, handed to its route, and the
// response validated before it is sent; git's smart HTTP fetches are authorized and served by git itself.
// Everything is recorded (requests, violations, unmocked routes) for tests to inspect.
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../core/clock.js';
import {
  type AppRegistry,
  acceptedPermissionsHeader,
  type Grant,
  hasGrant,
  type Level,
  MESSAGES,
  type Need,
  type Principal,
  parseAuthorization,
  ROUTE_PERMISSIONS,
} from './auth.js';
import { basicToken, type GitPath, matchGitPath, runHttpBackend, sendText } from './git-http.js';
import type { OpenApiValidator, SpecOperation } from './openapi.js';
import { type Context, error, NOT_FOUND, type Reply, type Route } from './router.js';
import type { GitHubState, RepoState } from './state.js';

export interface Violation {
  method: string;
  url: string;
  operationId: string;
  kind: 'request' | 'response';
  errors: string[];
}

export interface UnmockedRequest {
  method: string;
  url: string;
}

export interface RecordedRequest {
  method: string;
  url: string;
  operationId: string | undefined;
  body: unknown;
  status: number;
  /** The grant that authorized the request (`pull_requests:read`), `jwt`, `public`, or undefined when refused. */
  grant?: string;
  /** Time the fake spent on it, from the request's arrival to its response (ms). */
  ms?: number;
}

/** The grant git fetches need, as GitHub's "contents" permission. */
const GIT_FETCH: Grant = ['contents', 'read'];

interface Authorized {
  principal?: Context['principal'];
  app?: Context['app'];
  repo?: Context['repo'];
  grant?: Grant;
}

/** Where the pipeline records what it saw (FakeGitHub's public arrays). */
export interface RequestLog {
  violations: Violation[];
  unmocked: UnmockedRequest[];
  requests: RecordedRequest[];
}

export class Pipeline {
  /** Highest level of each permission that authorized a request: the app's tokens, and GITHUB_TOKENs. */
  readonly used = { app: new Map<string, Level>(), actions: new Map<string, Level>() };
  readonly #handlers = new Map<string, Route['handler']>();
  readonly #api: OpenApiValidator;
  readonly #state: GitHubState;
  readonly #apps: AppRegistry;
  readonly #clock: Clock;
  readonly #log: RequestLog;

  constructor(deps: {
    api: OpenApiValidator;
    state: GitHubState;
    apps: AppRegistry;
    clock: Clock;
    log: RequestLog;
  }) {
    this.#api = deps.api;
    this.#state = deps.state;
    this.#apps = deps.apps;
    this.#clock = deps.clock;
    this.#log = deps.log;
  }

  on(route: Route): void {
    // Fails fast if the route is not in the OpenAPI description or has no permission entry.
    this.#api.operation(route.method, route.path);
    if (!ROUTE_PERMISSIONS[`${route.method} ${route.path}`]) {
      throw new Error(`${route.method} ${route.path} has no entry in ROUTE_PERMISSIONS`);
    }
    this.#handlers.set(`${route.method} ${route.path}`, route.handler);
  }

  async handle(req: IncomingMessage, res: ServerResponse, baseUrl: string): Promise<void> {
    const started = this.#clock.nowMs();
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', baseUrl);
    // Git over HTTP streams its body to git, so it is routed before the body is read.
    const gitPath = matchGitPath(method, url.pathname, url.searchParams);
    if (gitPath) {
      await this.#handleGit(req, res, url, gitPath, started);
      return;
    }
    const raw = await readBody(req);
    const matched = this.#api.match(method, url.pathname);
    const key = matched && `${method} ${matched.operation.path}`;
    const handler = key && this.#handlers.get(key);
    if (!matched || !key || !handler) {
      this.#log.unmocked.push({ method, url: url.pathname + url.search });
      this.#log.requests.push({ method, url: req.url ?? '', operationId: undefined, body: raw, status: 404 });
      this.send(res, 404, NOT_FOUND.body);
      return;
    }
    const op = matched.operation;
    const record = (status: number, body: unknown, grant?: string): void => {
      this.#log.requests.push({
        method,
        url: req.url ?? '',
        operationId: op.operationId,
        body,
        status,
        ...(grant ? { grant } : {}),
        ms: this.#clock.nowMs() - started,
      });
    };

    // 1. The request must match the description; GitHub answers 400 for bad JSON and 422 for the rest.
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        this.#violation(method, url, op, 'request', ['body is not valid JSON']);
        record(400, raw);
        this.send(res, 400, error(400, 'Problems parsing JSON').body);
        return;
      }
    }
    const requestErrors = this.#api.validateRequest(op, {
      pathParams: matched.pathParams,
      query: url.searchParams,
      body,
    });
    if (requestErrors.length > 0) {
      this.#violation(method, url, op, 'request', requestErrors);
      record(422, body);
      this.send(res, 422, {
        message: `Invalid request.\n\n${requestErrors.join('\n')}`,
        documentation_url: 'https://docs.github.com/rest',
        errors: requestErrors,
        status: '422',
      });
      return;
    }

    // 2. Authentication, repository scope, permission.
    const need = ROUTE_PERMISSIONS[key] as Need;
    const auth = this.#authorize(need, req.headers.authorization, matched.pathParams);
    if ('reply' in auth) {
      record(auth.reply.status, body);
      this.send(res, auth.reply.status, auth.reply.body, auth.reply.headers);
      return;
    }
    const grant = auth.grant ? `${auth.grant[0]}:${auth.grant[1]}` : 'jwt' in need ? 'jwt' : 'public';
    if (auth.grant && auth.principal) {
      this.#recordGrant(this.used[auth.principal.kind === 'actions' ? 'actions' : 'app'], auth.grant);
    }

    // 3. The handler, whose response must match the description too.
    let reply: Reply;
    try {
      reply = await handler({
        params: matched.pathParams,
        query: url.searchParams,
        body,
        url,
        principal: auth.principal,
        app: auth.app,
        repo: auth.repo,
      });
    } catch (e) {
      const crash = `the fake's handler threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
      this.#violation(method, url, op, 'response', [crash]);
      record(500, body, grant);
      this.send(res, 500, { message: crash });
      return;
    }
    // Round-trip through JSON so the validator sees exactly what the client will.
    const sent = reply.body === undefined ? undefined : JSON.parse(JSON.stringify(reply.body));
    const responseErrors = this.#api.validateResponse(op, reply.status, sent);
    if (responseErrors.length > 0) {
      this.#violation(method, url, op, 'response', responseErrors);
      reply = {
        status: 500,
        body: { message: 'Response does not match the OpenAPI description', errors: responseErrors },
      };
    }
    // 4. Conditional requests: a GET answered 200 carries an ETag; sent back in If-None-Match, it is answered 304.
    if (method === 'GET' && reply.status === 200) {
      const conditional = this.#conditional(op, reply, sent, req.headers['if-none-match']);
      if ('errors' in conditional) {
        this.#violation(method, url, op, 'response', conditional.errors);
        reply = { status: 500, body: { message: 'Response does not match the OpenAPI description' } };
      } else reply = conditional;
    }
    record(reply.status, body, grant);
    const accepted = acceptedPermissionsHeader(need);
    this.send(res, reply.status, reply.body, {
      ...(accepted && auth.principal ? { 'x-accepted-github-permissions': accepted } : {}),
      ...reply.headers,
    });
  }

  /**
   * The ETag of a 200 (a strong hash of the body as sent and of its `Link` header, so a list that grew a page
   * never matches its first page's old tag) and, when `If-None-Match` names it, GitHub's 304 without a body.
   * The description documents 304 on a few reads only, yet GitHub answers conditional GETs on most
   * ("Use conditional requests if appropriate", REST API best practices): a 304 is validated where it is
   * documented, and elsewhere allowed because it stands for the 200 validated just before.
   */
  #conditional(
    op: SpecOperation,
    reply: Reply,
    sent: unknown,
    ifNoneMatch: string | undefined,
  ): Reply | { errors: string[] } {
    const link = reply.headers?.link ?? '';
    const hash = createHash('sha256')
      .update(JSON.stringify(sent) ?? '')
      .update('\n')
      .update(link)
      .digest('hex');
    const etag = `"${hash}"`;
    const headers = { ...reply.headers, etag };
    if (!ifNoneMatch || !matchesEtag(ifNoneMatch, etag)) return { ...reply, headers };
    const errors = op.raw.responses['304'] ? this.#api.validateResponse(op, 304, undefined) : [];
    if (errors.length > 0) return { errors };
    return { status: 304, headers };
  }

  #authorize(
    need: Need,
    header: string | undefined,
    params: Record<string, string>,
  ): Authorized | { reply: Reply } {
    const refuse = (status: number, message: string, headers?: Record<string, string>) => ({
      reply: { ...error(status, message), ...(headers ? { headers } : {}) },
    });
    const auth = parseAuthorization(header);
    const repoName =
      params.owner !== undefined && params.repo !== undefined ? `${params.owner}/${params.repo}` : '';
    const repo = repoName ? this.#state.repo(repoName) : undefined;

    if ('jwt' in need) {
      if (auth.kind === 'none') return refuse(401, MESSAGES.requiresAuth);
      if (auth.kind !== 'jwt') return refuse(401, MESSAGES.jwtUndecodable);
      const verified = this.#apps.verifyJwt(auth.jwt);
      if ('error' in verified) return refuse(401, verified.error);
      if (repoName && !repo) return { reply: NOT_FOUND };
      return { app: verified.app, ...(repo ? { repo } : {}) };
    }

    // Public data: anyone may read it, but a token that is sent must be valid.
    if ('public' in need && auth.kind === 'none') return {};
    if (auth.kind === 'none') return refuse(401, MESSAGES.requiresAuth);
    if (auth.kind === 'malformed') return refuse(401, MESSAGES.badCredentials);
    if (auth.kind === 'jwt') {
      // A JWT authenticates the app itself, which reaches no repository or organization resource.
      const verified = this.#apps.verifyJwt(auth.jwt);
      if ('error' in verified) return refuse(401, verified.error);
      return refuse(403, MESSAGES.notAccessible);
    }
    const principal = this.#apps.principal(auth.token);
    if (!principal) return refuse(401, MESSAGES.badCredentials);

    // Outside the token's reach, GitHub pretends the resource does not exist.
    if (repoName) {
      if (!repo) return { reply: NOT_FOUND };
      if (principal.repositories && !principal.repositories.has(repo.fullName.toLowerCase())) {
        return { reply: NOT_FOUND };
      }
    }
    if (params.org !== undefined && principal.accounts && !principal.accounts.has(params.org.toLowerCase())) {
      return { reply: NOT_FOUND };
    }

    if ('public' in need) return { principal, ...(repo ? { repo } : {}) };
    const grant = need.anyOf.find((g) => hasGrant(principal.permissions, g));
    if (!grant) {
      const accepted = acceptedPermissionsHeader(need);
      return refuse(
        403,
        MESSAGES.notAccessible,
        accepted ? { 'x-accepted-github-permissions': accepted } : {},
      );
    }
    return { principal, grant, ...(repo ? { repo } : {}) };
  }

  /**
   * Git's smart HTTP as github.com serves it: fetches (`git-upload-pack`) need a token with `contents: read`
   * on the repository, sent as the Basic password; pushes are refused (the fake takes them through the REST
   * API), and so is the dumb protocol.
   */
  async #handleGit(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    path: GitPath,
    started: number,
  ): Promise<void> {
    const method = req.method ?? 'GET';
    const operationId = path.service === 'other' ? undefined : `git/${path.service}`;
    const record = (status: number, grant?: string): void => {
      this.#log.requests.push({
        method,
        url: req.url ?? '',
        operationId,
        body: undefined,
        status,
        ...(grant ? { grant } : {}),
        ms: this.#clock.nowMs() - started,
      });
    };
    const headers = { 'x-github-request-id': randomUUID() };
    const refuse = (status: number, message: string, extra: Record<string, string> = {}): void => {
      req.resume(); // the body is not wanted
      record(status);
      sendText(res, status, message, { ...headers, ...extra });
    };

    if (path.service === 'other') {
      this.#log.unmocked.push({ method, url: url.pathname + url.search });
      refuse(404, 'fake-github: only smart HTTP fetches (git-upload-pack) are served');
      return;
    }
    if (path.service === 'receive-pack') {
      refuse(403, `fake-github: pushing to ${path.fullName}.git is not supported; use the REST API`);
      return;
    }
    const auth = this.#authorizeGit(req.headers.authorization, path.fullName);
    if ('status' in auth) {
      refuse(auth.status, auth.message, auth.headers);
      return;
    }
    this.#recordGrant(this.used[auth.principal.kind === 'actions' ? 'actions' : 'app'], GIT_FETCH);
    const status = await runHttpBackend(req, res, url, {
      gitDir: auth.repo.git.dir,
      rest: path.rest,
      user: auth.principal.app.botLogin,
      headers,
    });
    record(status, GIT_FETCH.join(':'));
  }

  #authorizeGit(
    header: string | undefined,
    fullName: string,
  ):
    | { principal: Principal; repo: RepoState }
    | { status: number; message: string; headers?: Record<string, string> } {
    // Git sends credentials only once challenged; github.com challenges for Basic.
    const challenge = { 'www-authenticate': 'Basic realm="GitHub"' };
    const token = basicToken(header);
    if (!token) return { status: 401, message: 'Authentication required.', headers: challenge };
    const principal = this.#apps.principal(token);
    if (!principal) {
      return {
        status: 401,
        message: 'Invalid username or token. Password authentication is not supported for Git operations.',
        headers: challenge,
      };
    }
    // Outside the token's reach, the repository does not exist.
    const repo = this.#state.repo(fullName);
    if (!repo || (principal.repositories && !principal.repositories.has(repo.fullName.toLowerCase()))) {
      return { status: 404, message: 'Repository not found.' };
    }
    if (!hasGrant(principal.permissions, GIT_FETCH)) {
      return {
        status: 403,
        message: `Permission to ${repo.fullName}.git denied to ${principal.app.botLogin}.`,
      };
    }
    return { principal, repo };
  }

  #recordGrant(used: Map<string, Level>, [permission, level]: Grant): void {
    const rank = { read: 1, write: 2, admin: 3 };
    const current = used.get(permission);
    if (!current || rank[level] > rank[current]) used.set(permission, level);
  }

  #violation(method: string, url: URL, op: SpecOperation, kind: Violation['kind'], errors: string[]): void {
    this.#log.violations.push({
      method,
      url: url.pathname + url.search,
      operationId: op.operationId,
      kind,
      errors,
    });
  }

  send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      ...(text ? { 'content-type': 'application/json; charset=utf-8' } : {}),
      'x-github-request-id': randomUUID(),
      'x-github-api-version-selected': '2022-11-28',
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '4999',
      'x-ratelimit-reset': String(Math.floor(this.#clock.nowMs() / 1000) + 3600),
      'x-ratelimit-used': '1',
      'x-ratelimit-resource': 'core',
      ...headers,
    });
    res.end(text);
  }
}

/** RFC 9110 If-None-Match: `*` or a list of tags, compared weakly (`W/"x"` matches `"x"`). */
export function matchesEtag(header: string, etag: string): boolean {
  const opaque = (t: string): string => t.trim().replace(/^W\//, '');
  if (header.trim() === '*') return true;
  return (header.match(/(?:W\/)?"[^"]*"/g) ?? []).some((t) => opaque(t) === opaque(etag));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
