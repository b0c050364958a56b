// The policy-change check in Actions: `timebox whatif --base origin/<base> --pull-request N` in a clone of the
// GitHub double's repository checked out at the pull request's head (as actions/checkout with fetch-depth: 0
// leaves it), with the read-only token timebox-whatif.yml's `permissions:` give. A request merged by Timebox
// (trailers on a web-flow-signed merge) and the open request pull requests (one whose head the checkout lacks,
// fetched by commit) are replayed; the notice, stdout and the step summary say what changes. Then the shipped
// action.yml "Replay" script itself, in bash, as the runner runs it.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { ordersPolicy, registerTimeboxApp, runCollecting } from '../helpers/github.js';
import { ROOT, run, tempDir } from '../helpers/repo.js';
import { AUDIT_YAML } from '../helpers/trust.js';

const REPO = 'acme/access';
const WORKFLOW = parse(readFileSync(join(ROOT, '.github/workflows/timebox-whatif.yml'), 'utf8')) as {
  permissions: Record<string, 'read' | 'write'>;
};
const ACTION = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as {
  runs: { steps: { name?: string; run?: string }[] };
};
const SCRIPT = ACTION.runs.steps.find((s) => s.name === 'Replay')?.run ?? '';
const TEAMS = '"@acme/qa": [alice, bob, erin]\n"@acme/qa-leads": [carol]\n';

let fake: FakeGitHub;
let token: string;
let n = 0;

const request = (requester: string, duration: string) =>
  `requester: ${requester}\nresource: orders-db\nrole: read-only\nduration: ${duration}\nreason: Reproduce BUG-1234\n`;
const policy = (max: string) =>
  ordersPolicy('orders_read').replace('max_duration: 4h', `max_duration: ${max}`);

async function openPull(
  user: string,
  files: Record<string, string>,
): Promise<{ pull: number; head: string }> {
  n += 1;
  const branch = `change/${user}-${n}`;
  await fake.commit(REPO, { branch, files, author: user });
  const pull = await fake.openPull({ repo: REPO, head: branch, user });
  return { pull, head: String(((await fake.pull(REPO, pull)).head as JsonObject).sha) };
}

/** actions/checkout of `head` with fetch-depth: 0 (every branch of the repository as it is now). */
function checkout(head: string): { dir: string; summary: string; work: string } {
  const work = tempDir('timebox-whatif-actions-');
  const dir = join(work, 'repo');
  execFileSync('git', ['clone', '-q', fake.gitDir(REPO), dir]);
  execFileSync('git', ['-C', dir, 'checkout', '-q', '--detach', head]);
  return { dir, work, summary: join(work, 'summary.md') };
}

const env = (summary: string, extra: Record<string, string> = {}) => ({
  GITHUB_ACTIONS: 'true',
  GITHUB_REPOSITORY: REPO,
  GITHUB_API_URL: fake.url,
  GITHUB_STEP_SUMMARY: summary,
  GITHUB_TOKEN: token,
  ...extra,
});

let tight: { pull: number; head: string };
let late: { pull: number; head: string };
let co: ReturnType<typeof checkout>;

beforeAll(async () => {
  fake = await FakeGitHub.start();
  registerTimeboxApp(fake, 7171);
  await fake.createRepo(REPO, {
    author: 'admin',
    files: {
      'timebox.yaml': AUDIT_YAML,
      '.github/web-flow.gpg': fake.webFlowKey,
      'policies/qa.yaml': policy('4h'),
      'teams.yaml': TEAMS,
    },
  });
  for (const login of ['alice', 'bob', 'carol', 'erin', 'admin']) fake.setPermission(login, 'write');
  token = fake.actionsToken(REPO, WORKFLOW.permissions);
  // History: alice's 3h read, approved by carol, merged by Timebox with its trailers.
  const merged = await openPull('alice', { 'requests/alice/long.yaml': request('alice', '3h') });
  await fake.mergePull(REPO, merged.pull, 'timebox[bot]', {
    title: `Grant requests/alice/long.yaml (#${merged.pull})`,
    message: `Timebox-Request: requests/alice/long.yaml\nTimebox-Requested-By: alice\nTimebox-Approved-By: carol\nTimebox-Pull-Request: ${merged.pull}\n`,
  });
  await openPull('bob', { 'requests/bob/open.yaml': request('bob', '3h') });
  tight = await openPull('admin', { 'policies/qa.yaml': policy('2h') });
  co = checkout(tight.head);
  // Opened after the checkout: its head is fetched by commit.
  late = await openPull('erin', { 'requests/erin/late.yaml': request('erin', '3h') });
}, 60_000);

