// Actions-only provisioning for real: action.yml's "Provision" script (apply, expire) runs in bash in a
// clone of the fake's repository at the default branch, with a GITHUB_TOKEN-like token holding exactly the
// permissions timebox-apply.yml / timebox-expire.yml declare, against a real PostgreSQL.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Octokit } from '@octokit/rest';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { verdictMarker } from '../../src/core/provenance.js';
import { FakeGitHub } from '../../src/forge/fake-github.js';
import { ordersPolicy, runCollecting } from '../helpers/github.js';
import { createTestDatabase, dropRolesOf, query, type TestDatabase } from '../helpers/postgres.js';
import { ROOT, tempDir } from '../helpers/repo.js';

const REPO = 'acme/access';
const ACTION = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as {
  runs: { steps: { name?: string; run?: string }[] };
};
const SCRIPT = ACTION.runs.steps.find((s) => s.name === 'Provision')?.run ?? '';
const permissionsOf = (name: string) =>
  (
    parse(readFileSync(join(ROOT, `.github/workflows/${name}.yml`), 'utf8')) as {
      permissions: Record<string, 'read' | 'write'>;
    }
  ).permissions;

let fake: FakeGitHub;
let db: TestDatabase;
let keyDir: string;

const request = (who: string) =>
  `requester: ${who}\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1234\n`;

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/cli/main.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  db = await createTestDatabase();
  fake = await FakeGitHub.start();
  await fake.createRepo(REPO, {
    author: 'admin',
    files: {
      'policies/qa.yaml': ordersPolicy(db.readRole),
      '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
      'teams.yaml': '"@acme/qa": [alice, erin]\n"@acme/qa-leads": [carol]\n"@acme/security": [sam]\n',
    },
  });
  for (const login of ['alice', 'carol', 'erin', 'admin']) fake.setPermission(login, 'write');
  keyDir = tempDir('timebox-actions-keys-');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(keyDir, 'id')]);
  fake.setUserKeys('alice', [readFileSync(join(keyDir, 'id.pub'), 'utf8').trim()]);
}, 60_000);

afterAll(async () => {
  if (db && fake) {
    const root = execFileSync('git', ['-C', fake.gitDir(REPO), 'rev-list', '--max-parents=0', 'main'], {
      encoding: 'utf8',
    }).trim();
    await dropRolesOf(db.url, root);
  }
  await fake?.close();
  await db?.drop();
});

/** actions/checkout of the default branch (fetch-depth: 0, no credentials), then the action's script. */
async function runProvision(command: 'apply' | 'expire', token: string, argv: string[] = []) {
  const work = tempDir('timebox-actions-');
  const checkout = join(work, 'repo');
  execFileSync('git', ['clone', '-q', '--branch', 'main', fake.gitDir(REPO), checkout]);
  // The script's last line runs the CLI; extra arguments (a clock for the test) go after it.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash, not a template
  const cli = '"${args[@]}"';
  expect(SCRIPT).toContain(cli);
  const script = SCRIPT.replace(cli, `${cli} "$@"`);
  return runCollecting('bash', ['-c', script, 'provision', ...argv], {
    cwd: checkout,
    env: {
      PATH: process.env.PATH,
      HOME: work,
      GITHUB_ACTIONS: 'true',
      GITHUB_ACTION_PATH: ROOT,
      GITHUB_REPOSITORY: REPO,
      GITHUB_API_URL: fake.url,
      GITHUB_REF_NAME: 'main',
      RUNNER_TEMP: work,
      COMMAND: command,
      TEAMS_FILE: 'teams.yaml',
      GITHUB_TOKEN: token,
      TIMEBOX_POSTGRES_ORDERS_URL: db.url,
    },
  });
}

/** This run's roles for `file` (roles are cluster-wide: other runs' are told apart by the repo's root commit). */
async function roles(file: string): Promise<string[]> {
  const root = execFileSync('git', ['-C', fake.gitDir(REPO), 'rev-list', '--max-parents=0', 'main'], {
    encoding: 'utf8',
  }).trim();
  const { rows } = await query(
    db.url,
    `SELECT rolname FROM pg_roles WHERE shobj_description(oid, 'pg_authid') LIKE $1`,
    [`timebox:{"owner":"${root}"%"file":"${file}"%`],
  );
  return rows.map((r) => String(r.rolname));
}

