// People: accounts and their public SSH keys, a collaborator's permission, and team members.
import { NOT_FOUND, type On, paged, repoOf, type Stores } from '../router.js';

export function peopleRoutes(on: On, { state }: Stores): void {
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
}
