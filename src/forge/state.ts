// The fake's GitHub data: accounts, git-backed repositories, pull requests, reviews, comments, check runs,
// permissions and teams. Pull request fields that GitHub derives from git (head/base sha, files, commits,
// counts, mergeability) are recomputed from the bare repositories on every read.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import {
  type AccountType,
  API_URL,
  buildCommit,
  buildDiffEntry,
  buildIssue,
  buildLabel,
  buildPublicUser,
  buildPull,
  buildRepository,
  buildUser,
  type DiffParts,
  type JsonObject,
  nodeId,
  timestamp,
  WEB_URL,
} from './builders.js';
import { type CommitInfo, type FileChanges, GitRepo, type Identity } from './git-store.js';
import type { WebFlowKey } from './web-flow.js';

/** GitHub's committer of merges and web edits (the `web-flow` account). */
export const GITHUB_COMMITTER = { name: 'GitHub', email: 'noreply@github.com' } as const;

export type RepoPermission = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

/** A GitHub login, or a raw git identity (an e-mail GitHub may not link to any account). */
export type Author = string | { name: string; email: string };

export interface CreateRepoInput {
  files?: FileChanges;
  /** Author and committer of the initial commit (default: the owner). */
  author?: Author;
  message?: string;
  /** Type of the owning account when it does not exist yet (default Organization). */
  ownerType?: 'Organization' | 'User';
  defaultBranch?: string;
}

export interface CommitInput {
  branch: string;
  /** Branch (or sha) to start `branch` from when it does not exist yet; default: the default branch. */
  from?: string;
  files: FileChanges;
  author: Author;
  /** Default: the author. */
  committer?: Author;
  message?: string;
  date?: Date;
  /** Login recorded as the push's pusher (default: the author's login, else the committer's, else the owner). */
  pusher?: string;
}

export interface OpenPullInput {
  /** `owner/name` */
  repo: string;
  head: string;
  base?: string;
  user: string;
  title?: string;
  body?: string | null;
  draft?: boolean;
}

export type ReviewState = 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'PENDING';

export interface ReviewInput {
  repo: string;
  pull: number;
  user: string;
  state: ReviewState;
  body?: string;
  /** Default: the pull request's current head sha. */
  commitId?: string;
}

/** A ref update of a branch, as a `push` webhook reports it. */
export interface Push {
  branch: string;
  /** Undefined: the push created the branch. */
  before: string | undefined;
  /** Undefined: the push deleted the branch. */
  after: string | undefined;
  /** Login of whoever pushed (a `[bot]` login for an app). */
  pusher: string;
  /** Not a fast-forward. */
  forced: boolean;
  /** Tips of the other branches right after the push: their commits had been pushed before (not `distinct`). */
  otherTips: string[];
  /** When it happened (the forge's clock, as GitHub's activity log gives it). */
  at: string;
  /** A pull request's merge (`pr_merge` in the activity log) rather than a push. */
  merge?: boolean;
}

export type MergeMethod = 'merge' | 'squash' | 'rebase';

export interface MergeOptions {
  method?: MergeMethod;
  /** Default: `Merge pull request #n from owner/branch`; squash: the title (one commit: its subject) + ` (#n)`. */
  title?: string;
  /** Default: the pull request's title; squash: the commits' messages. Appended after a blank line, verbatim. */
  message?: string;
  /** Refuse (409) unless the head is still this commit. */
  sha?: string;
}

/** A merge GitHub refuses: `status` and `githubMessage` are what the REST API answers. */
export class MergeRefused extends Error {
  constructor(
    readonly status: 405 | 409,
    readonly githubMessage: string,
    detail: string,
  ) {
    super(detail);
  }
}

/** Why GitHub refuses to open a pull request (422 Validation Failed, one item of `errors`). */
export interface PullRefusal {
  resource: 'PullRequest';
  code: 'invalid' | 'custom';
  field?: string;
  message?: string;
}

