// Check runs: listing a commit's, creating and updating them (with their annotations).
import { API_URL, type JsonObject, nodeId, WEB_URL } from '../builders.js';
import { error, NOT_FOUND, type On, page, principalOf, type Reply, repoOf, type Stores } from '../router.js';
import type { GitHubState, RepoState } from '../state.js';

export function checkRoutes(on: On, { state }: Stores): void {
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
/**
 * The open pull requests whose head is `sha` (a check run's `pull_requests`). The branch tips are read once for
 * all of them and only the pull requests they point at are refreshed: refreshing every one (a git process each,
 * one after the other) made creating a check run cost a process per pull request the repository ever had.
 */
async function pullsAt(state: GitHubState, repo: RepoState, sha: string): Promise<JsonObject[]> {
  const out: JsonObject[] = [];
  const tips = await repo.git.branchTips();
  // A head branch that is gone leaves the pull request's last head (as `refresh` does).
  const candidates = [...repo.pulls.values()].filter(
    (p) => p.state === 'open' && (tips.get(p.head) ?? p.headSha) === sha,
  );
  for (const pull of candidates) {
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
