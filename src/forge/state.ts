// The fake's GitHub data, by resource: accounts (state/accounts.ts), repositories and pushes
// (state/repos.ts), pull requests and merges (state/pulls.ts), and here issues, labels, reviews, comments and
// check runs. The records' types are in state/types.ts.

import { buildIssue, buildLabel } from './builders/issues.js';
import { API_URL, type JsonObject, nodeId, WEB_URL } from './builders.js';
import { HookDeliveries } from './deliveries.js';
import { PullStore } from './state/pulls.js';
import type { IssueState, OpenIssueInput, PullState, RepoState, ReviewInput } from './state/types.js';

export * from './state/types.js';

/** All of the forge's data: each layer (accounts, repositories, pull requests, this) adds one kind of resource. */
export class GitHubState extends PullStore {
  readonly #checkRunRepo = new Map<number, string>();
  readonly #commentRepo = new Map<number, string>();
  /** Every delivery to an App's webhook URL (`GET /app/hook/deliveries`). */
  readonly hookDeliveries = new HookDeliveries(this.clock, () => this.nextId());

  // ---- issues and labels ----------------------------------------------------------------------------------

  /** An issue (not a pull request) opened by `user`; labels that do not exist yet are created, as GitHub does. */
  openIssue(input: OpenIssueInput): IssueState {
    const repo = this.mustRepo(input.repo);
    this.user(input.user);
    const now = this.stamp();
    const issue: IssueState = {
      number: repo.nextNumber++,
      id: this.nextId(),
      user: input.user,
      title: input.title,
      body: input.body ?? null,
      labels: this.#labelNames(repo, input.labels ?? []),
      state: 'open',
      stateReason: null,
      createdAt: now,
      updatedAt: now,
      closedAt: null,
      closedBy: null,
      app: input.app ?? null,
    };
    repo.issues.set(issue.number, issue);
    return issue;
  }

  /** Edits an issue like `PATCH /issues/{n}`: closing records who closed it and why. */
  editIssue(
    issue: IssueState,
    actor: string,
    edit: {
      title?: string;
      body?: string | null;
      state?: 'open' | 'closed';
      stateReason?: IssueState['stateReason'];
      labels?: string[];
    },
    repo: RepoState,
  ): void {
    if (edit.title !== undefined) issue.title = edit.title;
    if (edit.body !== undefined) issue.body = edit.body;
    if (edit.labels !== undefined) issue.labels = this.#labelNames(repo, edit.labels);
    issue.updatedAt = this.stamp();
    if (edit.state === 'closed' && issue.state === 'open') {
      issue.state = 'closed';
      issue.stateReason = edit.stateReason ?? 'completed';
      issue.closedAt = issue.updatedAt;
      issue.closedBy = actor;
    } else if (edit.state === 'open' && issue.state === 'closed') {
      issue.state = 'open';
      issue.stateReason = 'reopened';
      issue.closedAt = null;
      issue.closedBy = null;
    }
  }

  /** Creates the label; undefined when one with that name (any case) exists. */
  createLabel(repo: RepoState, name: string, color = 'ededed', description: string | null = null) {
    if (repo.labels.has(name.toLowerCase())) return undefined;
    const label = buildLabel(repo.fullName, this.nextId(), name, color.replace(/^#/, ''), description);
    repo.labels.set(name.toLowerCase(), label);
    return label;
  }

  /** Existing labels keep their spelling; unknown ones are created. */
  #labelNames(repo: RepoState, names: string[]): string[] {
    const out: string[] = [];
    for (const name of names) {
      const label = repo.labels.get(name.toLowerCase()) ?? this.createLabel(repo, name);
      const spelled = String(label?.name ?? name);
      if (!out.includes(spelled)) out.push(spelled);
    }
    return out;
  }

  #commentCount(repo: RepoState, number: number): number {
    const url = this.issueUrl(repo, number);
    return this.comments.filter((c) => c.issue_url === url).length;
  }

  issueJson(repo: RepoState, issue: IssueState): JsonObject {
    return buildIssue(repo.fullName, {
      id: issue.id,
      number: issue.number,
      title: issue.title,
      body: issue.body,
      user: this.user(issue.user),
      labels: issue.labels.map((name) => repo.labels.get(name.toLowerCase()) ?? {}),
      state: issue.state,
      stateReason: issue.stateReason,
      comments: this.#commentCount(repo, issue.number),
      createdAt: issue.createdAt,
      updatedAt: issue.updatedAt,
      closedAt: issue.closedAt,
      closedBy: issue.closedBy ? this.user(issue.closedBy) : null,
      authorAssociation: this.authorAssociation(repo, issue.user),
      app: issue.app,
    });
  }

