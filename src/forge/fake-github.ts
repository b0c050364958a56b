// A stateful fake of the GitHub REST API, backed by real bare git repositories. Every request and response
// is checked against GitHub's OpenAPI description: a malformed request is answered like GitHub (400/422) and
// a response that breaks the description 500; both are recorded in `violations`. Unimplemented routes answer
// 404 and are recorded in `unmocked`. Requests authenticate like a GitHub App's: an RS256 JWT for `/app`
// endpoints, installation (or Actions) tokens with fine-grained permissions everywhere else. Repositories can
// also be fetched and cloned over git's smart HTTP protocol (read-only), with a token as the Basic password.

import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock } from '../core/clock.js';
import { type AppConfig, AppRegistry, type Level, type Permissions } from './auth.js';
import type { JsonObject } from './builders.js';
import type { HookDeliveries } from './deliveries.js';
import { githubApi } from './openapi.js';
import {
  type PayloadOptions,
  type PullRequestAction,
  type PullRequestReviewAction,
  type PushPayloadOptions,
  pullRequestPayload,
  pullRequestReviewPayload,
  pushPayload,
} from './payloads.js';
import { Pipeline, type RecordedRequest, type UnmockedRequest, type Violation } from './pipeline.js';
import { routes } from './routes.js';
import {
  type CommitInput,
  type CreateRepoInput,
  GitHubState,
  type MergeOptions,
  type OpenIssueInput,
  type OpenPullInput,
  type Push,
  type RepoPermission,
  type ReviewInput,
} from './state.js';
import { createWebFlowKey, type WebFlowKey } from './web-flow.js';
import { assertWebhookPayload, type Delivery, type DeliveryOptions } from './webhooks.js';

export type { AppConfig, Level, Permissions } from './auth.js';
export type { JsonObject } from './builders.js';
export type { FileChanges } from './git-store.js';
export type { PayloadOptions, PushPayloadOptions } from './payloads.js';
export type { RecordedRequest, UnmockedRequest, Violation } from './pipeline.js';
export type {
  Author,
  CommitInput,
  CreateRepoInput,
  MergeMethod,
  MergeOptions,
  OpenIssueInput,
  OpenPullInput,
  Push,
  ReviewInput,
  ReviewState,
} from './state.js';

export type Permission = RepoPermission;

export interface FakeGitHubOptions {
  /**
   * The forge's time: what it stamps (commit dates, comments, check runs, pushes, pull requests) and what
   * token lifetimes and app JWTs are checked against. Default: the wall clock.
   */
  clock?: Clock;
  /**
   * Moves only what the forge stamps (the demo's fast-forward), leaving tokens and JWTs on `clock`: an App
   * whose JWT library reads the wall clock keeps working while the forge's dates jump ahead.
   */
  now?: () => Date;
}

export class FakeGitHub {
  readonly violations: Violation[] = [];
  readonly unmocked: UnmockedRequest[] = [];
  readonly requests: RecordedRequest[] = [];
  /** Base URL for Octokit's `baseUrl`, e.g. `http://127.0.0.1:54321`. */
  url = '';

  readonly #state: GitHubState;
  readonly #apps: AppRegistry;
  readonly #pipeline: Pipeline;
  readonly #server: Server;

