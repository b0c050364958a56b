// Pull requests: listing and reading them (with their files, commits and reviews), opening, editing, closing
// and reopening them, and merging.
import {
  actorOf,
  type Context,
  error,
  type Handler,
  invalid,
  NOT_FOUND,
  type On,
  paged,
  type Reply,
  repoOf,
  type Stores,
} from '../router.js';
import { type GitHubState, type MergeMethod, MergeRefused, type PullState } from '../state.js';

const pullPath = '/repos/{owner}/{repo}/pulls/{pull_number}';

/** A handler of `…/pulls/{pull_number}…`: 404 when the repository has no such pull request. */
function withPull(fn: (pull: PullState, ctx: Context) => Promise<Reply>): Handler {
  return (ctx) => {
    const pull = repoOf(ctx).pulls.get(Number(ctx.params.pull_number));
    return pull ? fn(pull, ctx) : NOT_FOUND;
  };
}

export function pullReadRoutes(on: On, { state }: Stores): void {
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
}

export function pullWriteRoutes(on: On, { state }: Stores): void {
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
}

/** `state` of an update of a pull request: close it, or reopen it unless it was merged or lost its head. */
export async function changePullState(
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
