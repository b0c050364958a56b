// The whole life of a request through `timebox serve`, against the fake GitHub (real git underneath, served
// over smart HTTP) and a real PostgreSQL, with an injected clock: opened → pending with a preview → a wrong
// approver → a push that makes an approval stale → the right approval → merged by Timebox with trailers →
// the role exists and the credentials open with Debian's age → a reminder → expiry → role gone and a live
// session cut → revert PR merged → `timebox audit` tells it all. Then the faults: a restart between merge
// and grant, and between expiry and revocation; PostgreSQL down at expiry; duplicate and reordered
// deliveries; a direct push.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeGitHub, JsonObject } from '../../src/forge/fake-github.js';
import type { RunningServer, ServerOptions } from '../../src/github/server.js';
import { rootTag } from '../helpers/github.js';
import { Outage } from '../helpers/outage.js';
import { query, type TestDatabase } from '../helpers/postgres.js';
import { git, ROOT, run, tempDir } from '../helpers/repo.js';
import { approvalPayload, botComments, collectingLog, ServeWorld, sealedBlock } from '../helpers/serve.js';

const REPO = 'acme/access';

let world: ServeWorld;
let fake: FakeGitHub;
let db: TestDatabase;
let server: RunningServer | undefined;
let stateDir: string;
let aliceKey: string;
/** The injected clock: real time plus an offset the test moves. */
let offset = 0;
const clock = () => new Date(Date.now() + offset);
const logs: JsonObject[] = [];

const request = (requester: string, reason = 'Reproduce BUG-1234, EU order totals off by VAT') =>
  `requester: ${requester}\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: ${reason}\n`;

const start = (extra: Partial<ServerOptions> = {}): Promise<RunningServer> =>
  world.start({ now: clock, stateDir, log: collectingLog(logs) }, extra);

beforeAll(async () => {
  world = await ServeWorld.open({
    repo: REPO,
    appId: 5151,
    secret: 'life-webhook-secret',
    writers: ['alice', 'bob', 'carol', 'erin', 'frank', 'sam'],
    logs,
  });
  ({ fake, db } = world);
  aliceKey = world.sshKey('alice');
  stateDir = world.dir('timebox-life-state-');
  server = await start();
}, 120_000);

// Roles are cluster-wide: close drops what this run left (a grant still active when the tests end).
afterAll(() => world?.close(server));

// ---- helpers -------------------------------------------------------------------------------------------------

const deliver = (event: string, payload: JsonObject) => world.deliver(server, event, payload);

const pullEvent = (pull: number, action: string, sender: string) =>
  world.pullEvent(server, pull, action, sender);
const reviewBy = (pull: number, user: string) => world.approve(server, pull, user);
const pushedMain = () => world.pushedMain(server);
/** Timebox's own comments on the pull request. */
const commentsOn = (pull: number) => botComments(fake, pull);
const rolesFor = (file: string) => world.rolesFor(file);
/** The access repo's identity (its root commit): roles are cluster-wide, so only this run's are counted. */
const ownerTag = () => rootTag(fake, REPO);

async function openRequest(
  user: string,
  file: string,
  branch: string,
  text: string | null = request(user),
): Promise<number> {
  await fake.commit(REPO, { branch, files: { [file]: text }, author: user });
  const pull = await fake.openPull({ repo: REPO, head: branch, user, title: `Access for ${user}` });
  await pullEvent(pull, 'opened', user);
  return pull;
}

// ---- the whole life --------------------------------------------------------------------------------------------

