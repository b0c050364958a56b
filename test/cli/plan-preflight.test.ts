// `timebox plan` is `apply`'s preflight: what apply would fail on shows in the plan, before anything is
// done; a missing admin URL is a configuration error (exit 2) that says what to set.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresAccessRepo } from '../helpers/apply.js';
import { createTestDatabase, query, type TestDatabase } from '../helpers/postgres.js';
import { run } from '../helpers/repo.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const accessRepo = (grant: string) => postgresAccessRepo(db, { grant });

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
