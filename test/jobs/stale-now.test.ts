// A reconcile whose `now` went stale (issue 18, the chaos test). `timebox serve` reads the clock when a reconcile
// starts, then fetches the repository and asks the forge about provenance and credentials: seconds on a loaded
// machine. Meanwhile a grant may end and its revocation job revoke it (on this replica or another). The long
// chaos run caught a replica granting `chaos-2.yaml` again 3.5 s after that grant's end, right after revoking
// it: its reconcile had planned the targets as at its start. Now the targets are planned at the clock's time
// when they are changed, and a grant the run made that is over by the time the run finishes is revoked by it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Clock, fixedClock, systemClock } from '../../src/core/clock.js';
import { noticesFor } from '../../src/engine/notices/index.js';
import { CREDENTIALS_PREFIX } from '../../src/engine/notices/markers.js';
import { ProvisionMemory, provision } from '../../src/engine/provision.js';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { tokenClient } from '../../src/github/client.js';
import { githubForge } from '../../src/github/forge.js';
import { accessRepoRoot, ordersPolicy, qaOrganisation, registerTimeboxApp } from '../helpers/github.js';
import { createTestDatabase, dropRolesOf, query, type TestDatabase } from '../helpers/postgres.js';
import { shortRequest } from '../helpers/replicas.js';
import { AUDIT_YAML } from '../helpers/trust.js';

const BOT = 'timebox[bot]';
const APP_ID = 7307;
const FILE = 'requests/alice/orders.yaml';
const quiet = { info: () => {}, warn: () => {}, error: () => {} };
let fake: FakeGitHub;
let db: TestDatabase;
let dirs: string;
let repos = 0;
const made: string[] = [];

beforeAll(async () => {
  [fake, db] = await Promise.all([FakeGitHub.start(), createTestDatabase()]);
  registerTimeboxApp(fake, APP_ID);
  qaOrganisation(fake, ['alice', 'bob', 'carol']);
  dirs = mkdtempSync(join(tmpdir(), 'timebox-stale-now-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(dirs, 'id')]);
  fake.setUserKeys('alice', [execFileSync('cat', [join(dirs, 'id.pub')], { encoding: 'utf8' }).trim()]);
}, 120_000);

afterAll(async () => {
  for (const repo of made) await dropRolesOf(db.url, accessRepoRoot(fake, repo)).catch(() => undefined);
  await fake?.close();
  await db?.drop();
  rmSync(dirs, { recursive: true, force: true });
});

/** A merged, approved one-minute request; a mirror of the repository; the grant's end (from a dry run). */
async function mergedRequest() {
  repos += 1;
  const name = `acme/stale-${repos}`;
  await fake.createRepo(name, {
    author: 'admin',
    files: {
      'timebox.yaml': AUDIT_YAML,
      '.github/web-flow.gpg': fake.webFlowKey,
      'policies/qa.yaml': ordersPolicy(db.readRole),
      'README.md': `${name}\n`,
    },
  });
  fake.install(name, APP_ID);
  made.push(name);
  await fake.commit(name, { branch: 'access/alice', author: 'alice', files: { [FILE]: shortRequest() } });
  const pull = await fake.openPull({ repo: name, head: 'access/alice', user: 'alice', title: 'Orders' });
  await fake.review({ repo: name, pull, user: 'carol', state: 'APPROVED' });
  const tip = await fake.mergePull(name, pull, 'carol');
  const dir = join(dirs, name.replace('/', '-'));
  execFileSync('git', ['clone', '-q', '--mirror', fake.gitDir(name), dir]);
  const [owner = '', repo = ''] = name.split('/');
  const forge = githubForge(tokenClient(fake.token(), fake.url), { owner, repo });
  const run = (now: Date, clock?: Clock, dryRun = false) =>
    provision({
      forge,
      notices: noticesFor(forge, BOT),
      dir,
      tip,
      now,
      ...(clock ? { clock } : {}),
      env: { TIMEBOX_POSTGRES_ORDERS_URL: db.url },
      botLogin: BOT,
      appId: APP_ID,
      memory: new ProvisionMemory(),
      log: quiet,
      ...(dryRun ? { dryRun } : {}),
    });
  const planned = await run(systemClock.now(), undefined, true);
  const endsAt = Date.parse(String(planned.grants.find((g) => g.file === FILE)?.ends_at));
  expect(endsAt).toBeGreaterThan(systemClock.nowMs());
  return { name, pull, run, endsAt };
}

async function roles(name: string): Promise<string[]> {
  const { rows } = await query(
    db.url,
    `SELECT rolname FROM pg_roles WHERE starts_with(shobj_description(oid, 'pg_authid'), $1)`,
    [`timebox:{"owner":"${accessRepoRoot(fake, name)}"`],
  );
  return rows.map((r) => String(r.rolname));
}

const credentials = (name: string, pull: number) =>
  fake.comments.filter(
    (c) =>
      c.issue_url === `https://api.github.com/repos/${name}/issues/${pull}` &&
      (c.user as JsonObject).login === BOT &&
      String(c.body).startsWith(CREDENTIALS_PREFIX),
  ).length;

it('a run that started before a grant ended and reaches the targets after: nothing granted', async () => {
  const { name, pull, run, endsAt } = await mergedRequest();
  // Started while the grant was active; the clock has passed its end by the time the targets are changed.
  const done = await run(new Date(endsAt - 30_000), fixedClock(endsAt + 3_500));
  expect(done.result.granted).toEqual([]);
  expect(await roles(name)).toEqual([]);
  expect(credentials(name, pull)).toBe(0);
});

it('a grant made just as it ended: the same run revokes it, and no credentials are posted', async () => {
  const { name, pull, run, endsAt } = await mergedRequest();
  // The targets are planned before the end; by the time the grant is made, the end has passed.
  let reads = 0;
  const clock: Clock = {
    ...systemClock,
    now: () => new Date(clock.nowMs()),
    nowMs: () => (reads++ === 0 ? endsAt - 1_000 : endsAt + 1_000),
  };
  const done = await run(new Date(endsAt - 30_000), clock);
  expect(done.result.granted).toEqual([]);
  expect(done.result.revoked.map((r) => r.file)).toEqual([FILE]);
  expect(await roles(name)).toEqual([]);
  expect(credentials(name, pull)).toBe(0);
});
