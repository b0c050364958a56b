// The postgres provider against a real server.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ident, postgres, principalFor } from '../../src/providers/postgres/index.js';
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
    owner: 'test-repo',
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
  it('grants a tagged LOGIN role with expiry, membership and settings; read-only is enforced', async () => {
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

    const listed = await target.list();
    expect(listed).toContainEqual({
      owner: 'test-repo',
      provider: 'postgres',
      resourceId: s.resourceId,
      file: s.file,
      grantId: s.grantId,
      requester: 'alice',
      role: 'read-only',
      principal: out.principal,
      expiresAt: s.expiresAt.toISOString(),
    });

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

  it('revoking ends live sessions, drops the role and verifies nothing is left', async () => {
    const s = spec({ file: `requests/bob/${db.name}.yaml`, requester: 'bob' });
    const out = await target.grant(s);
    const session = await connectAs(out.secret.trim());
    const closed = new Promise<void>((resolve) => session.on('end', () => resolve()));
    const access = (await target.list()).find((a) => a.principal === out.principal);
    expect(access).toBeDefined();
    const revoked = await target.revoke(access as NonNullable<typeof access>);
    expect(revoked.sessionsEnded).toBeGreaterThanOrEqual(1);
    await closed;
    expect((await query(db.url, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [out.principal])).rowCount).toBe(
      0,
    );
    expect((await target.list()).some((a) => a.principal === out.principal)).toBe(false);
    // Idempotent: revoking again is a no-op.
    expect((await target.revoke(access as NonNullable<typeof access>)).sessionsEnded).toBe(0);
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

  it('granting twice converges on one role (idempotent) and updates expiry in place', async () => {
    const s = spec({ file: `requests/carol/${db.name}.yaml`, requester: 'carol' });
    await target.grant(s);
    const later = new Date(s.expiresAt.getTime() + 3_600_000);
    await target.grant({ ...s, grantId: `${s.file}@def`, expiresAt: later });
    const mine = (await target.list()).filter((a) => a.file === s.file);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ grantId: `${s.file}@def`, expiresAt: later.toISOString() });
  });

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

  it('two access repos with the same request path get different roles', () => {
    const a = principalFor({ owner: 'repo-a', file: 'requests/x.yaml', requester: 'alice' });
    const b = principalFor({ owner: 'repo-b', file: 'requests/x.yaml', requester: 'alice' });
    expect(a).not.toBe(b);
  });

  it('identifiers are allow-listed: injection attempts never reach SQL', () => {
    for (const evil of ['orders"; DROP ROLE postgres; --', 'Orders', 'a b', `x${'y'.repeat(63)}`, '']) {
      expect(() => ident(evil)).toThrow(/unsafe PostgreSQL identifier/);
    }
    expect(principalFor({ file: 'requests/x.yaml', requester: "Robert'); DROP TABLE--" })).toMatch(
      /^tb_robert____drop_table___[0-9a-f]{10}$/,
    );
  });

  it('a missing admin URL or a server that is down is a clear error', async () => {
    await expect(postgres.connect({ connection: 'orders' }, {})).rejects.toThrow(
      'TIMEBOX_POSTGRES_ORDERS_URL is not set',
    );
    await expect(
      postgres.connect(
        { connection: 'orders' },
        { TIMEBOX_POSTGRES_ORDERS_URL: 'postgresql://postgres@127.0.0.1:1/x' },
      ),
    ).rejects.toThrow(/cannot connect to connection `orders`/);
  });
});
