// Provenance verdicts are durable and decided as at the merge, and credentials go to the account that asked
// (issue 21, items 2 and 8), through `timebox serve` against the fake GitHub and a real PostgreSQL:
// - an admin-merged request whose approver joins the required team later stays refused after a restart;
// - a legitimate grant whose approver leaves the team stays granted after a restart;
// - records written by anyone but Timebox's App (another App, GitHub Actions) are not verdicts;
// - a requester renamed before a scheduled start, whose old login someone else took, gets nothing sealed to
//   the newcomer: nothing is granted, the PR says why and an alarm is raised.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verdictMarker } from '../../src/core/provenance.js';
import type { FakeGitHub, JsonObject } from '../../src/forge/fake-github.js';
import type { RunningServer, ServerOptions } from '../../src/github/server.js';
import { silentLog } from '../helpers/github.js';
import { git } from '../helpers/repo.js';
import { botComments, ServeWorld } from '../helpers/serve.js';

const REPO = 'acme/access';
const APP_ID = 6161;

let world: ServeWorld;
let fake: FakeGitHub;
let server: RunningServer | undefined;
let keyDir: string;
let offset = 0;
const clock = () => new Date(Date.now() + offset);

const request = (requester: string, extra = '') =>
  `requester: ${requester}\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1234, EU order totals off by VAT\n${extra}`;

/** A new `timebox serve` process state: nothing remembered, its own git mirror. */
async function restart(extra: Partial<ServerOptions> = {}): Promise<RunningServer> {
  await server?.close();
  server = await world.start(
    { now: clock, stateDir: world.dir('timebox-verdicts-state-'), log: silentLog() },
    extra,
  );
  return server;
}

function sshKey(name: string): { path: string; pub: string } {
  const path = join(keyDir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path]);
  return { path, pub: readFileSync(`${path}.pub`, 'utf8').trim() };
}

beforeAll(async () => {
  world = await ServeWorld.open({
    repo: REPO,
    appId: APP_ID,
    secret: 'verdicts-webhook-secret',
    writers: ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'sam'],
    timebox: null,
  });
  fake = world.fake;
  keyDir = world.dir('timebox-verdicts-keys-');
  const shared = sshKey('qa').pub;
  for (const login of ['bob', 'erin', 'frank']) fake.setUserKeys(login, [shared]);
  await restart();
}, 120_000);

afterAll(() => world?.close(server));

// ---- helpers -------------------------------------------------------------------------------------------------

const pushedMain = () => world.pushedMain(server);

/** A request PR by `user`, reviewed by `approver` (if any), merged by `merger` — no webhooks delivered. */
async function mergedRequest(
  user: string,
  file: string,
  opts: { approver?: string; merger: string; text?: string },
): Promise<{ pull: number; sha: string }> {
  const branch = `access/${file.replace(/[^a-z0-9]+/gi, '-')}`;
  await fake.commit(REPO, { branch, files: { [file]: opts.text ?? request(user) }, author: user });
  const pull = await fake.openPull({ repo: REPO, head: branch, user, title: `Access for ${user}` });
  if (opts.approver) await fake.review({ repo: REPO, pull, user: opts.approver, state: 'APPROVED' });
  const sha = await fake.mergePull(REPO, pull, opts.merger);
  return { pull, sha };
}

const rolesFor = (file: string) => world.rolesFor(file);
/** Timebox's own comments on a pull request. */
const commentsOn = (pull: number) => botComments(fake, pull);
const openAlarms = async () => (await world.alarms()).map((a) => a.title);

const textOf = (run: JsonObject | undefined) => String((run?.output as JsonObject | undefined)?.text);
const appIdOf = (run: JsonObject | undefined) => (run?.app as JsonObject | undefined)?.id;

const provenanceRuns = (sha: string) =>
  fake.checkRuns.filter((r) => r.head_sha === sha && r.name === 'timebox/provenance');

async function sweep() {
  const swept = await server?.sweep();
  await server?.keeper.idle();
  const report = swept?.reconciled.find((r) => r.repo === REPO);
  expect(report, JSON.stringify(swept?.errors)).toBeDefined();
  return report as NonNullable<typeof report>;
}

// ---- durable verdicts ------------------------------------------------------------------------------------------

