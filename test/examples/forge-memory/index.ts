// The example forge: a repository, its pull requests and its conversation in memory, implementing the
// engine's Forge (src/engine/forge.ts). To add a forge, do what this folder does: implement `Forge` in one
// module and hand an instance to the engine's flows (provision, checkPullRequest, closeStalePulls, …) where
// the forge's webhooks or timers arrive — the engine needs nothing else.
import { createHash } from 'node:crypto';
import type { Permission } from '../../../src/core/model.js';
import type { ApiCommit, KnownPush, PushersResult } from '../../../src/engine/facts.js';
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
  RepoRef,
  ReviewRequests,
} from '../../../src/engine/forge.js';
import type { RepoSource } from '../../../src/repo/source.js';

type Tree = ReadonlyMap<string, string>;

const sha = (text: string) => createHash('sha1').update(text).digest('hex');

export class MemoryForge implements Forge {
  readonly repo: RepoRef = { owner: 'acme', repo: 'access' };
  /** Commit → its files (path → blob sha); blob sha → text. */
  readonly trees = new Map<string, Tree>();
  readonly blobs = new Map<string, string>();
  readonly branches = new Map<string, string>();
  readonly pulls = new Map<number, ForgePull & { files: ForgeFile[]; reviews: ForgeReview[] }>();
  readonly comments_: (ForgeComment & { on: number })[] = [];
  readonly issues: {
    number: number;
    title: string;
    body: string;
    labels: string[];
    open: boolean;
    /** Who opened it (Timebox, unless a test says otherwise) and who closed it. */
    user?: ForgeUser;
    closedBy?: string;
  }[] = [];
  readonly runs: (ForgeCheckRun & { conclusion: string })[] = [];
  readonly permissions = new Map<string, Permission>();
  readonly teams = new Map<string, string[]>();
  readonly users = new Map<string, { id: number; keys: string[]; type: string }>();
  /** Pull request → whose review is requested (logins, team slugs). */
  readonly reviewRequests = new Map<number, ReviewRequests>();
  #next = 1;

  /** `now`: when merges and new pull requests happen. */
  constructor(readonly now: () => Date = () => new Date(0)) {}

  /** A commit on `branch` holding `files` (path → text) on top of the branch's tree; returns its sha. */
  commit(branch: string, files: Record<string, string | null>): string {
    const tree = new Map(this.trees.get(this.branches.get(branch) ?? '') ?? []);
    for (const [path, text] of Object.entries(files)) {
      if (text === null) tree.delete(path);
      else {
        this.blobs.set(sha(text), text);
        tree.set(path, sha(text));
      }
    }
    const id = sha(`${branch}:${this.#next++}:${[...tree].join()}`);
    this.trees.set(id, tree);
    this.branches.set(branch, id);
    return id;
  }

  /** Opens a pull request from `head` into `base` by `author`, created at `createdAt`. */
  openPull(head: string, author: string, createdAt: string, base = 'main'): number {
    const number = this.#next++;
    const [before, after] = [
      this.trees.get(this.branches.get(base) ?? ''),
      this.trees.get(this.branches.get(head) ?? ''),
    ];
    const files: ForgeFile[] = [];
    for (const [path, blob] of after ?? []) {
      const was = before?.get(path);
      if (was !== blob) files.push({ filename: path, status: was ? 'modified' : 'added', sha: blob });
    }
    for (const path of before?.keys() ?? [])
      if (!after?.has(path)) files.push({ filename: path, status: 'removed' });
    this.pulls.set(number, {
      number,
      state: 'open',
      title: head,
      user: { login: author, id: this.user(author).id, type: 'User' },
      head: { sha: this.branches.get(head) ?? '', ref: head, repo: { full_name: 'acme/access' } },
      base: { sha: this.branches.get(base) ?? '', ref: base },
      created_at: createdAt,
      files,
      reviews: [],
    });
    return number;
  }

  user(login: string, type = 'User') {
    let u = this.users.get(login.toLowerCase());
    if (!u) {
      u = { id: 1000 + this.users.size, keys: [], type };
      this.users.set(login.toLowerCase(), u);
    }
    return u;
  }

  // ---- Forge ------------------------------------------------------------------------------------------------