export interface IssueState {
  number: number;
  id: number;
  user: string;
  title: string;
  body: string | null;
  /** Label names, as given (the repository's labels hold their details). */
  labels: string[];
  state: 'open' | 'closed';
  stateReason: 'completed' | 'not_planned' | 'reopened' | null;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  closedBy: string | null;
  /** The app that opened it (`performed_via_github_app`). */
  app: JsonObject | null;
}

export interface OpenIssueInput {
  /** `owner/name` */
  repo: string;
  user: string;
  title: string;
  body?: string | null;
  labels?: string[];
  app?: JsonObject | null;
}

export interface RepoState {
  fullName: string;
  json: JsonObject;
  owner: JsonObject;
  git: GitRepo;
  pulls: Map<number, PullState>;
  /** Issues proper; pull requests share their number sequence (`nextNumber`). */
  issues: Map<number, IssueState>;
  /** Lower-case name → label object. */
  labels: Map<string, JsonObject>;
  nextNumber: number;
  pushes: Push[];
}

export interface PullState {
  repo: RepoState;
  number: number;
  id: number;
  user: string;
  head: string;
  base: string;
  title: string;
  body: string | null;
  draft: boolean;
  state: 'open' | 'closed';
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  mergedAt: string | null;
  mergeCommitSha: string | null;
  mergedBy: string | null;
  /** Last known tips: live while open, frozen once closed. */
  headSha: string;
  baseSha: string;
  reviews: JsonObject[];
  /** `changes` of the last edit, for `pull_request.edited` payloads. */
  changes: JsonObject | undefined;
}

/** Git's status letters → GitHub's diff-entry status. */
const FILE_STATUS: Record<string, DiffParts['status']> = {
  A: 'added',
  D: 'removed',
  M: 'modified',
  R: 'renamed',
  C: 'copied',
  T: 'changed',
};

const NOREPLY = '@users.noreply.github.com';

function legacyPermission(p: RepoPermission): string {
  if (p === 'maintain') return 'write';
  if (p === 'triage') return 'read';
  return p;
}

export class GitHubState {
  /**
   * GitHub's commit signing key (src/forge/web-flow.ts): merges, and commits an App makes through the API,
   * are signed with it.
   */
  constructor(
    readonly webFlow: WebFlowKey,
    readonly clock: Clock,
  ) {}

  /** Now, as the forge stamps what it records. */
  stamp(): string {
    return timestamp(this.clock.now());
  }
  readonly checkRuns: JsonObject[] = [];
  readonly comments: JsonObject[] = [];
  readonly annotations = new Map<number, unknown[]>();

  readonly #accounts = new Map<string, JsonObject>();
  readonly #emails = new Map<string, string>();
  readonly #repos = new Map<string, RepoState>();
  readonly #permissions = new Map<string, RepoPermission>();
  readonly #teams = new Map<string, string[]>();
  readonly #checkRunRepo = new Map<number, string>();
  readonly #commentRepo = new Map<number, string>();
  readonly #keys = new Map<string, JsonObject[]>();
  /** Account id → when it was created (`created_at` of the public profile). */
  readonly #created = new Map<number, string>();
  #root: Promise<string> | undefined;
  #nextId = 1000;

  nextId(): number {
    this.#nextId += 1;
    return this.#nextId;
  }

  /** Deletes every repository. */
  async dispose(): Promise<void> {
    const root = this.#root;
    this.#root = undefined;
    if (root) await rm(await root, { recursive: true, force: true });
  }

  // ---- accounts -------------------------------------------------------------------------------------------

  /** The account `login` (created on first use; `[bot]` logins are Bots). Logins are case-insensitive. */
  user(login: string, type?: AccountType): JsonObject {
    let account = this.#accounts.get(login.toLowerCase());
    if (!account) {
      account = buildUser(login, this.nextId(), type ?? (login.endsWith('[bot]') ? 'Bot' : 'User'));
      this.#accounts.set(login.toLowerCase(), account);
      this.#created.set(Number(account.id), this.stamp());
      if (account.type !== 'Organization') {
        this.linkEmail(login, `${login}${NOREPLY}`);
        this.linkEmail(login, `${String(account.id)}+${login}${NOREPLY}`);
      }
    }
    return account;
  }

