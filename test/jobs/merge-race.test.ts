// A provenance verdict decided while Timebox's own merge is under way (issue 18, the chaos test). With replicas,
// the replica that merges an approved request is not the one that judges it: any other replica may be reading
// the repository at that moment (its catch-up reconcile after a restart, a push or a redelivery), and the
// verdict it decides is recorded on the merge commit once and for good. So whatever GitHub shows while the
// base branch moves must judge the merge approved: the pull request is merged from the moment the branch
// holds its merge commit, with the head and base it was merged from.
//
// The chaos test found the GitHub double's merge was not atomic for such a reader: between `git update-ref`
// and marking the pull request merged, a read took the merge commit for the open pull request's base (no
// files: "merged in #7 while not decided at its head"), or listed no pull request for the commit, and the
// refusal was recorded. Here the reader runs exactly then: the double's branch update is held at that point.
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import type { Forge } from '../../src/engine/forge.js';
import { noticesFor } from '../../src/engine/notices/index.js';
import { checkPullRequest } from '../../src/engine/pull-check.js';
import { checkPush } from '../../src/engine/push.js';
import { readVerdictRecords, verdictAuthor } from '../../src/engine/verdicts.js';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { GitRepo } from '../../src/forge/git-store.js';
import { tokenClient } from '../../src/github/client.js';
import { githubForge } from '../../src/github/forge.js';
import { ordersPolicy, qaOrganisation, registerTimeboxApp, requestYaml } from '../helpers/github.js';
import { AUDIT_YAML } from '../helpers/trust.js';

const BOT = 'timebox[bot]';
const APP_ID = 7306;
const FILE = 'requests/alice/orders.yaml';
let fake: FakeGitHub;
let repos = 0;

beforeAll(async () => {
  fake = await FakeGitHub.start();
  registerTimeboxApp(fake, APP_ID);
  qaOrganisation(fake, ['alice', 'bob', 'carol']);
});

afterAll(async () => {
  vi.restoreAllMocks();
  await fake?.close();
});

/** A fresh access repository (auto_merge) with alice's request pull request, approved by carol. */
async function approvedRequest(): Promise<{ name: string; forge: Forge; pull: number }> {
  repos += 1;
  const name = `acme/race-${repos}`;
  await fake.createRepo(name, {
    author: 'admin',
    files: {
      'timebox.yaml': `auto_merge: true\n${AUDIT_YAML}`,
      '.github/web-flow.gpg': fake.webFlowKey,
      'policies/qa.yaml': ordersPolicy('timebox_race_read'),
      'README.md': `${name}\n`,
    },
  });
  fake.install(name, APP_ID);
  await fake.commit(name, {
    branch: 'access/alice',
    author: 'alice',
    files: { [FILE]: requestYaml('alice') },
  });
  const pull = await fake.openPull({ repo: name, head: 'access/alice', user: 'alice', title: 'Orders' });
  await fake.review({ repo: name, pull, user: 'carol', state: 'APPROVED' });
  const [owner = '', repo = ''] = name.split('/');
  return { name, forge: githubForge(tokenClient(fake.token(), fake.url), { owner, repo }), pull };
}

/**
 * Runs `reader` once, right after the base branch `main` of the merge has moved on disk and before the double's
 * merge goes on (what a reader on another replica may hit), and returns what it gave.
 */
function whileTheBranchMoves<T>(reader: (before: string, after: string) => Promise<T>): { read: Promise<T> } {
  let done: (v: T) => void = () => {};
  let failed: (e: unknown) => void = () => {};
  const read = new Promise<T>((resolve, reject) => {
    done = resolve;
    failed = reject;
  });
  const update = GitRepo.prototype.updateBranch;
  let once = false;
  vi.spyOn(GitRepo.prototype, 'updateBranch').mockImplementation(async function (
    this: GitRepo,
    branch: string,
    sha: string,
    old: string | undefined,
  ) {
    await update.call(this, branch, sha, old);
    if (branch !== 'main' || once || !old) return;
    once = true;
    await reader(old, sha).then(done, failed);
  });
  return { read };
}

const alarms = async (name: string): Promise<JsonObject[]> => {
  const out: JsonObject[] = [];
  for (let n = 1; n < 10; n++) {
    const i = await (async () => fake.issue(name, n))().catch(() => undefined);
    if (i && !i.pull_request) out.push(i);
  }
  return out;
};

const pushOf = (before: string, after: string) => ({
  ref: 'refs/heads/main',
  before,
  after,
  defaultBranch: 'main',
});

it('a push handled while the merge moves the branch: approved, recorded approved, no alarm', async () => {
  const { name, forge, pull } = await approvedRequest();
  const opts = { clock: systemClock, botLogin: BOT, notices: noticesFor(forge, BOT), appId: APP_ID };
  const race = whileTheBranchMoves((before, after) => checkPush(forge, pushOf(before, after), opts));
  const merged = await checkPullRequest(forge, pull, opts);
  vi.restoreAllMocks();
  expect(merged.merged).toBeDefined();
  const during = await race.read;
  expect(during.provenance.map((p) => [p.path, p.ok, p.pull])).toEqual([[FILE, true, pull]]);
  const records = await readVerdictRecords(forge, String(merged.merged), verdictAuthor(BOT, APP_ID));
  expect(records.map((r) => ('verdict' in r.verdict ? r.verdict.verdict : 'unreadable'))).toEqual([
    'approved',
  ]);
  expect(await alarms(name)).toEqual([]);
});

it('the pull request read while the merge moves the branch: it keeps the files it merged', async () => {
  const { name, forge, pull } = await approvedRequest();
  const race = whileTheBranchMoves(async () => forge.pull(pull));
  const opts = { clock: systemClock, botLogin: BOT, notices: noticesFor(forge, BOT), appId: APP_ID };
  const merged = await checkPullRequest(forge, pull, opts);
  vi.restoreAllMocks();
  const during = await race.read;
  // Never open with the branch already holding its merge commit.
  expect([during.merged_at !== null, during.merge_commit_sha]).toEqual([true, merged.merged]);
  expect((await forge.pullFiles(pull)).map((f) => f.filename)).toEqual([FILE]);
  const base = (await fake.pull(name, pull)).base as JsonObject;
  const after = await fake.branchSha(name, 'main');
  expect(base.sha).not.toBe(after);
  const pushed = await checkPush(forge, pushOf(String(base.sha), String(after)), opts);
  expect(pushed.provenance.map((p) => [p.path, p.ok])).toEqual([[FILE, true]]);
  expect(await alarms(name)).toEqual([]);
});