afterAll(async () => {
  await fake?.close();
});

describe('timebox whatif --pull-request (Actions)', () => {
  it('a tightened rule: the merged request and the open ones it would now deny, in the notice and the summary', async () => {
    const r = await run(
      ['whatif', '--base', 'origin/main', '--pull-request', String(tight.pull), '--teams', 'teams.yaml'],
      {
        cwd: co.dir,
        env: env(co.summary),
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const title = '1 past request would now be denied, 2 open requests become denied';
    expect(r.stdout).toContain(`::notice title=timebox / policy change::${title}\n`);
    expect(r.stdout).toContain('approved → denied');
    expect(r.stdout).toMatch(/requests\/erin\/late\.yaml {2}open, at .* {2}pending → denied/);
    const summary = readFileSync(co.summary, 'utf8');
    expect(summary).toContain(`## timebox / policy change\n\n**${title}**`);
    expect(summary).toMatch(
      /\*\*approved → denied\*\* · requests\/alice\/long\\\.yaml · merged in [0-9a-f]{7}/,
    );
    expect(summary).toContain(`open in #${late.pull}`);
    // The late pull request's head is now in the checkout, fetched by its commit.
    execFileSync('git', ['-C', co.dir, 'cat-file', '-e', `${late.head}^{commit}`]);
  });

  it('a pull request that changes nothing that decides requests: said, with no API request (no token needed)', async () => {
    const req = await openPull('bob', { 'requests/bob/other.yaml': request('bob', '1h') });
    const c = checkout(req.head);
    const r = await run(['whatif', '--base', 'origin/main', '--pull-request', String(req.pull)], {
      cwd: c.dir,
      env: env(c.summary, { GITHUB_TOKEN: '' }),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('changes nothing that decides requests');
    expect(readFileSync(c.summary, 'utf8')).toContain('nothing to replay');
  });

  it('action.yml runs it (command: whatif) in bash as the runner does', async () => {
    if (!existsSync(join(ROOT, 'dist/cli/main.js')))
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    const c = checkout(tight.head);
    const r = await runCollecting('bash', ['-c', SCRIPT], {
      cwd: c.dir,
      env: {
        PATH: process.env.PATH,
        HOME: c.work,
        GITHUB_ACTION_PATH: ROOT,
        RUNNER_TEMP: c.work,
        BASE_REF: 'main',
        PR_NUMBER: String(tight.pull),
        TEAMS_FILE: 'teams.yaml',
        ...env(c.summary),
      },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      '::notice title=timebox / policy change::1 past request would now be denied, 2 open requests become denied',
    );
    // A shallow checkout is refused: the history is what is replayed.
    const shallow = tempDir('timebox-whatif-shallow-');
    execFileSync('git', [
      'clone',
      '-q',
      '--depth',
      '1',
      `file://${fake.gitDir(REPO)}`,
      join(shallow, 'repo'),
    ]);
    const refused = await runCollecting('bash', ['-c', SCRIPT], {
      cwd: join(shallow, 'repo'),
      env: {
        PATH: process.env.PATH,
        HOME: shallow,
        GITHUB_ACTION_PATH: ROOT,
        RUNNER_TEMP: shallow,
        BASE_REF: 'main',
        PR_NUMBER: '1',
        TEAMS_FILE: '',
        ...env(join(shallow, 's.md')),
      },
    });
    expect(refused.status).toBe(2);
    expect(refused.stdout).toContain('fetch-depth: 0');
  });
});
