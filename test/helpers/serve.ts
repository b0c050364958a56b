// `timebox serve` against the GitHub double and a real PostgreSQL, as the end-to-end tests set it up: the
// test database, the fake with the Timebox App registered and installed on an access repo, the QA
// organisation, SSH keys, folders that live for the whole file, a log the test can read, and a server whose
// deliveries are answered once handled.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Octokit } from '@octokit/rest';
import { type Logger, pino } from 'pino';
import { expect } from 'vitest';
import { FakeGitHub, type FakeGitHubOptions, type JsonObject } from '../../src/forge/fake-github.js';
import {
  type RunningServer,
  type ServerChannels,
  type ServerOptions,
  startServer,
} from '../../src/github/server.js';
import { WebhookReceiver } from '../doubles/webhook-receiver.js';
import {
  accessRepoRoot,
  ordersPolicy,
  qaOrganisation,
  registerTimeboxApp,
  rootTag,
  type ServeFixture,
  serveOptions,
} from './github.js';
import { createTestDatabase, dropRolesOf, query, type TestDatabase } from './postgres.js';
import { ROOT } from './repo.js';
import { AUDIT_YAML } from './trust.js';

/**
 * How long a test server waits for a delivery's handlers before it answers 202 "still processing": 120 s, not
 * the 9 s default. The tests read the handlers' results as soon as a delivery returns, so a loaded machine (two
 * vitest workers on two cores) must not turn a slow handler into a 202 and so into a failed assertion.
 * test/github/intake.test.ts starts its server with startServer itself, and tests the real default.
 */
export const TEST_RESPONSE_TIMEOUT_MS = 120_000;

/** startServer for a test: as asked, with deliveries answered once handled (TEST_RESPONSE_TIMEOUT_MS) by default. */
export function startTestServer(options: ServerOptions): Promise<RunningServer> {
  return startServer({
    ...options,
    intake: { responseTimeoutMs: TEST_RESPONSE_TIMEOUT_MS, ...options.intake },
  });
}

/**
 * startServer's options for a test with no database behind it: the fake as GitHub, no periodic sweep, bodies up
 * to 256 KiB, no provider environment.
 */
export function noDatabaseOptions(
  fake: FakeGitHub,
  app: { appId: number; privateKey: string; secret: string },
  opts: { now: () => Date; stateDir: string; log: Logger },
): ServerOptions {
  return {
    appId: String(app.appId),
    privateKey: app.privateKey,
    webhookSecret: app.secret,
    port: 0,
    host: '127.0.0.1',
    baseUrl: fake.url,
    maxBodyBytes: 256 * 1024,
    log: opts.log,
    sweepIntervalMs: 0,
    now: opts.now,
    stateDir: opts.stateDir,
    providerEnv: {},
  };
}

/** A logger at level info whose JSON lines are appended to `into`, for the test to read. */
export function collectingLog(into: JsonObject[]): Logger {
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) into.push(JSON.parse(line));
      done();
    },
  });
  return pino({ level: 'info' }, sink);
}

/** An access repo's timebox.yaml as most serve tests have it: Timebox merges, and the audit trusts its App. */
export const AUTO_MERGE_YAML = `auto_merge: true\n${AUDIT_YAML}`;

/**
 * The files of a test access repo: `policy` as policies/qa.yaml and this project's CODEOWNERS, plus, unless
 * `timebox` is null, that timebox.yaml and GitHub's web-flow key (which signs the merges Timebox makes).
 */
export function accessRepoFiles(
  fake: FakeGitHub,
  policy: string,
  timebox: string | null = AUTO_MERGE_YAML,
): Record<string, string> {
  return {
    ...(timebox === null ? {} : { 'timebox.yaml': timebox, '.github/web-flow.gpg': fake.webFlowKey }),
    'policies/qa.yaml': policy,
    '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
  };
}

/**
 * Makes `repo` on the fake with this project's example policies (policies/qa.yaml) and CODEOWNERS, alice in
 * @acme/qa and carol, who may write, in @acme/qa-leads.
 */
export async function exampleAccessRepo(fake: FakeGitHub, repo: string): Promise<void> {
  await fake.createRepo(repo, {
    author: 'admin',
    files: {
      'policies/qa.yaml': readFileSync(join(ROOT, 'policies/qa.yaml'), 'utf8'),
      '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
    },
  });
  fake.setTeam('@acme/qa', ['alice']);
  fake.setTeam('@acme/qa-leads', ['carol']);
  fake.setPermission('carol', 'write');
}

/**
 * Moves `branch` of `repo` to a new commit straight in the fake's bare repository: a ref update no push
 * recorded, so GitHub's activity log does not show it (as if it had lost the push). Returns the old and the
 * new head.
 */
export function unloggedCommit(
  fake: FakeGitHub,
  repo: string,
  branch: string,
): { before: string; after: string } {
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', fake.gitDir(repo), ...args], {
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'Alice',
        GIT_AUTHOR_EMAIL: 'alice@users.noreply.github.com',
        GIT_COMMITTER_NAME: 'Alice',
        GIT_COMMITTER_EMAIL: 'alice@users.noreply.github.com',
      },
    }).trim();
  const before = git('rev-parse', `refs/heads/${branch}`);
  const after = git('commit-tree', `${before}^{tree}`, '-p', before, '-m', 'not logged');
  git('update-ref', `refs/heads/${branch}`, after, before);
  fake.refsMovedOutside(repo);
  return { before, after };
}

