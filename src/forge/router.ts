// The shared router of the forge double's REST routes: what a handler gets (the request, and who made it as the
// pipeline in pipeline.ts authenticated it) and answers, GitHub's error shapes and paging. Route modules
// (routes/*.ts) register their handlers with `on`; routes.ts lists the modules.
import type { AppIdentity, AppRegistry, Principal } from './auth.js';
import type { JsonObject } from './builders.js';
import type { GitHubState, RepoState } from './state.js';

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

/** Registers a handler for an operation of GitHub's OpenAPI description (`GET`, `/repos/{owner}/{repo}/pulls`). */
export type On = (method: string, path: string, handler: Handler) => void;

/** What route modules serve from: the forge's data, and its apps and tokens. */
export interface Stores {
  state: GitHubState;
  apps: AppRegistry;
}

/** A resource's routes: registers each with `on`. */
export type RouteModule = (on: On, stores: Stores) => void;

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

export function paged(ctx: Context, items: JsonObject[]): Reply {
  const { items: body, headers } = page(ctx, items);
  return { status: 200, body, headers };
}

/** The repository of a repo route (the pipeline guarantees it). */
export function repoOf(ctx: Context): RepoState {
  if (!ctx.repo) throw new Error('route without repository context');
  return ctx.repo;
}

export function principalOf(ctx: Context): Principal {
  if (!ctx.principal) throw new Error('route without token context');
  return ctx.principal;
}

/** Login a token acts as: the app's bot (`timebox[bot]`, `github-actions[bot]`). */
export function actorOf(ctx: Context): string {
  return principalOf(ctx).app.botLogin;
}

export function appOf(ctx: Context): AppIdentity {
  if (!ctx.app) throw new Error('route without app context');
  return ctx.app;
}
