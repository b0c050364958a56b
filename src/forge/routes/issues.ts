// Issues (whose list holds pull requests too, as GitHub's does), their comments, and labels.
import type { JsonObject } from '../builders.js';
import { actorOf, invalid, NOT_FOUND, type On, paged, principalOf, repoOf, type Stores } from '../router.js';
import type { IssueState } from '../state.js';
import { changePullState } from './pulls.js';

export function issueRoutes(on: On, { state }: Stores): void {
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

  on('GET', '/repos/{owner}/{repo}/issues/{issue_number}', async (ctx) => {
    const repo = repoOf(ctx);
    const number = Number(ctx.params.issue_number);
    const issue = repo.issues.get(number);
    if (issue) return { status: 200, body: state.issueJson(repo, issue) };
    const pull = repo.pulls.get(number);
    if (!pull) return NOT_FOUND;
    return { status: 200, body: state.pullIssueJson(await state.refresh(pull)) };
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
}

export function commentRoutes(on: On, { state }: Stores): void {
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
}