/** `user` approves pull request `pull` on the fake: the `pull_request_review` payload that says so, to deliver. */
export async function approvalPayload(
  fake: FakeGitHub,
  repo: string,
  pull: number,
  user: string,
): Promise<JsonObject> {
  const review = await fake.review({ repo, pull, user, state: 'APPROVED' });
  return fake.webhookPayload('pull_request_review', 'submitted', { repo, pull, sender: user, review });
}

/** `user` pushes `files` to `branch` and opens a pull request of it, titled `Access for <user>`; its number. */
export async function openPullOf(
  fake: FakeGitHub,
  repo: string,
  o: { user: string; branch: string; files: Record<string, string | null> },
): Promise<number> {
  await fake.commit(repo, { branch: o.branch, files: o.files, author: o.user });
  return fake.openPull({ repo, head: o.branch, user: o.user, title: `Access for ${o.user}` });
}

/** The bodies of Timebox's own comments on pull request `pull`. */
export const botComments = (fake: FakeGitHub, pull: number): string[] =>
  fake.comments
    .filter(
      (c) =>
        String(c.html_url ?? '').includes(`/pull/${pull}#`) &&
        (c.user as JsonObject | undefined)?.login === 'timebox[bot]',
    )
    .map((c) => String(c.body));

/** The age-encrypted block in a comment's body (what `age -d` reads), or an error saying there is none. */
export function sealedBlock(body: string): string {
  const m = /-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----/.exec(body);
  if (!m) throw new Error(`no sealed credentials in:\n${body}`);
  return `${m[0]}\n`;
}

/** A repository's signed-webhook receivers for a `notify:` test: one that takes what it is routed, one down for good. */
export interface NotifyReceivers {
  good: WebhookReceiver;
  down: WebhookReceiver;
  /** timebox.yaml's `notify:` section: `good` for these resources and events, `down` for everything. */
  notify: string;
  /** startServer's `channels`: the two secrets in the environment, as `timebox serve` passes them. */
  channels: ServerChannels;
  stop(): Promise<void>;
}

/**
 * Starts the two receivers; `down` answers every attempt 503 (asking `retryAfter` seconds before the next).
 * The secrets are `good`'s TIMEBOX_WEBHOOK_SECRET and `down`'s TIMEBOX_DOWN_WEBHOOK_SECRET.
 */
export async function notifyReceivers(o: {
  secrets: { good: string; down: string };
  resources: readonly string[];
  events: readonly string[];
  retryAfter?: number;
}): Promise<NotifyReceivers> {
  const good = await new WebhookReceiver(o.secrets.good).start();
  const down = await new WebhookReceiver(o.secrets.down).start();
  down.failFirst(Number.MAX_SAFE_INTEGER, 503, o.retryAfter);
  const list = (xs: readonly string[]) => xs.join(', ');
  const notify = [
    'notify:',
    `  - { channel: webhook, to: "${good.url}", resources: [${list(o.resources.map((r) => JSON.stringify(r)))}], events: [${list(o.events)}] }`,
    `  - { channel: webhook, to: "${down.url}", secret_env: TIMEBOX_DOWN_WEBHOOK_SECRET }`,
    '',
  ].join('\n');
  const channels = {
    env: { TIMEBOX_WEBHOOK_SECRET: o.secrets.good, TIMEBOX_DOWN_WEBHOOK_SECRET: o.secrets.down },
    drainMs: 200,
  };
  return {
    good,
    down,
    notify,
    channels,
    stop: async () => {
      await good.stop();
      await down.stop();
    },
  };
}

export interface ServeWorldOptions {
  repo: string;
  appId: number;
  /** The webhook secret the server and the deliveries share. */
  secret: string;
  /** Who has write access besides the QA teams (qaOrganisation). */
  writers: readonly string[];
  /** policies/qa.yaml, given the test database's read role; default ordersPolicy. */
  policy?: (readRole: string) => string;
  /** timebox.yaml; null: none (see accessRepoFiles). Default AUTO_MERGE_YAML. */
  timebox?: string | null;
  fake?: FakeGitHubOptions;
  /** The server's log lines (collectingLog), if the test keeps them: a failed delivery shows the last errors. */
  logs?: readonly JsonObject[];
}

/**
 * A test database, the fake GitHub with the Timebox App registered, the access repo made and the App installed
 * on it, and the QA organisation: what a `timebox serve` test file starts in beforeAll and closes in afterAll.
 */
export class ServeWorld {
  readonly #kept: string[] = [];

  private constructor(
    readonly fake: FakeGitHub,
    readonly db: TestDatabase,
    readonly privateKey: string,
    readonly options: ServeWorldOptions,
  ) {}

