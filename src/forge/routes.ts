// The REST endpoints the fake implements, one module per GitHub resource (routes/*.ts). Authentication,
// repository scoping and the permission each route needs (auth.ts ROUTE_PERMISSIONS) are checked by the
// pipeline (pipeline.ts) before a handler runs.
import type { AppRegistry } from './auth.js';
import type { On, Route, RouteModule } from './router.js';
import { appRoutes } from './routes/apps.js';
import { checkRoutes } from './routes/checks.js';
import { contentRoutes } from './routes/contents.js';
import { gitReadRoutes, gitWriteRoutes } from './routes/git-data.js';
import { historyRoutes } from './routes/history.js';
import { commentRoutes, issueRoutes } from './routes/issues.js';
import { peopleRoutes } from './routes/people.js';
import { pullReadRoutes, pullWriteRoutes } from './routes/pulls.js';
import { reviewerRoutes } from './routes/reviewers.js';
import type { GitHubState } from './state.js';

const MODULES: readonly RouteModule[] = [
  appRoutes,
  pullReadRoutes,
  pullWriteRoutes,
  reviewerRoutes,
  historyRoutes,
  gitReadRoutes,
  gitWriteRoutes,
  contentRoutes,
  checkRoutes,
  issueRoutes,
  commentRoutes,
  peopleRoutes,
];

export function routes(state: GitHubState, apps: AppRegistry): Route[] {
  const list: Route[] = [];
  const on: On = (method, path, handler) => {
    list.push({ method, path, handler });
  };
  for (const register of MODULES) register(on, { state, apps });
  return list;
}
