// `timebox plan` is `apply`'s preflight: what apply would fail on shows in the plan, before anything is
// done; a missing admin URL is a configuration error (exit 2) that says what to set.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, query, type TestDatabase } from '../helpers/postgres.js';
import { git, run, tempDir, write } from '../helpers/repo.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

function accessRepo(grant: string): { dir: string; file: string } {
  const dir = tempDir();
  git(dir, 'init', '-q', '-b', 'main');
  write(
    dir,
    'policies/db.yaml',
    `resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [${grant}], read_only: true }
rules:
  - { name: all, resources: ["*"] }
`,
  );
  const file = `requests/alice/${db.name}.yaml`;
  write(
    dir,
    file,
    'requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1234 in prod\n',
  );
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'grant');
  const key = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', key]);
  writeFileSync(join(dir, 'keys.yaml'), `alice:\n  - ${readFileSync(`${key}.pub`, 'utf8').trim()}\n`);
  return { dir, file };
}

/** Roles Timebox made for this test's request file (its path holds the test database's unique name). */
const tbRoles = async () =>
  (
    await query(
      db.url,
      "SELECT rolname FROM pg_roles WHERE starts_with(rolname, 'tb_') AND shobj_description(oid, 'pg_authid') LIKE $1",
      [`%${db.name}%`],
    )
  ).rows.length;

describe('timebox plan: what apply would fail on, before anything is done', () => {
  it('a requester without keys shows in the plan, exit 1, nothing granted', async () => {
    const { dir, file } = accessRepo(db.readRole);
    writeFileSync(
      join(dir, 'keys.yaml'),
      readFileSync(join(dir, 'keys.yaml'), 'utf8').replace('alice:', 'bob:'),
    );
    const r = await run(['plan', '--keys', 'keys.yaml', '--json'], {
      cwd: dir,
      env: { TIMEBOX_POSTGRES_ORDERS_URL: db.url },
    });
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.grant).toEqual([expect.objectContaining({ file, requester: 'alice' })]);
    expect(doc.errors).toEqual([
      expect.objectContaining({ file, action: 'grant', message: expect.stringContaining('alice') }),
    ]);
    expect(await tbRoles()).toBe(0);
  });

  it('a group role missing in the target shows in the plan, naming the role', async () => {
    const { dir, file } = accessRepo(`${db.readRole}_missing`);
    const r = await run(['plan', '--keys', 'keys.yaml'], {
      cwd: dir,
      env: { TIMEBOX_POSTGRES_ORDERS_URL: db.url },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain(`grants \`${db.readRole}_missing\`, which the database does not have`);
    // The same repo with the role present plans cleanly.
    const ok = accessRepo(db.readRole);
    const clean = await run(['plan', '--keys', 'keys.yaml'], {
      cwd: ok.dir,
      env: { TIMEBOX_POSTGRES_ORDERS_URL: db.url },
    });
    expect(clean.stderr).not.toContain('does not have');
    expect(clean.code).toBe(0);
  });
});

describe('a missing admin URL is a configuration error', () => {
  it('plan, apply and expire exit 2 naming the variable to set and the resources that need it', async () => {
    const { dir } = accessRepo(db.readRole);
    for (const cmd of ['plan', 'apply', 'expire']) {
      const r = await run([cmd, '--keys', 'keys.yaml'], { cwd: dir, env: {} });
      expect(r.code, cmd).toBe(2);
      expect(r.stderr).toContain(
        'TIMEBOX_POSTGRES_ORDERS_URL is not set: set it to the admin URL of postgres connection `orders` (used by orders-db)',
      );
    }
    expect(await tbRoles()).toBe(0);
  });
});
