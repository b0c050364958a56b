// Actions mode for real: the "Decide" script of action.yml runs in bash, in a clone of the fake's git
// repository checked out at the PR head, with a read-only GITHUB_TOKEN-like token, as the runner would.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { requestYaml, runCollecting } from '../helpers/github.js';
import { ROOT, tempDir } from '../helpers/repo.js';
import { unloggedCommit as unloggedCommitOn } from '../helpers/serve.js';

const REPO = 'acme/access';
const ACTION = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as {
  runs: { steps: { name?: string; run?: string }[] };
};
const SCRIPT = ACTION.runs.steps.find((s) => s.name === 'Decide')?.run ?? '';
const WORKFLOW = parse(readFileSync(join(ROOT, '.github/workflows/timebox-check.yml'), 'utf8')) as {
  permissions: Record<string, 'read' | 'write'>;
};

let fake: FakeGitHub;
let token: string;
let n = 0;

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/cli/main.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  fake = await FakeGitHub.start();
  await fake.createRepo(REPO, {
    author: 'admin',
    files: {
      'policies/qa.yaml': readFileSync(join(ROOT, 'policies/qa.yaml'), 'utf8'),
      '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
      'teams.yaml': readFileSync(join(ROOT, 'teams.example.yaml'), 'utf8'),
    },
  });
  fake.setTeam('@acme/qa', ['alice', 'bob']);
  fake.setTeam('@acme/qa-leads', ['carol']);
  for (const login of ['alice', 'bob', 'carol', 'mallory']) fake.setPermission(login, 'write');
  // What the workflow's `permissions:` block gives GITHUB_TOKEN.
  token = fake.actionsToken(REPO, WORKFLOW.permissions);
}, 30_000);

afterAll(async () => {
  await fake?.close();
});

async function openPull(
  user: string,
  files: Record<string, string>,
): Promise<{ pull: number; head: string }> {
  n += 1;
  const branch = `access/${user}-${n}`;
  await fake.commit(REPO, { branch, files, author: user });
  const pull = await fake.openPull({ repo: REPO, head: branch, user });
  return { pull, head: String(((await fake.pull(REPO, pull)).head as JsonObject).sha) };
}

/**
 * Moves the pull request's branch to a new commit that GitHub's activity log does not show (helpers/serve.ts).
 * Returns the old and the new head.
 */
async function unloggedCommit(pull: number): Promise<{ before: string; after: string }> {
  return unloggedCommitOn(fake, REPO, String(((await fake.pull(REPO, pull)).head as JsonObject).ref));
}

/** actions/checkout with fetch-depth: 0 and persist-credentials: false, then the action's script. */
async function runAction(pull: number, head: string, extra: Record<string, string> = {}) {
  const work = tempDir('timebox-actions-');
  const checkout = join(work, 'repo');
  execFileSync('git', ['clone', '-q', fake.gitDir(REPO), checkout]);
  execFileSync('git', ['-C', checkout, 'checkout', '-q', '--detach', head]);
  const summary = join(work, 'summary.md');
  const r = await runCollecting('bash', ['-c', SCRIPT], {
    cwd: checkout,
    env: {
      PATH: process.env.PATH,
      HOME: work,
      GITHUB_ACTIONS: 'true',
      GITHUB_ACTION_PATH: ROOT,
      GITHUB_REPOSITORY: REPO,
      GITHUB_API_URL: fake.url,
      GITHUB_STEP_SUMMARY: summary,
      RUNNER_TEMP: work,
      BASE_REF: 'main',
      PR_NUMBER: String(pull),
      HEAD_SHA: head,
      REQUIRE_APPROVED: 'true',
      TEAMS_FILE: '',
      GITHUB_TOKEN: token,
      ...extra,
    },
  });
  return { ...r, summary: existsSync(summary) ? readFileSync(summary, 'utf8') : '' };
}

