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
  ForgePull,
  ForgeReview,
  MergeOutcome,
} from '../engine/forge.js';
import { type GitHub, parseRepoName, type RepoRef, statusOf } from './client.js';
import { githubSource, readBlob } from './source.js';

/** Updates of one branch read from GitHub's activity log at most; past them, who pushed is unknown. */
const MAX_ACTIVITY = 1000;
/** Largest number of keys read per user (GitHub lists at most 100 per page; nobody has more). */
const MAX_KEYS = 100;

export function githubForge(gh: GitHub, repo: RepoRef): Forge {
  return new GitHubForge(gh, repo);
}

export class GitHubForge implements Forge {
  readonly repo: RepoRef;
  readonly #gh: GitHub;

  constructor(gh: GitHub, repo: RepoRef) {
    this.#gh = gh;
    this.repo = { owner: repo.owner, repo: repo.repo };
  }

  async pull(number: number): Promise<ForgePull> {
    const { data } = await this.#gh.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', {
      ...this.repo,
      pull_number: number,
    });
    return data as ForgePull;
  }

  async openPulls(base?: string): Promise<ForgePull[]> {
    return (await this.#gh.paginate('GET /repos/{owner}/{repo}/pulls', {
      ...this.repo,
      state: 'open',
      ...(base !== undefined ? { base } : {}),
      per_page: 100,
    })) as ForgePull[];
  }

  async pullFiles(number: number): Promise<ForgeFile[]> {
    return (await this.#gh.paginate('GET /repos/{owner}/{repo}/pulls/{pull_number}/files', {
      ...this.repo,
      pull_number: number,
      per_page: 100,
    })) as ForgeFile[];
  }

  async reviews(number: number): Promise<ForgeReview[]> {
    return (await this.#gh.paginate('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews', {
      ...this.repo,
      pull_number: number,
      per_page: 100,
    })) as ForgeReview[];
  }

  async commits(number: number): Promise<ApiCommit[]> {
    return (await this.#gh.paginate('GET /repos/{owner}/{repo}/pulls/{pull_number}/commits', {
      ...this.repo,
      pull_number: number,
      per_page: 100,
    })) as ApiCommit[];
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
    const activity: ApiActivity[] = [];
    let more = false;
    try {
      const pages = this.#gh.paginate.iterator('GET /repos/{owner}/{repo}/activity', {
        ...parseRepoName(home),
        ref,
        per_page: 100,
      });
      for await (const page of pages) {
        activity.push(...(page.data as ApiActivity[]));
        if (activity.length >= MAX_ACTIVITY) {
          more = true;
          break;
        }
      }
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

  async permission(login: string): Promise<Permission> {
    try {
      const { data } = await this.#gh.request(
        'GET /repos/{owner}/{repo}/collaborators/{username}/permission',
        { ...this.repo, username: login },
      );
      return permissionFrom(data);
    } catch (err) {
      // Not a collaborator: no write access.
      if (statusOf(err) === 404) return 'none';
      throw err;
    }
  }

  async teamMembers(team: string): Promise<string[] | null> {
    const [org = '', slug = ''] = team.slice(1).split('/');
    try {
      const members = await this.#gh.paginate('GET /orgs/{org}/teams/{team_slug}/members', {
        org,
        team_slug: slug,
        per_page: 100,
      });
      return members.map((m) => m.login);
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

  source(commit: string, label?: string) {
    return githubSource(this.#gh, this.repo, commit, label);
  }

  readBlob(sha: string, path: string): Promise<string> {
    return readBlob(this.#gh, this.repo, sha, path);
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

  /**
   * The root commit, from the last page of the commit list. With several roots, GitHub's oldest is taken;
   * `timebox apply` takes the smallest sha (docs/github-app.md).
   */
  async rootCommit(ref: string): Promise<string> {
    const gh = this.#gh;
    const repo = this.repo;
    const first = await gh.request('GET /repos/{owner}/{repo}/commits', { ...repo, sha: ref, per_page: 1 });
    const last = /[?&]page=(\d+)[^>]*>;\s*rel="last"/.exec(first.headers.link ?? '')?.[1];
    const data = last
      ? (
          await gh.request('GET /repos/{owner}/{repo}/commits', {
            ...repo,
            sha: ref,
            per_page: 1,
            page: Number(last),
          })
        ).data
      : first.data;
    const sha = data[data.length - 1]?.sha;
    if (!sha) throw new Error(`${repo.owner}/${repo.repo}: ${ref} has no commits`);
    return sha;
  }

  async removalCommit(branch: string, path: string, message: string): Promise<string> {
    const gh = this.#gh;
    const { data: tipRef } = await gh.request('GET /repos/{owner}/{repo}/git/ref/{ref}', {
      ...this.repo,
      ref: `heads/${branch}`,
    });
    const tip = tipRef.object.sha;
    const { data: tipCommit } = await gh.request('GET /repos/{owner}/{repo}/git/commits/{commit_sha}', {
      ...this.repo,
      commit_sha: tip,
    });
    const { data: tree } = await gh.request('POST /repos/{owner}/{repo}/git/trees', {
      ...this.repo,
      base_tree: tipCommit.tree.sha,
      tree: [{ path, mode: '100644', type: 'blob', sha: null }],
    });
    const { data: commit } = await gh.request('POST /repos/{owner}/{repo}/git/commits', {
      ...this.repo,
      message,
      tree: tree.sha,
      parents: [tip],
    });
    return commit.sha;
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

  async comments(number: number): Promise<ForgeComment[]> {
    const list = await this.#gh.paginate('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', {
      ...this.repo,
      issue_number: number,
      per_page: 100,
    });
    return list.map((c) => ({
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
    const list = await this.#gh.paginate('GET /repos/{owner}/{repo}/issues', {
      ...this.repo,
      state: 'open',
      labels: label,
      per_page: 100,
    });
    return list.map((i) => ({ number: i.number, title: i.title }));
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
