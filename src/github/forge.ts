// GitHub as a Forge (src/engine/forge.ts): the engine's reads and writes translated to GitHub's REST API over
// the octokit slice Timebox uses (`request`, `paginate`). The same implementation serves the App (an
// installation's client) and Actions mode (the workflow's GITHUB_TOKEN).
import type { Permission } from '../core/model.js';
import {
  type ApiActivity,
  type ApiCommit,
  type KnownPush,
  type PushersResult,
  permissionFrom,
  pushersFromActivity,
} from '../engine/facts.js';
import type {
  CheckRunInput,
  Forge,
  ForgeCheckRun,
  ForgeComment,
  ForgeFile,
  ForgeIssue,
  ForgePull,
  ForgeReview,
  ForgeUser,
  MergeOutcome,
  ReviewRequests,
} from '../engine/forge.js';
import { type GitHub, type GitHubCache, parseRepoName, type RepoRef, statusOf } from './client.js';
import { conditionalGet, conditionalList } from './conditional.js';
import * as gitData from './git-data.js';
import * as reviewRequests from './reviewers.js';
import { githubSource, readBlob } from './source.js';

/** Updates of one branch read from GitHub's activity log at most; past them, who pushed is unknown. */
const MAX_ACTIVITY = 1000;
/** Largest number of keys read per user (GitHub lists at most 100 per page; nobody has more). */
const MAX_KEYS = 100;
/** Blobs larger than this are not kept between events (request files are a few hundred bytes). */
const MAX_CACHED_BLOB = 64 * 1024;

type ApiUser = { login: string; id: number; type: string } | null;
type ApiComment = { id: number; body?: string | null; user: ApiUser; created_at: string };
type ApiIssue = { number: number; title: string; state: string; user: ApiUser; pull_request?: unknown };

/** What an event already tells about its pull request, so that its live reads can all start at once. */
export interface PullHint {
  number: number;
  /** The head branch and the repository it lives in: a pull request's never change. */
  head: { ref: string; repo?: { full_name: string } | null };
  /** Logins whose permission will likely be asked (last event's approvers, an approving reviewer). */
  approvers?: readonly string[];
  /** Teams whose members will likely be asked (last event's). */
  teams?: readonly string[];
  /** The base and head commits the event names (the live read decides; these only pick what to read early). */
  sha?: { base: string; head: string };
}

export function githubForge(gh: GitHub, repo: RepoRef, cache?: GitHubCache): GitHubForge {
  return new GitHubForge(gh, repo, cache);
}

export class GitHubForge implements Forge {
  readonly repo: RepoRef;
  readonly #gh: GitHub;
  readonly #cache: GitHubCache | undefined;
  /** Reads started early for this event (`prefetch`); each is used once, by the first call asking for it. */
  readonly #early = new Map<string, Promise<unknown>>();
  /** The base and head of each pull request as last read live by this forge: the key of its files. */
  readonly #shas = new Map<number, { key: string; head: string; changed?: number; commits?: number }>();
  /** Logins whose permission this forge read (the App remembers them per pull request). */
  readonly asked = new Set<string>();
  /** Teams whose members this forge read (likewise). */
  readonly askedTeams = new Set<string>();

  constructor(gh: GitHub, repo: RepoRef, cache?: GitHubCache) {
    this.#gh = gh;
    this.repo = { owner: repo.owner, repo: repo.repo };
    this.#cache = cache;
  }

