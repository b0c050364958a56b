// Pull requests: opened, edited, closed, reopened and merged as GitHub does; the fields GitHub derives from
// git (head/base sha, files, commits, counts, mergeability) are recomputed from the repository on every read.

import { buildDiffEntry, type DiffParts } from '../builders/git.js';
import { buildPull } from '../builders/issues.js';
import { buildTeam } from '../builders/teams.js';
import { API_URL, type JsonObject } from '../builders.js';
import { RepoStore } from './repos.js';
import {
  GITHUB_COMMITTER,
  type MergeMethod,
  type MergeOptions,
  MergeRefused,
  type OpenPullInput,
  type PullRefusal,
  type PullState,
  type RepoState,
  type ReviewRequest,
} from './types.js';

const sameName = (list: readonly string[], name: string) =>
  list.some((x) => x.toLowerCase() === name.toLowerCase());

/** Repositories, and their pull requests. */
export class PullStore extends RepoStore {
  // ---- pull requests --------------------------------------------------------------------------------------

  /** Opens a pull request, or says why GitHub would refuse to (422). */
  async createPull(input: OpenPullInput): Promise<{ number: number } | { refusal: PullRefusal }> {
    const repo = this.mustRepo(input.repo);
    const base = input.base ?? String(repo.json.default_branch);
    const [headSha, baseSha] = await Promise.all([repo.git.branchTip(input.head), repo.git.branchTip(base)]);
    if (!headSha) return { refusal: { resource: 'PullRequest', field: 'head', code: 'invalid' } };
    if (!baseSha) return { refusal: { resource: 'PullRequest', field: 'base', code: 'invalid' } };
    if ((await repo.git.countCommits(baseSha, headSha)) === 0) {
      const message = `No commits between ${base} and ${input.head}`;
      return { refusal: { resource: 'PullRequest', code: 'custom', message } };
    }
    for (const pull of repo.pulls.values()) {
      if (pull.state === 'open' && pull.head === input.head && pull.base === base) {
        const message = `A pull request already exists for ${String(repo.owner.login)}:${input.head}.`;
        return { refusal: { resource: 'PullRequest', code: 'custom', message } };
      }
    }
    this.user(input.user);
    const now = this.stamp();
    const number = repo.nextNumber++;
    repo.pulls.set(number, {
      repo,
      number,
      id: this.nextId(),
      user: input.user,
      head: input.head,
      base,
      title: input.title ?? `Update ${input.head}`,
      body: input.body ?? null,
      draft: input.draft ?? false,
      state: 'open',
      createdAt: now,
      updatedAt: now,
      closedAt: null,
      mergedAt: null,
      mergeCommitSha: null,
      mergedBy: null,
      headSha,
      baseSha,
      reviews: [],
      requestedUsers: [],
      requestedTeams: [],
      changes: undefined,
    });
    return { number };
  }

  async openPull(input: OpenPullInput): Promise<number> {
    const created = await this.createPull(input);
    if ('number' in created) return created.number;
    const { field, message } = created.refusal;
    throw new Error(
      `openPull: ${message ?? `no branch ${field === 'head' ? input.head : (input.base ?? 'main')}`}`,
    );
  }

  pull(fullName: string, number: number): PullState | undefined {
    return this.repo(fullName)?.pulls.get(number);
  }

  mustPull(fullName: string, number: number): PullState {
    const pull = this.pull(fullName, number);
    if (!pull) throw new Error(`fake GitHub: no pull request ${fullName}#${number}`);
    return pull;
  }

  /** Refreshes head/base sha from the branches while the pull request is open (GitHub freezes them on close). */
  async refresh(pull: PullState): Promise<PullState> {
    if (pull.state !== 'open') return pull;
    const tips = await pull.repo.git.branchTips();
    // Merged while the tips were read: the merge froze head and base (its own commit is not the base).
    if (pull.state !== 'open') return pull;
    const head = tips.get(pull.head);
    const base = tips.get(pull.base);
    if (head && head !== pull.headSha) {
      pull.headSha = head;
      pull.updatedAt = this.stamp();
    }
    if (base) pull.baseSha = base;
    return pull;
  }

