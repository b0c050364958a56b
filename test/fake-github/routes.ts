// The REST endpoints the fake implements. Authentication, repository scoping and the permission each route
// needs (auth.ts ROUTE_PERMISSIONS) are checked by the pipeline in fake-github.ts before a handler runs.
import type { AppIdentity, AppRegistry, Permissions, Principal } from './auth.js';
import {
  API_URL,
  base64Lines,
  buildContent,
  buildGitCommit,
  type JsonObject,
  nodeId,
  timestamp,
  WEB_URL,
} from './builders.js';
import type { TreeEntry } from './git-store.js';
import type { GitHubState, PullState, RepoState } from './state.js';

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Context {
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  url: URL;
  /** Who a token authenticates (token routes). */
  principal: Principal | undefined;
  /** The app a JWT authenticates (`/app` routes). */
  app: AppIdentity | undefined;
  /** The repository of `/repos/{owner}/{repo}/…` routes; the pipeline answers 404 when it does not exist. */
  repo: RepoState | undefined;
}

export type Handler = (ctx: Context) => Reply | Promise<Reply>;

export interface Route {
  method: string;
  path: string;
  handler: Handler;
}

const DOCS = 'https://docs.github.com/rest';

export function error(status: number, message: string): Reply {
  return { status, body: { message, documentation_url: DOCS, status: String(status) } };
}

export const NOT_FOUND: Reply = error(404, 'Not Found');

/** `per_page`/`page` slicing with a GitHub-style `Link` header, so Octokit's paginate works. */
export function page<T>(ctx: Context, items: T[]): { items: T[]; headers: Record<string, string> } {
  const perPage = Math.min(Number(ctx.query.get('per_page') ?? 30) || 30, 100);
  const current = Math.max(Number(ctx.query.get('page') ?? 1) || 1, 1);
  const last = Math.max(Math.ceil(items.length / perPage), 1);
  const link = (n: number, rel: string): string => {
    const u = new URL(ctx.url);
    u.searchParams.set('per_page', String(perPage));
    u.searchParams.set('page', String(n));
    return `<${u.toString()}>; rel="${rel}"`;
  };
  const rels: string[] = [];
  if (current > 1) rels.push(link(current - 1, 'prev'));
  if (current < last) rels.push(link(current + 1, 'next'), link(last, 'last'));
  if (current > 1) rels.push(link(1, 'first'));
  const headers: Record<string, string> = rels.length > 0 ? { link: rels.join(', ') } : {};
  return { items: items.slice((current - 1) * perPage, current * perPage), headers };
}

function paged(ctx: Context, items: JsonObject[]): Reply {
  const { items: body, headers } = page(ctx, items);
  return { status: 200, body, headers };
}

/** The repository of a repo route (the pipeline guarantees it). */
function repoOf(ctx: Context): RepoState {
  if (!ctx.repo) throw new Error('route without repository context');
  return ctx.repo;
}

function principalOf(ctx: Context): Principal {
  if (!ctx.principal) throw new Error('route without token context');
  return ctx.principal;
}

function appOf(ctx: Context): AppIdentity {
  if (!ctx.app) throw new Error('route without app context');
  return ctx.app;
}