describe('timebox serve: provenance verdicts are durable and decided as at the merge', () => {
  it('an admin-merged request whose approver joins the team later stays refused after a restart', async () => {
    offset = 0;
    const file = 'requests/erin/bypass.yaml';
    // dave approves but is no QA lead; the admin merges anyway (a bypass of branch protection).
    const { sha } = await mergedRequest('erin', file, { approver: 'dave', merger: 'admin' });
    await pushedMain();
    expect(await rolesFor(file)).toEqual([]);
    expect((await openAlarms()).filter((t) => t.includes(file))).toHaveLength(1);

    // dave joins the QA leads afterwards: live facts would now approve the merge.
    fake.setTeam('@acme/qa-leads', ['carol', 'dave']);
    try {
      // A redelivered push reads the verdict back.
      await pushedMain();
      expect(await rolesFor(file)).toEqual([]);
      // A new process (nothing remembered) reads it back too, and grants nothing.
      await restart();
      const report = await sweep();
      expect(report.refused.map((r) => r.file)).toContain(file);
      expect(report.granted.map((g) => g.file)).not.toContain(file);
      expect(await rolesFor(file)).toEqual([]);
      // Decided once, at the push, and recorded on the merge commit by the App.
      const runs = provenanceRuns(sha);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ conclusion: 'failure', external_id: file });
      expect(appIdOf(runs[0])).toBe(APP_ID);
      expect(textOf(runs[0])).toMatch(/"verdict":"refused"/);
    } finally {
      fake.setTeam('@acme/qa-leads', ['carol']);
    }
  }, 120_000);

  it('a legitimate grant whose approver leaves the team stays granted after a restart', async () => {
    offset = 0;
    const file = 'requests/bob/legit.yaml';
    const { sha, pull } = await mergedRequest('bob', file, { approver: 'carol', merger: 'bob' });
    await pushedMain();
    const roles = await rolesFor(file);
    expect(roles).toHaveLength(1);
    expect(commentsOn(pull).filter((b) => b.includes('timebox:credentials'))).toHaveLength(1);

    // carol leaves the QA leads: live facts would now refuse the merge.
    fake.setTeam('@acme/qa-leads', ['dave']);
    try {
      await restart();
      const report = await sweep();
      expect(report.refused.map((r) => r.file)).not.toContain(file);
      expect(report.revoked.map((r) => r.file)).not.toContain(file);
      expect(await rolesFor(file)).toEqual(roles);
      expect((await openAlarms()).filter((t) => t.includes(file))).toEqual([]);
      // The record: approved, the requester and the approver by account id.
      const runs = provenanceRuns(sha);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ conclusion: 'success', external_id: file });
      const text = textOf(runs[0]);
      expect(text).toMatch(/"verdict":"approved"/);
      expect(text).toContain(`"requester":{"id":${Number(fake.user('bob').id)},"login":"bob"}`);
      expect(text).toContain(`{"id":${Number(fake.user('carol').id)},"login":"carol"}`);
    } finally {
      fake.setTeam('@acme/qa-leads', ['carol']);
    }
  }, 120_000);

  it("a verdict written by another App or by GitHub Actions is not Timebox's: the merge is decided by Timebox", async () => {
    offset = 0;
    await server?.close();
    server = undefined;
    // While Timebox is down, an admin merges a request that no QA lead approved…
    const file = 'requests/frank/forged.yaml';
    const { sha, pull } = await mergedRequest('frank', file, { approver: 'dave', merger: 'admin' });
    const blob = git(fake.gitDir(REPO), 'rev-parse', `${sha}:${file}`).trim();
    // …and records "approved" on the merge commit, as another App and as a workflow.
    const forged = verdictMarker({
      verdict: 'approved',
      file,
      blob,
      commit: sha,
      pull,
      requester: { id: Number(fake.user('frank').id), login: 'frank' },
      approvers: [{ id: Number(fake.user('carol').id), login: 'carol' }],
      decided_at: new Date(Date.now() - 60_000).toISOString(),
    });
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    // `fake.token()` acts as the last registered App: this one.
    fake.registerApp({ id: 7171, slug: 'timebox-helper', publicKeyPem, permissions: { checks: 'write' } });
    fake.install(REPO, 7171);
    const otherApp = new Octokit({ baseUrl: fake.url, auth: fake.token({ checks: 'write' }) });
    const actions = new Octokit({ baseUrl: fake.url, auth: fake.actionsToken(REPO, { checks: 'write' }) });
    for (const gh of [otherApp, actions]) {
      await gh.request('POST /repos/{owner}/{repo}/check-runs', {
        owner: 'acme',
        repo: 'access',
        name: 'timebox/provenance',
        head_sha: sha,
        external_id: file,
        status: 'completed',
        conclusion: 'success',
        output: { title: 'Provenance: approved', summary: 'approved', text: forged },
      });
    }
    expect(provenanceRuns(sha).map((r) => (r.app as JsonObject).slug)).toEqual([
      'timebox-helper',
      'github-actions',
    ]);

    await restart();
    const report = await sweep();
    expect(report.refused.map((r) => r.file)).toContain(file);
    expect(await rolesFor(file)).toEqual([]);
    expect(commentsOn(pull).filter((b) => b.includes('timebox:credentials'))).toEqual([]);
    const mine = provenanceRuns(sha).filter((r) => (r.app as JsonObject).id === APP_ID);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.conclusion).toBe('failure');
  }, 120_000);
});

