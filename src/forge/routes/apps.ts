// GitHub Apps: the app itself and its installations (JWT routes), the repositories an installation token
// reaches, minting installation access tokens, and the deliveries of the App's webhook (listed with GitHub's
// cursor paging, read one by one, redelivered).
import type { Permissions } from '../auth.js';
import { type JsonObject, timestamp } from '../builders.js';
import { deliveryItemJson, deliveryJson, type HookDelivery } from '../deliveries.js';
import {
  appOf,
  type Context,
  error,
  NOT_FOUND,
  type On,
  paged,
  type Reply,
  repoOf,
  type Stores,
} from '../router.js';
import type { RepoState } from '../state.js';

export function appRoutes(on: On, { state, apps }: Stores): void {
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

  on('GET', '/app/hook/deliveries', (ctx) => listDeliveries(ctx, state.hookDeliveries.ofApp(appOf(ctx).id)));

  on('GET', '/app/hook/deliveries/{delivery_id}', (ctx) => {
    const d = state.hookDeliveries.find(appOf(ctx).id, Number(ctx.params.delivery_id));
    return d ? { status: 200, body: deliveryJson(d) } : NOT_FOUND;
  });

  on('POST', '/app/hook/deliveries/{delivery_id}/attempts', (ctx) => {
    const d = state.hookDeliveries.find(appOf(ctx).id, Number(ctx.params.delivery_id));
    if (!d) return NOT_FOUND;
    state.hookDeliveries.redeliver(d);
    return { status: 202, body: {} };
  });

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
}

/**
 * GitHub's cursor paging of deliveries, newest first: `per_page` (at most 100), `cursor` (opaque; here `v1_`
 * and the id of the last delivery of the page before), `status` (`success`: 200-399, `failure`: 400-599), and
 * a `Link` header with `rel="next"` while there are older deliveries.
 */
function listDeliveries(ctx: Context, all: HookDelivery[]): Reply {
  const perPage = Math.min(Number(ctx.query.get('per_page') ?? 30) || 30, 100);
  const status = ctx.query.get('status');
  const cursor = ctx.query.get('cursor');
  const after = cursor === null ? undefined : /^v1_(\d+)$/.exec(cursor)?.[1];
  if (cursor !== null && after === undefined) return error(400, 'Invalid cursor');
  const matching = all.filter(
    (d) =>
      status === null ||
      (status === 'success'
        ? d.statusCode >= 200 && d.statusCode < 400
        : d.statusCode >= 400 && d.statusCode < 600),
  );
  const start = after === undefined ? 0 : matching.findIndex((d) => d.id < Number(after));
  const rest = start < 0 ? [] : matching.slice(start);
  const items = rest.slice(0, perPage);
  const last = items[items.length - 1];
  const headers: Record<string, string> = {};
  if (last && rest.length > items.length) {
    const next = new URL(ctx.url);
    next.searchParams.set('per_page', String(perPage));
    next.searchParams.set('cursor', `v1_${last.id}`);
    headers.link = `<${next.toString()}>; rel="next"`;
  }
  return { status: 200, body: items.map(deliveryItemJson), headers };
}
