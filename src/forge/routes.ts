// The REST endpoints the fake implements. Authentication, repository scoping and the permission each route
// needs (auth.ts ROUTE_PERMISSIONS) are checked by the pipeline in fake-github.ts before a handler runs.
import type { AppIdentity, AppRegistry, Permissions, Principal } from './auth.js';
import {
  API_URL,
  base64Lines,
  buildContent,
  buildDiffEntry,
  buildGitCommit,
  buildGitRef,
  type JsonObject,
  nodeId,
  timestamp,
  WEB_URL,
} from './builders.js';
import { GitInputError, type Identity, type TreeEntry, type TreeInput, ZERO_SHA } from './git-store.js';
import {
  type GitHubState,
  type IssueState,
  type MergeMethod,
  MergeRefused,
  type PullState,
  type Push,
  type RepoState,
} from './state.js';

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

/** GitHub's 422: a message, and for "Validation Failed" the offending fields. */
export function invalid(message: string, errors?: JsonObject[]): Reply {
  return {
    status: 422,
    body: { message, documentation_url: DOCS, ...(errors ? { errors } : {}), status: '422' },
  };
}

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

/** Login a token acts as: the app's bot (`timebox[bot]`, `github-actions[bot]`). */
function actorOf(ctx: Context): string {
  return principalOf(ctx).app.botLogin;
}

/**
 * GitHub signs a commit an App makes through the API (web-flow) when it names no author or committer of its
 * own; a commit with custom identities is left unsigned.
 */
function apiSigner(state: GitHubState, input: { author?: unknown; committer?: unknown }) {
  const custom = (p: unknown) => Boolean((p as { name?: string } | undefined)?.name);
  return custom(input.author) || custom(input.committer) ? undefined : state.webFlow.sign;
}

