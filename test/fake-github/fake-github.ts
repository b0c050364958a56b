// A stateful fake of the GitHub REST API. Every request and response is checked against GitHub's OpenAPI
// description; a mismatch is answered 500 and recorded in `violations`. Unimplemented routes answer 404 and
// are recorded in `unmocked`.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  API_URL,
  buildApp,
  buildPull,
  buildRepository,
  buildUser,
  FIXED_TIME,
  type JsonObject,
  nodeId,
  WEB_URL,
} from './builders.js';
import { githubApi, type SpecOperation } from './openapi.js';

export type { JsonObject } from './builders.js';

export type Permission = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

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
}

export interface FileInput {
  filename: string;
  status?: 'added' | 'removed' | 'modified' | 'renamed' | 'copied' | 'changed' | 'unchanged';
  additions?: number;
  deletions?: number;
  patch?: string;
  previousFilename?: string;
}

export interface CommitInput {
  sha: string;
  /** Login of the GitHub user linked to the commit author, or null for an unlinked e-mail. */
  author?: string | null;
  message?: string;
}

export interface PullInput {
  /** `owner/name` */
  repo: string;
  number: number;
  user: string;
  title?: string;
  body?: string | null;
  state?: 'open' | 'closed';
  headRef?: string;
  headSha?: string;
  baseRef?: string;
  baseSha?: string;
  files?: FileInput[];
  commits?: CommitInput[];
}

export interface ReviewInput {
  /** `owner/name` */
  repo: string;
  pull: number;
  user: string;
  state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED' | 'PENDING';
  body?: string;
  commitId?: string;
  submittedAt?: string;
}