  static async open(o: ServeWorldOptions): Promise<ServeWorld> {
    const db = await createTestDatabase();
    let fake: FakeGitHub | undefined;
    try {
      fake = await FakeGitHub.start(o.fake);
      const privateKey = registerTimeboxApp(fake, o.appId);
      const policy = (o.policy ?? ordersPolicy)(db.readRole);
      await fake.createRepo(o.repo, { author: 'admin', files: accessRepoFiles(fake, policy, o.timebox) });
      fake.install(o.repo, o.appId);
      qaOrganisation(fake, o.writers);
      return new ServeWorld(fake, db, privateKey, o);
    } catch (err) {
      await fake?.close();
      await db.drop();
      throw err;
    }
  }

  /** What serveOptions needs to know of this world. */
  get fixture(): ServeFixture {
    const { fake, privateKey, db } = this;
    const { appId, secret, repo } = this.options;
    return { fake, appId, privateKey, secret, repo, dbUrl: db.url };
  }

  /** A new folder, removed by close(). */
  dir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.#kept.push(dir);
    return dir;
  }

  /** A new ed25519 key pair for `login`, given to the fake as their SSH key; returns the private key's path. */
  sshKey(login: string, file = 'id_ed25519'): string {
    const path = join(this.dir(`timebox-${login}-keys-`), file);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', login, '-f', path]);
    this.fake.setUserKeys(login, [readFileSync(`${path}.pub`, 'utf8').trim()]);
    return path;
  }

  /** `timebox serve` against this world (serveOptions, then `extra`), answering each delivery once handled. */
  start(
    opts: { now: () => Date; stateDir: string; log: Logger },
    extra: Partial<ServerOptions> = {},
  ): Promise<RunningServer> {
    return startTestServer({ ...serveOptions(this.fixture, opts), ...extra });
  }

  /**
   * Delivers a signed webhook to `server` and expects 200; the failure message has the server's last errors
   * (with `logs`) and what `why` adds.
   */
  async deliver(
    server: RunningServer | undefined,
    event: string,
    payload: JsonObject,
    why: () => string = () => '',
  ): Promise<void> {
    const d = await this.fake.deliver(
      `${server?.url}/api/github/webhooks`,
      event,
      payload,
      this.options.secret,
    );
    const errors = (this.options.logs ?? []).filter((l) => Number(l.level) >= 50).slice(-3);
    expect(d.status, `${d.body}${errors.length ? ` ${JSON.stringify(errors)}` : ''}${why()}`).toBe(200);
  }

  /** A `pull_request` event (`opened`, `synchronize`…) by `sender`, delivered to `server`. */
  async pullEvent(
    server: RunningServer | undefined,
    pull: number,
    action: string,
    sender: string,
  ): Promise<void> {
    const { repo } = this.options;
    const payload = await this.fake.webhookPayload('pull_request', action as 'opened', {
      repo,
      pull,
      sender,
    });
    await this.deliver(server, 'pull_request', payload);
  }

  /** `user` approves `pull`, and the review is delivered to `server`. */
  async approve(server: RunningServer | undefined, pull: number, user: string): Promise<void> {
    await this.deliver(
      server,
      'pull_request_review',
      await approvalPayload(this.fake, this.options.repo, pull, user),
    );
  }

  /** A push to main delivered to `server`, and its keeper done with what followed. */
  async pushedMain(server: RunningServer | undefined): Promise<void> {
    const payload = await this.fake.webhookPayload('push', { repo: this.options.repo, branch: 'main' });
    await this.deliver(server, 'push', payload);
    await server?.keeper.idle();
  }

  /** The roles Timebox made for `file` from this access repo (roles are cluster-wide: only this run's count). */
  async rolesFor(file: string): Promise<string[]> {
    const { rows } = await query(
      this.db.url,
      `SELECT rolname FROM pg_roles WHERE starts_with(shobj_description(oid, 'pg_authid'), $1)
        AND shobj_description(oid, 'pg_authid') LIKE $2 ORDER BY rolname`,
      [rootTag(this.fake, this.options.repo), `%"file":"${file}"%`],
    );
    return rows.map((r) => String(r.rolname));
  }

  /** The access repo's `timebox-alarm` issues: the open ones, or all. */
  async alarms(state: 'open' | 'all' = 'open'): Promise<{ number: number; title: string; state: string }[]> {
    const [owner = '', repo = ''] = this.options.repo.split('/');
    const gh = new Octokit({ baseUrl: this.fake.url, auth: this.fake.token() });
    const { data } = await gh.request('GET /repos/{owner}/{repo}/issues', {
      owner,
      repo,
      labels: 'timebox-alarm',
      state,
      per_page: 100,
    });
    return data.map((i) => ({ number: i.number, title: i.title, state: i.state }));
  }

  /** Closes `servers`, drops the roles this access repo made (roles are cluster-wide), and removes the rest. */
  async close(...servers: (RunningServer | undefined)[]): Promise<void> {
    try {
      for (const server of servers) await server?.close();
      await dropRolesOf(this.db.url, accessRepoRoot(this.fake, this.options.repo));
    } finally {
      await this.fake.close();
      await this.db.drop();
      for (const dir of this.#kept) rmSync(dir, { recursive: true, force: true });
    }
  }
}
