// Review requests of a pull request: listing them, requesting reviews from users and teams, withdrawing
// requests. GitHub refuses the pull request's author and anyone (or any team) without access to the repository.
import {
  type Context,
  type Handler,
  invalid,
  NOT_FOUND,
  type On,
  type Reply,
  repoOf,
  type Stores,
} from '../router.js';
import type { GitHubState, PullState } from '../state.js';

const path = '/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers';

function withPull(fn: (pull: PullState, ctx: Context) => Promise<Reply>): Handler {
  return (ctx) => {
    const pull = repoOf(ctx).pulls.get(Number(ctx.params.pull_number));
    return pull ? fn(pull, ctx) : NOT_FOUND;
  };
}

interface Body {
  reviewers?: string[];
  team_reviewers?: string[];
}

const has = (list: readonly string[], x: string) => list.some((y) => y.toLowerCase() === x.toLowerCase());

/** Why GitHub would refuse to request these reviews (422), or undefined. */
function refusal(state: GitHubState, pull: PullState, users: string[], teams: string[]): Reply | undefined {
  if (has(users, pull.user)) return invalid('Review cannot be requested from pull request author.');
  const { repo } = pull;
  const org = String(repo.owner.login);
  const strangers = users.some((u) => state.permissionOf(repo.fullName, u) === 'none');
  const unknownTeams =
    teams.length > 0 && (repo.owner.type !== 'Organization' || teams.some((t) => !state.teamMembers(org, t)));
  if (strangers || unknownTeams) {
    return invalid(
      `Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the ${repo.fullName} repository.`,
    );
  }
  return undefined;
}

export function reviewerRoutes(on: On, { state }: Stores): void {
  on(
    'GET',
    path,
    withPull(async (pull) => {
      const open = state.openReviewRequests(pull);
      return {
        status: 200,
        body: {
          users: open.users.map((login) => state.user(login)),
          teams: open.teams.map((slug) => state.teamJson(pull.repo, slug)),
        },
      };
    }),
  );

  on(
    'POST',
    path,
    withPull(async (pull, ctx) => {
      const { reviewers = [], team_reviewers = [] } = (ctx.body ?? {}) as Body;
      const refused = refusal(state, pull, reviewers, team_reviewers);
      if (refused) return refused;
      state.requestReviews(pull, reviewers, team_reviewers);
      return { status: 201, body: await state.pullJson(pull, false) };
    }),
  );

  on(
    'DELETE',
    path,
    withPull(async (pull, ctx) => {
      const { reviewers = [], team_reviewers = [] } = (ctx.body ?? {}) as Body;
      state.withdrawReviewRequests(pull, reviewers, team_reviewers);
      return { status: 200, body: await state.pullJson(pull, false) };
    }),
  );
}