  /**
   * Starts the live reads an event of pull request `hint.number` will make anyway (reviews, commits, the
   * branch's activity, comments, likely approvers' permissions) together with the pull request's own read,
   * instead of one round trip after it. Nothing is answered from them but the first matching call.
   */
  prefetch(hint: PullHint): void {
    const n = hint.number;
    const early = <T>(key: string, read: () => Promise<T>): void => {
      const p = read();
      p.catch(() => undefined);
      this.#early.set(key, p);
    };
    early(`reviews#${n}`, () => this.#reviews(n));
    const known = hint.sha && this.#cache?.commits.get(this.#key(n, hint.sha.base, hint.sha.head));
    if (!known) early(`commits#${n}`, () => this.#commits(n));
    early(`comments#${n}`, () => this.#comments(n));
    const home = hint.head.repo?.full_name;
    if (home) early(`activity ${home} ${hint.head.ref}`, () => this.#activity(home, hint.head.ref));
    for (const login of new Set(hint.approvers ?? []))
      early(`permission ${login}`, () => this.#permission(login));
    for (const team of new Set((hint.teams ?? []).map((t) => t.toLowerCase())))
      early(`team ${team}`, () => this.#teamMembers(team));
  }

  #key(number: number, base: string, head: string): string {
    return `${this.repo.owner}/${this.repo.repo}#${number} ${base}...${head}`;
  }

  #take<T>(key: string, read: () => Promise<T>): Promise<T> {
    const p = this.#early.get(key);
    if (!p) return read();
    this.#early.delete(key);
    return p as Promise<T>;
  }

  /** A GET whose answer is kept with its ETag and asked for again conditionally (./conditional.ts). */
  async #get(route: string, params: Record<string, unknown>): Promise<unknown> {
    return (await conditionalGet(this.#gh, this.#cache?.validators, route, params)).data;
  }

  /**
   * All pages of a list, at most `max` items (`more`: some were left); each page a conditional GET where
   * answers can be kept (a cache, and `keep`), otherwise octokit's pagination.
   */
  async #list<T>(
    route: string,
    params: Record<string, unknown>,
    max = Number.POSITIVE_INFINITY,
    keep = true,
  ) {
    const all = { ...params, per_page: 100 };
    const store = keep ? this.#cache?.validators : undefined;
    if (store) return conditionalList<T>(this.#gh, store, route, all, max);
    if (max === Number.POSITIVE_INFINITY)
      return { items: (await this.#gh.paginate(route as never, all as never)) as T[], more: false };
    const items: T[] = [];
    for await (const page of this.#gh.paginate.iterator(route as never, all as never)) {
      items.push(...(page.data as T[]));
      if (items.length >= max) return { items, more: true };
    }
    return { items, more: false };
  }

  async pull(number: number): Promise<ForgePull> {
    const pull = (await this.#get('GET /repos/{owner}/{repo}/pulls/{pull_number}', {
      ...this.repo,
      pull_number: number,
    })) as ForgePull;
    this.#shas.set(number, {
      key: this.#key(number, pull.base.sha, pull.head.sha),
      head: pull.head.sha,
      ...(pull.changed_files !== undefined ? { changed: pull.changed_files } : {}),
      ...(pull.commits !== undefined ? { commits: pull.commits } : {}),
    });
    return pull;
  }

  async openPulls(base?: string): Promise<ForgePull[]> {
    const params = { ...this.repo, state: 'open', ...(base !== undefined ? { base } : {}) };
    return (await this.#list<ForgePull>('GET /repos/{owner}/{repo}/pulls', params)).items;
  }

  /**
   * Kept between events by the base and head commits of the pull request's last live read (read before the
   * files, so a push in between can only make the list newer than the key, never older), and reused only when
   * GitHub still counts as many changed files.
   */
  async pullFiles(number: number): Promise<ForgeFile[]> {
    const at = this.#shas.get(number);
    const cached = at && this.#cache?.files.get(at.key);
    if (at && cached && (at.changed === undefined || at.changed === cached.length))
      return cached as ForgeFile[];
    // Kept by commits above, so read again only after a push, when the list has changed: not conditional.
    const route = 'GET /repos/{owner}/{repo}/pulls/{pull_number}/files';
    const params = { ...this.repo, pull_number: number };
    const { items: files } = await this.#list<ForgeFile>(route, params, undefined, false);
    if (at && this.#cache && (at.changed === undefined || at.changed === files.length))
      this.#cache.files.set(at.key, files);
    return files;
  }

  reviews(number: number): Promise<ForgeReview[]> {
    return this.#take(`reviews#${number}`, () => this.#reviews(number));
  }

  async #reviews(number: number): Promise<ForgeReview[]> {
    const route = 'GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews';
    return (await this.#list<ForgeReview>(route, { ...this.repo, pull_number: number })).items;
  }

  /**
   * Kept between events like the files (`pullFiles`), and only a list that ends at the head commit read live
   * and has as many commits as GitHub counts: a pull request's commits follow from its base and head.
   */
  async commits(number: number): Promise<ApiCommit[]> {
    const at = this.#shas.get(number);
    const fits = (list: ApiCommit[]): boolean =>
      at !== undefined &&
      list.at(-1)?.sha === at.head &&
      (at.commits === undefined || at.commits === list.length);
    const cached = at && (this.#cache?.commits.get(at.key) as ApiCommit[] | undefined);
    if (cached && fits(cached)) {
      this.#early.get(`commits#${number}`)?.catch(() => undefined);
      this.#early.delete(`commits#${number}`);
      return cached;
    }
    let commits = await this.#take(`commits#${number}`, () => this.#commits(number));
    // Read early (before the pull request) and a push came in between: read again.
    if (at && !fits(commits) && commits.at(-1)?.sha !== at.head) commits = await this.#commits(number);
    if (at && fits(commits)) this.#cache?.commits.set(at.key, commits);
    return commits;
  }

  async #commits(number: number): Promise<ApiCommit[]> {
    // Kept by commits (`commits`): not conditional, as the files.
    const route = 'GET /repos/{owner}/{repo}/pulls/{pull_number}/commits';
    return (await this.#list<ApiCommit>(route, { ...this.repo, pull_number: number }, undefined, false))
      .items;
  }

  /**
   * Who pushed to the pull request's branch, from GitHub's activity log of it (`pushersFromActivity`). The log is
   * read from the repository the branch lives in; a fork Timebox cannot read leaves who pushed unknown.
   */
  async pushers(
    pull: ForgePull,
    options: { latestPush?: KnownPush; ownBot?: string },
  ): Promise<PushersResult> {
    const ref = `refs/heads/${pull.head.ref}`;
    const home = pull.head.repo?.full_name;
    if (!home) return { pushers: [], unknown: `the repository of the branch ${pull.head.ref} is gone` };
    let activity: ApiActivity[];
    let more: boolean;
    try {
      ({ activity, more } = await this.#take(`activity ${home} ${pull.head.ref}`, () =>
        this.#activity(home, pull.head.ref),
      ));
    } catch (err) {
      return {
        pushers: [],
        unknown: `GitHub's activity log of ${home} ${ref} cannot be read (${[statusOf(err), (err as Error).message].filter(Boolean).join(' ')})`,
      };
    }
    const result = pushersFromActivity({
      head: pull.head.sha,
      ref,
      activity,
      until: pull.merged_at ?? pull.closed_at ?? null,
      ...(options.latestPush ? { latest: options.latestPush } : {}),
      ...(options.ownBot ? { ownBot: options.ownBot } : {}),
    });
    if (result.unknown && more)
      result.unknown += ` (Timebox reads the newest ${MAX_ACTIVITY} updates of a branch)`;
    return result;
  }

  /** The newest `MAX_ACTIVITY` updates of `branch` in `home`; `more` when there are older ones. */
  async #activity(home: string, branch: string): Promise<{ activity: ApiActivity[]; more: boolean }> {
    const { items, more } = await this.#list<ApiActivity>(
      'GET /repos/{owner}/{repo}/activity',
      { ...parseRepoName(home), ref: `refs/heads/${branch}` },
      MAX_ACTIVITY,
    );
    return { activity: items, more };
  }

  permission(login: string): Promise<Permission> {
    this.asked.add(login);
    return this.#take(`permission ${login}`, () => this.#permission(login));
  }

  async #permission(login: string): Promise<Permission> {
    try {
      const route = 'GET /repos/{owner}/{repo}/collaborators/{username}/permission';
      return permissionFrom((await this.#get(route, { ...this.repo, username: login })) as never);
    } catch (err) {
      // Not a collaborator: no write access.
      if (statusOf(err) === 404) return 'none';
      throw err;
    }
  }

  teamMembers(team: string): Promise<string[] | null> {
    this.askedTeams.add(team.toLowerCase());
    return this.#take(`team ${team.toLowerCase()}`, () => this.#teamMembers(team));
  }

  async #teamMembers(team: string): Promise<string[] | null> {
    const [org = '', slug = ''] = team.slice(1).split('/');
    try {
      const route = 'GET /orgs/{org}/teams/{team_slug}/members';
      const { items } = await this.#list<{ login: string }>(route, { org, team_slug: slug });
      return items.map((m) => m.login);
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async pullsOfCommit(commit: string) {
    const { data } = await this.#gh.request('GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls', {
      ...this.repo,
      commit_sha: commit,
    });
    return data.map((p) => ({
      number: p.number,
      merged_at: p.merged_at ?? null,
      merge_commit_sha: p.merge_commit_sha ?? null,
    }));
  }

  async merge(number: number, sha: string, message: { title: string; body: string }): Promise<MergeOutcome> {
    try {
      const { data } = await this.#gh.request('PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge', {
        ...this.repo,
        pull_number: number,
        merge_method: 'merge',
        sha,
        commit_title: message.title,
        commit_message: message.body,
      });
      return { merged: data.sha };
    } catch (err) {
      const status = statusOf(err);
      if (status === 405 || status === 409 || status === 422) {
        return { status, refused: `GitHub refused the merge (${status}): ${(err as Error).message}` };
      }
      throw err;
    }
  }

  async closePull(number: number): Promise<void> {
    await this.#gh.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', {
      ...this.repo,
      pull_number: number,
      state: 'closed',
    });
  }

  async createPull(input: { title: string; head: string; base: string; body: string }): Promise<number> {
    const { data } = await this.#gh.request('POST /repos/{owner}/{repo}/pulls', { ...this.repo, ...input });
    return data.number;
  }

  requestedReviewers(number: number): Promise<ReviewRequests> {
    return reviewRequests.requestedReviewers(this.#gh, this.repo, number);
  }
  requestReviewers(number: number, add: ReviewRequests): Promise<void> {
    return reviewRequests.requestReviewers(this.#gh, this.repo, number, add);
  }
  removeReviewRequests(number: number, remove: ReviewRequests): Promise<void> {
    return reviewRequests.removeReviewRequests(this.#gh, this.repo, number, remove);
  }

  source(commit: string, label?: string) {
    return githubSource(this.#gh, this.repo, commit, label);
  }

  async readBlob(sha: string, path: string): Promise<string> {
    const key = `${this.repo.owner}/${this.repo.repo} ${sha}`;
    const hit = this.#cache?.blobs.get(key);
    if (hit !== undefined) return hit;
    const text = await readBlob(this.#gh, this.repo, sha, path);
    if (text.length <= MAX_CACHED_BLOB) this.#cache?.blobs.set(key, text);
    return text;
  }

  async blobAt(path: string, ref: string): Promise<string | null> {
    try {
      const { data } = await this.#gh.request('GET /repos/{owner}/{repo}/contents/{path}', {
        ...this.repo,
        path,
        ref,
      });
      return Array.isArray(data) || data.type !== 'file' ? null : data.sha;
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async treeBlobs(commit: string): Promise<Map<string, string>> {
    const { data } = await this.#gh.request('GET /repos/{owner}/{repo}/git/trees/{tree_sha}', {
      ...this.repo,
      tree_sha: commit,
      recursive: '1',
    });
    return new Map(data.tree.map((e) => [e.path ?? '', e.sha ?? '']));
  }

  async compare(base: string, head: string): Promise<ForgeFile[]> {
    const { data } = await this.#gh.request('GET /repos/{owner}/{repo}/compare/{basehead}', {
      ...this.repo,
      basehead: `${base}...${head}`,
      per_page: 100,
    });
    return (data.files ?? []) as ForgeFile[];
  }

  rootCommit(ref: string): Promise<string> {
    return gitData.rootCommit(this.#gh, this.repo, ref);
  }

  removalCommit(branch: string, path: string, message: string): Promise<string> {
    return gitData.removalCommit(this.#gh, this.repo, branch, path, message);
  }

  async createBranch(branch: string, sha: string): Promise<boolean> {
    try {
      await this.#gh.request('POST /repos/{owner}/{repo}/git/refs', {
        ...this.repo,
        ref: `refs/heads/${branch}`,
        sha,
      });
      return true;
    } catch (err) {
      // 422: the name exists, or a branch named like one of its folders is in the way.
      if (statusOf(err) === 422) return false;
      throw err;
    }
  }

  async deleteBranch(branch: string): Promise<void> {
    await this.#gh
      .request('DELETE /repos/{owner}/{repo}/git/refs/{ref}', { ...this.repo, ref: `heads/${branch}` })
      .catch(() => undefined);
  }

  async createCheckRun(run: CheckRunInput): Promise<number> {
    const [first = [], ...rest] = run.annotations ?? [];
    const output = {
      title: run.title,
      summary: run.summary,
      ...(run.text !== undefined ? { text: run.text } : {}),
    };
    const { data } = await this.#gh.request('POST /repos/{owner}/{repo}/check-runs', {
      ...this.repo,
      name: run.name,
      head_sha: run.headSha,
      ...(run.externalId !== undefined ? { external_id: run.externalId } : {}),
      status: 'completed',
      conclusion: run.conclusion,
      ...(run.startedAt !== undefined ? { started_at: run.startedAt } : {}),
      completed_at: run.completedAt,
      output: { ...output, ...(first.length > 0 ? { annotations: first } : {}) },
    });
    // GitHub takes at most 50 annotations per request and appends those of later updates.
    for (const batch of rest) {
      await this.#gh.request('PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}', {
        ...this.repo,
        check_run_id: data.id,
        output: { title: run.title, summary: run.summary, annotations: batch },
      });
    }
    return Number(data.id);
  }

  async checkRuns(commit: string, name: string, appId?: number): Promise<ForgeCheckRun[]> {
    const runs = await this.#gh.paginate('GET /repos/{owner}/{repo}/commits/{ref}/check-runs', {
      ...this.repo,
      ref: commit,
      check_name: name,
      // Every run, not only the latest per name: one commit can carry verdicts for several files.
      filter: 'all',
      per_page: 100,
      ...(appId !== undefined ? { app_id: appId } : {}),
    });
    return runs.map((r) => ({
      id: r.id,
      name: r.name,
      head_sha: r.head_sha,
      external_id: r.external_id ?? null,
      app: r.app ? { ...(r.app.slug ? { slug: r.app.slug } : {}), id: Number(r.app.id) } : null,
      text: r.output.text ?? null,
    }));
  }

  comments(number: number): Promise<ForgeComment[]> {
    return this.#take(`comments#${number}`, () => this.#comments(number));
  }

  async #comments(number: number): Promise<ForgeComment[]> {
    const route = 'GET /repos/{owner}/{repo}/issues/{issue_number}/comments';
    const { items } = await this.#list<ApiComment>(route, { ...this.repo, issue_number: number });
    return items.map((c) => ({
      id: c.id,
      body: c.body ?? '',
      user: c.user ? { login: c.user.login, id: c.user.id, type: c.user.type } : null,
      created_at: c.created_at,
    }));
  }

  async createComment(number: number, body: string): Promise<number> {
    const { data } = await this.#gh.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
      ...this.repo,
      issue_number: number,
      body,
    });
    return Number(data.id);
  }

  async updateComment(id: number, body: string): Promise<void> {
    await this.#gh.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', {
      ...this.repo,
      comment_id: id,
      body,
    });
  }

  async openIssues(label: string): Promise<{ number: number; title: string }[]> {
    const params = { ...this.repo, state: 'open', labels: label };
    const { items } = await this.#list<ApiIssue>('GET /repos/{owner}/{repo}/issues', params);
    return items.map((i) => ({ number: i.number, title: i.title }));
  }

  async createIssue(input: { title: string; body: string; labels: string[] }): Promise<number> {
    const { data } = await this.#gh.request('POST /repos/{owner}/{repo}/issues', { ...this.repo, ...input });
    return data.number;
  }

  async closeIssue(number: number): Promise<void> {
    await this.#gh.request('PATCH /repos/{owner}/{repo}/issues/{issue_number}', {
      ...this.repo,
      issue_number: number,
      state: 'closed',
      state_reason: 'completed',
    });
  }

  async labelledIssues(label: string): Promise<ForgeIssue[]> {
    const params = { ...this.repo, state: 'all', labels: label };
    const { items } = await this.#list<ApiIssue>('GET /repos/{owner}/{repo}/issues', params);
    return items
      .filter((i) => !i.pull_request)
      .map((i) => ({
        number: i.number,
        title: i.title,
        state: i.state === 'closed' ? 'closed' : 'open',
        user: i.user ? { login: i.user.login, id: i.user.id, type: i.user.type } : null,
      }));
  }

  async issueCloser(number: number): Promise<ForgeUser | null> {
    // The list leaves `closed_by` out; one issue's read has it.
    const { data } = await this.#gh.request('GET /repos/{owner}/{repo}/issues/{issue_number}', {
      ...this.repo,
      issue_number: number,
    });
    const by = data.state === 'closed' ? data.closed_by : null;
    return by ? { login: by.login, id: Number(by.id), type: by.type } : null;
  }

  async account(login: string): Promise<{ id: number; login: string } | null> {
    try {
      const { data } = await this.#gh.request('GET /users/{username}', { username: login });
      return { id: Number(data.id), login: data.login };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async loginOf(id: number): Promise<string | null> {
    try {
      return (await this.#gh.request('GET /user/{account_id}', { account_id: id })).data.login;
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async publicKeys(login: string): Promise<string[]> {
    const { data } = await this.#gh.request('GET /users/{username}/keys', {
      username: login,
      per_page: MAX_KEYS,
    });
    return data.map((k) => k.key);
  }
}