describe('timebox serve: the whole life of a request', () => {
  it('pending → stale → approved → merged → granted → reminded → expired → revoked → reverted → audited', async () => {
    const file = 'requests/alice/orders-vat.yaml';
    const pull = await openRequest('alice', file, 'access/alice-vat');
    const summary = () => commentsOn(pull).find((b) => b.includes('timebox:summary')) ?? '';
    expect(summary()).toMatch(/pending/i);
    expect(summary()).toContain('What would be granted');
    expect(summary()).toContain(db.readRole);

    // bob is in QA, not a lead: nothing changes.
    await reviewBy(pull, 'bob');
    expect((await fake.pull(REPO, pull)).merged).toBe(false);
    expect(summary()).toMatch(/pending/i);

    // carol approves, then alice pushes: the approval is of an older commit.
    const staleReview = await fake.review({ repo: REPO, pull, user: 'carol', state: 'APPROVED' });
    await fake.commit(REPO, {
      branch: 'access/alice-vat',
      files: { [file]: request('alice', 'Reproduce BUG-1234 (VAT rounding)') },
      author: 'alice',
    });
    await deliver(
      'pull_request_review',
      await fake.webhookPayload('pull_request_review', 'submitted', {
        repo: REPO,
        pull,
        sender: 'carol',
        review: staleReview,
      }),
    );
    await pullEvent(pull, 'synchronize', 'alice');
    expect((await fake.pull(REPO, pull)).merged).toBe(false);
    expect(summary()).toMatch(/older commit|stale/i);
    expect(await rolesFor(file)).toEqual([]);

    // The right approval at the head: Timebox merges with trailers.
    await reviewBy(pull, 'carol');
    const merged = await fake.pull(REPO, pull);
    expect(merged.merged).toBe(true);
    const message = git(fake.gitDir(REPO), 'log', '-1', '--format=%B', String(merged.merge_commit_sha));
    expect(message).toContain(`Timebox-Request: ${file}`);
    expect(message).toContain('Timebox-Approved-By: carol');

    // The push: provenance passes, the role is made, credentials are delivered on the PR.
    await pushedMain();
    const roles = await rolesFor(file);
    expect(roles).toHaveLength(1);
    const granted = commentsOn(pull).find((b) => b.includes('timebox:credentials'));
    expect(granted).toBeDefined();
    expect(granted).toMatch(/Granted.*until/);
    expect(granted).not.toContain('postgresql://');
    const url = execFileSync('age', ['-d', '-i', aliceKey], {
      input: sealedBlock(granted as string),
      encoding: 'utf8',
    }).trim();
    expect(url).toMatch(new RegExp(`^postgresql://${roles[0]}:`));
    // `timebox creds <PR>` finds the same credentials on the PR; a human's look-alike comment is ignored.
    fake.comment(
      REPO,
      pull,
      'mallory',
      `<!-- timebox:credentials fake -->\n${sealedBlock(granted as string)}`,
    );
    const creds = await run(['creds', String(pull), '--identity', aliceKey], {
      cwd: ROOT,
      env: { GITHUB_TOKEN: fake.token(), GITHUB_REPOSITORY: REPO, GITHUB_API_URL: fake.url },
    });
    expect(creds.code, creds.stderr).toBe(0);
    expect(creds.stdout.trim()).toBe(url);
    expect(creds.stderr).toContain('posted by timebox[bot]');
    const session = new pg.Client({ connectionString: url });
    await session.connect();
    const cut = new Promise<string>((resolve) => session.on('error', (e) => resolve(e.message)));
    expect((await session.query('SELECT 1 AS one')).rows[0].one).toBe(1);

    // A redelivered push grants nothing twice and comments nothing twice.
    await pushedMain();
    expect(await rolesFor(file)).toEqual(roles);
    expect(commentsOn(pull).filter((b) => b.includes('timebox:credentials'))).toHaveLength(1);

    // 15 minutes before expiry: a reminder on the PR.
    const expiresAt = Date.parse(String(/Timebox-Expires: (\S+)/.exec(message)?.[1]));
    expect(Number.isFinite(expiresAt)).toBe(true);
    offset = expiresAt - 14 * 60_000 - Date.now();
    server?.keeper.tick();
    await server?.keeper.idle();
    expect(commentsOn(pull).filter((b) => b.includes('timebox:reminder'))).toHaveLength(1);
    expect(await rolesFor(file)).toEqual(roles);

    // Expiry: the role is dropped, the live session is cut, the revert PR is opened and merged.
    const due = server?.keeper.scheduler.scheduled().find((s) => s.file === file)?.at ?? Number.NaN;
    expect(Math.abs(due - expiresAt)).toBeLessThan(5_000);
    offset = due + 100 - Date.now();
    server?.keeper.tick();
    await server?.keeper.idle();
    expect(await rolesFor(file)).toEqual([]);
    expect(await cut).toMatch(/terminat/i);
    const revert = fake.requests.find(
      (r) =>
        r.method === 'POST' &&
        /\/pulls$/.test(r.url.split('?')[0] ?? '') &&
        JSON.stringify(r.body).includes(file),
    );
    expect(revert, 'a revert PR was opened').toBeDefined();
    const main = git(fake.gitDir(REPO), 'ls-tree', '-r', '--name-only', 'main');
    expect(main).not.toContain(file);
    const revertMessage = git(fake.gitDir(REPO), 'log', '-1', '--format=%B', 'main');
    expect(revertMessage).toContain(`Timebox-Request: ${file}`);
    expect(revertMessage).toContain('Timebox-Revocation-Reason: expired');
    await pushedMain();
    expect(await rolesFor(file)).toEqual([]);

    // The audit trail, from a clone.
    const clone = tempDir('timebox-life-clone-');
    git(clone, 'clone', '--quiet', fake.gitDir(REPO), '.');
    const audit = await run(['audit', '--format', 'json'], { cwd: clone });
    expect(audit.code, audit.stderr).toBe(0);
    const events = (
      JSON.parse(audit.stdout).events as { type: string; file: string; actor: string | null }[]
    ).filter((e) => e.file === file);
    const types = events.map((e) => e.type);
    for (const t of ['requested', 'approved', 'granted', 'revoked']) expect(types).toContain(t);
    expect(events.find((e) => e.type === 'approved')?.actor).toBe('carol');
    expect(events.find((e) => e.type === 'revoked')).toMatchObject({ reason: 'expired' });
  }, 120_000);
});