  editPull(pull: PullState, edit: { title?: string; body?: string | null; base?: string }): JsonObject {
    const changes: JsonObject = {};
    if (edit.title !== undefined && edit.title !== pull.title) {
      changes.title = { from: pull.title };
      pull.title = edit.title;
    }
    if (edit.body !== undefined && edit.body !== pull.body) {
      changes.body = { from: pull.body ?? '' };
      pull.body = edit.body;
    }
    if (edit.base !== undefined && edit.base !== pull.base) {
      changes.base = { ref: { from: pull.base }, sha: { from: pull.baseSha } };
      pull.base = edit.base;
    }
    pull.changes = changes;
    pull.updatedAt = this.stamp();
    return changes;
  }

  async closePull(pull: PullState): Promise<void> {
    await this.refresh(pull);
    pull.state = 'closed';
    pull.closedAt = this.stamp();
    pull.updatedAt = pull.closedAt;
  }

  async reopenPull(pull: PullState): Promise<void> {
    if (pull.mergedAt) throw new Error(`reopenPull: #${pull.number} is merged`);
    pull.state = 'open';
    pull.closedAt = null;
    pull.updatedAt = this.stamp();
    await this.refresh(pull);
  }

  /**
   * Merges like `PUT /pulls/{n}/merge`: a merge commit authored by `actor` (squash: by the pull request's
   * author; rebase: each commit keeps its author), committed by GitHub (`web-flow`), moved onto the base branch
   * with a compare-and-swap and recorded as a push by `actor`. Throws MergeRefused when GitHub would refuse.
   */
  async mergePull(pull: PullState, actor: string, options: MergeOptions = {}): Promise<string> {
    await this.refresh(pull);
    const refuse = (status: 405 | 409, message: string, detail: string): never => {
      throw new MergeRefused(status, message, `mergePull: #${pull.number} ${detail} (${status} ${message})`);
    };
    if (pull.state !== 'open') refuse(405, 'Pull Request is not mergeable', 'is not open');
    if (pull.draft) refuse(405, 'Pull Request is still a draft', 'is a draft');
    if (options.sha !== undefined && options.sha !== pull.headSha) {
      refuse(409, 'Head branch was modified. Review and try the merge again.', `head is not ${options.sha}`);
    }
    const { git } = pull.repo;
    this.user('web-flow');
    this.linkEmail('web-flow', GITHUB_COMMITTER.email);
    this.user(actor);
    const method = options.method ?? 'merge';
    const sha = await git.exclusive(async () => {
      // Onto the base as it is now (earlier writes may have moved it while this merge waited its turn).
      const base = (await git.branchTip(pull.base)) ?? pull.baseSha;
      pull.baseSha = base;
      const head = pull.headSha;
      let merged: string | undefined;
      if (method === 'rebase') {
        const commits = await git.log(base, pull.headSha);
        // A head already on top of the base replays tree for tree; otherwise each commit is merged onto the last.
        const upToDate = await git.isAncestor(base, pull.headSha);
        let onto = base;
        for (const c of commits) {
          let tree: string | null = null;
          if (c.parents.length === 1)
            tree = upToDate ? c.tree : await git.replayTree(c.parents[0] ?? '', c.sha, onto);
          if (!tree) return refuse(405, "This branch can't be rebased", 'cannot be rebased');
          onto = await git.writeCommitObject({
            tree,
            parents: [onto],
            author: { name: c.author.name, email: c.author.email, date: new Date(c.author.date) },
            committer: GITHUB_COMMITTER,
            message: await git.rawMessage(c.sha),
            sign: this.webFlow.sign,
          });
        }
        merged = onto;
      } else {
        const tree = await git.mergeTree(base, pull.headSha);
        if (!tree) return refuse(405, 'Pull Request is not mergeable', 'has conflicts');
        const message = await this.#mergeMessage(pull, method, options);
        merged = await git.writeCommitObject({
          tree,
          parents: method === 'squash' ? [base] : [base, pull.headSha],
          author: this.identity(method === 'squash' ? pull.user : actor),
          committer: GITHUB_COMMITTER,
          message,
          sign: this.webFlow.sign,
        });
      }
      // Merged as the branch moves, as on GitHub: no read sees the branch moved and the pull request open. So it
      // is marked merged (head and base frozen) before the ref is written — a read under way while `update-ref`
      // runs would otherwise find the merge commit on the base and take it for the open pull request's base (no
      // files), or list no merged pull request for it — and put back as it was if the branch moved meanwhile.
      const before = { ...pull };
      this.#closeMerged(pull, merged, actor, { base, head });
      try {
        await git.updateBranch(pull.base, merged, base);
      } catch {
        Object.assign(pull, before);
        return refuse(405, 'Base branch was modified. Review and try the merge again.', 'base moved');
      }
      await this.recordPush(pull.repo, {
        branch: pull.base,
        before: base,
        after: merged,
        pusher: actor,
        forced: false,
        merge: true,
      });
      return merged;
    });
    return sha;
  }