  async pull(number: number): Promise<ForgePull> {
    const p = this.pulls.get(number);
    if (!p) throw new Error(`no pull request #${number}`);
    return p;
  }
  async openPulls(base?: string) {
    return [...this.pulls.values()].filter((p) => p.state === 'open' && (!base || p.base.ref === base));
  }
  async pullFiles(number: number) {
    return ((await this.pull(number)) as ForgePull & { files: ForgeFile[] }).files;
  }
  async reviews(number: number) {
    return ((await this.pull(number)) as ForgePull & { reviews: ForgeReview[] }).reviews;
  }
  async commits(number: number): Promise<ApiCommit[]> {
    const author = (await this.pull(number)).user;
    return [{ author, committer: author }];
  }
  async pushers(pull: ForgePull, _opts: { latestPush?: KnownPush }): Promise<PushersResult> {
    // In memory, the author pushed everything.
    return { pushers: pull.user ? [pull.user.login] : [], unknown: null };
  }
  async permission(login: string): Promise<Permission> {
    return this.permissions.get(login.toLowerCase()) ?? 'none';
  }
  async teamMembers(team: string) {
    return this.teams.get(team.toLowerCase()) ?? null;
  }
  async pullsOfCommit(commit: string) {
    return [...this.pulls.values()]
      .filter((p) => p.merge_commit_sha === commit)
      .map((p) => ({ number: p.number, merged_at: p.merged_at ?? null, merge_commit_sha: commit }));
  }
  async merge(number: number, at: string): Promise<MergeOutcome> {
    const p = await this.pull(number);
    if (p.head.sha !== at) return { refused: 'the head moved', status: 409 };
    const merged = this.commit(p.base.ref, Object.fromEntries(this.#diff(p.base.sha, at)));
    Object.assign(p, {
      state: 'closed',
      merged: true,
      merged_at: this.now().toISOString(),
      merge_commit_sha: merged,
    });
    return { merged };
  }
  async closePull(number: number) {
    (await this.pull(number)).state = 'closed';
  }
  async createPull(input: { title: string; head: string; base: string; body: string }) {
    const number = this.openPull(input.head, 'timebox[bot]', this.now().toISOString(), input.base);
    const p = await this.pull(number);
    p.title = input.title;
    p.user = { login: 'timebox[bot]', id: this.user('timebox[bot]', 'Bot').id, type: 'Bot' };
    return number;
  }

  async requestedReviewers(number: number): Promise<ReviewRequests> {
    await this.pull(number);
    const r = this.reviewRequests.get(number);
    return { users: [...(r?.users ?? [])], teams: [...(r?.teams ?? [])] };
  }
  async requestReviewers(number: number, add: ReviewRequests) {
    const r = await this.requestedReviewers(number);
    const author = (await this.pull(number)).user?.login.toLowerCase();
    if (add.users.some((u) => u.toLowerCase() === author))
      throw new Error('Review cannot be requested from pull request author.');
    const has = (list: string[], x: string) => list.some((y) => y.toLowerCase() === x.toLowerCase());
    for (const u of add.users) if (!has(r.users, u)) r.users.push(u);
    for (const t of add.teams) if (!has(r.teams, t)) r.teams.push(t);
    this.reviewRequests.set(number, r);
  }
  async removeReviewRequests(number: number, remove: ReviewRequests) {
    const r = await this.requestedReviewers(number);
    const gone = (list: string[]) => new Set(list.map((x) => x.toLowerCase()));
    const [users, teams] = [gone(remove.users), gone(remove.teams)];
    this.reviewRequests.set(number, {
      users: r.users.filter((u) => !users.has(u.toLowerCase())),
      teams: r.teams.filter((t) => !teams.has(t.toLowerCase())),
    });
  }

  source(commit: string, label?: string): RepoSource {
    const tree = this.trees.get(this.branches.get(commit) ?? commit) ?? new Map();
    return {
      label: label ?? commit.slice(0, 7),
      list: async (dir) => [...tree.keys()].filter((p) => p.startsWith(`${dir.replace(/\/+$/, '')}/`)).sort(),
      read: async (path) => {
        const blob = tree.get(path);
        return blob === undefined ? null : (this.blobs.get(blob) ?? null);
      },
    };
  }
  async readBlob(blob: string, path: string) {
    const text = this.blobs.get(blob);
    if (text === undefined) throw new Error(`${path}: blob ${blob.slice(0, 7)} not found`);
    return text;
  }
  async blobAt(path: string, ref: string) {
    return this.trees.get(this.branches.get(ref) ?? ref)?.get(path) ?? null;
  }
  async treeBlobs(commit: string) {
    return new Map(this.trees.get(commit) ?? []);
  }
  async compare(base: string, head: string): Promise<ForgeFile[]> {
    return [...this.#diff(this.branches.get(base) ?? base, head)].map(([filename, text]) =>
      text === null ? { filename, status: 'removed' } : { filename, status: 'modified', sha: sha(text) },
    );
  }
  async rootCommit() {
    return 'root';
  }
  async removalCommit(branch: string, path: string) {
    const tip = this.branches.get(branch) ?? '';
    const id = this.commit(`tmp-${this.#next}`, {});
    const tree = new Map(this.trees.get(tip));
    tree.delete(path);
    this.trees.set(id, tree);
    return id;
  }
  async createBranch(branch: string, at: string) {
    if (this.branches.has(branch)) return false;
    this.branches.set(branch, at);
    return true;
  }
  async deleteBranch(branch: string) {
    this.branches.delete(branch);
  }

  async createCheckRun(run: CheckRunInput) {
    const id = this.#next++;
    this.runs.push({
      id,
      name: run.name,
      head_sha: run.headSha,
      external_id: run.externalId ?? null,
      app: { slug: 'timebox', id: 1 },
      text: run.text ?? null,
      conclusion: run.conclusion,
    });
    return id;
  }
  async checkRuns(commit: string, name: string) {
    return this.runs.filter((r) => r.head_sha === commit && r.name === name);
  }

  async comments(number: number) {
    return this.comments_.filter((c) => c.on === number);
  }
  /** Comments are posted as Timebox's bot; `postAs` lets a test post as anyone. */
  async createComment(number: number, body: string) {
    return this.postAs(number, body, { login: 'timebox[bot]', type: 'Bot' });
  }
  postAs(number: number, body: string, user: { login: string; type: string }) {
    const id = this.#next++;
    this.comments_.push({ id, on: number, body, user: { ...user, id: this.user(user.login, user.type).id } });
    return id;
  }
  async updateComment(id: number, body: string) {
    const c = this.comments_.find((x) => x.id === id);
    if (c) c.body = body;
  }
  async openIssues(label: string) {
    return this.issues.filter((i) => i.open && i.labels.includes(label));
  }
  async createIssue(input: { title: string; body: string; labels: string[] }) {
    const number = this.#next++;
    this.issues.push({ number, ...input, open: true });
    return number;
  }
  async closeIssue(number: number) {
    const i = this.issues.find((x) => x.number === number);
    if (i) {
      i.open = false;
      i.closedBy = 'timebox[bot]';
    }
  }
  async labelledIssues(label: string): Promise<ForgeIssue[]> {
    return this.issues
      .filter((i) => i.labels.includes(label))
      .map((i) => ({
        number: i.number,
        title: i.title,
        state: i.open ? 'open' : 'closed',
        user: i.user ?? { login: 'timebox[bot]', type: 'Bot' },
      }));
  }
  async issueCloser(number: number): Promise<ForgeUser | null> {
    const i = this.issues.find((x) => x.number === number);
    return i && !i.open && i.closedBy ? { login: i.closedBy } : null;
  }

  async account(login: string) {
    const u = this.users.get(login.toLowerCase());
    return u ? { id: u.id, login } : null;
  }
  async loginOf(id: number) {
    return [...this.users].find(([, u]) => u.id === id)?.[0] ?? null;
  }
  async publicKeys(login: string) {
    return this.users.get(login.toLowerCase())?.keys ?? [];
  }

  /** Paths whose text differs between two commits → the new text (null: removed). */
  #diff(from: string, to: string): Map<string, string | null> {
    const [a, b] = [
      this.trees.get(from) ?? new Map<string, string>(),
      this.trees.get(to) ?? new Map<string, string>(),
    ];
    const out = new Map<string, string | null>();
    for (const [path, blob] of b) if (a.get(path) !== blob) out.set(path, this.blobs.get(blob) ?? '');
    for (const path of a.keys()) if (!b.has(path)) out.set(path, null);
    return out;
  }
}
