// Repositories: bare git repositories with GitHub's repository objects, commits made on them, and every
// branch update recorded as a push.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { buildCommit, type DiffParts } from '../builders/git.js';
import { buildRepository, type JsonObject } from '../builders.js';
import { type CommitInfo, GitRepo } from '../git-store.js';
import type { WebFlowKey } from '../web-flow.js';
import { Accounts } from './accounts.js';
import type { CommitInput, CreateRepoInput, Push, RepoState } from './types.js';

/** Git's status letters → GitHub's diff-entry status. */
const FILE_STATUS: Record<string, DiffParts['status']> = {
  A: 'added',
  D: 'removed',
  M: 'modified',
  R: 'renamed',
  C: 'copied',
  T: 'changed',
};

/** Accounts, and the repositories with what they hold: pushes, and the comments and check runs on them. */
export class RepoStore extends Accounts {
  readonly checkRuns: JsonObject[] = [];
  readonly comments: JsonObject[] = [];
  readonly annotations = new Map<number, unknown[]>();
  readonly #repos = new Map<string, RepoState>();
  #root: Promise<string> | undefined;

  /**
   * `webFlow`: GitHub's commit signing key (src/forge/web-flow.ts): merges, and commits an App makes through
   * the API, are signed with it.
   */
  constructor(
    readonly webFlow: WebFlowKey,
    clock: Clock,
  ) {
    super(clock);
  }

  /** Deletes every repository. */
  async dispose(): Promise<void> {
    const root = this.#root;
    this.#root = undefined;
    if (root) await rm(await root, { recursive: true, force: true });
  }

  /** The account's rename reaches what repositories record by login: pull requests, issues, pushes. */
  override renameUser(from: string, to: string): JsonObject {
    const old = from.toLowerCase();
    const account = super.renameUser(from, to);
    const was = (login: string | null | undefined) => login?.toLowerCase() === old;
    for (const repo of this.#repos.values()) {
      for (const pull of repo.pulls.values()) {
        if (was(pull.user)) pull.user = to;
        if (was(pull.mergedBy)) pull.mergedBy = to;
      }
      for (const issue of repo.issues.values()) {
        if (was(issue.user)) issue.user = to;
        if (was(issue.closedBy)) issue.closedBy = to;
      }
      for (const push of repo.pushes) if (was(push.pusher)) push.pusher = to;
    }
    return account;
  }

  // ---- repositories and git -------------------------------------------------------------------------------

  repo(fullName: string): RepoState | undefined {
    return this.#repos.get(fullName.toLowerCase());
  }

  mustRepo(fullName: string): RepoState {
    const repo = this.repo(fullName);
    if (!repo) throw new Error(`fake GitHub: no repository ${fullName}; call createRepo first`);
    return repo;
  }

  async createRepo(fullName: string, input: CreateRepoInput = {}): Promise<string> {
    const [ownerLogin, name, extra] = fullName.split('/');
    if (!ownerLogin || !name || extra !== undefined) {
      throw new Error(`createRepo: "${fullName}" is not owner/name`);
    }
    if (this.repo(fullName)) throw new Error(`createRepo: ${fullName} already exists`);
    this.#root ??= mkdtemp(join(tmpdir(), 'fake-github-'));
    const root = await this.#root;
    const owner = this.user(ownerLogin, input.ownerType ?? 'Organization');
    const branch = input.defaultBranch ?? 'main';
    const git = await GitRepo.init(join(root, `${ownerLogin}__${name}.git`), branch, this.clock);
    const json = buildRepository(owner, name, this.nextId());
    json.default_branch = branch;
    const state: RepoState = {
      fullName: String(json.full_name),
      json,
      owner,
      git,
      pulls: new Map(),
      issues: new Map(),
      labels: new Map(),
      nextNumber: 1,
      pushes: [],
    };
    this.#repos.set(fullName.toLowerCase(), state);
    const author = input.author ?? ownerLogin;
    return this.commit(fullName, {
      branch,
      files: input.files ?? {},
      author,
      message: input.message ?? 'Initial commit',
    });
  }

  /** A commit on `input.branch` (created from `input.from` when missing), moved there with a CAS ref update. */
  async commit(fullName: string, input: CommitInput): Promise<string> {
    const repo = this.mustRepo(fullName);
    await repo.git.checkBranchName(input.branch);
    return repo.git.exclusive(async () => {
      const tip = await repo.git.branchTip(input.branch);
      let parent = tip;
      if (!parent && input.from !== undefined) {
        parent = await repo.git.resolveCommit(input.from);
        if (!parent) throw new Error(`commit: ${fullName} has no branch or commit "${input.from}"`);
      } else if (!parent) {
        // A new branch starts at the default branch (which createRepo's root commit is about to create).
        parent = await repo.git.branchTip(String(repo.json.default_branch));
      }
      const sha = await repo.git.writeCommit({
        parent,
        files: input.files,
        author: this.identity(input.author, input.date),
        committer: this.identity(input.committer ?? input.author, input.date),
        message: input.message ?? `Update ${Object.keys(input.files).join(', ') || input.branch}`,
      });
      await repo.git.updateBranch(input.branch, sha, tip);
      const pusher =
        input.pusher ??
        [input.author, input.committer].find((a): a is string => typeof a === 'string') ??
        String(repo.owner.login);
      await this.recordPush(repo, { branch: input.branch, before: tip, after: sha, pusher, forced: false });
      return sha;
    });
  }

  /** Records a ref update of a branch (call it inside `git.exclusive`, right after the update). */
  async recordPush(repo: RepoState, push: Omit<Push, 'otherTips' | 'at'>): Promise<Push> {
    this.user(push.pusher);
    const tips = await repo.git.branchTips();
    tips.delete(push.branch);
    const recorded = { ...push, otherTips: [...new Set(tips.values())], at: this.stamp() };
    repo.pushes.push(recorded);
    repo.json.pushed_at = this.stamp();
    return recorded;
  }

  /** The commit JSON of a sha, with author/committer linked to accounts by e-mail. */
  commitJson(repo: RepoState, info: CommitInfo): JsonObject {
    return buildCommit(
      repo.fullName,
      info,
      this.userForEmail(info.author.email),
      this.userForEmail(info.committer.email),
    );
  }

  /** The push that last moved `branch`, for `synchronize` payloads' `before`. */
  lastPush(repo: RepoState, branch: string): Push | undefined {
    return repo.pushes.filter((p) => p.branch === branch).pop();
  }

  /** The files changed from `from` to `to`, as diff entries (renames detected). */
  async diffFiles(repo: RepoState, from: string, to: string): Promise<DiffParts[]> {
    const entries = await repo.git.diff(from, to);
    return entries.map((e) => ({
      status: FILE_STATUS[e.status] ?? 'changed',
      filename: e.path,
      ...(e.previousPath !== undefined ? { previousFilename: e.previousPath } : {}),
      sha: e.status === 'D' ? e.oldSha : e.newSha,
      additions: e.additions,
      deletions: e.deletions,
      ...(e.patch !== undefined ? { patch: e.patch } : {}),
    }));
  }
}