  #closeMerged(pull: PullState, sha: string, actor: string, at: { base: string; head: string }): void {
    pull.baseSha = at.base;
    pull.headSha = at.head;
    pull.state = 'closed';
    pull.mergedAt = this.stamp();
    pull.closedAt = pull.mergedAt;
    pull.updatedAt = pull.mergedAt;
    pull.mergeCommitSha = sha;
    pull.mergedBy = actor;
  }

  /** `title` + blank line + `message`, GitHub's defaults filling what is not given; the message verbatim. */
  async #mergeMessage(pull: PullState, method: MergeMethod, options: MergeOptions): Promise<string> {
    let { title, message } = options;
    if (method === 'squash') {
      if (title === undefined || message === undefined) {
        const commits = await pull.repo.git.log(pull.baseSha, pull.headSha);
        const only = commits.length === 1 ? commits[0] : undefined;
        const [subject = '', ...rest] = (only?.message ?? '').split('\n');
        title ??= `${only ? subject : pull.title} (#${pull.number})`;
        message ??= only
          ? rest.join('\n').replace(/^\n+/, '')
          : commits.map((c) => `* ${c.message}`).join('\n\n');
      }
    } else {
      title ??= `Merge pull request #${pull.number} from ${String(pull.repo.owner.login)}/${pull.head}`;
      message ??= pull.title;
    }
    return message === '' ? title : `${title}\n\n${message}`;
  }

  /** `GET /pulls/{n}` (detail) or a `GET /pulls` item, computed from git. */
  async pullJson(pull: PullState, detail = true): Promise<JsonObject> {
    await this.refresh(pull);
    const { repo } = pull;
    const parts = {
      id: pull.id,
      number: pull.number,
      title: pull.title,
      body: pull.body,
      state: pull.state,
      draft: pull.draft,
      user: this.user(pull.user),
      repo: repo.json,
      headRef: pull.head,
      headSha: pull.headSha,
      baseRef: pull.base,
      baseSha: pull.baseSha,
      authorAssociation: this.authorAssociation(repo, pull.user),
      createdAt: pull.createdAt,
      updatedAt: pull.updatedAt,
      closedAt: pull.closedAt,
      mergedAt: pull.mergedAt,
      mergeCommitSha: pull.mergeCommitSha,
      mergedBy: pull.mergedBy ? this.user(pull.mergedBy) : null,
    };
    if (!detail) return this.#withRequests(pull, buildPull(parts));
    const [files, commits, mergeable] = await Promise.all([
      this.#diff(pull),
      repo.git.countCommits(pull.baseSha, pull.headSha),
      pull.mergedAt
        ? Promise.resolve(null)
        : repo.git
            .mergeTree(pull.baseSha, pull.headSha)
            .then((tree) => (tree === undefined ? null : tree !== null)),
    ]);
    let mergeableState = 'unknown';
    if (mergeable === false) mergeableState = 'dirty';
    else if (mergeable && pull.draft) mergeableState = 'draft';
    else if (mergeable) mergeableState = 'clean';
    const issueUrl = `${API_URL}/repos/${repo.fullName}/issues/${pull.number}`;
    return this.#withRequests(
      pull,
      buildPull({
        ...parts,
        detail: {
          commits,
          changedFiles: files.length,
          additions: files.reduce((n, f) => n + f.additions, 0),
          deletions: files.reduce((n, f) => n + f.deletions, 0),
          mergeable,
          mergeableState,
          comments: this.comments.filter((c) => c.issue_url === issueUrl).length,
        },
      }),
    );
  }

  // ---- review requests (routes/reviewers.ts) ----------------------------------------------------------------

  /** `requested_reviewers` and `requested_teams`: the review requests still open. */
  #withRequests(pull: PullState, json: JsonObject): JsonObject {
    const open = this.openReviewRequests(pull);
    json.requested_reviewers = open.users.map((login) => this.user(login));
    json.requested_teams = open.teams.map((slug) => this.teamJson(pull.repo, slug));
    return json;
  }

  teamJson(repo: RepoState, slug: string): JsonObject {
    return buildTeam(repo.owner, slug);
  }

  /**
   * The review requests not answered yet: GitHub drops a request once its user reviews, and a team's once one
   * of its members does.
   */
  openReviewRequests(pull: PullState): { users: string[]; teams: string[] } {
    const org = String(pull.repo.owner.login);
    const reviewedSince = (after: number) =>
      new Set(
        pull.reviews
          .slice(after)
          .filter((r) => r.state !== 'PENDING')
          .map((r) => String((r.user as JsonObject).login).toLowerCase()),
      );
    return {
      users: pull.requestedUsers
        .filter((r) => !reviewedSince(r.after).has(r.name.toLowerCase()))
        .map((r) => r.name),
      teams: pull.requestedTeams
        .filter((r) => {
          const reviewed = reviewedSince(r.after);
          return !(this.teamMembers(org, r.name) ?? []).some((m) => reviewed.has(m.toLowerCase()));
        })
        .map((r) => r.name),
    };
  }

  /** `POST …/requested_reviewers`: asking anew whoever has answered renews the request. */
  requestReviews(pull: PullState, users: readonly string[], teams: readonly string[]): void {
    const open = this.openReviewRequests(pull);
    const after = pull.reviews.length;
    const renew = (list: ReviewRequest[], openNames: string[], name: string): ReviewRequest[] =>
      sameName(openNames, name)
        ? list
        : [...list.filter((r) => r.name.toLowerCase() !== name.toLowerCase()), { name, after }];
    for (const u of users)
      pull.requestedUsers = renew(pull.requestedUsers, open.users, String(this.user(u).login));
    for (const t of teams) pull.requestedTeams = renew(pull.requestedTeams, open.teams, t.toLowerCase());
  }

  /** `DELETE …/requested_reviewers`. */
  withdrawReviewRequests(pull: PullState, users: readonly string[], teams: readonly string[]): void {
    pull.requestedUsers = pull.requestedUsers.filter((r) => !sameName(users, r.name));
    pull.requestedTeams = pull.requestedTeams.filter((r) => !sameName(teams, r.name));
  }

  /** Three-dot diff: from the merge base of base and head, to head. */
  async #diff(pull: PullState): Promise<DiffParts[]> {
    const mergeBase = (await pull.repo.git.mergeBase(pull.baseSha, pull.headSha)) ?? pull.baseSha;
    return this.diffFiles(pull.repo, mergeBase, pull.headSha);
  }

  async filesJson(pull: PullState): Promise<JsonObject[]> {
    await this.refresh(pull);
    const files = await this.#diff(pull);
    return files.map((f) => buildDiffEntry(pull.repo.fullName, pull.headSha, f));
  }

  async commitsJson(pull: PullState): Promise<JsonObject[]> {
    await this.refresh(pull);
    const commits = await pull.repo.git.log(pull.baseSha, pull.headSha);
    return commits.map((c) => this.commitJson(pull.repo, c));
  }
}