interface PullState {
  pull: JsonObject;
  files: JsonObject[];
  commits: JsonObject[];
  reviews: JsonObject[];
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Context {
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  url: URL;
}

type Handler = (ctx: Context) => Reply;

const NOT_FOUND = { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' };

function legacyPermission(p: Permission): string {
  if (p === 'maintain') return 'write';
  if (p === 'triage') return 'read';
  return p;
}

export class FakeGitHub {
  readonly violations: Violation[] = [];
  readonly unmocked: UnmockedRequest[] = [];
  readonly requests: RecordedRequest[] = [];
  readonly checkRuns: JsonObject[] = [];
  readonly comments: JsonObject[] = [];
  /** Check-run id → every annotation posted to it (GitHub keeps them out of the check-run object). */
  readonly annotations = new Map<number, unknown[]>();
  /** Base URL for Octokit's `baseUrl`, e.g. `http://127.0.0.1:54321`. */
  url = '';

  readonly #api = githubApi();
  readonly #server: Server;
  readonly #handlers = new Map<string, Handler>();
  readonly #users = new Map<string, JsonObject>();
  readonly #repos = new Map<string, JsonObject>();
  readonly #pulls = new Map<string, PullState>();
  readonly #permissions = new Map<string, Permission>();
  readonly #teams = new Map<string, string[]>();
  #nextId = 1000;

  private constructor() {
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        this.#send(res, 500, { message: `fake-github crashed: ${String(error)}` });
      });
    });
    this.#routes();
  }

  static async start(): Promise<FakeGitHub> {
    const fake = new FakeGitHub();
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    const { port } = fake.#server.address() as AddressInfo;
    fake.url = `http://127.0.0.1:${port}`;
    return fake;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.#server.close((e) => (e ? reject(e) : resolve())));
  }

  /** Throws with details when any request or response broke the spec, or hit an unmocked route. */
  assertClean(): void {
    if (this.violations.length === 0 && this.unmocked.length === 0) return;
    throw new Error(
      `fake GitHub: ${JSON.stringify({ violations: this.violations, unmocked: this.unmocked }, null, 2)}`,
    );
  }

  // ---- seeding -------------------------------------------------------------------------------------------

  user(login: string): JsonObject {
    let user = this.#users.get(login);
    if (!user) {
      user = buildUser(login, this.#id(), login.endsWith('[bot]') ? 'Bot' : 'User');
      this.#users.set(login, user);
    }
    return user;
  }

  repo(fullName: string): JsonObject {
    let repo = this.#repos.get(fullName);
    if (!repo) {
      const [owner = '', name = ''] = fullName.split('/');
      repo = buildRepository(this.user(owner), name, this.#id());
      this.#repos.set(fullName, repo);
    }
    return repo;
  }

  addPull(input: PullInput): JsonObject {
    const repo = this.repo(input.repo);
    const headSha = input.headSha ?? 'a'.repeat(40);
    const files = (input.files ?? []).map((f) => this.#file(input.repo, headSha, f));
    const commits = (input.commits ?? [{ sha: headSha, author: input.user }]).map((c) =>
      this.#commit(input.repo, c),
    );
    const pull = buildPull({
      id: this.#id(),
      number: input.number,
      title: input.title ?? `Pull request #${input.number}`,
      body: input.body ?? null,
      state: input.state ?? 'open',
      user: this.user(input.user),
      repo,
      headRef: input.headRef ?? `access/${input.number}`,
      headSha,
      baseRef: input.baseRef ?? 'main',
      baseSha: input.baseSha ?? 'b'.repeat(40),
      commits: commits.length,
      changedFiles: files.length,
      additions: files.reduce((n, f) => n + Number(f.additions), 0),
      deletions: files.reduce((n, f) => n + Number(f.deletions), 0),
    });
    this.#pulls.set(`${input.repo}#${input.number}`, { pull, files, commits, reviews: [] });
    return pull;
  }

  addReview(input: ReviewInput): JsonObject {
    const state = this.#pulls.get(`${input.repo}#${input.pull}`);
    if (!state) throw new Error(`addReview: no pull ${input.repo}#${input.pull}; call addPull first`);
    const id = this.#id();
    const pullUrl = String(state.pull.url);
    const html = `${String(state.pull.html_url)}#pullrequestreview-${id}`;
    const review: JsonObject = {
      id,
      node_id: nodeId('PRR', id),
      user: this.user(input.user),
      body: input.body ?? '',
      state: input.state,
      html_url: html,
      pull_request_url: pullUrl,
      _links: { html: { href: html }, pull_request: { href: pullUrl } },
      commit_id: input.commitId ?? (state.pull.head as JsonObject).sha,
      author_association: 'MEMBER',
    };
    if (input.state !== 'PENDING') review.submitted_at = input.submittedAt ?? FIXED_TIME;
    state.reviews.push(review);
    return review;
  }

  /** Permission of `login` on every repository, or only on `repo` (`owner/name`) when given. */
  setPermission(login: string, permission: Permission, repo?: string): void {
    this.#permissions.set(repo ? `${repo}:${login}` : login, permission);
  }

  /** `'@org/team'` or `'org/team'` → member logins. */
  setTeam(team: string, logins: string[]): void {
    this.#teams.set(team.replace(/^@/, ''), [...logins]);
  }

  // ---- routes --------------------------------------------------------------------------------------------

  #routes(): void {
    const pullPath = '/repos/{owner}/{repo}/pulls/{pull_number}';
    const withPull = (pick: (s: PullState) => JsonObject | JsonObject[]): Handler => {
      return (ctx) => {
        const state = this.#pulls.get(`${ctx.params.owner}/${ctx.params.repo}#${ctx.params.pull_number}`);
        if (!state) return { status: 404, body: NOT_FOUND };
        const value = pick(state);
        return Array.isArray(value) ? this.#page(ctx, value) : { status: 200, body: value };
      };
    };
    this.#on(
      'GET',
      pullPath,
      withPull((s) => s.pull),
    );
    this.#on(
      'GET',
      `${pullPath}/files`,
      withPull((s) => s.files),
    );
    this.#on(
      'GET',
      `${pullPath}/reviews`,
      withPull((s) => s.reviews),
    );
    this.#on(
      'GET',
      `${pullPath}/commits`,
      withPull((s) => s.commits),
    );

    this.#on('GET', '/repos/{owner}/{repo}/collaborators/{username}/permission', (ctx) => {
      const { owner, repo, username = '' } = ctx.params;
      const permission =
        this.#permissions.get(`${owner}/${repo}:${username}`) ?? this.#permissions.get(username) ?? 'none';
      const user = this.user(username);
      return {
        status: 200,
        body: {
          permission: legacyPermission(permission),
          role_name: permission,
          user: {
            ...user,
            permissions: {
              admin: permission === 'admin',
              maintain: ['admin', 'maintain'].includes(permission),
              push: ['admin', 'maintain', 'write'].includes(permission),
              triage: ['admin', 'maintain', 'write', 'triage'].includes(permission),
              pull: permission !== 'none',
            },
            role_name: permission,
          },
        },
      };
    });

    this.#on('GET', '/orgs/{org}/teams/{team_slug}/members', (ctx) => {
      const members = this.#teams.get(`${ctx.params.org}/${ctx.params.team_slug}`);
      if (!members) return { status: 404, body: NOT_FOUND };
      return this.#page(
        ctx,
        members.map((login) => this.user(login)),
      );
    });

    this.#on('POST', '/repos/{owner}/{repo}/check-runs', (ctx) => {
      const input = ctx.body as JsonObject;
      const id = this.#id();
      const fullName = `${ctx.params.owner}/${ctx.params.repo}`;
      const run: JsonObject = {
        id,
        node_id: nodeId('CR', id),
        head_sha: input.head_sha,
        name: input.name,
        external_id: input.external_id ?? '',
        url: `${API_URL}/repos/${fullName}/check-runs/${id}`,
        html_url: `${WEB_URL}/${fullName}/runs/${id}`,
        details_url: input.details_url ?? 'https://example.com/timebox',
        status: 'queued',
        conclusion: null,
        started_at: input.started_at ?? FIXED_TIME,
        completed_at: null,
        output: { title: null, summary: null, text: null, annotations_count: 0, annotations_url: '' },
        check_suite: { id: this.#id() },
        app: buildApp(1, this.user(String(ctx.params.owner))),
        pull_requests: [],
      };
      (run.output as JsonObject).annotations_url = `${String(run.url)}/annotations`;
      this.#applyCheckRun(run, input);
      this.checkRuns.push(run);
      return { status: 201, body: run };
    });

    this.#on('PATCH', '/repos/{owner}/{repo}/check-runs/{check_run_id}', (ctx) => {
      const run = this.checkRuns.find((r) => String(r.id) === ctx.params.check_run_id);
      if (!run) return { status: 404, body: NOT_FOUND };
      this.#applyCheckRun(run, ctx.body as JsonObject);
      return { status: 200, body: run };
    });

    const commentsPath = '/repos/{owner}/{repo}/issues/{issue_number}/comments';
    this.#on('GET', commentsPath, (ctx) => {
      const issueUrl = this.#issueUrl(ctx);
      return this.#page(
        ctx,
        this.comments.filter((c) => c.issue_url === issueUrl),
      );
    });
    this.#on('POST', commentsPath, (ctx) => {
      const id = this.#id();
      const fullName = `${ctx.params.owner}/${ctx.params.repo}`;
      const comment: JsonObject = {
        id,
        node_id: nodeId('IC', id),
        url: `${API_URL}/repos/${fullName}/issues/comments/${id}`,
        html_url: `${WEB_URL}/${fullName}/pull/${ctx.params.issue_number}#issuecomment-${id}`,
        issue_url: this.#issueUrl(ctx),
        body: (ctx.body as JsonObject).body,
        user: this.user('timebox[bot]'),
        created_at: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        updated_at: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        author_association: 'NONE',
      };
      this.comments.push(comment);
      return { status: 201, body: comment };
    });
    this.#on('PATCH', '/repos/{owner}/{repo}/issues/comments/{comment_id}', (ctx) => {
      const comment = this.comments.find((c) => String(c.id) === ctx.params.comment_id);
      if (!comment) return { status: 404, body: NOT_FOUND };
      comment.body = (ctx.body as JsonObject).body;
      comment.updated_at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      return { status: 200, body: comment };
    });
  }

  #on(method: string, path: string, handler: Handler): void {
    // Fails fast if the route is not in the OpenAPI description.
    this.#api.operation(method, path);
    this.#handlers.set(`${method} ${path}`, handler);
  }

  // ---- request pipeline ----------------------------------------------------------------------------------

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', this.url);
    const raw = await readBody(req);
    const matched = this.#api.match(method, url.pathname);
    const handler = matched && this.#handlers.get(`${method} ${matched.operation.path}`);
    if (!matched || !handler) {
      this.unmocked.push({ method, url: url.pathname + url.search });
      this.requests.push({ method, url: req.url ?? '', operationId: undefined, body: raw, status: 404 });
      this.#send(res, 404, NOT_FOUND);
      return;
    }
    const op = matched.operation;
    let body: unknown;
    const errors: string[] = [];
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        errors.push('body is not valid JSON');
      }
    }
    if (errors.length === 0) {
      errors.push(
        ...this.#api.validateRequest(op, { pathParams: matched.pathParams, query: url.searchParams, body }),
      );
    }
    let reply: Reply;
    if (errors.length > 0) {
      this.#violation(method, url, op, 'request', errors);
      reply = { status: 500, body: { message: 'Request does not match the OpenAPI description', errors } };
    } else {
      reply = handler({ params: matched.pathParams, query: url.searchParams, body, url });
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
    }
    this.requests.push({
      method,
      url: req.url ?? '',
      operationId: op.operationId,
      body,
      status: reply.status,
    });
    this.#send(res, reply.status, reply.body, reply.headers);
  }

  #violation(method: string, url: URL, op: SpecOperation, kind: Violation['kind'], errors: string[]): void {
    this.violations.push({
      method,
      url: url.pathname + url.search,
      operationId: op.operationId,
      kind,
      errors,
    });
  }

  #send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      ...(text ? { 'content-type': 'application/json; charset=utf-8' } : {}),
      'x-github-request-id': randomUUID(),
      'x-github-api-version-selected': '2022-11-28',
      ...headers,
    });
    res.end(text);
  }

  /** `per_page`/`page` slicing with a GitHub-style `Link` header, so Octokit's paginate works. */
  #page(ctx: Context, items: JsonObject[]): Reply {
    const perPage = Math.min(Number(ctx.query.get('per_page') ?? 30) || 30, 100);
    const page = Math.max(Number(ctx.query.get('page') ?? 1) || 1, 1);
    const last = Math.max(Math.ceil(items.length / perPage), 1);
    const headers: Record<string, string> = {};
    const link = (n: number, rel: string): string => {
      const u = new URL(ctx.url);
      u.searchParams.set('per_page', String(perPage));
      u.searchParams.set('page', String(n));
      return `<${u.toString()}>; rel="${rel}"`;
    };
    if (page < last) headers.link = [link(page + 1, 'next'), link(last, 'last')].join(', ');
    return { status: 200, body: items.slice((page - 1) * perPage, page * perPage), headers };
  }

  #applyCheckRun(run: JsonObject, input: JsonObject): void {
    for (const key of [
      'name',
      'details_url',
      'external_id',
      'started_at',
      'status',
      'conclusion',
      'completed_at',
    ]) {
      if (input[key] !== undefined) run[key] = input[key];
    }
    if (input.conclusion !== undefined) {
      run.status = 'completed';
      run.completed_at ??= FIXED_TIME;
    }
    const output = input.output as JsonObject | undefined;
    if (output) {
      const current = run.output as JsonObject;
      for (const key of ['title', 'summary', 'text']) {
        if (output[key] !== undefined) current[key] = output[key];
      }
      // GitHub appends annotations across updates (at most 50 per request).
      const annotations = Array.isArray(output.annotations) ? output.annotations : [];
      current.annotations_count = Number(current.annotations_count) + annotations.length;
      const id = Number(run.id);
      this.annotations.set(id, [...(this.annotations.get(id) ?? []), ...annotations]);
    }
  }

  #issueUrl(ctx: Context): string {
    return `${API_URL}/repos/${ctx.params.owner}/${ctx.params.repo}/issues/${ctx.params.issue_number}`;
  }

  #file(repo: string, sha: string, f: FileInput): JsonObject {
    const additions = f.additions ?? 1;
    const deletions = f.deletions ?? 0;
    const path = f.filename.split('/').map(encodeURIComponent).join('/');
    const file: JsonObject = {
      sha: 'c'.repeat(40),
      filename: f.filename,
      status: f.status ?? 'added',
      additions,
      deletions,
      changes: additions + deletions,
      blob_url: `${WEB_URL}/${repo}/blob/${sha}/${path}`,
      raw_url: `${WEB_URL}/${repo}/raw/${sha}/${path}`,
      contents_url: `${API_URL}/repos/${repo}/contents/${path}?ref=${sha}`,
    };
    if (f.patch !== undefined) file.patch = f.patch;
    if (f.previousFilename !== undefined) file.previous_filename = f.previousFilename;
    return file;
  }

  #commit(repo: string, c: CommitInput): JsonObject {
    const api = `${API_URL}/repos/${repo}`;
    const login = c.author === undefined ? undefined : c.author;
    const user = login ? this.user(login) : null;
    const person = { name: login ?? 'Unknown', email: `${login ?? 'unknown'}@example.com`, date: FIXED_TIME };
    return {
      url: `${api}/commits/${c.sha}`,
      sha: c.sha,
      node_id: nodeId('C', this.#id()),
      html_url: `${WEB_URL}/${repo}/commit/${c.sha}`,
      comments_url: `${api}/commits/${c.sha}/comments`,
      commit: {
        url: `${api}/git/commits/${c.sha}`,
        author: person,
        committer: person,
        message: c.message ?? 'Request access',
        comment_count: 0,
        tree: { sha: 'd'.repeat(40), url: `${api}/git/trees/${'d'.repeat(40)}` },
        verification: {
          verified: false,
          reason: 'unsigned',
          signature: null,
          payload: null,
          verified_at: null,
        },
      },
      author: user,
      committer: user,
      parents: [],
    };
  }

  #id(): number {
    this.#nextId += 1;
    return this.#nextId;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
