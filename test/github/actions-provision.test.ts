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

async function roles(file: string): Promise<string[]> {
  const { rows } = await query(
    db.url,
    `SELECT rolname FROM pg_roles WHERE shobj_description(oid, 'pg_authid') LIKE $1`,
    [`timebox:%"file":"${file}"%`],
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
