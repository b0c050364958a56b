// The postgres provider against a real server, beyond the contract every provider keeps (contract.ts): the
// role's settings, revocations under load, transactional grants and allow-listed identifiers.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantBatch } from '../../src/providers/postgres/batch.js';
import { ident, postgres, principalFor } from '../../src/providers/postgres/index.js';
import { scramVerifier } from '../../src/providers/postgres/scram.js';
import type { GrantSpec, ProviderTarget } from '../../src/providers/types.js';
import { createTestDatabase, query, type TestDatabase } from '../helpers/postgres.js';

let db: TestDatabase;
let target: ProviderTarget;
const env = () => ({ TIMEBOX_POSTGRES_ORDERS_URL: db.url });

beforeAll(async () => {
  db = await createTestDatabase();
  target = await postgres.connect({ connection: 'orders' }, env());
});
afterAll(async () => {
  await target?.close();
  await db?.drop();
});

function spec(over: Partial<GrantSpec> = {}): GrantSpec {
  return {
    accessRepoId: 'test-repo',
    file: `requests/alice/${db.name}.yaml`,
    grantId: `requests/alice/${db.name}.yaml@abc`,
    requester: 'alice',
    resourceId: `orders-db-${db.name}`,
    resource: { connection: 'orders' },
    role: 'read-only',
    roleSettings: { grant: [db.readRole], read_only: true, statement_timeout: '30s', connection_limit: 2 },
    startsAt: new Date(),
    expiresAt: new Date(Date.now() + 3_600_000),
    ...over,
  };
}

async function connectAs(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  client.on('error', () => {});
  return client;
}

