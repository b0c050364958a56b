// Break-glass through `timebox serve` (SPEC "Break-glass"), against the fake GitHub (real git) and a real
// PostgreSQL, with a shifted clock (never real hours): an emergency request is merged without its approvals and
// granted at once (a role that logs in). (a) A lead approves on the merged pull request: ratified, and the revert
// at expiry records by whom; the audit shows break_glass and ratified. (b) Nobody approves: at ratify_by the role
// is revoked (no login), the revert says `unratified`, one timebox-alarm issue is open, the audit shows
// unratified, the requester's next emergency request is denied — still after they close the alarm themselves —
// and approved again once a code owner of policies/ closed it.
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unratifiedTitle } from '../../src/engine/notices/render.js';
import type { FakeGitHub } from '../../src/forge/fake-github.js';
import type { RunningServer } from '../../src/github/server.js';
import { ordersPolicy, silentLog } from '../helpers/github.js';
import { git, run, tempDir } from '../helpers/repo.js';
import { botComments, ServeWorld, sealedBlock } from '../helpers/serve.js';

const REPO = 'acme/access';

let world: ServeWorld;
let fake: FakeGitHub;
let server: RunningServer | undefined;
let aliceKey: string;
let offset = 0;
const clock = () => new Date(Date.now() + offset);

const emergency = (reason = 'INC-42 checkout down, reading orders to find the stuck ones') =>
  `requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nemergency: true\nreason: ${reason}\n`;

beforeAll(async () => {
  world = await ServeWorld.open({
    repo: REPO,
    appId: 5252,
    secret: 'glass-webhook-secret',
    writers: ['alice', 'bob', 'carol', 'sam'],
    policy: (readRole) =>
      ordersPolicy(readRole).replace(
        '    max_duration: 4h\n',
        '    max_duration: 4h\n    break_glass: { max_duration: 2h, ratify_within: 1h }\n',
      ),
    fake: { now: clock },
  });
  fake = world.fake;
  aliceKey = world.sshKey('alice');
  server = await world.start({
    now: clock,
    stateDir: world.dir('timebox-glass-state-'),
    log: process.env.TIMEBOX_TEST_LOG
      ? pino(pino.destination({ dest: process.env.TIMEBOX_TEST_LOG, sync: true }))
      : silentLog(),
  });
}, 120_000);

afterAll(() => world?.close(server));

// ---- helpers -------------------------------------------------------------------------------------------------

const pullEvent = (pull: number, action: 'opened' | 'edited', sender: string) =>
  world.pullEvent(server, pull, action, sender);

async function reviewBy(pull: number, user: string) {
  await world.approve(server, pull, user);
  await server?.keeper.idle();
}

const pushedMain = () => world.pushedMain(server);

/** Moves the injected clock to `ms` and lets the keeper run what is due. */
async function moveTo(ms: number) {
  offset = ms - Date.now();
  server?.keeper.tick();
  await server?.keeper.idle();
}

const commentsOn = (pull: number) => botComments(fake, pull);
const rolesFor = (file: string) => world.rolesFor(file);

/** The connection URL sealed to alice on the pull request. */
function credentialsOf(pull: number): string {
  const block = sealedBlock(commentsOn(pull).find((b) => b.includes('timebox:credentials')) ?? '');
  return execFileSync('age', ['-d', '-i', aliceKey], { input: block, encoding: 'utf8' }).trim();
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

const alarms = () => world.alarms('all');

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
