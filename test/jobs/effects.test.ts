// Effects exactly once (issue 18 item 4). A durable job may run twice: the replica did the effect, then died
// before graphile-worker recorded the job as done, and another replica runs it again with nothing in memory.
// For each effectful engine path, over the forge double through GitHubForge (the App's real HTTP calls), the
// path is run once to list its effects; then, for every effect, on a fresh repository, it is run with a crash
// right after that effect (and right before it), and run again as the retry would (a fresh process memory),
// and a third time. The double's state must show each effect once: one summary comment, one merge, one
// revert pull request, one alarm issue, one credentials comment, one stale-close comment, one closing comment.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock, systemClock } from '../../src/core/clock.js';
import type { Forge } from '../../src/engine/forge.js';
import { noticesFor } from '../../src/engine/notices/index.js';
import { COMMENT_MARKER, CREDENTIALS_PREFIX } from '../../src/engine/notices/markers.js';
import { ProvisionMemory, provision } from '../../src/engine/provision.js';
import { checkPullRequest } from '../../src/engine/pull-check.js';
import { checkPush } from '../../src/engine/push.js';
import { revertRequest } from '../../src/engine/revert.js';
import { closeStalePulls } from '../../src/engine/stale.js';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { tokenClient } from '../../src/github/client.js';
import { githubForge } from '../../src/github/forge.js';
import {
  accessRepoRoot,
  ordersPolicy,
  qaOrganisation,
  registerTimeboxApp,
  requestYaml,
} from '../helpers/github.js';
import { createTestDatabase, dropRolesOf, query, type TestDatabase } from '../helpers/postgres.js';
import { AUDIT_YAML } from '../helpers/trust.js';

const BOT = 'timebox[bot]';
const STUCK = 'requests/alice/stuck.yaml';
const APP_ID = 7303;
const EFFECTS = new Set([
  'createComment',
  'updateComment',
  'createIssue',
  'closeIssue',
  'createPull',
  'merge',
  'createBranch',
  'deleteBranch',
  'closePull',
  'createCheckRun',
  'removalCommit',
]);
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

class Crash extends Error {}

/** Where the process dies: right `after` (or `before`) the `nth` call of `method` (1-based). */
interface Boundary {
  method: string;
  nth: number;
  when: 'after' | 'before';
}

/**
 * The forge, recording its effect calls, and dying at `crash` (the effect done, or not): from then on every
 * call fails, as nothing reaches the forge from a dead process (`dead()` says whether it got there).
 */
function instrumented(forge: Forge, calls: string[], crash?: Boundary): { forge: Forge; dead(): boolean } {
  const seen = new Map<string, number>();
  let dead = false;
  const proxy = new Proxy(forge, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const call = value as (...a: unknown[]) => unknown;
      if (typeof prop !== 'string' || !EFFECTS.has(prop)) {
        return (...args: unknown[]) => {
          if (dead) throw new Crash('the process is dead');
          return call.apply(target, args);
        };
      }
      return async (...args: unknown[]) => {
        if (dead) throw new Crash('the process is dead');
        const nth = (seen.get(prop) ?? 0) + 1;
        seen.set(prop, nth);
        const here = crash?.method === prop && crash.nth === nth;
        if (here && crash?.when === 'before') {
          dead = true;
          throw new Crash(`crash before ${prop} #${nth}`);
        }
        const out = await call.apply(target, args);
        calls.push(prop);
        if (here) {
          dead = true;
          throw new Crash(`crash after ${prop} #${nth}`);
        }
        return out;
      };
    },
  });
  return { forge: proxy, dead: () => dead };
}

/**
 * Each effect call of a run as a boundary: `createComment` #2 is the second comment. `before` adds the crash
 * just before each call, which differs from the crash after the previous one only where the path has effects
 * outside the forge (provisioning grants on the target in between).
 */
function boundaries(calls: string[], before: boolean): Boundary[] {
  const count = new Map<string, number>();
  const out: Boundary[] = [];
  for (const method of calls) {
    const nth = (count.get(method) ?? 0) + 1;
    count.set(method, nth);
    out.push({ method, nth, when: 'after' });
    if (before) out.push({ method, nth, when: 'before' });
  }
  return out;
}