describe('postgres provider', () => {
  // Tagging, listing, idempotent grants, revocation, access repos apart, clear errors: contract.ts.
  it('grants a LOGIN role with expiry, membership and settings; read-only is enforced', async () => {
    const s = spec();
    const out = await target.grant(s);
    expect(out.principal).toBe(principalFor(s));
    expect(out.secret).toMatch(
      new RegExp(`^postgresql://${out.principal}:[A-Za-z0-9_-]{32}@127\\.0\\.0\\.1:\\d+/${db.name}\\n$`),
    );

    const role = (
      await query(
        db.url,
        `SELECT rolcanlogin, rolvaliduntil, rolconnlimit, rolconfig FROM pg_roles WHERE rolname = $1`,
        [out.principal],
      )
    ).rows[0];
    expect(role.rolcanlogin).toBe(true);
    expect(new Date(role.rolvaliduntil).toISOString()).toBe(s.expiresAt.toISOString());
    expect(role.rolconnlimit).toBe(2);
    expect(role.rolconfig).toEqual(
      expect.arrayContaining([
        'default_transaction_read_only=on',
        'statement_timeout=30s',
        'log_statement=all',
      ]),
    );

    const client = await connectAs(out.secret.trim());
    try {
      expect((await client.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(2);
      expect((await client.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('30s');
      await expect(client.query('INSERT INTO orders (total) VALUES (1)')).rejects.toThrow(
        /read-only transaction/,
      );
    } finally {
      await client.end();
    }
  });

  it('revokes many grants at once, each with a live session, on one target (more than its connections)', async () => {
    const specs = Array.from({ length: 12 }, (_, i) =>
      spec({
        file: `requests/u${i}/${db.name}.yaml`,
        grantId: `requests/u${i}/${db.name}.yaml@burst`,
        requester: `u${i}`,
      }),
    );
    const sessions = [];
    for (const s of specs) sessions.push(await connectAs((await target.grant(s)).secret.trim()));
    const held = (await target.list()).filter((a) => a.grantId.endsWith('@burst'));
    expect(held).toHaveLength(12);
    // Once every pooled connection is held by a revocation, none may wait for another one (a deadlock).
    const out = await Promise.race([
      Promise.all(held.map((a) => target.revoke(a))),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('revocations hung')), 20_000)),
    ]);
    expect(out.map((o) => o.sessionsEnded)).toEqual(Array(12).fill(1));
    expect((await target.list()).filter((a) => a.grantId.endsWith('@burst'))).toEqual([]);
    for (const c of sessions) await c.end().catch(() => {});
  }, 30_000);

  it('a grant that fails half way leaves nothing behind (one transaction)', async () => {
    const s = spec({
      file: `requests/dave/${db.name}.yaml`,
      requester: 'dave',
      roleSettings: { grant: [db.readRole, 'no_such_role_here'] },
    });
    await expect(target.grant(s)).rejects.toThrow(/no_such_role_here/);
    expect(
      (await query(db.url, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [principalFor(s)])).rowCount,
    ).toBe(0);
  });

  it('grantMany: a grant that fails mid-batch fails alone; the others are granted whole, nothing of it is left', async () => {
    const many = ['bm1', 'bm2', 'bm3', 'bm4'].map((u) =>
      spec({
        file: `requests/${u}/${db.name}.yaml`,
        grantId: `requests/${u}/${db.name}.yaml@batch`,
        requester: u,
      }),
    );
    // The third names a group role the database does not have: the batch's transaction fails on it.
    const bad = many[2] as GrantSpec;
    bad.roleSettings = { grant: [db.readRole, 'no_such_role_in_batch'] };
    const out = await (target.grantMany as NonNullable<ProviderTarget['grantMany']>)(many);
    expect(out.map((o) => o.ok)).toEqual([true, true, false, true]);
    expect(out[2]?.ok ? null : out[2]?.error.message).toMatch(/no_such_role_in_batch/);
    expect(
      (await query(db.url, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [principalFor(bad)])).rowCount,
    ).toBe(0);
    for (const [i, s] of many.entries()) {
      if (i === 2) continue;
      const { rows } = await query(
        db.url,
        `SELECT rolcanlogin, rolvaliduntil, rolconnlimit, rolconfig, shobj_description(oid, 'pg_authid') AS tag,
                pg_has_role(oid, $2, 'MEMBER') AS member
           FROM pg_roles WHERE rolname = $1`,
        [principalFor(s), db.readRole],
      );
      expect(rows[0]).toMatchObject({ rolcanlogin: true, rolconnlimit: 2, member: true });
      expect(new Date(rows[0].rolvaliduntil).toISOString()).toBe(s.expiresAt.toISOString());
      expect(rows[0].rolconfig).toContain('default_transaction_read_only=on');
      expect(rows[0].tag).toMatch(new RegExp(`^timebox:.*requests/${s.requester}/`));
    }
    // The secrets log in; then revokeMany ends their sessions and drops every role, verified.
    const ok = out.flatMap((o) => (o.ok ? [o.value] : []));
    const sessions = await Promise.all(ok.map((o) => connectAs(o.secret.trim())));
    const held = (await target.list()).filter((a) => a.grantId.endsWith('@batch'));
    expect(held).toHaveLength(3);
    const revoked = await (target.revokeMany as NonNullable<ProviderTarget['revokeMany']>)(held);
    expect(revoked.map((r) => (r.ok ? r.value.sessionsEnded : r.error.message))).toEqual([1, 1, 1]);
    expect((await target.list()).filter((a) => a.grantId.endsWith('@batch'))).toEqual([]);
    for (const o of ok)
      expect((await query(db.url, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [o.principal])).rowCount).toBe(
        0,
      );
    for (const c of sessions) await c.end().catch(() => {});
  }, 30_000);

  it('grantMany over several queries of one transaction: made together, or each alone after a failure', async () => {
    // 30 new roles: the transaction is sent in two queries (25 roles, then 5 and COMMIT).
    const batch = (tag: string) =>
      Array.from({ length: 30 }, (_, i) =>
        spec({
          file: `requests/${tag}${i}/${db.name}.yaml`,
          grantId: `requests/${tag}${i}/${db.name}.yaml@slices`,
          requester: `${tag}${i}`,
        }),
      );
    const whole = batch('sw');
    const made = await (target.grantMany as NonNullable<ProviderTarget['grantMany']>)(whole);
    expect(made.every((o) => o.ok)).toBe(true);
    // One transaction: every role's catalog row written by the same one.
    const xmins = await query(
      db.url,
      'SELECT count(DISTINCT xmin::text)::int AS n FROM pg_authid WHERE rolname = ANY($1)',
      [whole.map((s) => principalFor(s))],
    );
    expect(xmins.rows[0].n).toBe(1);
    // The 28th fails, in the second query: the first is rolled back with it, and all but it made alone.
    const many = batch('sl');
    (many[27] as GrantSpec).roleSettings = { grant: [db.readRole, 'no_such_role_in_slice'] };
    const seen: string[] = [];
    const out = await (target.grantMany as NonNullable<ProviderTarget['grantMany']>)(many);
    expect(out.map((o, i) => (o.ok ? i : `${i}: ${o.error.message}`))).toEqual(
      many.map((_, i) => (i === 27 ? expect.stringMatching(/^27: .*no_such_role_in_slice/) : i)),
    );
    const { rows } = await query(
      db.url,
      `SELECT rolname, rolcanlogin, shobj_description(oid, 'pg_authid') AS tag FROM pg_roles WHERE rolname = ANY($1)`,
      [many.map((s) => principalFor(s))],
    );
    for (const r of rows) seen.push(r.rolname);
    expect(seen.sort()).toEqual(
      many
        .filter((_, i) => i !== 27)
        .map((s) => principalFor(s))
        .sort(),
    );
    expect(rows.every((r) => r.rolcanlogin && String(r.tag).startsWith('timebox:'))).toBe(true);
    const held = (await target.list()).filter((a) => a.grantId.endsWith('@slices'));
    expect(held).toHaveLength(59);
    const revoked = await (target.revokeMany as NonNullable<ProviderTarget['revokeMany']>)(held);
    expect(revoked.every((r) => r.ok)).toBe(true);
  }, 60_000);

  it('grantBatch: a grant whose verifier cannot be derived fails alone, and is never sent', async () => {
    const client = await connectAs(db.url);
    const items = ['vf1', 'vf2', 'vf3'].map((u) => ({
      spec: spec({ file: `requests/${u}/${db.name}.yaml`, grantId: `${u}@verifier`, requester: u }),
      verifier: Promise.resolve(scramVerifier('Correct-horse-battery-staple-1')),
    }));
    const broken = items[1] as (typeof items)[number];
    broken.verifier = Promise.reject(new Error('no verifier here'));
    try {
      const errors = await grantBatch(client, items);
      expect(errors.map((e) => e?.message)).toEqual([undefined, 'no verifier here', undefined]);
      const { rows } = await client.query('SELECT rolname FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1', [
        items.map((i) => principalFor(i.spec)),
      ]);
      expect(rows.map((r) => r.rolname)).toEqual(
        [items[0], items[2]].map((i) => principalFor((i as (typeof items)[number]).spec)).sort(),
      );
      // Not left in a transaction: the connection goes on.
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      for (const i of items) await client.query(`DROP ROLE IF EXISTS ${ident(principalFor(i.spec))}`);
      await client.end();
    }
  });

  it('revokeMany: a revocation that fails in a batch fails alone (the batch is done again one at a time)', async () => {
    const made = await (target.grantMany as NonNullable<ProviderTarget['grantMany']>)(
      ['rv1', 'rv2', 'rv3'].map((u) =>
        spec({
          file: `requests/${u}/${db.name}.yaml`,
          grantId: `requests/${u}/${db.name}.yaml@rv`,
          requester: u,
        }),
      ),
    );
    const names = made.map((m) => (m.ok ? m.value.principal : ''));
    // The second owns a database: DROP OWNED leaves databases, so its DROP ROLE fails, and with it the batch's.
    const stuck = `${db.name}_owned`;
    await query(db.url, `CREATE DATABASE ${stuck} OWNER "${names[1]}"`);
    try {
      const held = (await target.list()).filter((a) => a.grantId.endsWith('@rv'));
      held.sort((a, b) => names.indexOf(a.principal) - names.indexOf(b.principal));
      // And one that is not Timebox's: refused, alone.
      const foreign = { ...(held[0] as (typeof held)[number]), principal: db.readRole };
      const out = await (target.revokeMany as NonNullable<ProviderTarget['revokeMany']>)([...held, foreign]);
      expect(out.map((o) => o.ok)).toEqual([true, false, true, false]);
      expect(out[1]?.ok ? '' : out[1]?.error.message).toMatch(/DROP ROLE failed/);
      expect(out[3]?.ok ? '' : out[3]?.error.message).toMatch(/refusing to revoke/);
      const left = await query(db.url, 'SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY($1)', [
        names,
      ]);
      // The one that failed cannot log in any more; the others are gone.
      expect(left.rows).toEqual([{ rolname: names[1], rolcanlogin: false }]);
    } finally {
      await query(db.url, `DROP DATABASE IF EXISTS ${stuck}`);
      await query(db.url, `DROP ROLE IF EXISTS "${names[1]}"`);
    }
  }, 30_000);

  it('identifiers are allow-listed: injection attempts never reach SQL', () => {
    for (const evil of ['orders"; DROP ROLE postgres; --', 'Orders', 'a b', `x${'y'.repeat(63)}`, '']) {
      expect(() => ident(evil)).toThrow(/unsafe PostgreSQL identifier/);
    }
    expect(principalFor({ file: 'requests/x.yaml', requester: "Robert'); DROP TABLE--" })).toMatch(
      /^tb_robert____drop_table___[0-9a-f]{10}$/,
    );
  });
});
