// What the replica tests share: the state database and its role made by the SQL docs/deployment.md prescribes
// ("The state database"), the access repo on the fake GitHub with one requester who has an SSH key, and
// waiting on conditions.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import type { FakeGitHub } from '../../src/forge/fake-github.js';
import { ordersPolicy, qaOrganisation, registerTimeboxApp } from './github.js';
import { adminUrl, query } from './postgres.js';
import { ROOT } from './repo.js';
import { AUDIT_YAML } from './trust.js';

export interface StateDatabase {
  url: string;
  role: string;
  database: string;
  drop(): Promise<void>;
}

/** The SQL block under "### The state database" in docs/deployment.md, with this run's names. */
export function docsStateSql(role: string, database: string): string[] {
  const doc = readFileSync(join(ROOT, 'docs/deployment.md'), 'utf8');
  const section = doc.slice(doc.indexOf('### The state database'));
  const block = /```sql\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('docs/deployment.md has no sql block under "The state database"');
  return block
    .replaceAll('timebox_replicas', role)
    .replaceAll('timebox_state', database)
    .split(/;\s*\n/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A state database and its role, made as the docs say (names unique to this run; roles are cluster-wide). */
export async function createStateDatabase(): Promise<StateDatabase> {
  const suffix = randomBytes(4).toString('hex');
  const role = `tb_replicas_${suffix}`;
  const database = `timebox_state_${suffix}`;
  const admin = await adminUrl();
  // One statement at a time: CREATE DATABASE cannot run inside the implicit transaction of a batch.
  for (const statement of docsStateSql(role, database)) await query(admin, statement);
  const url = new URL(admin);
  url.username = role;
  url.password = 'change-me';
  url.pathname = `/${database}`;
  return {
    url: url.href,
    role,
    database,
    drop: async () => {
      await query(admin, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await query(admin, `DROP ROLE IF EXISTS ${role}`);
    },
  };
}

/**
 * The access repo `repo` on the fake with the App installed, the QA teams, and alice's SSH key (what a grant
 * is sealed to); returns the App's private key. `kept` collects folders to remove afterwards.
 */
export async function accessRepoForReplicas(
  fake: FakeGitHub,
  opts: { repo: string; appId: number; readRole: string; kept: string[] },
): Promise<string> {
  const privateKey = registerTimeboxApp(fake, opts.appId);
  await fake.createRepo(opts.repo, {
    author: 'admin',
    files: {
      'timebox.yaml': `auto_merge: true\n${AUDIT_YAML}`,
      '.github/web-flow.gpg': fake.webFlowKey,
      'policies/qa.yaml': ordersPolicy(opts.readRole),
      '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
    },
  });
  fake.install(opts.repo, opts.appId);
  qaOrganisation(fake, ['alice', 'bob', 'carol']);
  const keys = mkdtempSync(join(tmpdir(), 'timebox-replicas-keys-'));
  opts.kept.push(keys);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(keys, 'id')]);
  fake.setUserKeys('alice', [readFileSync(join(keys, 'id.pub'), 'utf8').trim()]);
  return privateKey;
}

/** A one-minute read-only request by alice. */
export const shortRequest = (reason = 'Replica test, BUG-1'): string =>
  `requester: alice\nresource: orders-db\nrole: read-only\nduration: 1m\nreason: ${reason}\n`;

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000) {
  const deadline = systemClock.nowMs() + timeoutMs;
  while (!(await cond())) {
    if (systemClock.nowMs() > deadline) throw new Error(`timed out waiting for ${what}`);
    await systemClock.sleep(50);
  }
}

/** Jobs of `task` still in the state database (pending, waiting to retry, or running). */
export async function pendingJobs(stateUrl: string, task: string): Promise<number> {
  const { rows } = await query(
    stateUrl,
    'select count(*)::int as n from graphile_worker.jobs where task_identifier = $1',
    [task],
  );
  return Number(rows[0]?.n);
}