let fake: FakeGitHub;
let db: TestDatabase;
let repos = 0;
const made: string[] = [];
let mirrors: string;

beforeAll(async () => {
  [fake, db] = await Promise.all([FakeGitHub.start(), createTestDatabase()]);
  registerTimeboxApp(fake, APP_ID);
  qaOrganisation(fake, ['alice', 'bob', 'carol']);
  const keys = mkdtempSync(join(tmpdir(), 'timebox-effects-keys-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(keys, 'id')]);
  fake.setUserKeys('alice', [execFileSync('cat', [join(keys, 'id.pub')], { encoding: 'utf8' }).trim()]);
  rmSync(keys, { recursive: true, force: true });
  mirrors = mkdtempSync(join(tmpdir(), 'timebox-effects-'));
}, 120_000);

afterAll(async () => {
  for (const repo of made) await dropRolesOf(db.url, accessRepoRoot(fake, repo)).catch(() => undefined);
  fake?.assertClean();
  await fake?.close();
  await db?.drop();
  rmSync(mirrors, { recursive: true, force: true });
});

/** A fresh access repository with the orders policy, the App installed. */
async function accessRepo(config = ''): Promise<{ name: string; forge: Forge }> {
  repos += 1;
  const name = `acme/effects-${repos}`;
  await fake.createRepo(name, {
    author: 'admin',
    files: {
      'timebox.yaml': `${config}${AUDIT_YAML}`,
      '.github/web-flow.gpg': fake.webFlowKey,
      'policies/qa.yaml': ordersPolicy(db.readRole),
      'README.md': `${name}\n`, // a root commit of its own (roles are tagged with it)
    },
  });
  fake.install(name, APP_ID);
  made.push(name);
  const [owner = '', repo = ''] = name.split('/');
  return { name, forge: githubForge(tokenClient(fake.token(), fake.url), { owner, repo }) };
}

/** Alice's request pull request (not announced). */
async function requestPull(name: string, file = 'requests/alice/orders.yaml'): Promise<number> {
  await fake.commit(name, {
    branch: 'access/alice',
    author: 'alice',
    files: { [file]: requestYaml('alice') },
  });
  return fake.openPull({ repo: name, head: 'access/alice', user: 'alice', title: 'Orders access for alice' });
}

const issueUrl = (name: string, n: number) => `https://api.github.com/repos/${name}/issues/${n}`;
const commentsOn = (name: string, n: number): JsonObject[] =>
  fake.comments.filter((c) => c.issue_url === issueUrl(name, n));
const oursOn = (name: string, n: number, start: string) =>
  commentsOn(name, n).filter((c) => (c.user as JsonObject).login === BOT && String(c.body).startsWith(start))
    .length;

/** Every pull request of the repository (numbers are shared with issues). */
async function pullsOf(name: string): Promise<JsonObject[]> {
  const out: JsonObject[] = [];
  for (let n = 1; n < 50; n++) {
    try {
      out.push(await fake.pull(name, n));
    } catch {
      // an issue, or past the last
    }
  }
  return out;
}

async function issuesOf(name: string): Promise<JsonObject[]> {
  const out: JsonObject[] = [];
  for (let n = 1; n < 50; n++) {
    try {
      const i = await fake.issue(name, n);
      if (!i.pull_request) out.push(i);
    } catch {
      // past the last
    }
  }
  return out;
}

interface Path<S> {
  /** A fresh repository in the state the job finds. */
  setup(): Promise<S & { name: string; forge: Forge }>;
  /** The job's handler, with a fresh process memory each time it is called. */
  run(forge: Forge, s: S & { name: string }): Promise<unknown>;
  /** Also crash just before each effect (see `boundaries`). */
  before?: boolean;
  /** The double's state after the job has completed once, however many times it ran. */
  once(s: S & { name: string; forge: Forge }): Promise<void>;
}

/**
 * Runs `path` once (listing its effects), then for every boundary on a fresh repository: crash there, run
 * again (the retry), run once more, and check each effect is there once. Returns the boundaries crossed.
 */
async function everyBoundary<S>(path: Path<S>): Promise<string[]> {
  const first = await path.setup();
  const calls: string[] = [];
  await path.run(instrumented(first.forge, calls).forge, first);
  await path.once(first);
  const crossed: string[] = [];
  for (const b of boundaries(calls, path.before === true)) {
    const s = await path.setup();
    const doomed = instrumented(s.forge, [], b);
    // Code that catches a forge error goes on (a dead process would not): the run may even resolve.
    await path.run(doomed.forge, s).catch((e: unknown) => {
      if (!(e instanceof Crash)) throw e;
    });
    expect(doomed.dead(), `${b.when} ${b.method}#${b.nth} reached`).toBe(true);
    await path.run(s.forge, s);
    await path.run(s.forge, s);
    await path.once(s);
    crossed.push(`${b.when} ${b.method}#${b.nth}`);
  }
  return crossed;
}

describe('each effect once when a job runs twice (crash after the effect, before the ack)', () => {
  it('pull request check: one summary comment; auto-merge: one merge', async () => {
    const crossed = await everyBoundary({
      setup: async () => {
        const repo = await accessRepo('auto_merge: true\n');
        const pull = await requestPull(repo.name);
        await fake.review({ repo: repo.name, pull, user: 'carol', state: 'APPROVED' });
        return { ...repo, pull };
      },
      run: (forge, s) =>
        checkPullRequest(forge, s.pull, {
          clock: systemClock,
          botLogin: BOT,
          notices: noticesFor(forge, BOT),
        }),
      once: async (s) => {
        expect(oursOn(s.name, s.pull, COMMENT_MARKER)).toBe(1);
        expect((await fake.pull(s.name, s.pull)).merged).toBe(true);
        const merges = fake.pushes(s.name).filter((p) => p.branch === 'main');
        expect(merges).toHaveLength(2); // the repository's first commit, and the one merge
      },
    });
    expect(crossed).toContain('after merge#1');
  }, 240_000);

  it('direct push of a request file: one alarm issue', async () => {
    const crossed = await everyBoundary({
      setup: async () => {
        const repo = await accessRepo();
        const before = (await fake.branchSha(repo.name, 'main')) ?? '';
        const after = await fake.commit(repo.name, {
          branch: 'main',
          author: 'bob',
          files: { 'requests/bob/direct.yaml': requestYaml('bob') },
        });
        return { ...repo, before, after };
      },
      run: (forge, s) =>
        checkPush(
          forge,
          { ref: 'refs/heads/main', before: s.before, after: s.after, defaultBranch: 'main' },
          { clock: systemClock, botLogin: BOT, notices: noticesFor(forge, BOT), appId: APP_ID },
        ),
      once: async (s) => {
        const alarms = (await issuesOf(s.name)).filter((i) => String(i.title).startsWith('Timebox alarm'));
        expect(alarms).toHaveLength(1);
      },
    });
    expect(crossed).toContain('after createIssue#1');
  }, 240_000);

  it('expired request file: one revert pull request, merged once', async () => {
    const file = 'requests/alice/done.yaml';
    const crossed = await everyBoundary({
      setup: async () => {
        const repo = await accessRepo();
        await fake.commit(repo.name, {
          branch: 'main',
          author: 'alice',
          files: { [file]: requestYaml('alice') },
        });
        return repo;
      },
      run: (forge) =>
        revertRequest(forge, noticesFor(forge, BOT), {
          file,
          reason: 'expired',
          defaultBranch: 'main',
          botLogin: BOT,
        }),
      once: async (s) => {
        const pulls = await pullsOf(s.name);
        expect(pulls).toHaveLength(1);
        expect(pulls[0]?.merged).toBe(true);
        expect(await fake.branchSha(s.name, 'main')).toBe(pulls[0]?.merge_commit_sha);
        expect(fake.pushes(s.name).filter((p) => p.branch === 'main')).toHaveLength(3);
      },
    });
    expect(crossed).toEqual(expect.arrayContaining(['after createPull#1', 'after merge#1']));
  }, 240_000);

  it('stale request: one comment saying why, closed once', async () => {
    const crossed = await everyBoundary({
      setup: async () => {
        const repo = await accessRepo('pending_ttl: 1d\n');
        return { ...repo, pull: await requestPull(repo.name) };
      },
      run: (forge) =>
        closeStalePulls(forge, {
          clock: fixedClock(new Date(Date.now() + 2 * 86_400_000)),
          botLogin: BOT,
          defaultBranch: 'main',
          notices: noticesFor(forge, BOT),
        }),
      once: async (s) => {
        expect((await fake.pull(s.name, s.pull)).state).toBe('closed');
        const said = commentsOn(s.name, s.pull).filter((c) =>
          String(c.body).includes('without being approved'),
        );
        expect(said).toHaveLength(1);
      },
    });
    expect(crossed).toContain('after createComment#1');
  }, 240_000);

  it('a failing revocation: one alarm issue', async () => {
    const crossed = await everyBoundary({
      setup: accessRepo,
      run: (forge) =>
        noticesFor(forge, BOT).emit({
          kind: 'revocation-failing',
          file: STUCK,
          message: 'connection refused',
        }),
      once: async (s) => {
        const alarms = await issuesOf(s.name);
        expect(alarms.map((a) => a.state)).toEqual(['open']);
      },
    });
    expect(crossed).toContain('after createIssue#1');
  }, 240_000);

  it('the revocation verified: its alarm closed with one comment', async () => {
    const crossed = await everyBoundary({
      setup: async () => {
        const repo = await accessRepo();
        const notices = noticesFor(repo.forge, BOT);
        await notices.emit({ kind: 'revocation-failing', file: STUCK, message: 'connection refused' });
        return repo;
      },
      run: (forge) => noticesFor(forge, BOT).emit({ kind: 'revocation-verified', file: STUCK }),
      once: async (s) => {
        const [alarm, ...more] = await issuesOf(s.name);
        expect(more).toHaveLength(0);
        expect(alarm?.state).toBe('closed');
        expect(commentsOn(s.name, Number(alarm?.number))).toHaveLength(1);
      },
    });
    expect(crossed).toEqual(expect.arrayContaining(['after createComment#1', 'after closeIssue#1']));
  }, 240_000);

  it('provisioning on merge: granted once, one credentials comment', async () => {
    const file = 'requests/alice/orders.yaml';
    const crossed = await everyBoundary({
      before: true,
      setup: async () => {
        const repo = await accessRepo();
        const pull = await requestPull(repo.name, file);
        await fake.review({ repo: repo.name, pull, user: 'carol', state: 'APPROVED' });
        const tip = await fake.mergePull(repo.name, pull, 'carol');
        const dir = join(mirrors, repo.name.replace('/', '-'));
        execFileSync('git', ['clone', '-q', '--mirror', fake.gitDir(repo.name), dir]);
        return { ...repo, pull, tip, dir };
      },
      run: (forge, s) =>
        provision({
          forge,
          notices: noticesFor(forge, BOT),
          dir: s.dir,
          tip: s.tip,
          now: new Date(),
          env: { TIMEBOX_POSTGRES_ORDERS_URL: db.url },
          botLogin: BOT,
          appId: APP_ID,
          memory: new ProvisionMemory(),
          log: quiet,
        }),
      once: async (s) => {
        expect(oursOn(s.name, s.pull, CREDENTIALS_PREFIX)).toBe(1);
        const { rows } = await query(
          db.url,
          `SELECT rolname FROM pg_roles WHERE starts_with(shobj_description(oid, 'pg_authid'), $1)`,
          [`timebox:{"owner":"${accessRepoRoot(fake, s.name)}"`],
        );
        expect(rows).toHaveLength(1);
      },
    });
    expect(crossed).toEqual(expect.arrayContaining(['after createComment#1', 'before createComment#1']));
  }, 300_000);
});