// ---- faults --------------------------------------------------------------------------------------------------

async function restart(extra: Partial<ServerOptions> = {}): Promise<RunningServer> {
  await server?.close();
  server = await start(extra);
  return server;
}

/** Open, approve (Timebox merges) and return the PR, its merge message's expiry and the merge commit. */
async function approvedRequest(user: string, file: string): Promise<{ pull: number; expiresAt: number }> {
  const pull = await openRequest(user, file, `access/${file.replace(/[^a-z0-9]+/gi, '-')}`);
  await reviewBy(pull, 'carol');
  const merged = await fake.pull(REPO, pull);
  expect(merged.merged).toBe(true);
  const message = git(fake.gitDir(REPO), 'log', '-1', '--format=%B', String(merged.merge_commit_sha));
  return { pull, expiresAt: Date.parse(String(/Timebox-Expires: (\S+)/.exec(message)?.[1])) };
}

const openAlarms = () => world.alarms();

describe('timebox serve: faults converge', () => {
  it('killed between merge and grant: the restarted server grants at start, once', async () => {
    offset = 0;
    const file = 'requests/alice/after-crash.yaml';
    const { pull } = await approvedRequest('alice', file);
    // The server dies before the push is delivered; GitHub gives up on the delivery.
    await restart({ stateDir: tempDir('timebox-life-fresh-state-') });
    expect(await rolesFor(file)).toEqual([]);
    const swept = await server?.sweep();
    await server?.keeper.idle();
    expect(swept?.reconciled.flatMap((r) => r.granted.map((g) => g.file))).toEqual([file]);
    // The timer's sweeps come back to a repository only after its reconcile_interval (default 5m).
    const ref = { owner: 'acme', repo: 'access' };
    expect(server?.keeper.due(ref)).toBe(false);
    offset += 5 * 60_000;
    expect(server?.keeper.due(ref)).toBe(true);
    offset -= 5 * 60_000;
    expect(await rolesFor(file)).toHaveLength(1);
    expect(commentsOn(pull).filter((b) => b.includes('timebox:credentials'))).toHaveLength(1);
    // Killed again after the grant: the next one finds the role and the delivered credentials, and does nothing.
    await restart();
    const again = await server?.sweep();
    expect(again?.reconciled.flatMap((r) => [...r.granted, ...r.revoked])).toEqual([]);
    expect(commentsOn(pull).filter((b) => b.includes('timebox:credentials'))).toHaveLength(1);
  }, 60_000);

  it('killed between expiry and revocation: the restarted server revokes at start and reverts', async () => {
    const file = 'requests/alice/after-crash.yaml';
    const roles = await rolesFor(file);
    expect(roles).toHaveLength(1);
    await server?.close();
    server = undefined;
    const expiresAt = Date.parse(
      String(
        /Timebox-Expires: (\S+)/.exec(
          git(fake.gitDir(REPO), 'log', '--format=%B', '-1', `main^{/${file}}`),
        )?.[1],
      ),
    );
    offset = expiresAt + 60_000 - Date.now();
    server = await start();
    const swept = await server.sweep();
    await server.keeper.idle();
    expect(swept.reconciled.flatMap((r) => r.revoked.map((x) => `${x.file} ${x.reason}`))).toEqual([
      `${file} expired`,
    ]);
    expect(await rolesFor(file)).toEqual([]);
    expect(git(fake.gitDir(REPO), 'ls-tree', '-r', '--name-only', 'main')).not.toContain(file);
  }, 60_000);

  it('PostgreSQL down at expiry: an alarm while it fails, revoked and the alarm closed once it is back', async () => {
    offset = 0;
    const outage = new Outage(db.url);
    await outage.up();
    try {
      await restart({ providerEnv: { TIMEBOX_POSTGRES_ORDERS_URL: outage.url(db.url) } });
      const file = 'requests/erin/during-outage.yaml';
      const { expiresAt } = await approvedRequest('erin', file);
      fake.setUserKeys('erin', [readFileSync(`${aliceKey}.pub`, 'utf8').trim()]);
      await pushedMain();
      expect(await rolesFor(file)).toHaveLength(1);

      await outage.down();
      // The ledger's expiry (merge commit time + duration) can be a second after the trailer's (decision time).
      const due = server?.keeper.scheduler.scheduled().find((s) => s.file === file)?.at ?? Number.NaN;
      expect(Math.abs(due - expiresAt)).toBeLessThan(5_000);
      offset = due + 100 - Date.now();
      server?.keeper.tick();
      await server?.keeper.idle();
      expect(await rolesFor(file)).toHaveLength(1);
      const alarm = (await openAlarms()).find((a) => a.title.includes(`revoking ${file}`));
      expect(alarm, 'a timebox-alarm issue is open').toBeDefined();
      expect(server?.keeper.scheduler.scheduled().find((s) => s.file === file)?.attempts).toBeGreaterThan(0);

      await outage.up();
      // The retry is due a moment later on the server's clock: move the clock, never wait for it.
      offset += 1_000;
      server?.keeper.tick();
      await server?.keeper.idle();
      expect(await rolesFor(file)).toEqual([]);
      expect((await openAlarms()).find((a) => a.title.includes(`revoking ${file}`))).toBeUndefined();
      expect(git(fake.gitDir(REPO), 'ls-tree', '-r', '--name-only', 'main')).not.toContain(file);
    } finally {
      await outage.down().catch(() => {});
    }
  }, 60_000);

  it('early revocation: the requester removes the file, Timebox merges without approval and revokes at the push', async () => {
    offset = 0;
    await restart();
    const file = 'requests/alice/early.yaml';
    const { pull } = await approvedRequest('alice', file);
    await pushedMain();
    const roles = await rolesFor(file);
    expect(roles).toHaveLength(1);
    expect(commentsOn(pull).filter((b) => b.includes('timebox:credentials'))).toHaveLength(1);

    const removal = await openRequest('alice', file, 'access/alice-early-done', null);
    expect((await fake.pull(REPO, removal)).merged).toBe(true);
    await pushedMain();
    expect(await rolesFor(file)).toEqual([]);
    expect(server?.keeper.scheduler.scheduled().find((s) => s.file === file)).toBeUndefined();
    // No revert PR: the removal is the revocation in git.
    expect(
      fake.requests.filter(
        (r) => r.method === 'POST' && r.url.endsWith('/pulls') && JSON.stringify(r.body).includes(file),
      ),
    ).toHaveLength(0);
  }, 60_000);

  it('no SSH key on GitHub: nothing granted, one comment saying what to add; granted once a key is there', async () => {
    offset = 0;
    await restart();
    const file = 'requests/frank/no-keys.yaml';
    const { pull } = await approvedRequest('frank', file);
    await pushedMain();
    await pushedMain();
    expect(await rolesFor(file)).toEqual([]);
    const told = commentsOn(pull).filter((b) => b.includes('timebox:no-keys'));
    expect(told).toHaveLength(1);
    expect(told[0]).toMatch(
      /Nothing granted yet.*@frank has no `ssh-ed25519` or `ssh-rsa` key on GitHub.*https:\/\/github\.com\/settings\/keys/s,
    );
    expect(commentsOn(pull).filter((b) => b.includes('timebox:credentials'))).toHaveLength(0);

    fake.setUserKeys('frank', [readFileSync(`${aliceKey}.pub`, 'utf8').trim()]);
    await server?.sweep();
    await server?.keeper.idle();
    expect(await rolesFor(file)).toHaveLength(1);
    expect(commentsOn(pull).filter((b) => b.includes('timebox:credentials'))).toHaveLength(1);
  }, 60_000);

  it('the periodic reconcile heals drift: a role dropped by hand comes back, one nobody asked for goes', async () => {
    offset = 0;
    await restart();
    const file = 'requests/alice/drift.yaml';
    const { pull } = await approvedRequest('alice', file);
    await pushedMain();
    const [role] = await rolesFor(file);
    expect(role).toBeDefined();
    // A DBA drops it by hand; someone adds a login with a tag copied from it, for a file git never had.
    await query(db.url, `DROP ROLE "${role}"`);
    const tag = `${ownerTag()},"file":"requests/mallory/never.yaml","grant":"requests/mallory/never.yaml@0000000","requester":"mallory","resource":"orders-db"}`;
    await query(db.url, `CREATE ROLE tb_mallory_forged LOGIN; COMMENT ON ROLE tb_mallory_forged IS '${tag}'`);
    expect(await rolesFor('requests/mallory/never.yaml')).toEqual(['tb_mallory_forged']);

    const swept = await server?.sweep();
    await server?.keeper.idle();
    const report = swept?.reconciled.find((r) => r.repo === REPO);
    expect(report?.granted.map((g) => g.file)).toEqual([file]);
    expect(report?.revoked.map((r) => `${r.file} ${r.reason}`)).toEqual([
      'requests/mallory/never.yaml not in git',
    ]);
    expect(await rolesFor(file)).toHaveLength(1);
    expect(await rolesFor('requests/mallory/never.yaml')).toEqual([]);
    // The new password reaches alice: a second credentials comment, the latest one valid.
    expect(commentsOn(pull).filter((b) => b.includes('timebox:credentials'))).toHaveLength(2);
  }, 60_000);

  it('duplicate and reordered deliveries change nothing; a direct push provisions nothing and raises an alarm', async () => {
    offset = 0;
    await restart();
    const file = 'requests/bob/dupes.yaml';
    fake.setUserKeys('bob', [readFileSync(`${aliceKey}.pub`, 'utf8').trim()]);
    const pull = await openRequest('bob', file, 'access/bob-dupes');
    const payload = await approvalPayload(fake, REPO, pull, 'carol');
    await deliver('pull_request_review', payload);
    await deliver('pull_request_review', payload);
    const merges = fake.requests.filter((r) => r.method === 'PUT' && r.url.includes(`/pulls/${pull}/merge`));
    expect(merges.filter((r) => r.status === 200)).toHaveLength(1);
    const pushPayload = await fake.webhookPayload('push', { repo: REPO, branch: 'main' });
    const stale = await fake.webhookPayload('push', { repo: REPO, push: 0 });
    await deliver('push', pushPayload);
    await deliver('push', stale);
    await deliver('push', pushPayload);
    await server?.keeper.idle();
    expect(await rolesFor(file)).toHaveLength(1);
    expect(commentsOn(pull).filter((b) => b.includes('timebox:credentials'))).toHaveLength(1);

    const direct = 'requests/erin/direct.yaml';
    const sha = await fake.commit(REPO, {
      branch: 'main',
      files: { [direct]: request('erin') },
      author: 'erin',
    });
    await pushedMain();
    await pushedMain();
    expect(await rolesFor(direct)).toEqual([]);
    const alarms = (await openAlarms()).filter((a) => a.title.includes(direct));
    expect(alarms).toHaveLength(1);
    expect(alarms[0]?.title).toContain(sha.slice(0, 7));
    fake.assertClean();
  }, 60_000);
});