describe('action.yml apply and expire (Actions-only provisioning)', () => {
  it('provisions only what an approved, merged PR brought in; expire revokes and merges the revert PR', async () => {
    const file = 'requests/alice/orders.yaml';
    await fake.commit(REPO, { branch: 'access/alice', files: { [file]: request('alice') }, author: 'alice' });
    const pull = await fake.openPull({ repo: REPO, head: 'access/alice', user: 'alice' });
    await fake.review({ repo: REPO, pull, user: 'carol', state: 'APPROVED' });
    await fake.mergePull(REPO, pull, 'alice');
    const direct = 'requests/erin/direct.yaml';
    const sha = await fake.commit(REPO, {
      branch: 'main',
      files: { [direct]: request('erin') },
      author: 'erin',
    });

    const applyToken = fake.actionsToken(REPO, permissionsOf('timebox-apply'));
    const first = await runProvision('apply', applyToken);
    expect(first.stderr).toContain('provisioning only what approved, merged pull requests brought in');
    expect(first.status, first.stderr).toBe(1); // the refused direct push makes the run fail: someone must look
    expect(first.stdout).toMatch(new RegExp(`granted\\s+${file}`));
    expect(first.stderr).toMatch(new RegExp(`ALARM: ${direct} refused: .*direct push`));
    expect(await roles(file)).toHaveLength(1);
    expect(await roles(direct)).toEqual([]);

    const gh = new Octokit({ baseUrl: fake.url, auth: fake.token() });
    const comments = async () =>
      (
        await gh.request('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', {
          owner: 'acme',
          repo: 'access',
          issue_number: pull,
        })
      ).data;
    const delivered = (await comments()).filter((c) => c.body?.includes('timebox:credentials'));
    expect(delivered).toHaveLength(1);
    expect(delivered[0]?.user?.login).toBe('github-actions[bot]');
    const block = /-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----/.exec(
      delivered[0]?.body ?? '',
    )?.[0];
    const url = execFileSync('age', ['-d', '-i', join(keyDir, 'id')], {
      input: `${block}\n`,
      encoding: 'utf8',
    }).trim();
    const session = new pg.Client({ connectionString: url });
    await session.connect();
    const cut = new Promise<string>((resolve) => session.on('error', (e) => resolve(e.message)));
    expect((await session.query('SELECT 1 AS one')).rows[0].one).toBe(1);

    const { data: alarms } = await gh.request('GET /repos/{owner}/{repo}/issues', {
      owner: 'acme',
      repo: 'access',
      labels: 'timebox-alarm',
    });
    expect(alarms.filter((a) => a.title.includes(direct) && a.title.includes(sha.slice(0, 7)))).toHaveLength(
      1,
    );

    // The next push runs apply again: nothing granted twice, no second comment, no second alarm.
    const second = await runProvision('apply', applyToken);
    expect(second.stdout).not.toContain('granted ');
    expect((await comments()).filter((c) => c.body?.includes('timebox:credentials'))).toHaveLength(1);

    // The schedule before expiry: nothing to revoke.
    const expireToken = fake.actionsToken(REPO, permissionsOf('timebox-expire'));
    const early = await runProvision('expire', expireToken);
    expect(early.stdout).not.toContain('revoked');
    expect(await roles(file)).toHaveLength(1);

    // After expiry (the clock passed in): revoked, session cut, revert PR opened and merged.
    const later = new Date(Date.now() + 3 * 3_600_000).toISOString();
    const expired = await runProvision('expire', expireToken, ['--at', later]);
    expect(expired.stdout).toMatch(new RegExp(`revoked\\s+${file}`));
    expect(expired.stdout).toMatch(new RegExp(`reverted\\s+${file}\\s+PR #\\d+ merged`));
    expect(await roles(file)).toEqual([]);
    expect(await cut).toMatch(/terminat/i);
    const tree = execFileSync('git', ['-C', fake.gitDir(REPO), 'ls-tree', '-r', '--name-only', 'main'], {
      encoding: 'utf8',
    });
    expect(tree).not.toContain(file);
    const message = execFileSync('git', ['-C', fake.gitDir(REPO), 'log', '-1', '--format=%B', 'main'], {
      encoding: 'utf8',
    });
    expect(message).toContain('Timebox-Revocation-Reason: expired');
    fake.assertClean();
  }, 120_000);

  // Verdicts are recorded on the merge commit and read back by every later run (whose memory is fresh): a
  // merge is never judged again with the team file as it is today (issue 21.2).
  it('an admin-merged request stays refused after its approver joins the team; a grant stays after its approver leaves', async () => {
    fake.setPermission('dave', 'write');
    const applyToken = fake.actionsToken(REPO, permissionsOf('timebox-apply'));
    const teams = (leads: string) =>
      fake.commit(REPO, {
        branch: 'main',
        files: {
          'teams.yaml': `"@acme/qa": [alice, erin]\n"@acme/qa-leads": [${leads}]\n"@acme/security": [sam]\n`,
        },
        author: 'admin',
      });
    const merged = async (who: string, file: string, approver: string, merger: string) => {
      const branch = `access/${file.replace(/[^a-z0-9]+/gi, '-')}`;
      await fake.commit(REPO, { branch, files: { [file]: request(who) }, author: who });
      const pull = await fake.openPull({ repo: REPO, head: branch, user: who });
      await fake.review({ repo: REPO, pull, user: approver, state: 'APPROVED' });
      return { pull, sha: await fake.mergePull(REPO, pull, merger) };
    };

    // dave is no QA lead: the admin's merge is refused and recorded so.
    const bypass = 'requests/erin/bypass.yaml';
    const { sha } = await merged('erin', bypass, 'dave', 'admin');
    const first = await runProvision('apply', applyToken);
    expect(first.status, first.stderr).toBe(1);
    expect(first.stderr).toMatch(new RegExp(`ALARM: ${bypass} refused: .*while pending`));
    expect(await roles(bypass)).toEqual([]);

    // dave joins the QA leads in the teams file; the next run (fresh memory) reads the verdict back.
    await teams('carol, dave');
    const again = await runProvision('apply', applyToken);
    expect(again.stderr).toMatch(new RegExp(`ALARM: ${bypass} refused`));
    expect(again.stdout).not.toMatch(new RegExp(`granted\\s+${bypass}`));
    expect(await roles(bypass)).toEqual([]);
    const recorded = fake.checkRuns.filter((r) => r.head_sha === sha && r.name === 'timebox/provenance');
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ conclusion: 'failure', external_id: bypass });
    expect((recorded[0]?.app as { slug?: string } | undefined)?.slug).toBe('github-actions');

    // A grant carol approved stays when carol leaves the QA leads.
    const legit = 'requests/alice/legit.yaml';
    await merged('alice', legit, 'carol', 'alice');
    const granted = await runProvision('apply', applyToken);
    expect(granted.stdout).toMatch(new RegExp(`granted\\s+${legit}`));
    const held = await roles(legit);
    expect(held).toHaveLength(1);
    await teams('dave');
    const after = await runProvision('apply', applyToken);
    expect(after.stdout).not.toMatch(new RegExp(`revoked\\s+${legit}`));
    expect(after.stderr).not.toMatch(new RegExp(`ALARM: ${legit}`));
    expect(await roles(legit)).toEqual(held);
    await teams('carol');
  }, 180_000);

  // In Actions mode every workflow writes as github-actions: a recorded approval must also agree with what
  // cannot change after a merge, so a forged one cannot let a direct push through.
  it("a forged 'approved' record cannot let a direct push through", async () => {
    const direct = 'requests/erin/forged.yaml';
    const sha = await fake.commit(REPO, {
      branch: 'main',
      files: { [direct]: request('erin') },
      author: 'erin',
    });
    const blob = execFileSync('git', ['-C', fake.gitDir(REPO), 'rev-parse', `${sha}:${direct}`], {
      encoding: 'utf8',
    }).trim();
    const other = new Octokit({ baseUrl: fake.url, auth: fake.actionsToken(REPO, { checks: 'write' }) });
    await other.request('POST /repos/{owner}/{repo}/check-runs', {
      owner: 'acme',
      repo: 'access',
      name: 'timebox/provenance',
      head_sha: sha,
      external_id: direct,
      status: 'completed',
      conclusion: 'success',
      output: {
        title: 'approved',
        summary: 'approved',
        text: verdictMarker({
          verdict: 'approved',
          file: direct,
          blob,
          commit: sha,
          pull: 1,
          requester: { id: Number(fake.user('erin').id), login: 'erin' },
          approvers: [{ id: Number(fake.user('carol').id), login: 'carol' }],
          decided_at: new Date().toISOString(),
        }),
      },
    });
    const run = await runProvision('apply', fake.actionsToken(REPO, permissionsOf('timebox-apply')));
    expect(run.stderr).toMatch(new RegExp(`ALARM: ${direct} refused: the recorded approval does not hold`));
    expect(await roles(direct)).toEqual([]);
  }, 120_000);

  it('uses no permission beyond what the apply and expire workflows declare', () => {
    const declared = { ...permissionsOf('timebox-apply'), ...permissionsOf('timebox-expire') };
    const used = fake.actionsPermissionsUsed as Record<string, string>;
    expect(Object.keys(used)).toContain('issues');
    for (const [scope, level] of Object.entries(used)) {
      if (scope === 'metadata') continue;
      const have = declared[scope.replace('_', '-')] ?? declared[scope];
      expect(have, `${scope}:${level}`).toBeDefined();
      if (level === 'write') expect(have, `${scope}:${level}`).toBe('write');
    }
  });
});