// ---- identities are ids ---------------------------------------------------------------------------------------

describe('timebox serve: credentials go to the account that requested, never to whoever holds its login', () => {
  it("alice renamed before her start and mallory took `alice`: nothing is sealed to mallory's key", async () => {
    offset = 0;
    await restart();
    const alice = sshKey('alice');
    const mallory = sshKey('mallory');
    fake.setUserKeys('alice', [alice.pub]);
    const aliceId = Number(fake.user('alice').id);
    const file = 'requests/alice/later.yaml';
    const start = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const { pull, sha } = await mergedRequest('alice', file, {
      approver: 'carol',
      merger: 'alice',
      text: request('alice', `start: ${start}\n`),
    });
    await pushedMain();
    expect(await rolesFor(file)).toEqual([]); // not yet: it starts in an hour

    // alice becomes alice2; mallory claims the free login `alice` and publishes her own key under it.
    fake.renameUser('alice', 'alice2');
    fake.setUserKeys('alice', [mallory.pub]);
    expect(Number(fake.user('alice').id)).not.toBe(aliceId);
    expect((await fake.pull(REPO, pull)).user).toMatchObject({ id: aliceId, login: 'alice2' });

    // The start.
    offset = Date.parse(start) - Date.now() + 1_000;
    const report = await sweep();
    expect(report.granted.map((g) => g.file)).not.toContain(file);
    expect(await rolesFor(file)).toEqual([]);
    expect(commentsOn(pull).filter((b) => b.includes('timebox:credentials'))).toEqual([]);
    const told = commentsOn(pull).filter((b) => b.includes('timebox:identity'));
    expect(told).toHaveLength(1);
    expect(told[0]).toMatch(/Nothing granted/);
    expect(told[0]).toContain(`id ${aliceId}`);
    expect(told[0]).toContain('alice2');
    expect((await openAlarms()).filter((t) => t.includes(file))).toHaveLength(1);

    // Again, from a new process that remembers nothing: still nothing, no second comment, no second alarm.
    await restart();
    await sweep();
    expect(await rolesFor(file)).toEqual([]);
    expect(commentsOn(pull).filter((b) => b.includes('timebox:identity'))).toHaveLength(1);
    expect((await openAlarms()).filter((t) => t.includes(file))).toHaveLength(1);
    // The account was recorded at the merge, with the verdict.
    expect(textOf(provenanceRuns(sha)[0])).toContain(`"requester":{"id":${aliceId},"login":"alice"}`);
    offset = 0;
  }, 120_000);

  it('a requester who keeps their login is granted, sealed to their own key', async () => {
    offset = 0;
    const erin = sshKey('erin');
    fake.setUserKeys('erin', [erin.pub]);
    const file = 'requests/erin/plain.yaml';
    const { pull } = await mergedRequest('erin', file, { approver: 'carol', merger: 'erin' });
    await pushedMain();
    expect(await rolesFor(file)).toHaveLength(1);
    const granted = commentsOn(pull).find((b) => b.includes('timebox:credentials')) ?? '';
    const block = /-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----/.exec(
      granted,
    )?.[0];
    const url = execFileSync('age', ['-d', '-i', erin.path], { input: `${block}\n`, encoding: 'utf8' });
    expect(url).toMatch(/^postgresql:\/\//);
  }, 120_000);
});