/** An `{ name, email, date? }` of the git data and contents APIs, or the default. */
function gitIdentity(input: unknown, fallback: Identity): Identity {
  const person = input as { name?: string; email?: string; date?: string } | undefined;
  if (!person?.name || !person.email) return fallback;
  return { name: person.name, email: person.email, ...(person.date ? { date: new Date(person.date) } : {}) };
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

  on('GET', '/installation/repositories', (ctx) => {
    const p = ctx.principal;
    if (p?.kind !== 'installation' || p.installationId === undefined) {
      return error(403, 'This endpoint requires an installation access token.');
    }
    const names = [...(p.repositories ?? apps.installation(p.installationId)?.repositories ?? [])];
    const repos = names.map((n) => state.repo(n)).filter((r): r is RepoState => r !== undefined);
    const perPage = Math.min(Number(ctx.query.get('per_page') ?? 30) || 30, 100);
    const page = Math.max(Number(ctx.query.get('page') ?? 1) || 1, 1);
    return {
      status: 200,
      body: {
        total_count: repos.length,
        repository_selection: 'selected',
        repositories: repos.slice((page - 1) * perPage, page * perPage).map((r) => r.json),
      },
    };
  });

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

  // GitHub's activity log: every update of a branch (push, force push, creation, deletion, merge) and who made
  // it, newest first, paged by cursor (`after` = the last id of a page).
  on('GET', '/repos/{owner}/{repo}/activity', (ctx) => {
    const repo = repoOf(ctx);
    const wanted = ctx.query.get('ref');
    const ref = wanted && !wanted.startsWith('refs/') ? `refs/heads/${wanted}` : wanted;
    const actor = ctx.query.get('actor')?.toLowerCase();
    const type = ctx.query.get('activity_type');
    const period = ctx.query.get('time_period');
    const days = { day: 1, week: 7, month: 30, quarter: 91, year: 365 }[period ?? ''] ?? null;
    const since = days === null ? null : state.clock.nowMs() - days * 86_400_000;
    const typeOf = (p: Push): string =>
      p.before === undefined
        ? 'branch_creation'
        : p.after === undefined
          ? 'branch_deletion'
          : p.merge
            ? 'pr_merge'
            : p.forced
              ? 'force_push'
              : 'push';
    let items = repo.pushes
      .map((p, i) => ({
        id: i + 1,
        node_id: nodeId('RA', `${repo.fullName}:${i + 1}`),
        before: p.before ?? ZERO_SHA,
        after: p.after ?? ZERO_SHA,
        ref: `refs/heads/${p.branch}`,
        timestamp: p.at,
        activity_type: typeOf(p),
        actor: state.user(p.pusher),
      }))
      .filter(
        (a) =>
          (!ref || a.ref === ref) &&
          (!actor || String(a.actor.login).toLowerCase() === actor) &&
          (!type || a.activity_type === type) &&
          (since === null || Date.parse(a.timestamp) >= since),
      );
    if (ctx.query.get('direction') !== 'asc') items.reverse();
    const after = ctx.query.get('after');
    const before = ctx.query.get('before');
    if (after) items = items.slice(items.findIndex((a) => String(a.id) === after) + 1);
    if (before)
      items = items.slice(
        0,
        Math.max(
          items.findIndex((a) => String(a.id) === before),
          0,
        ),
      );
    const perPage = Math.min(Number(ctx.query.get('per_page') ?? 30) || 30, 100);
    const body = items.slice(0, perPage);
    const last = body[body.length - 1];
    const headers: Record<string, string> = {};
    if (last && items.length > perPage) {
      const next = new URL(ctx.url);
      next.searchParams.delete('before');
      next.searchParams.set('after', String(last.id));
      headers.link = `<${next.toString()}>; rel="next"`;
    }
    return { status: 200, body, headers };
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
      started_at: input.started_at ?? state.stamp(),
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
    if (!repo.pulls.has(number) && !repo.issues.has(number)) return NOT_FOUND;
    const issueUrl = state.issueUrl(repo, number);
    return paged(
      ctx,
      state.comments.filter((c) => c.issue_url === issueUrl),
    );
  });

  on('POST', commentsPath, (ctx) => {
    const repo = repoOf(ctx);
    const number = Number(ctx.params.issue_number);
    if (!repo.pulls.has(number) && !repo.issues.has(number)) return NOT_FOUND;
    const { app } = principalOf(ctx);
    const body = String((ctx.body as JsonObject).body);
    return { status: 201, body: state.comment(repo, number, app.botLogin, body, app.json) };
  });

  on('PATCH', '/repos/{owner}/{repo}/issues/comments/{comment_id}', (ctx) => {
    const comment = state.findComment(repoOf(ctx), Number(ctx.params.comment_id));
    if (!comment) return NOT_FOUND;
    comment.body = (ctx.body as JsonObject).body;
    comment.updated_at = state.stamp();
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

  // ---- merging and opening pull requests ---------------------------------------------------------------------

  on(
    'PUT',
    `${pullPath}/merge`,
    withPull(async (pull, ctx) => {
      const input = (ctx.body ?? {}) as {
        commit_title?: string;
        commit_message?: string;
        sha?: string;
        merge_method?: MergeMethod;
      };
      try {
        const sha = await state.mergePull(pull, actorOf(ctx), {
          ...(input.merge_method !== undefined ? { method: input.merge_method } : {}),
          ...(input.commit_title !== undefined ? { title: input.commit_title } : {}),
          ...(input.commit_message !== undefined ? { message: input.commit_message } : {}),
          ...(input.sha !== undefined ? { sha: input.sha } : {}),
        });
        return { status: 200, body: { sha, merged: true, message: 'Pull Request successfully merged' } };
      } catch (e) {
        if (e instanceof MergeRefused) return error(e.status, e.githubMessage);
        throw e;
      }
    }),
  );

  on('POST', '/repos/{owner}/{repo}/pulls', async (ctx) => {
    const repo = repoOf(ctx);
    const input = ctx.body as {
      title?: string;
      head?: string;
      base?: string;
      body?: string;
      draft?: boolean;
    };
    const missing = (['title', 'head', 'base'] as const).filter((field) => !input[field]);
    if (missing.length > 0) {
      return invalid(
        'Validation Failed',
        missing.map((field) => ({ resource: 'PullRequest', field, code: 'missing_field' })),
      );
    }
    // `owner:branch` names a branch of this repository when the owner is this repository's (no forks here).
    let head = String(input.head);
    const colon = head.indexOf(':');
    if (colon >= 0) {
      if (head.slice(0, colon).toLowerCase() !== String(repo.owner.login).toLowerCase()) {
        return invalid('Validation Failed', [{ resource: 'PullRequest', field: 'head', code: 'invalid' }]);
      }
      head = head.slice(colon + 1);
    }
    const created = await state.createPull({
      repo: repo.fullName,
      head,
      base: String(input.base),
      user: actorOf(ctx),
      title: String(input.title),
      body: input.body ?? null,
      draft: input.draft ?? false,
    });
    if ('refusal' in created) return invalid('Validation Failed', [{ ...created.refusal }]);
    return { status: 201, body: await state.pullJson(state.mustPull(repo.fullName, created.number)) };
  });

  on(
    'PATCH',
    pullPath,
    withPull(async (pull, ctx) => {
      const input = ctx.body as { title?: string; body?: string; state?: 'open' | 'closed'; base?: string };
      const refused = await changePullState(state, pull, input.state);
      if (refused) return refused;
      if (input.base !== undefined && !(await pull.repo.git.branchTip(input.base))) {
        return invalid('Validation Failed', [{ resource: 'PullRequest', field: 'base', code: 'invalid' }]);
      }
      state.editPull(pull, {
        ...(input.title !== undefined ? { title: input.title } : {}),
        ...(input.body !== undefined ? { body: input.body } : {}),
        ...(input.base !== undefined ? { base: input.base } : {}),
      });
      return { status: 200, body: await state.pullJson(pull) };
    }),
  );

  // GitHub: for a commit on the default branch, the merged pull requests that brought it there; otherwise the
  // open pull requests that contain it.
  on('GET', '/repos/{owner}/{repo}/commits/{commit_sha}/pulls', async (ctx) => {
    const repo = repoOf(ctx);
    const ref = ctx.params.commit_sha ?? '';
    const sha = await repo.git.resolveCommit(ref);
    if (!sha) return invalid(`No commit found for SHA: ${ref}`);
    const { git } = repo;
    const defaultTip = await git.branchTip(String(repo.json.default_branch));
    const onDefault = defaultTip !== undefined && (await git.isAncestor(sha, defaultTip));
    const contains = async (pull: PullState): Promise<boolean> =>
      (await git.isAncestor(sha, pull.headSha)) && !(await git.isAncestor(sha, pull.baseSha));
    const found: PullState[] = [];
    for (const pull of [...repo.pulls.values()].sort((a, b) => b.number - a.number)) {
      await state.refresh(pull);
      if (onDefault) {
        if (!pull.mergedAt || pull.base !== repo.json.default_branch) continue;
        if (pull.mergeCommitSha === sha || (await contains(pull))) found.push(pull);
      } else if (pull.state === 'open' && (await contains(pull))) {
        found.push(pull);
      }
    }
    return paged(ctx, await Promise.all(found.map((p) => state.pullJson(p, false))));
  });

  // Served under both of GitHub's spellings: `compare/{basehead}` and the older `compare/{base}...{head}` (which
  // the description matches first for any `a...b`).
  const compare: Handler = async (ctx) => {
    const repo = repoOf(ctx);
    const basehead = ctx.params.basehead ?? `${ctx.params.base ?? ''}...${ctx.params.head ?? ''}`;
    const parts = basehead.split('...');
    if (parts.length !== 2) return NOT_FOUND;
    const owner = String(repo.owner.login).toLowerCase();
    const local = (side: string): string | undefined => {
      const colon = side.indexOf(':');
      if (colon < 0) return side;
      return side.slice(0, colon).toLowerCase() === owner ? side.slice(colon + 1) : undefined;
    };
    const [baseRef, headRef] = parts.map(local);
    const { git } = repo;
    const base = baseRef ? await git.resolveCommit(baseRef) : undefined;
    const head = headRef ? await git.resolveCommit(headRef) : undefined;
    if (!base || !head) return NOT_FOUND;
    const mergeBase = await git.mergeBase(base, head);
    if (!mergeBase) return NOT_FOUND;
    const [aheadBy, behindBy, commits, files, baseInfo, mergeBaseInfo] = await Promise.all([
      git.countCommits(base, head),
      git.countCommits(head, base),
      git.log(mergeBase, head),
      state.diffFiles(repo, mergeBase, head),
      git.commitInfo(base),
      git.commitInfo(mergeBase),
    ]);
    if (!baseInfo || !mergeBaseInfo) return NOT_FOUND;
    let status = 'diverged';
    if (aheadBy === 0 && behindBy === 0) status = 'identical';
    else if (behindBy === 0) status = 'ahead';
    else if (aheadBy === 0) status = 'behind';
    const web = `${WEB_URL}/${repo.fullName}`;
    return {
      status: 200,
      body: {
        url: `${API_URL}/repos/${repo.fullName}/compare/${basehead}`,
        html_url: `${web}/compare/${basehead}`,
        permalink_url: `${web}/compare/${repo.owner.login}:${base}...${repo.owner.login}:${head}`,
        diff_url: `${web}/compare/${basehead}.diff`,
        patch_url: `${web}/compare/${basehead}.patch`,
        base_commit: state.commitJson(repo, baseInfo),
        merge_base_commit: state.commitJson(repo, mergeBaseInfo),
        status,
        ahead_by: aheadBy,
        behind_by: behindBy,
        total_commits: aheadBy,
        // GitHub lists at most 250 commits and 300 files of a comparison.
        commits: commits.slice(0, 250).map((c) => state.commitJson(repo, c)),
        files: files.slice(0, 300).map((f) => buildDiffEntry(repo.fullName, head, f)),
      },
    };
  };
  on('GET', '/repos/{owner}/{repo}/compare/{basehead}', compare);
  on('GET', '/repos/{owner}/{repo}/compare/{base}...{head}', compare);

  // ---- git data writes ---------------------------------------------------------------------------------------

  on('POST', '/repos/{owner}/{repo}/git/blobs', async (ctx) => {
    const repo = repoOf(ctx);
    const input = ctx.body as { content: string; encoding?: string };
    const encoding = (input.encoding ?? 'utf-8').toLowerCase();
    if (!['utf-8', 'utf8', 'base64'].includes(encoding)) {
      return invalid(`encoding must be "utf-8" or "base64"`);
    }
    const content = encoding === 'base64' ? Buffer.from(input.content, 'base64') : input.content;
    const sha = await repo.git.writeBlob(content);
    return { status: 201, body: { url: `${API_URL}/repos/${repo.fullName}/git/blobs/${sha}`, sha } };
  });

  on('POST', '/repos/{owner}/{repo}/git/trees', async (ctx) => {
    const repo = repoOf(ctx);
    const input = ctx.body as {
      base_tree?: string;
      tree: {
        path?: string;
        mode?: string;
        type?: TreeInput['type'];
        sha?: string | null;
        content?: string;
      }[];
    };
    const { git } = repo;
    if (input.base_tree !== undefined && (await git.objectType(input.base_tree)) !== 'tree') {
      return invalid('base_tree is not a valid tree oid');
    }
    const entries: TreeInput[] = [];
    for (const e of input.tree) {
      if (!e.path) return invalid('Must supply a valid tree.path');
      if (!e.mode) return invalid('Must supply a valid tree.mode');
      if (!e.type) return invalid('Must supply a valid tree.type');
      if (e.sha !== undefined && e.content !== undefined) {
        return invalid(
          'Must supply either tree.sha or tree.content. Request will be rejected if both are present.',
        );
      }
      let sha: string | null;
      if (e.content !== undefined) sha = await git.writeBlob(e.content);
      else if (e.sha !== undefined) sha = e.sha;
      else return invalid('Must supply either tree.sha or tree.content.');
      entries.push({ path: e.path, mode: e.mode, type: e.type, sha });
    }
    try {
      const sha = await git.writeTree(input.base_tree, entries);
      const api = `${API_URL}/repos/${repo.fullName}`;
      const listed = await git.lsTree(sha, false);
      return {
        status: 201,
        body: {
          sha,
          url: `${api}/git/trees/${sha}`,
          tree: listed.map((e) => treeEntry(api, e)),
          truncated: false,
        },
      };
    } catch (e) {
      if (e instanceof GitInputError) return invalid(e.message);
      throw e;
    }
  });

  on('POST', '/repos/{owner}/{repo}/git/commits', async (ctx) => {
    const repo = repoOf(ctx);
    const input = ctx.body as {
      message: string;
      tree: string;
      parents?: string[];
      author?: unknown;
      committer?: unknown;
    };
    const { git } = repo;
    if ((await git.objectType(input.tree)) !== 'tree') return invalid('Tree SHA does not exist');
    for (const parent of input.parents ?? []) {
      if ((await git.objectType(parent)) !== 'commit') {
        return invalid('Parent SHA does not exist or is not a commit object');
      }
    }
    // Defaults: the authenticated user (the app's bot) and now; the committer defaults to the author.
    const author = gitIdentity(input.author, state.identity(actorOf(ctx)));
    const committer = gitIdentity(input.committer, author);
    const sha = await git.writeCommitObject({
      tree: input.tree,
      parents: input.parents ?? [],
      author,
      committer,
      message: input.message,
      sign: apiSigner(state, input),
    });
    const info = await git.commitInfo(sha);
    if (!info) throw new Error(`commit ${sha} vanished`);
    return { status: 201, body: buildGitCommit(repo.fullName, info) };
  });

  on('GET', '/repos/{owner}/{repo}/git/ref/{ref}', async (ctx) => {
    const repo = repoOf(ctx);
    const ref = `refs/${ctx.params.ref ?? ''}`;
    const sha = await repo.git.readRef(ref);
    if (!sha) return NOT_FOUND;
    const type = (await repo.git.objectType(sha)) ?? 'commit';
    return { status: 200, body: buildGitRef(repo.fullName, ref, sha, type) };
  });

  /** A moved, created or deleted branch is a push (for `push` payloads); other refs are not. */
  const recordBranchUpdate = async (
    repo: ReturnType<typeof repoOf>,
    ref: string,
    before: string | undefined,
    after: string | undefined,
    ctx: Context,
    forced: boolean,
  ): Promise<void> => {
    if (!ref.startsWith('refs/heads/')) return;
    await state.recordPush(repo, {
      branch: ref.slice('refs/heads/'.length),
      before,
      after,
      pusher: actorOf(ctx),
      forced,
    });
  };

  on('POST', '/repos/{owner}/{repo}/git/refs', async (ctx) => {
    const repo = repoOf(ctx);
    const { ref, sha } = ctx.body as { ref: string; sha: string };
    if (!ref.startsWith('refs/') || ref.split('/').length < 3) {
      return invalid("Reference name must start with 'refs/' and contain at least two slashes.");
    }
    const { git } = repo;
    if (!(await git.checkRefName(ref))) return invalid(`${ref} is not a valid ref name.`);
    const type = await git.objectType(sha);
    if (!type) return invalid('Object does not exist');
    // Git (and GitHub) keep branches on commits.
    if (ref.startsWith('refs/heads/') && type !== 'commit') return invalid('Object is not a commit');
    return git.exclusive(async () => {
      if (await git.readRef(ref)) return invalid('Reference already exists');
      try {
        await git.setRef(ref, sha, undefined);
      } catch {
        // A ref in the way of the name (`a` exists, `a/b` asked, or the reverse): git refuses, so does GitHub.
        return invalid('Reference update failed');
      }
      await recordBranchUpdate(repo, ref, undefined, sha, ctx, false);
      return { status: 201, body: buildGitRef(repo.fullName, ref, sha, type) };
    });
  });

  on('PATCH', '/repos/{owner}/{repo}/git/refs/{ref}', async (ctx) => {
    const repo = repoOf(ctx);
    const ref = `refs/${ctx.params.ref ?? ''}`;
    const { sha, force } = ctx.body as { sha: string; force?: boolean };
    const { git } = repo;
    return git.exclusive(async () => {
      const current = await git.readRef(ref);
      if (!current) return invalid('Reference does not exist');
      const type = await git.objectType(sha);
      if (!type) return invalid('Object does not exist');
      if (ref.startsWith('refs/heads/') && type !== 'commit') return invalid('Object is not a commit');
      const fastForward = await git.isAncestor(current, sha);
      if (!fastForward && !force) return invalid('Update is not a fast forward');
      await git.setRef(ref, sha, current);
      if (current !== sha) await recordBranchUpdate(repo, ref, current, sha, ctx, !fastForward);
      return { status: 200, body: buildGitRef(repo.fullName, ref, sha, type) };
    });
  });

  on('DELETE', '/repos/{owner}/{repo}/git/refs/{ref}', async (ctx) => {
    const repo = repoOf(ctx);
    const ref = `refs/${ctx.params.ref ?? ''}`;
    const { git } = repo;
    return git.exclusive(async () => {
      const current = await git.readRef(ref);
      if (!current) return invalid('Reference does not exist');
      await git.setRef(ref, undefined, current);
      await recordBranchUpdate(repo, ref, current, undefined, ctx, false);
      return { status: 204 };
    });
  });

  on('DELETE', '/repos/{owner}/{repo}/contents/{path}', async (ctx) => {
    const repo = repoOf(ctx);
    const input = ctx.body as {
      message: string;
      sha: string;
      branch?: string;
      author?: unknown;
      committer?: unknown;
    };
    const path = (ctx.params.path ?? '').replace(/^\/+|\/+$/g, '');
    const branch = input.branch ?? String(repo.json.default_branch);
    const { git } = repo;
    // Defaults as documented: the committer is the authenticated user, the author the committer.
    const committer = gitIdentity(input.committer, state.identity(actorOf(ctx)));
    const author = gitIdentity(input.author, committer);
    return git.exclusive(async () => {
      const tip = await git.branchTip(branch);
      if (!tip) return error(404, `Branch ${branch} not found`);
      const entry = await git.entryAt(tip, path);
      if (entry?.type !== 'blob') return NOT_FOUND;
      if (entry.sha !== input.sha) return error(409, `${path} does not match ${input.sha}`);
      const sha = await git.writeCommit({
        parent: tip,
        files: { [path]: null },
        author,
        committer,
        message: input.message,
        sign: apiSigner(state, input),
      });
      await git.updateBranch(branch, sha, tip);
      await state.recordPush(repo, { branch, before: tip, after: sha, pusher: actorOf(ctx), forced: false });
      const info = await git.commitInfo(sha);
      if (!info) throw new Error(`commit ${sha} vanished`);
      const commit = buildGitCommit(repo.fullName, info);
      return { status: 200, body: { content: null, commit } };
    });
  });

  // ---- issues and labels -------------------------------------------------------------------------------------

  // Like GitHub, the issues list holds pull requests too (they carry `pull_request`).
  on('GET', '/repos/{owner}/{repo}/issues', (ctx) => {
    const repo = repoOf(ctx);
    const wanted = ctx.query.get('state') ?? 'open';
    const labels = (ctx.query.get('labels') ?? '')
      .split(',')
      .map((l) => l.trim().toLowerCase())
      .filter((l) => l.length > 0);
    const creator = ctx.query.get('creator')?.toLowerCase();
    const since = ctx.query.get('since');
    const sort = ctx.query.get('sort') ?? 'created';
    const direction = ctx.query.get('direction') ?? 'desc';
    const items = [
      ...[...repo.issues.values()].map((i) => state.issueJson(repo, i)),
      ...[...repo.pulls.values()].map((p) => state.pullIssueJson(p)),
    ].filter((i) => {
      const names = (i.labels as JsonObject[]).map((l) => String(l.name).toLowerCase());
      return (
        (wanted === 'all' || i.state === wanted) &&
        labels.every((l) => names.includes(l)) &&
        (!creator || String((i.user as JsonObject).login).toLowerCase() === creator) &&
        (!since || String(i.updated_at) >= since)
      );
    });
    const key = (i: JsonObject): string | number =>
      sort === 'comments'
        ? Number(i.comments)
        : `${String(i[`${sort}_at`])}#${String(i.number).padStart(9, '0')}`;
    items.sort((a, b) => {
      const [x, y] = direction === 'asc' ? [a, b] : [b, a];
      const kx = key(x);
      const ky = key(y);
      return kx < ky ? -1 : kx > ky ? 1 : 0;
    });
    return paged(ctx, items);
  });

  on('POST', '/repos/{owner}/{repo}/issues', (ctx) => {
    const repo = repoOf(ctx);
    const input = ctx.body as {
      title?: string | number;
      body?: string;
      labels?: (string | { name?: string })[];
    };
    if (input.title === undefined || input.title === '') {
      return invalid('Validation Failed', [{ resource: 'Issue', field: 'title', code: 'missing_field' }]);
    }
    const { app } = principalOf(ctx);
    const issue = state.openIssue({
      repo: repo.fullName,
      user: app.botLogin,
      title: String(input.title),
      body: input.body ?? null,
      labels: (input.labels ?? [])
        .map((l) => (typeof l === 'string' ? l : (l.name ?? '')))
        .filter((l) => l.length > 0),
      app: app.json,
    });
    return { status: 201, body: state.issueJson(repo, issue) };
  });

  on('PATCH', '/repos/{owner}/{repo}/issues/{issue_number}', async (ctx) => {
    const repo = repoOf(ctx);
    const number = Number(ctx.params.issue_number);
    const input = ctx.body as {
      title?: string | number | null;
      body?: string | null;
      state?: 'open' | 'closed';
      state_reason?: IssueState['stateReason'] | 'duplicate';
      labels?: (string | { name?: string })[];
    };
    const issue = repo.issues.get(number);
    const pull = repo.pulls.get(number);
    if (issue) {
      const reason = input.state_reason === 'duplicate' ? 'completed' : input.state_reason;
      state.editIssue(
        issue,
        actorOf(ctx),
        {
          ...(input.title !== undefined && input.title !== null ? { title: String(input.title) } : {}),
          ...(input.body !== undefined ? { body: input.body } : {}),
          ...(input.state !== undefined ? { state: input.state } : {}),
          ...(reason !== undefined ? { stateReason: reason } : {}),
          ...(input.labels !== undefined
            ? { labels: input.labels.map((l) => (typeof l === 'string' ? l : (l.name ?? ''))) }
            : {}),
        },
        repo,
      );
      return { status: 200, body: state.issueJson(repo, issue) };
    }
    if (!pull) return NOT_FOUND;
    const refused = await changePullState(state, pull, input.state);
    if (refused) return refused;
    if ((input.title !== undefined && input.title !== null) || input.body !== undefined) {
      state.editPull(pull, {
        ...(input.title !== undefined && input.title !== null ? { title: String(input.title) } : {}),
        ...(input.body !== undefined ? { body: input.body } : {}),
      });
    }
    return { status: 200, body: state.pullIssueJson(await state.refresh(pull)) };
  });

  on('POST', '/repos/{owner}/{repo}/labels', (ctx) => {
    const repo = repoOf(ctx);
    const input = ctx.body as { name: string; color?: string; description?: string };
    const label = state.createLabel(repo, input.name, input.color, input.description ?? null);
    if (!label) {
      return invalid('Validation Failed', [{ resource: 'Label', code: 'already_exists', field: 'name' }]);
    }
    return { status: 201, body: label };
  });

  // ---- users -------------------------------------------------------------------------------------------------

  on('GET', '/users/{username}', (ctx) => {
    const login = ctx.params.username ?? '';
    if (!state.hasUser(login)) return NOT_FOUND;
    return { status: 200, body: state.publicUser(state.user(login)) };
  });

  // The account behind an id, whatever its login is now (logins can be renamed and taken by others).
  on('GET', '/user/{account_id}', (ctx) => {
    const account = state.userById(Number(ctx.params.account_id));
    return account ? { status: 200, body: state.publicUser(account) } : NOT_FOUND;
  });

  on('GET', '/users/{username}/keys', (ctx) => {
    const login = ctx.params.username ?? '';
    if (!state.hasUser(login)) return NOT_FOUND;
    return paged(ctx, state.userKeys(login));
  });

  return list;
}

/** `state` of an update of a pull request: close it, or reopen it unless it was merged or lost its head. */
async function changePullState(
  state: GitHubState,
  pull: PullState,
  wanted: 'open' | 'closed' | undefined,
): Promise<Reply | undefined> {
  if (wanted === 'closed' && pull.state === 'open') await state.closePull(pull);
  if (wanted === 'open' && pull.state === 'closed') {
    const refuse = (message: string): Reply =>
      invalid('Validation Failed', [{ resource: 'PullRequest', field: 'state', code: 'custom', message }]);
    if (pull.mergedAt) return refuse('state cannot be changed. The pull request has already been merged.');
    if (!(await pull.repo.git.branchTip(pull.head))) {
      return refuse(`state cannot be changed. The ${pull.head} branch has been deleted.`);
    }
    await state.reopenPull(pull);
  }
  return undefined;
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
  if (run.status === 'completed' && run.completed_at === null) run.completed_at = state.stamp();
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