  private constructor(webFlow: WebFlowKey, options: FakeGitHubOptions) {
    const api = githubApi();
    const clock = options.clock ?? systemClock;
    this.#state = new GitHubState(webFlow, stampClock(clock, options.now));
    const appPermissions = api.componentSchema('app-permissions')?.properties as JsonObject | undefined;
    this.#apps = new AppRegistry(this.#state, new Set(Object.keys(appPermissions ?? {})), clock);
    const pipeline = new Pipeline({ api, state: this.#state, apps: this.#apps, clock, log: this });
    this.#pipeline = pipeline;
    this.#server = createServer((req, res) => {
      pipeline.handle(req, res, this.url).catch((e: unknown) => {
        pipeline.send(res, 500, {
          message: `fake-github crashed: ${e instanceof Error ? e.stack : String(e)}`,
        });
      });
    });
    for (const route of routes(this.#state, this.#apps)) pipeline.on(route);
  }

  static async start(options: FakeGitHubOptions = {}): Promise<FakeGitHub> {
    const fake = new FakeGitHub(await createWebFlowKey(new Date('2017-08-16T00:00:00Z')), options);
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    const { port } = fake.#server.address() as AddressInfo;
    fake.url = `http://127.0.0.1:${port}`;
    return fake;
  }

  /** Stops the server and deletes the git repositories. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.#server.close((e) => (e ? reject(e) : resolve())));
    await this.#state.dispose();
  }

  /** Throws with details when any request or response broke the spec, or hit an unmocked route. */
  assertClean(): void {
    if (this.violations.length === 0 && this.unmocked.length === 0) return;
    throw new Error(
      `fake GitHub: ${JSON.stringify({ violations: this.violations, unmocked: this.unmocked }, null, 2)}`,
    );
  }

  /**
   * The armored public key the forge signs its commits with (GitHub's https://github.com/web-flow.gpg):
   * what an access repo names in `audit.signing_keys` for the audit to trust Timebox's merges.
   */
  get webFlowKey(): string {
    return this.#state.webFlow.publicKey;
  }

  // ---- recorded state -------------------------------------------------------------------------------------

  get checkRuns(): JsonObject[] {
    return this.#state.checkRuns;
  }

  get comments(): JsonObject[] {
    return this.#state.comments;
  }

  /** Check-run id → every annotation posted to it (GitHub keeps them out of the check-run object). */
  get annotations(): Map<number, unknown[]> {
    return this.#state.annotations;
  }

  /**
   * The highest level of each permission that authorized a request made with the app's tokens (installation
   * tokens and `token()`), e.g. `{ pull_requests: 'read', metadata: 'read' }`: comparable with the app
   * manifest's `default_permissions`.
   */
  get permissionsUsed(): Permissions {
    return Object.fromEntries(this.#pipeline.used.app);
  }

  /** The same for GITHUB_TOKENs (`actionsToken`): comparable with a workflow's `permissions:` block. */
  get actionsPermissionsUsed(): Permissions {
    return Object.fromEntries(this.#pipeline.used.actions);
  }
  // ---- accounts -------------------------------------------------------------------------------------------

  /** The account `login` (created on first use; `[bot]` logins are Bots). */
  user(login: string): JsonObject {
    return this.#state.user(login);
  }

  /** Commits with `email` link to `login` (besides `login@users.noreply.github.com`). */
  linkEmail(login: string, email: string): void {
    this.#state.user(login);
    this.#state.linkEmail(login, email);
  }

  /** Permission of `login` on every repository, or only on `repo` (`owner/name`) when given. */
  setPermission(login: string, permission: Permission, repo?: string): void {
    this.#state.setPermission(login, permission, repo);
  }

  /** `'@org/team'` or `'org/team'` → member logins. */
  setTeam(team: string, logins: string[]): void {
    this.#state.setTeam(team, logins);
  }

  /**
   * Public SSH keys of `login` (`GET /users/{username}/keys`), as OpenSSH lines (`ssh-ed25519 AAAA… comment`);
   * GitHub serves them without the comment. Replaces any keys set before.
   */
  setUserKeys(login: string, keys: string[]): void {
    this.#state.setUserKeys(login, keys);
  }

  /**
   * GitHub's rename: `from`'s account (same id) is called `to`; its reviews, comments, pull requests, teams,
   * permissions and keys follow it. The login `from` is then free: the next `user`, `setUserKeys`, `commit`…
   * with it makes another account, as when someone else claims a released login.
   */
  renameUser(from: string, to: string): JsonObject {
    return this.#state.renameUser(from, to);
  }

  // ---- repositories ---------------------------------------------------------------------------------------

  /** A bare repository with `files` committed on the default branch (main); returns the commit sha. */
  createRepo(fullName: string, input: CreateRepoInput = {}): Promise<string> {
    return this.#state.createRepo(fullName, input);
  }

  /**
   * Commits `files` (null deletes) on `branch`, creating it from `from` (default branch) if needed, recorded as a
   * push by `input.pusher` (default: the author): on the default branch, that is a direct push (an admin bypass).
   */
  commit(fullName: string, input: CommitInput): Promise<string> {
    return this.#state.commit(fullName, input);
  }

  /** The repository object (`GET /repos/{owner}/{repo}` shape, as pulls embed it). */
  repo(fullName: string): JsonObject {
    return this.#state.mustRepo(fullName).json;
  }

  /** Path of the bare repository, for `git clone`. */
  gitDir(fullName: string): string {
    return this.#state.mustRepo(fullName).git.dir;
  }

  /**
   * Tests that move a branch of `gitDir` with git itself (a push GitHub's activity log does not show) say so
   * here: the double remembers branch tips until a ref moves through it.
   */
  refsMovedOutside(fullName: string): void {
    this.#state.mustRepo(fullName).git.refsMovedOutside();
  }

  /**
   * URL to `git clone`/`git fetch` the repository from (smart HTTP, read-only), like
   * `https://github.com/owner/repo.git`: authenticate with Basic `x-access-token:<token>`.
   */
  gitUrl(fullName: string): string {
    return `${this.url}/${fullName}.git`;
  }

  /** Tip of `branch`, or undefined. */
  branchSha(fullName: string, branch: string): Promise<string | undefined> {
    return this.#state.mustRepo(fullName).git.branchTip(branch);
  }

  /**
   * Every branch update so far, oldest first: `fake.commit`, merges (`fake.mergePull` and the REST merge), and
   * refs created, moved or deleted through the git data or contents APIs. Index it for `push` payloads.
   */
  pushes(fullName: string): readonly Push[] {
    return this.#state.mustRepo(fullName).pushes;
  }

  // ---- pull requests --------------------------------------------------------------------------------------

  /** Opens a pull request from `head` into `base` (default branch); numbers start at 1 per repository. */
  openPull(input: OpenPullInput): Promise<number> {
    return this.#state.openPull(input);
  }

  /** The pull request as `GET /pulls/{n}` returns it now. */
  pull(fullName: string, number: number): Promise<JsonObject> {
    return this.#state.pullJson(this.#state.mustPull(fullName, number));
  }

  /** Edits title/body/base; returns the `changes` an `edited` payload will carry. */
  editPull(fullName: string, number: number, edit: { title?: string; body?: string | null; base?: string }) {
    return this.#state.editPull(this.#state.mustPull(fullName, number), edit);
  }

  setDraft(fullName: string, number: number, draft: boolean): void {
    this.#state.mustPull(fullName, number).draft = draft;
  }

  closePull(fullName: string, number: number): Promise<void> {
    return this.#state.closePull(this.#state.mustPull(fullName, number));
  }

  reopenPull(fullName: string, number: number): Promise<void> {
    return this.#state.reopenPull(this.#state.mustPull(fullName, number));
  }

  /**
   * Merges as `user` would with the merge button or `PUT /pulls/{n}/merge`: a merge commit (default; author
   * `user`), a squash (author: the pull request's author) or a rebase, committed by GitHub (web-flow), recorded as
   * a push by `user`. Returns the new tip of the base branch; rejects like GitHub (not open, draft, conflicts,
   * `options.sha` not the head).
   */
  mergePull(fullName: string, number: number, user: string, options: MergeOptions = {}): Promise<string> {
    return this.#state.mergePull(this.#state.mustPull(fullName, number), user, options);
  }

  /** A review; `commit_id` defaults to the pull request's current head sha. */
  review(input: ReviewInput): Promise<JsonObject> {
    return this.#state.review(input);
  }

  editReview(fullName: string, number: number, reviewId: number, body: string): JsonObject {
    return this.#state.editReview(this.#state.mustPull(fullName, number), reviewId, body);
  }

  dismissReview(fullName: string, number: number, reviewId: number): JsonObject {
    return this.#state.dismissReview(this.#state.mustPull(fullName, number), reviewId);
  }

  /** An issue comment on pull request (or issue) `number`, posted by a human `user`. */
  comment(fullName: string, number: number, user: string, body: string): JsonObject {
    const repo = this.#state.mustRepo(fullName);
    if (!repo.issues.has(number)) this.#state.mustPull(fullName, number);
    return this.#state.comment(repo, number, user, body);
  }

  // ---- issues ---------------------------------------------------------------------------------------------

  /** Opens an issue as `user` (numbers are shared with pull requests); returns it as `GET /issues/{n}` would. */
  openIssue(input: OpenIssueInput): JsonObject {
    const issue = this.#state.openIssue(input);
    return this.#state.issueJson(this.#state.mustRepo(input.repo), issue);
  }

  /** Issue `number` as the issues API shows it now (a pull request's issue side works too). */
  issue(fullName: string, number: number): Promise<JsonObject> {
    const repo = this.#state.mustRepo(fullName);
    const issue = repo.issues.get(number);
    if (issue) return Promise.resolve(this.#state.issueJson(repo, issue));
    return this.#state
      .refresh(this.#state.mustPull(fullName, number))
      .then((p) => this.#state.pullIssueJson(p));
  }

  /** `user` closes (or reopens) issue `number`, as `PATCH /issues/{n}` with their own token would. */
  setIssueState(fullName: string, number: number, user: string, to: 'open' | 'closed'): JsonObject {
    const repo = this.#state.mustRepo(fullName);
    const issue = repo.issues.get(number);
    if (!issue) throw new Error(`${fullName}: no issue #${number}`);
    this.#state.editIssue(issue, user, { state: to }, repo);
    return this.#state.issueJson(repo, issue);
  }

  // ---- apps and tokens ------------------------------------------------------------------------------------

  /** Registers a GitHub App whose JWTs (RS256, `iss` = id) are checked against `publicKeyPem`. */
  registerApp(config: AppConfig): JsonObject {
    return this.#apps.registerApp(config);
  }

  /**
   * Registers an App the way its manifest (app.yml: `default_permissions`, `default_events`) describes it,
   * with a fresh RSA key pair; returns the private key (PKCS#1 PEM) the App signs its JWTs with.
   */
  registerManifestApp(
    id: number,
    slug: string,
    manifest: { default_permissions: Permissions; default_events: string[] },
  ): string {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.registerApp({
      id,
      slug,
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      permissions: manifest.default_permissions,
      events: manifest.default_events,
    });
    return privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  }

  /** Installs the app (default: the last registered) on a repository; returns the installation id. */
  install(fullName: string, appId?: number): number {
    this.#state.mustRepo(fullName);
    return this.#apps.install(fullName, appId);
  }

  /** A token reaching every repository, acting as the last registered app; default: every permission served. */
  token(permissions?: Permissions): string {
    return this.#apps.testToken(permissions);
  }

  /** A workflow's GITHUB_TOKEN for one repository, e.g. `{ contents: 'read', 'pull-requests': 'read' }`. */
  actionsToken(fullName: string, permissions: Record<string, Level | 'none'>): string {
    this.#state.mustRepo(fullName);
    return this.#apps.actionsToken(fullName, permissions);
  }

  /** Expires every token issued so far (requests with them get 401 Bad credentials). */
  expireTokens(): void {
    this.#apps.expireTokens();
  }

  // ---- webhooks -------------------------------------------------------------------------------------------

  /**
   * A webhook payload built from the current state, validated against GitHub's webhook description (throws
   * with the validator's errors if it does not match).
   */
  async webhookPayload(
    event: 'pull_request',
    action: PullRequestAction,
    options: PayloadOptions,
  ): Promise<JsonObject>;
  async webhookPayload(
    event: 'pull_request_review',
    action: PullRequestReviewAction,
    options: PayloadOptions,
  ): Promise<JsonObject>;
  /**
   * `push` (no action): `fake.webhookPayload('push', { repo, push: -1, sender })`, where `push` indexes
   * `fake.pushes(repo)` (default: the last push, or the last to `branch`). `('push', undefined, options)` works too.
   */
  async webhookPayload(event: 'push', options: PushPayloadOptions): Promise<JsonObject>;
  async webhookPayload(event: 'push', action: undefined, options: PushPayloadOptions): Promise<JsonObject>;
  async webhookPayload(
    event: string,
    actionOrOptions: string | PushPayloadOptions | undefined,
    maybeOptions?: PayloadOptions | PushPayloadOptions,
  ): Promise<JsonObject> {
    if (event === 'push') {
      const options = (typeof actionOrOptions === 'object' ? actionOrOptions : maybeOptions) as
        | PushPayloadOptions
        | undefined;
      if (!options) throw new Error('webhookPayload: push needs { repo, push?, branch?, sender? }');
      const sent = JSON.parse(
        JSON.stringify(await pushPayload(this.#state, this.#apps, options)),
      ) as JsonObject;
      assertWebhookPayload('push', undefined, sent);
      return sent;
    }
    const action = String(actionOrOptions);
    const options = maybeOptions as PayloadOptions;
    let payload: JsonObject;
    if (event === 'pull_request') {
      payload = await pullRequestPayload(this.#state, this.#apps, action as PullRequestAction, options);
    } else if (event === 'pull_request_review') {
      payload = await pullRequestReviewPayload(
        this.#state,
        this.#apps,
        action as PullRequestReviewAction,
        options,
      );
    } else {
      throw new Error(`webhookPayload: ${event} is not implemented`);
    }
    // Round-trip through JSON so the validator sees exactly what will be sent.
    const sent = JSON.parse(JSON.stringify(payload)) as JsonObject;
    assertWebhookPayload(event, action, sent);
    return sent;
  }

  /**
   * Delivers `payload` like GitHub delivers to an App's webhook URL (signed with `secret`); the payload is
   * validated first. The installation target is the app installed on the payload's repository. Every attempt
   * is recorded as the App's webhook delivery (`GET /app/hook/deliveries`, `hookDeliveries`), failed ones too:
   * a receiver that cannot be reached gives status 502 and an empty body (no rejection).
   */
  async deliver(
    url: string,
    event: string,
    payload: JsonObject,
    secret: string,
    options: DeliveryOptions = {},
  ): Promise<Delivery> {
    assertWebhookPayload(event, typeof payload.action === 'string' ? payload.action : undefined, payload);
    const installation = payload.installation as JsonObject | undefined;
    const appId = installation
      ? this.#apps.installation(Number(installation.id))?.app.identity.id
      : undefined;
    const sent = {
      targetType: 'integration',
      ...(appId !== undefined ? { targetId: appId } : {}),
      ...options,
    };
    const d = await this.#state.hookDeliveries.send({
      appId: Number(sent.targetId ?? 1),
      url,
      event,
      payload,
      secret,
      options: sent,
    });
    return {
      id: d.guid,
      status: d.response.payload === null ? 502 : d.statusCode,
      body: d.response.payload ?? '',
    };
  }

  /** Every delivery to an App's webhook so far, and `settled()` for queued redeliveries. */
  get hookDeliveries(): HookDeliveries {
    return this.#state.hookDeliveries;
  }
}

/** `base` reporting `now` instead of its own time: what the older `now` option moves (only the stamps). */
function stampClock(base: Clock, now: (() => Date) | undefined): Clock {
  if (!now) return base;
  // Delegates by call, not by spread: a class clock (ManualClock) keeps its methods on the prototype.
  return {
    now,
    nowMs: () => now().getTime(),
    sleep: (ms, signal) => base.sleep(ms, signal),
    after: (ms, fn) => base.after(ms, fn),
    every: (ms, fn) => base.every(ms, fn),
  };
}
