// Shared by the GitHub tests: the App manifest as shipped, registering it with the fake, a plain request
// file, and running a script the way a runner does.
import { type SpawnOptions, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import { parse } from 'yaml';
import type { FakeGitHub } from '../../src/forge/fake-github.js';
import type { ServerOptions } from '../../src/github/server.js';
import { git, ROOT } from './repo.js';

/** app.yml, the permissions and events the App asks for. */
export const MANIFEST = parse(readFileSync(join(ROOT, 'app.yml'), 'utf8')) as {
  default_permissions: Record<string, 'read' | 'write'>;
  default_events: string[];
};

/** A read-only request on orders-db for 2h, allowed by the example policies for @acme/qa members. */
export const requestYaml = (requester: string, extra = ''): string =>
  `requester: ${requester}\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1234, EU order totals off by VAT\n${extra}`;

/** Registers the Timebox App (app.yml's permissions and events) with the fake; returns its private key (PEM). */
export function registerTimeboxApp(fake: FakeGitHub, id: number): string {
  return fake.registerManifestApp(id, 'timebox', MANIFEST);
}

/**
 * Runs a command and collects its output. Asynchronous on purpose: the fake GitHub answers from this
 * process, so a synchronous spawn would deadlock.
 */
export async function runCollecting(
  command: string,
  args: string[],
  options: SpawnOptions,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += String(d);
  });
  child.stderr?.on('data', (d) => {
    stderr += String(d);
  });
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { status, stdout, stderr };
}

/**
 * An access repo's policy for a test database: orders-db (postgres, `connection: orders`) whose read-only
 * role grants `readRole`, for @acme/qa with one @acme/qa-leads approval, at most 4h.
 */
export const ordersPolicy = (readRole: string): string => `resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [${readRole}], read_only: true, statement_timeout: 30s }
rules:
  - name: qa-read
    requesters: ["@acme/qa"]
    resources: ["*-db"]
    roles: [read-only]
    max_duration: 4h
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
`;

// ---- `timebox serve` against the fake: what the end-to-end tests share -----------------------------------

/** The App and its access repo as a `timebox serve` test sets them up. */
export interface ServeFixture {
  fake: FakeGitHub;
  appId: number;
  privateKey: string;
  secret: string;
  repo: string;
  /** The test database the `orders` connection points at. */
  dbUrl: string;
}

/**
 * startServer's options for a test: the fake as GitHub, no periodic sweep, quick revocation retries. Without
 * `now` and `log` they are plain data, for a replica in a child process (test/github/replica-child.ts).
 */
export function serveOptions(
  f: ServeFixture,
  opts: { now?: () => Date; stateDir: string; log?: Logger },
): ServerOptions {
  return {
    appId: String(f.appId),
    privateKey: f.privateKey,
    webhookSecret: f.secret,
    port: 0,
    host: '127.0.0.1',
    baseUrl: f.fake.url,
    ...(opts.log ? { log: opts.log } : {}),
    sweepIntervalMs: 0,
    ...(opts.now ? { now: opts.now } : {}),
    stateDir: opts.stateDir,
    providerEnv: { TIMEBOX_POSTGRES_ORDERS_URL: f.dbUrl },
    retryMs: [200, 400],
  };
}

/** A logger that writes nowhere. */
export const silentLog = (): Logger =>
  pino({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }));

/** The QA organisation of the examples: teams (qa, qa-leads, security) and write access for `writers`. */
export function qaOrganisation(fake: FakeGitHub, writers: readonly string[]): void {
  fake.setTeam('@acme/qa', ['alice', 'bob', 'erin', 'frank']);
  fake.setTeam('@acme/qa-leads', ['carol']);
  fake.setTeam('@acme/security', ['sam']);
  for (const login of writers) fake.setPermission(login, 'write');
}

/** The access repo's root commit on the fake (its id in the targets' tags). */
export const accessRepoRoot = (fake: FakeGitHub, repo: string): string =>
  git(fake.gitDir(repo), 'rev-list', '--max-parents=0', 'main').trim();

/** The start of the tag Timebox puts on what it made for this access repo (roles are cluster-wide). */
export const rootTag = (fake: FakeGitHub, repo: string): string =>
  `timebox:{"owner":"${accessRepoRoot(fake, repo)}"`;
