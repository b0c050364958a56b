// Break-glass through `timebox serve` (SPEC "Break-glass"), against the fake GitHub (real git) and a real
// PostgreSQL, with a shifted clock (never real hours): an emergency request is merged without its approvals and
// granted at once (a role that logs in). (a) A lead approves on the merged pull request: ratified, and the revert
// at expiry records by whom; the audit shows break_glass and ratified. (b) Nobody approves: at ratify_by the role
// is revoked (no login), the revert says `unratified`, one timebox-alarm issue is open, the audit shows
// unratified, the requester's next emergency request is denied — still after they close the alarm themselves —
// and approved again once a code owner of policies/ closed it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Octokit } from '@octokit/rest';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unratifiedTitle } from '../../src/engine/notices/render.js';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { type RunningServer, startServer } from '../../src/github/server.js';
import {
  accessRepoRoot,
  ordersPolicy,
  qaOrganisation,
  registerTimeboxApp,
  rootTag,
  serveOptions,
  silentLog,
} from '../helpers/github.js';
import { createTestDatabase, dropRolesOf, query, type TestDatabase } from '../helpers/postgres.js';
import { git, ROOT, run, tempDir } from '../helpers/repo.js';
import { AUDIT_YAML } from '../helpers/trust.js';

const REPO = 'acme/access';
const SECRET = 'glass-webhook-secret';
const APP_ID = 5252;

let fake: FakeGitHub;
let db: TestDatabase;
let server: RunningServer | undefined;
let aliceKey: string;
let offset = 0;
const clock = () => new Date(Date.now() + offset);
const kept: string[] = [];

const emergency = (reason = 'INC-42 checkout down, reading orders to find the stuck ones') =>
  `requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nemergency: true\nreason: ${reason}\n`;