export function routes(state: GitHubState, apps: AppRegistry): Route[] {
  const list: Route[] = [];
  const on = (method: string, path: string, handler: Handler): void => {
    list.push({ method, path, handler });
  };
  const withPull = (fn: (pull: PullState, ctx: Context) => Promise<Reply>): Handler => {
    return (ctx) => {
      const pull = repoOf(ctx).pulls.get(Number(ctx.params.pull_number));
      return pull ? fn(pull, ctx) : NOT_FOUND;
    };
  };

  // ---- GitHub App (JWT) --------------------------------------------------------------------------------------

  on('GET', '/app', (ctx) => {
    const app = appOf(ctx);
    return { status: 200, body: { ...app.json, installations_count: apps.installationsOf(app.id).length } };
  });

  on('GET', '/app/installations', (ctx) =>
    paged(
      ctx,
      apps.installationsOf(appOf(ctx).id).map((i) => apps.installationJson(i)),
    ),
  );

  on('GET', '/repos/{owner}/{repo}/installation', (ctx) => {
    const installation = apps.installationFor(repoOf(ctx).fullName, appOf(ctx).id);
    return installation ? { status: 200, body: apps.installationJson(installation) } : NOT_FOUND;
  });

  on('POST', '/app/installations/{installation_id}/access_tokens', (ctx) => {
    const installation = apps.installation(Number(ctx.params.installation_id));
    if (!installation || installation.app.identity.id !== appOf(ctx).id) return NOT_FOUND;
    const input = (ctx.body ?? {}) as {
      repositories?: string[];
      repository_ids?: number[];
      permissions?: Permissions;
    };
    let repositories = input.repositories;
    if (input.repository_ids) {
      const byId = [...installation.repositories]
        .map((r) => state.repo(r))
        .filter((r): r is RepoState => r !== undefined);
      const names = input.repository_ids.map((id) => byId.find((r) => r.json.id === id)?.json.name);
      if (names.some((n) => n === undefined)) {
        return error(
          422,
          'There is at least one repository that does not exist or is not accessible to the parent installation.',
        );
      }
      repositories = [...(repositories ?? []), ...names.map((n) => String(n))];
    }
    const minted = apps.mintInstallationToken(installation, {
      ...(repositories ? { repositories } : {}),
      ...(input.permissions ? { permissions: input.permissions } : {}),
    });
    if ('error' in minted) return error(422, minted.error);
    const { principal } = minted;
    const reachable = [...(principal.repositories ?? [])]
      .map((r) => state.repo(r)?.json)
      .filter((r): r is JsonObject => r !== undefined);
    return {
      status: 201,
      body: {
        token: principal.token,
        expires_at: timestamp(principal.expiresAt),
        permissions: principal.permissions,
        repository_selection: 'selected',
        repositories: reachable,
      },
    };
  });

  // ---- pull requests -----------------------------------------------------------------------------------------

  on('GET', '/repos/{owner}/{repo}/pulls', async (ctx) => {
    const repo = repoOf(ctx);
    const wanted = ctx.query.get('state') ?? 'open';
    const head = ctx.query.get('head');
    const base = ctx.query.get('base');
    const direction = ctx.query.get('direction') ?? 'desc';
    const pulls = [...repo.pulls.values()].filter(
      (p) =>
        (wanted === 'all' || p.state === wanted) &&
        (!head || `${String(repo.owner.login)}:${p.head}`.toLowerCase() === head.toLowerCase()) &&
        (!base || p.base === base),
    );
    pulls.sort((a, b) => (direction === 'asc' ? a.number - b.number : b.number - a.number));
    return paged(ctx, await Promise.all(pulls.map((p) => state.pullJson(p, false))));
  });

  const pullPath = '/repos/{owner}/{repo}/pulls/{pull_number}';
  on(
    'GET',
    pullPath,
    withPull(async (pull) => ({ status: 200, body: await state.pullJson(pull) })),
  );
  on(
    'GET',
    `${pullPath}/files`,
    // GitHub lists at most 3,000 files of a pull request (`changed_files` still counts them all).
    withPull(async (pull, ctx) => paged(ctx, (await state.filesJson(pull)).slice(0, 3000))),
  );
  on(
    'GET',
    `${pullPath}/commits`,
    // GitHub lists at most 250 commits of a pull request (`commits` still counts them all).
    withPull(async (pull, ctx) => paged(ctx, (await state.commitsJson(pull)).slice(0, 250))),
  );
  // Pending reviews are visible to their author only, never to an app.
  on(
    'GET',
    `${pullPath}/reviews`,
    withPull(async (pull, ctx) =>
      paged(
        ctx,
        pull.reviews.filter((r) => r.state !== 'PENDING'),
      ),
    ),
  );

  // ---- git data and contents ---------------------------------------------------------------------------------

  on('GET', '/repos/{owner}/{repo}/git/trees/{tree_sha}', async (ctx) => {
    const repo = repoOf(ctx);
    const sha = await repo.git.resolveTree(ctx.params.tree_sha ?? '');
    if (!sha) return NOT_FOUND;
    // GitHub recurses when `recursive` has any value at all, even 0 or false.
    const entries = await repo.git.lsTree(sha, ctx.query.has('recursive'));
    const api = `${API_URL}/repos/${repo.fullName}`;
    return {
      status: 200,
      body: {
        sha,
        url: `${api}/git/trees/${sha}`,
        tree: entries.map((e) => treeEntry(api, e)),
        truncated: false,
      },
    };
  });

  on('GET', '/repos/{owner}/{repo}/git/blobs/{file_sha}', async (ctx) => {
    const repo = repoOf(ctx);
    const sha = ctx.params.file_sha ?? '';
    const content = await repo.git.readBlob(sha);
    if (!content) return NOT_FOUND;
    return {
      status: 200,
      body: {
        sha,
        node_id: nodeId('B', sha),
        size: content.length,
        url: `${API_URL}/repos/${repo.fullName}/git/blobs/${sha}`,
        content: base64Lines(content),
        encoding: 'base64',
      },
    };
  });

  on('GET', '/repos/{owner}/{repo}/commits', async (ctx) => {
    const repo = repoOf(ctx);
    const ref = ctx.query.get('sha') || String(repo.json.default_branch);
    const commit = await repo.git.resolveCommit(ref);
    if (!commit) return error(404, `No commit found for SHA: ${ref}`);
    const since = ctx.query.get('since');
    const until = ctx.query.get('until');
    const path = ctx.query.get('path');
    const author = ctx.query.get('author')?.toLowerCase();
    let commits = (
      await repo.git.history(commit, {
        ...(since ? { since } : {}),
        ...(until ? { until } : {}),
        ...(path ? { path } : {}),
      })
    ).map((c) => state.commitJson(repo, c));
    if (author) {
      commits = commits.filter(
        (c) =>
          String((c.author as JsonObject | null)?.login ?? '').toLowerCase() === author ||
          String(((c.commit as JsonObject).author as JsonObject).email).toLowerCase() === author,
      );
    }
    return paged(ctx, commits);
  });

  on('GET', '/repos/{owner}/{repo}/git/commits/{commit_sha}', async (ctx) => {
    const repo = repoOf(ctx);
    const info = await repo.git.commitInfo(ctx.params.commit_sha ?? '');
    return info ? { status: 200, body: buildGitCommit(repo.fullName, info) } : NOT_FOUND;
  });

  on('GET', '/repos/{owner}/{repo}/contents/{path}', async (ctx) => {
    const repo = repoOf(ctx);
    const ref = ctx.query.get('ref') || String(repo.json.default_branch);
    const commit = await repo.git.resolveCommit(ref);
    if (!commit) return error(404, `No commit found for the ref ${ref}`);
    const path = (ctx.params.path ?? '').replace(/^\/+|\/+$/g, '');
    const entry = await repo.git.entryAt(commit, path);
    if (!entry) return NOT_FOUND;
    if (entry.type === 'tree') {
      const children = await repo.git.lsTree(entry.sha, false);
      return {
        status: 200,
        body: children.map((c) =>
          buildContent(repo.fullName, {
            type: contentType(c),
            path: path ? `${path}/${c.path}` : c.path,
            sha: c.sha,
            size: c.size ?? 0,
            ref,
          }),
        ),
      };
    }
    const content = (await repo.git.readBlob(entry.sha)) ?? Buffer.alloc(0);
    return {
      status: 200,
      body: buildContent(
        repo.fullName,
        { type: contentType(entry), path, sha: entry.sha, size: content.length, ref },
        content,
      ),
    };
  });

  // ---- check runs --------------------------------------------------------------------------------------------

  on('GET', '/repos/{owner}/{repo}/commits/{ref}/check-runs', async (ctx) => {
    const repo = repoOf(ctx);
    const ref = ctx.params.ref ?? '';
    const sha = await repo.git.resolveCommit(ref);
    if (!sha) return error(422, `No commit found for SHA: ${ref}`);
    const name = ctx.query.get('check_name');
    const status = ctx.query.get('status');
    const appId = ctx.query.get('app_id');
    let runs = state
      .checkRunsOf(repo)
      .filter(
        (r) =>
          r.head_sha === sha &&
          (!name || r.name === name) &&
          (!status || r.status === status) &&
          (!appId || String((r.app as JsonObject).id) === appId),
      )
      .sort((a, b) => Number(b.id) - Number(a.id));
    if ((ctx.query.get('filter') ?? 'latest') === 'latest') {
      const seen = new Set<string>();
      runs = runs.filter((r) => {
        const key = `${String((r.app as JsonObject).id)}/${String(r.name)}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    }
    const { items, headers } = page(ctx, runs);
    return { status: 200, body: { total_count: runs.length, check_runs: items }, headers };
  });

  on('POST', '/repos/{owner}/{repo}/check-runs', async (ctx) => {
    const repo = repoOf(ctx);
    const input = ctx.body as JsonObject;
    const headSha = String(input.head_sha);
    if (!/^[0-9a-f]{40}$/.test(headSha) || (await repo.git.objectType(headSha)) !== 'commit') {
      return error(422, `No commit found for SHA: ${headSha}`);
    }
    const tooMany = annotationLimit(input);
    if (tooMany) return tooMany;
    const id = state.nextId();
    const api = `${API_URL}/repos/${repo.fullName}`;
    const run: JsonObject = {
      id,
      node_id: nodeId('CR', id),
      head_sha: headSha,
      name: input.name,
      external_id: input.external_id ?? '',
      url: `${api}/check-runs/${id}`,
      html_url: `${WEB_URL}/${repo.fullName}/runs/${id}`,
      details_url: input.details_url ?? principalOf(ctx).app.json.external_url,
      status: 'queued',
      conclusion: null,
      started_at: input.started_at ?? timestamp(),
      completed_at: null,
      output: {
        title: null,
        summary: null,
        text: null,
        annotations_count: 0,
        annotations_url: `${api}/check-runs/${id}/annotations`,
      },
      check_suite: { id: state.nextId() },
      app: principalOf(ctx).app.json,
      pull_requests: await pullsAt(state, repo, headSha),
    };
    applyCheckRun(state, run, input);
    state.addCheckRun(repo, run);
    return { status: 201, body: run };
  });

  on('PATCH', '/repos/{owner}/{repo}/check-runs/{check_run_id}', (ctx) => {
    const run = state.findCheckRun(repoOf(ctx), Number(ctx.params.check_run_id));
    if (!run) return NOT_FOUND;
    const appId = principalOf(ctx).app.id;
    if ((run.app as JsonObject).id !== appId) {
      return error(
        403,
        `Invalid app_id \`${appId}\` - check run can only be modified by the GitHub App that created it.`,
      );
    }
    const tooMany = annotationLimit(ctx.body as JsonObject);
    if (tooMany) return tooMany;
    applyCheckRun(state, run, ctx.body as JsonObject);
    return { status: 200, body: run };
  });

  // ---- issue comments ----------------------------------------------------------------------------------------

  const commentsPath = '/repos/{owner}/{repo}/issues/{issue_number}/comments';
  on('GET', commentsPath, (ctx) => {
    const repo = repoOf(ctx);
    const number = Number(ctx.params.issue_number);
    if (!repo.pulls.has(number)) return NOT_FOUND;
    const issueUrl = state.issueUrl(repo, number);
    return paged(
      ctx,
      state.comments.filter((c) => c.issue_url === issueUrl),
    );
  });

  on('POST', commentsPath, (ctx) => {
    const repo = repoOf(ctx);
    const number = Number(ctx.params.issue_number);
    if (!repo.pulls.has(number)) return NOT_FOUND;
    const { app } = principalOf(ctx);
    const body = String((ctx.body as JsonObject).body);
    return { status: 201, body: state.comment(repo, number, app.botLogin, body, app.json) };
  });

  on('PATCH', '/repos/{owner}/{repo}/issues/comments/{comment_id}', (ctx) => {
    const comment = state.findComment(repoOf(ctx), Number(ctx.params.comment_id));
    if (!comment) return NOT_FOUND;
    comment.body = (ctx.body as JsonObject).body;
    comment.updated_at = timestamp();
    return { status: 200, body: comment };
  });

  // ---- people ------------------------------------------------------------------------------------------------

  on('GET', '/repos/{owner}/{repo}/collaborators/{username}/permission', (ctx) => ({
    status: 200,
    body: state.collaboratorPermission(repoOf(ctx), ctx.params.username ?? ''),
  }));

  on('GET', '/orgs/{org}/teams/{team_slug}/members', (ctx) => {
    const members = state.teamMembers(ctx.params.org ?? '', ctx.params.team_slug ?? '');
    if (!members) return NOT_FOUND;
    return paged(
      ctx,
      members.map((login) => state.user(login)),
    );
  });

  return list;
}

function treeEntry(api: string, e: TreeEntry): JsonObject {
  const entry: JsonObject = { path: e.path, mode: e.mode, type: e.type, sha: e.sha };
  if (e.size !== undefined) entry.size = e.size;
  if (e.type === 'blob') entry.url = `${api}/git/blobs/${e.sha}`;
  if (e.type === 'tree') entry.url = `${api}/git/trees/${e.sha}`;
  return entry;
}

function contentType(e: TreeEntry): 'file' | 'dir' | 'symlink' | 'submodule' {
  if (e.type === 'tree') return 'dir';
  if (e.type === 'commit') return 'submodule';
  return e.mode === '120000' ? 'symlink' : 'file';
}

/** GitHub accepts at most 50 annotations per create/update request. */
function annotationLimit(input: JsonObject | undefined): Reply | undefined {
  const output = input?.output as JsonObject | undefined;
  const annotations = output?.annotations;
  if (Array.isArray(annotations) && annotations.length > 50) {
    return error(422, 'Invalid request.\n\nOnly 50 annotations are allowed per request.');
  }
  return undefined;
}

/** `pull_requests` of a check run: the open pull requests whose head is that commit (pull-request-minimal). */
async function pullsAt(state: GitHubState, repo: RepoState, sha: string): Promise<JsonObject[]> {
  const out: JsonObject[] = [];
  for (const pull of repo.pulls.values()) {
    await state.refresh(pull);
    if (pull.state !== 'open' || pull.headSha !== sha) continue;
    const repoRef = { id: repo.json.id, url: repo.json.url, name: repo.json.name };
    out.push({
      id: pull.id,
      number: pull.number,
      url: `${API_URL}/repos/${repo.fullName}/pulls/${pull.number}`,
      head: { ref: pull.head, sha: pull.headSha, repo: repoRef },
      base: { ref: pull.base, sha: pull.baseSha, repo: repoRef },
    });
  }
  return out;
}

function applyCheckRun(state: GitHubState, run: JsonObject, input: JsonObject): void {
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
  if (input.conclusion !== undefined) run.status = 'completed';
  if (run.status === 'completed' && run.completed_at === null) run.completed_at = timestamp();
  const output = input.output as JsonObject | undefined;
  if (output) {
    const current = run.output as JsonObject;
    for (const key of ['title', 'summary', 'text']) {
      if (output[key] !== undefined) current[key] = output[key];
    }
    // GitHub appends annotations across updates.
    const annotations = Array.isArray(output.annotations) ? output.annotations : [];
    current.annotations_count = Number(current.annotations_count) + annotations.length;
    const id = Number(run.id);
    state.annotations.set(id, [...(state.annotations.get(id) ?? []), ...annotations]);
  }
}