describe('action.yml in a runner-like checkout', () => {
  it('fails while pending and passes once a lead approved the checked-out commit', async () => {
    const { pull, head } = await openPull('alice', { 'requests/alice/a.yaml': requestYaml('alice') });
    const pending = await runAction(pull, head, { TEAMS_FILE: 'teams.yaml' });
    expect(pending.status, pending.stderr).toBe(1);
    expect(pending.stdout).toContain('pending   requests/alice/a.yaml');
    expect(pending.summary).toContain('⏳ pending');
    // The preview names the role apply would create: tagged with the access repo's root commit.
    const root = execFileSync('git', ['-C', fake.gitDir(REPO), 'rev-list', '--max-parents=0', 'main'], {
      encoding: 'utf8',
    }).trim();
    expect(pending.summary).toContain(`"owner":"${root}"`);

    await fake.review({ repo: REPO, pull, user: 'carol', state: 'APPROVED' });
    const approved = await runAction(pull, head, { TEAMS_FILE: 'teams.yaml' });
    expect(approved.status, approved.stderr).toBe(0);
    expect(approved.summary).toContain('✅ approved');
    fake.assertClean();
  });

  it('the workflow token cannot read teams: without a teams file they approve nobody, and it says so', async () => {
    const { pull, head } = await openPull('alice', { 'requests/alice/b.yaml': requestYaml('alice') });
    await fake.review({ repo: REPO, pull, user: 'carol', state: 'APPROVED' });
    const r = await runAction(pull, head);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/team @acme\/qa-leads .*approves nothing/);
  });

  it('a PR cannot add its friend to a team: the teams file is governance, and read from the base branch', async () => {
    const teams = `${readFileSync(join(ROOT, 'teams.example.yaml'), 'utf8')}`.replace(
      '"@acme/qa-leads": [carol]',
      '"@acme/qa-leads": [carol, mallory]',
    );
    expect(teams).toContain('mallory');
    const { pull, head } = await openPull('alice', {
      'requests/alice/c.yaml': requestYaml('alice'),
      'teams.yaml': teams,
    });
    await fake.review({ repo: REPO, pull, user: 'mallory', state: 'APPROVED' });
    const r = await runAction(pull, head, { TEAMS_FILE: 'teams.yaml' });
    expect(r.status).toBe(1);
    // Changing the teams file beside a request is denied outright (timebox/separate-review); even so,
    // mallory's approval never counts, since the action reads the teams file as the base branch has it.
    expect(r.stdout).toContain('denied    requests/alice/c.yaml');
    expect(r.stdout).toContain('teams.yaml');
    expect(r.stdout).not.toContain('approved  requests/alice/c.yaml');
  });

  it('an approval of another commit than the checked-out one does not count', async () => {
    const { pull, head } = await openPull('alice', { 'requests/alice/d.yaml': requestYaml('alice') });
    await fake.review({ repo: REPO, pull, user: 'carol', state: 'APPROVED', commitId: 'f'.repeat(40) });
    expect((await runAction(pull, head, { TEAMS_FILE: 'teams.yaml' })).status).toBe(1);
  });

  it('denied and invalid requests become workflow annotations at file:line', async () => {
    const { pull, head } = await openPull('alice', {
      'requests/alice/e.yaml': requestYaml('alice').replace('orders-db', 'billing-db'),
      'requests/alice/f.yaml': requestYaml('alice').replace('duration: 2h', 'duration: forever'),
    });
    const r = await runAction(pull, head, { TEAMS_FILE: 'teams.yaml' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^::error file=requests\/alice\/e\.yaml,line=1,title=denied by no-billing::/m);
    expect(r.stdout).toMatch(
      /^::error file=requests\/alice\/f\.yaml,line=4,col=\d+,title=invalid%3A \$\.duration::/m,
    );
  });

  it('who pushed decides, not who a commit claims to be: a lead who pushed as the requester cannot approve', async () => {
    const { pull } = await openPull('bob', { 'requests/bob/claim.yaml': requestYaml('bob') });
    const branch = String(((await fake.pull(REPO, pull)).head as JsonObject).ref);
    const head = await fake.commit(REPO, {
      branch,
      files: { 'requests/bob/claim.yaml': requestYaml('bob', 'ticket: BUG-1234\n') },
      author: { name: 'Bob', email: 'bob@users.noreply.github.com' },
      pusher: 'carol',
    });
    await fake.review({ repo: REPO, pull, user: 'carol', state: 'APPROVED' });
    const r = await runAction(pull, head, { TEAMS_FILE: 'teams.yaml' });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toContain('pending   requests/bob/claim.yaml');
    expect(r.summary).toMatch(/not counted: @carol pushed to this pull request/);
  });

  it('a push GitHub’s log does not show fails closed, and the job says why', async () => {
    const { pull } = await openPull('alice', { 'requests/alice/unlogged.yaml': requestYaml('alice') });
    const { after: head } = await unloggedCommit(pull);
    await fake.review({ repo: REPO, pull, user: 'carol', state: 'APPROVED' });
    const r = await runAction(pull, head, { TEAMS_FILE: 'teams.yaml' });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain(`who pushed to this pull request is unknown: GitHub's activity log`);
    expect(r.stdout).toMatch(/^::warning title=timebox::who pushed to this pull request is unknown/m);
    expect(r.summary).toMatch(
      /not counted: @carol cannot count while who pushed to this pull request is unknown/,
    );
    expect(r.summary).toContain(`no push of the head commit ${head.slice(0, 7)}`);
  });

  it('the synchronize event the job runs for bridges a log that does not show the push yet', async () => {
    const { pull } = await openPull('alice', { 'requests/alice/lagging.yaml': requestYaml('alice') });
    const { before, after } = await unloggedCommit(pull);
    await fake.review({ repo: REPO, pull, user: 'carol', state: 'APPROVED' });
    const event = join(tempDir('timebox-event-'), 'event.json');
    const payload = await fake.webhookPayload('pull_request', 'synchronize', {
      repo: REPO,
      pull,
      sender: 'mallory',
      before,
    });
    writeFileSync(event, JSON.stringify(payload));
    const bridged = await runAction(pull, after, {
      TEAMS_FILE: 'teams.yaml',
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_EVENT_PATH: event,
    });
    expect(bridged.status, bridged.stderr).toBe(0);
    expect(bridged.summary).toContain('✅ approved');
    // The event of another pull request bridges nothing.
    writeFileSync(event, JSON.stringify({ ...payload, number: pull + 1000 }));
    const other = await runAction(pull, after, {
      TEAMS_FILE: 'teams.yaml',
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_EVENT_PATH: event,
    });
    expect(other.status).toBe(1);
  });

  it('needs no more than the read-only permissions the workflow declares', () => {
    const used = fake.actionsPermissionsUsed as Record<string, string>;
    expect(Object.keys(used).length).toBeGreaterThan(0);
    for (const [scope, level] of Object.entries(used)) {
      if (scope === 'metadata') continue; // every GITHUB_TOKEN has metadata:read
      const key = scope.replace('_', '-');
      expect(WORKFLOW.permissions[key] ?? WORKFLOW.permissions[scope], `${scope}:${level}`).toBe('read');
      expect(level).toBe('read');
    }
  });
});