beforeAll(async () => {
  db = await createTestDatabase();
  fake = await FakeGitHub.start({ now: clock });
  const privateKey = registerTimeboxApp(fake, APP_ID);
  const policy = ordersPolicy(db.readRole).replace(
    '    max_duration: 4h\n',
    '    max_duration: 4h\n    break_glass: { max_duration: 2h, ratify_within: 1h }\n',
  );
  await fake.createRepo(REPO, {
    author: 'admin',
    files: {
      'timebox.yaml': `auto_merge: true\n${AUDIT_YAML}`,
      '.github/web-flow.gpg': fake.webFlowKey,
      'policies/qa.yaml': policy,
      '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
    },
  });
  fake.install(REPO, APP_ID);
  qaOrganisation(fake, ['alice', 'bob', 'carol', 'sam']);
  const keys = mkdtempSync(join(tmpdir(), 'timebox-glass-keys-'));
  kept.push(keys);
  aliceKey = join(keys, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', aliceKey]);
  fake.setUserKeys('alice', [readFileSync(`${aliceKey}.pub`, 'utf8').trim()]);
  const stateDir = mkdtempSync(join(tmpdir(), 'timebox-glass-state-'));
  kept.push(stateDir);
  server = await startServer({
    ...serveOptions(
      { fake, appId: APP_ID, privateKey, secret: SECRET, repo: REPO, dbUrl: db.url },
      {
        now: clock,
        stateDir,
        log: process.env.TIMEBOX_TEST_LOG
          ? pino(pino.destination({ dest: process.env.TIMEBOX_TEST_LOG, sync: true }))
          : silentLog(),
      },
    ),
    // Each delivery answers once its handlers are done (on a loaded machine they can take more than GitHub's 10 s).
    intake: { responseTimeoutMs: 120_000 },
  });
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (fake && db) await dropRolesOf(db.url, accessRepoRoot(fake, REPO));
  await fake?.close();
  await db?.drop();
  for (const dir of kept) rmSync(dir, { recursive: true, force: true });
});

// ---- helpers -------------------------------------------------------------------------------------------------

async function deliver(event: string, payload: JsonObject): Promise<void> {
  const d = await fake.deliver(`${server?.url}/api/github/webhooks`, event, payload, SECRET);
  expect(d.status, d.body).toBe(200);
}

const pullEvent = async (pull: number, action: 'opened' | 'edited', sender: string) =>
  deliver('pull_request', await fake.webhookPayload('pull_request', action, { repo: REPO, pull, sender }));

async function reviewBy(pull: number, user: string) {
  const review = await fake.review({ repo: REPO, pull, user, state: 'APPROVED' });
  await deliver(
    'pull_request_review',
    await fake.webhookPayload('pull_request_review', 'submitted', { repo: REPO, pull, sender: user, review }),
  );
  await server?.keeper.idle();
}

async function pushedMain() {
  await deliver('push', await fake.webhookPayload('push', { repo: REPO, branch: 'main' }));
  await server?.keeper.idle();
}

/** Moves the injected clock to `ms` and lets the keeper run what is due. */
async function moveTo(ms: number) {
  offset = ms - Date.now();
  server?.keeper.tick();
  await server?.keeper.idle();
}

const commentsOn = (pull: number) =>
  fake.comments
    .filter(
      (c) =>
        String(c.html_url ?? '').includes(`/pull/${pull}#`) &&
        (c.user as JsonObject | undefined)?.login === 'timebox[bot]',
    )
    .map((c) => String(c.body));

async function rolesFor(file: string): Promise<string[]> {
  const { rows } = await query(
    db.url,
    `SELECT rolname FROM pg_roles WHERE starts_with(shobj_description(oid, 'pg_authid'), $1)
        AND shobj_description(oid, 'pg_authid') LIKE $2 ORDER BY rolname`,
    [rootTag(fake, REPO), `%"file":"${file}"%`],
  );
  return rows.map((r) => String(r.rolname));
}

/** The connection URL sealed to alice on the pull request. */
function credentialsOf(pull: number): string {
  const body = commentsOn(pull).find((b) => b.includes('timebox:credentials')) ?? '';
  const m = /-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----/.exec(body);
  if (!m) throw new Error(`no sealed credentials on #${pull}`);
  return execFileSync('age', ['-d', '-i', aliceKey], { input: `${m[0]}\n`, encoding: 'utf8' }).trim();
}

async function logsIn(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function emergencyPull(file: string): Promise<number> {
  const branch = `access/${file.replace(/[^a-z0-9]+/gi, '-')}`;
  await fake.commit(REPO, { branch, files: { [file]: emergency() }, author: 'alice' });
  const pull = await fake.openPull({ repo: REPO, head: branch, user: 'alice', title: 'Emergency access' });
  await pullEvent(pull, 'opened', 'alice');
  return pull;
}

const messageOf = (sha: string) => git(fake.gitDir(REPO), 'log', '-1', '--format=%B', sha);

async function alarms(): Promise<{ number: number; title: string; state: string }[]> {
  const gh = new Octokit({ baseUrl: fake.url, auth: fake.token() });
  const { data } = await gh.request('GET /repos/{owner}/{repo}/issues', {
    owner: 'acme',
    repo: 'access',
    labels: 'timebox-alarm',
    state: 'all',
  });
  return data.map((i) => ({ number: i.number, title: i.title, state: i.state }));
}

async function auditEvents(file: string): Promise<{ type: string; actor: string | null; reason?: string }[]> {
  const clone = tempDir('timebox-glass-clone-');
  git(clone, 'clone', '--quiet', fake.gitDir(REPO), '.');
  const audit = await run(['audit', '--format', 'json'], { cwd: clone });
  expect(audit.code, audit.stderr).toBe(0);
  const csv = await run(['audit', '--format', 'csv'], { cwd: clone });
  expect(csv.code, csv.stderr).toBe(0);
  const events = (
    JSON.parse(audit.stdout).events as { file: string; type: string; actor: string | null }[]
  ).filter((e) => e.file === file);
  for (const e of events) expect(csv.stdout).toContain(e.type);
  return events;
}

/** Merges the emergency request (break-glass), grants it on the push; returns the PR, merge message, URL. */
async function brokenGlass(file: string) {
  const pull = await emergencyPull(file);
  const merged = await fake.pull(REPO, pull);
  expect(merged.merged, commentsOn(pull).join('\n')).toBe(true);
  const message = messageOf(String(merged.merge_commit_sha));
  expect(message).toMatch(new RegExp(`Timebox-Break-Glass: \\S+ ${file} \\(rule qa-read\\)`));
  expect(message).not.toContain('Timebox-Approved-By');
  await pushedMain();
  expect(await rolesFor(file)).toHaveLength(1);
  const url = credentialsOf(pull);
  expect(await logsIn(url)).toBe(true);
  // Every channel is alerted; on the pull request: who must ratify it, by when.
  expect(commentsOn(pull).some((b) => b.includes('timebox:break-glass'))).toBe(true);
  const ratifyBy = Date.parse(String(/Timebox-Break-Glass: (\S+)/.exec(message)?.[1]));
  const expiresAt = Date.parse(String(/Timebox-Expires: (\S+)/.exec(message)?.[1]));
  expect(ratifyBy - Date.parse(String(merged.merged_at))).toBeLessThan(60 * 60_000 + 60_000);
  return { pull, url, ratifyBy, expiresAt };
}

// ---- the two paths ---------------------------------------------------------------------------------------------

describe('timebox serve: break-glass', () => {
  it('(a) granted at once, ratified on the merged pull request, the audit shows who', async () => {
    offset = 0;
    const file = 'requests/alice/incident-a.yaml';
    const { pull, url, ratifyBy, expiresAt } = await brokenGlass(file);

    // bob is in QA, not a lead: nothing is ratified. carol (a lead) approves the merged pull request.
    await reviewBy(pull, 'bob');
    await reviewBy(pull, 'carol');
    // ratify_by passes: ratified, so nothing is revoked early and no alarm is opened.
    await moveTo(ratifyBy + 60_000);
    expect(await logsIn(url)).toBe(true);
    expect((await alarms()).filter((a) => a.title.includes(file))).toEqual([]);

    // Expiry: revoked, and the revert records the ratification.
    // (At the expiry the scheduler holds: the merge's, a moment after the decision's Timebox-Expires.)
    const due = server?.keeper.scheduler.scheduled().find((s) => s.file === file)?.at ?? Number.NaN;
    expect(Math.abs(due - expiresAt)).toBeLessThan(60_000);
    await moveTo(due + 100);
    expect(await rolesFor(file)).toEqual([]);
    const revert = messageOf('main');
    expect(revert).toContain(`Timebox-Request: ${file}`);
    expect(revert).toContain('Timebox-Revocation-Reason: expired');
    expect(revert).toContain('Timebox-Ratified-By: carol');
    await pushedMain();

    // (`timebox audit` reads at the real time, hours before the forge's shifted one: the grant looks active.)
    const events = await auditEvents(file);
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['requested', 'break_glass', 'granted', 'ratified']),
    );
    expect(events.find((e) => e.type === 'break_glass')?.actor).toBe('alice');
    expect(events.filter((e) => e.type === 'ratified').map((e) => e.actor)).toEqual(['carol']);
    expect(events.some((e) => e.type === 'unratified' || e.type === 'approved')).toBe(false);
  }, 180_000);

  it('(b) unratified: revoked at ratify_by, one alarm, the next emergency denied until a code owner closes it', async () => {
    const file = 'requests/alice/incident-b.yaml';
    const { pull, url, ratifyBy } = await brokenGlass(file);

    await moveTo(ratifyBy + 60_000);
    expect(await rolesFor(file)).toEqual([]);
    expect(await logsIn(url)).toBe(false);
    const revert = messageOf('main');
    expect(revert).toContain(`Timebox-Request: ${file}`);
    expect(revert).toContain('Timebox-Revocation-Reason: unratified');
    expect(revert).toMatch(/Timebox-Unratified: \S+/);
    const title = unratifiedTitle('alice', file);
    expect((await alarms()).filter((a) => a.title === title && a.state === 'open')).toHaveLength(1);
    expect(commentsOn(pull).some((b) => b.includes('timebox:unratified'))).toBe(true);
    await pushedMain();
    // Checked again (a review after ratify_by counts for nothing; a later sweep): still one alarm, nothing granted.
    await reviewBy(pull, 'carol');
    await server?.sweep();
    await server?.keeper.idle();
    expect((await alarms()).filter((a) => a.title === title)).toHaveLength(1);
    expect(await rolesFor(file)).toEqual([]);

    const events = await auditEvents(file);
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['requested', 'break_glass', 'granted', 'unratified', 'revoked']),
    );
    expect(events.find((e) => e.type === 'revoked')?.reason).toBe('unratified');
    expect(events.some((e) => e.type === 'ratified')).toBe(false);

    // The next emergency request of alice is denied.
    const next = 'requests/alice/incident-c.yaml';
    const again = await emergencyPull(next);
    const summary = () => commentsOn(again).find((b) => b.includes('timebox:summary')) ?? '';
    expect((await fake.pull(REPO, again)).merged).toBe(false);
    expect(summary()).toContain('timebox/break\\-glass\\-alarm');

    // alice closes her own alarm: not a code owner of policies/, still denied.
    const alarm = (await alarms()).find((a) => a.title === title);
    fake.setIssueState(REPO, Number(alarm?.number), 'alice', 'closed');
    await pullEvent(again, 'edited', 'alice');
    expect((await fake.pull(REPO, again)).merged).toBe(false);
    expect(summary()).toContain('timebox/break\\-glass\\-alarm');

    // sam (@acme/security owns policies/) reopens and closes it: the emergency request is approved again.
    fake.setIssueState(REPO, Number(alarm?.number), 'sam', 'open');
    fake.setIssueState(REPO, Number(alarm?.number), 'sam', 'closed');
    await pullEvent(again, 'edited', 'alice');
    const merged = await fake.pull(REPO, again);
    expect(merged.merged, summary()).toBe(true);
    expect(messageOf(String(merged.merge_commit_sha))).toContain(`Timebox-Break-Glass:`);
  }, 180_000);
});