  /** The account with this id, whatever its login is now (`GET /user/{account_id}`). */
  userById(id: number): JsonObject | undefined {
    for (const account of this.#accounts.values()) if (account.id === id) return account;
    return undefined;
  }

  /** The public profile of an account (`GET /users/{username}`, `GET /user/{account_id}`). */
  publicUser(account: JsonObject): JsonObject {
    return buildPublicUser(account, this.#created.get(Number(account.id)) ?? this.stamp());
  }

  /**
   * GitHub's rename: the account `from` is called `to` from now on. What is the account's follows it (its id,
   * reviews, comments, pull requests, issues, team memberships, permissions, SSH keys, commit e-mails); the
   * login `from` is free, and its next use creates another account (someone else taking the name).
   */
  renameUser(from: string, to: string): JsonObject {
    const account = this.#accounts.get(from.toLowerCase());
    if (!account) throw new Error(`renameUser: no account ${from}`);
    if (this.#accounts.has(to.toLowerCase())) throw new Error(`renameUser: the login ${to} is taken`);
    const old = String(account.login);
    const id = Number(account.id);
    // In place: reviews and comments hold this very object, and show the new login as GitHub does.
    Object.assign(account, buildUser(to, id, account.type as AccountType));
    this.#accounts.delete(old.toLowerCase());
    this.#accounts.set(to.toLowerCase(), account);
    const was = (login: string | null | undefined) => login?.toLowerCase() === old.toLowerCase();
    const moved = <V>(map: Map<string, V>, keyOf: (k: string) => string | null) => {
      for (const [k, v] of [...map]) {
        const next = keyOf(k);
        if (next === null) continue;
        map.delete(k);
        map.set(next, v);
      }
    };
    moved(this.#keys, (k) => (was(k) ? to.toLowerCase() : null));
    moved(this.#permissions, (k) => {
      const [scope, login] = k.includes(':') ? (k.split(':') as [string, string]) : [null, k];
      if (!was(login)) return null;
      return (scope ? `${scope}:${to}` : to).toLowerCase();
    });
    for (const [team, members] of this.#teams)
      this.#teams.set(
        team,
        members.map((m) => (was(m) ? to : m)),
      );
    for (const [email, login] of this.#emails) if (was(login)) this.#emails.set(email, to);
    this.linkEmail(to, `${to}${NOREPLY}`);
    this.linkEmail(to, `${id}+${to}${NOREPLY}`);
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

  /** Whether `login` is an account the fake knows (has been used). */
  hasUser(login: string): boolean {
    return this.#accounts.has(login.toLowerCase());
  }

  /** Public SSH keys of `login` as `GET /users/{username}/keys` lists them: `{ id, key }`, comment dropped. */
  setUserKeys(login: string, keys: string[]): void {
    this.user(login);
    this.#keys.set(
      login.toLowerCase(),
      keys.map((line) => {
        const [type, blob] = line.trim().split(/\s+/);
        if (!type || !blob)
          throw new Error(`setUserKeys: not an OpenSSH public key line: ${JSON.stringify(line)}`);
        return { id: this.nextId(), key: `${type} ${blob}` };
      }),
    );
  }

  userKeys(login: string): JsonObject[] {
    return this.#keys.get(login.toLowerCase()) ?? [];
  }

  /** Makes commits with `email` link to `login`, as a verified e-mail on a GitHub account does. */
  linkEmail(login: string, email: string): void {
    this.#emails.set(email.toLowerCase(), login);
  }

  /** The account a commit e-mail links to, or null (GitHub shows unlinked e-mails without an account). */
  userForEmail(email: string): JsonObject | null {
    const login = this.#emails.get(email.toLowerCase());
    return login ? this.user(login) : null;
  }

  /** A login's commit identity: `login <login@users.noreply.github.com>`. */
  identity(author: Author, date?: Date): Identity {
    if (typeof author !== 'string') return { ...author, ...(date ? { date } : {}) };
    const account = this.user(author);
    const login = String(account.login);
    // Bots commit as `<id>+<login>@users.noreply.github.com`, as GitHub Apps do.
    const email = account.type === 'Bot' ? `${String(account.id)}+${login}${NOREPLY}` : `${login}${NOREPLY}`;
    return { name: login, email, ...(date ? { date } : {}) };
  }

  /** Permission of `login` on every repository, or only on `repo` (`owner/name`) when given. */
  setPermission(login: string, permission: RepoPermission, repo?: string): void {
    this.#permissions.set((repo ? `${repo}:${login}` : login).toLowerCase(), permission);
  }

  permissionOf(repo: string, login: string): RepoPermission {
    const owner = repo.split('/')[0]?.toLowerCase();
    if (owner === login.toLowerCase()) return 'admin';
    return (
      this.#permissions.get(`${repo}:${login}`.toLowerCase()) ??
      this.#permissions.get(login.toLowerCase()) ??
      'none'
    );
  }

  /** `'@org/team'` or `'org/team'` → member logins. */
  setTeam(team: string, logins: string[]): void {
    this.#teams.set(team.replace(/^@/, '').toLowerCase(), [...logins]);
  }

  teamMembers(org: string, slug: string): string[] | undefined {
    return this.#teams.get(`${org}/${slug}`.toLowerCase());
  }

  /** OWNER, MEMBER (in a team of the owning organization), COLLABORATOR (has a permission) or NONE. */
  authorAssociation(repo: RepoState, login: string): string {
    if (String(repo.owner.login).toLowerCase() === login.toLowerCase()) return 'OWNER';
    const org = String(repo.owner.login).toLowerCase();
    for (const [team, members] of this.#teams) {
      if (team.startsWith(`${org}/`) && members.some((m) => m.toLowerCase() === login.toLowerCase())) {
        return 'MEMBER';
      }
    }
    return this.permissionOf(repo.fullName, login) === 'none' ? 'NONE' : 'COLLABORATOR';
  }

  collaboratorPermission(repo: RepoState, username: string): JsonObject {
    const permission = this.permissionOf(repo.fullName, username);
    const user = this.user(username);
    return {
      permission: legacyPermission(permission),
      role_name: permission,
      user: {
        ...user,
        permissions: {
          admin: permission === 'admin',
          maintain: ['admin', 'maintain'].includes(permission),
          push: ['admin', 'maintain', 'write'].includes(permission),
          triage: ['admin', 'maintain', 'write', 'triage'].includes(permission),
          pull: permission !== 'none',
        },
        role_name: permission,
      },
    };
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
      try {
        await git.updateBranch(pull.base, merged, base);
      } catch {
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
    pull.state = 'closed';
    pull.mergedAt = this.stamp();
    pull.closedAt = pull.mergedAt;
    pull.updatedAt = pull.mergedAt;
    pull.mergeCommitSha = sha;
    pull.mergedBy = actor;
    return sha;
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

  /** The push that last moved `branch`, for `synchronize` payloads' `before`. */
  lastPush(repo: RepoState, branch: string): Push | undefined {
    return repo.pushes.filter((p) => p.branch === branch).pop();
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
    if (!detail) return buildPull(parts);
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
    return buildPull({
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
    });
  }

  /** Three-dot diff: from the merge base of base and head, to head. */
  async #diff(pull: PullState): Promise<DiffParts[]> {
    const mergeBase = (await pull.repo.git.mergeBase(pull.baseSha, pull.headSha)) ?? pull.baseSha;
    return this.diffFiles(pull.repo, mergeBase, pull.headSha);
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