  /** A pull request as the issues API shows it (with `pull_request`). */
  pullIssueJson(pull: PullState): JsonObject {
    const { repo } = pull;
    return buildIssue(repo.fullName, {
      id: pull.id,
      number: pull.number,
      title: pull.title,
      body: pull.body,
      user: this.user(pull.user),
      labels: [],
      state: pull.state,
      stateReason: pull.state === 'closed' ? 'completed' : null,
      comments: this.#commentCount(repo, pull.number),
      createdAt: pull.createdAt,
      updatedAt: pull.updatedAt,
      closedAt: pull.closedAt,
      closedBy: pull.mergedBy ? this.user(pull.mergedBy) : null,
      authorAssociation: this.authorAssociation(repo, pull.user),
      app: null,
      pull: { mergedAt: pull.mergedAt, draft: pull.draft },
    });
  }

  // ---- reviews and comments -------------------------------------------------------------------------------

  async review(input: ReviewInput): Promise<JsonObject> {
    const pull = await this.refresh(this.mustPull(input.repo, input.pull));
    const id = this.nextId();
    const pullUrl = `${API_URL}/repos/${pull.repo.fullName}/pulls/${pull.number}`;
    const html = `${WEB_URL}/${pull.repo.fullName}/pull/${pull.number}#pullrequestreview-${id}`;
    const review: JsonObject = {
      id,
      node_id: nodeId('PRR', id),
      user: this.user(input.user),
      body: input.body ?? '',
      state: input.state,
      html_url: html,
      pull_request_url: pullUrl,
      _links: { html: { href: html }, pull_request: { href: pullUrl } },
      commit_id: input.commitId ?? pull.headSha,
      author_association: this.authorAssociation(pull.repo, input.user),
    };
    if (input.state !== 'PENDING') review.submitted_at = this.stamp();
    pull.reviews.push(review);
    return review;
  }

  findReview(pull: PullState, reviewId: number): JsonObject {
    const review = pull.reviews.find((r) => r.id === reviewId);
    if (!review) throw new Error(`no review ${reviewId} on ${pull.repo.fullName}#${pull.number}`);
    return review;
  }

  /** `changes` of each review's last edit, for `pull_request_review.edited` payloads. */
  readonly reviewChanges = new Map<number, JsonObject>();

  editReview(pull: PullState, reviewId: number, body: string): JsonObject {
    const review = this.findReview(pull, reviewId);
    const changes = { body: { from: String(review.body) } };
    review.body = body;
    this.reviewChanges.set(reviewId, changes);
    return review;
  }

  /** A dismissed review keeps its commit and author; only its state changes (REST `DISMISSED`). */
  dismissReview(pull: PullState, reviewId: number): JsonObject {
    const review = this.findReview(pull, reviewId);
    if (review.state !== 'APPROVED' && review.state !== 'CHANGES_REQUESTED') {
      throw new Error(
        `dismissReview: only approvals and change requests can be dismissed (${String(review.state)})`,
      );
    }
    review.state = 'DISMISSED';
    return review;
  }

  issueUrl(repo: RepoState, number: number): string {
    return `${API_URL}/repos/${repo.fullName}/issues/${number}`;
  }

  comment(repo: RepoState, number: number, login: string, body: string, app?: JsonObject): JsonObject {
    const id = this.nextId();
    const now = this.stamp();
    const comment: JsonObject = {
      id,
      node_id: nodeId('IC', id),
      url: `${API_URL}/repos/${repo.fullName}/issues/comments/${id}`,
      html_url: `${WEB_URL}/${repo.fullName}/${repo.issues.has(number) ? 'issues' : 'pull'}/${number}#issuecomment-${id}`,
      issue_url: this.issueUrl(repo, number),
      body,
      user: this.user(login),
      created_at: now,
      updated_at: now,
      author_association: this.authorAssociation(repo, login),
      ...(app ? { performed_via_github_app: app } : {}),
    };
    this.comments.push(comment);
    this.#commentRepo.set(id, repo.fullName.toLowerCase());
    return comment;
  }

  findComment(repo: RepoState, id: number): JsonObject | undefined {
    if (this.#commentRepo.get(id) !== repo.fullName.toLowerCase()) return undefined;
    return this.comments.find((c) => c.id === id);
  }

  // ---- check runs -----------------------------------------------------------------------------------------

  addCheckRun(repo: RepoState, run: JsonObject): void {
    this.checkRuns.push(run);
    this.#checkRunRepo.set(Number(run.id), repo.fullName.toLowerCase());
  }

  findCheckRun(repo: RepoState, id: number): JsonObject | undefined {
    if (this.#checkRunRepo.get(id) !== repo.fullName.toLowerCase()) return undefined;
    return this.checkRuns.find((r) => r.id === id);
  }

  checkRunsOf(repo: RepoState): JsonObject[] {
    return this.checkRuns.filter((r) => this.#checkRunRepo.get(Number(r.id)) === repo.fullName.toLowerCase());
  }
}
