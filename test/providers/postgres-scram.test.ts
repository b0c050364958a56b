// On a cluster with password authentication: the delivered password works, a wrong one fails,
// VALID UNTIL refuses logins after expiry, and activity comes from pg_stat_statements.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgres } from '../../src/providers/postgres/index.js';
import type { GrantSpec, ProviderTarget } from '../../src/providers/types.js';
import { type ScramCluster, startScramCluster } from '../helpers/pg-cluster.js';
import { query } from '../helpers/postgres.js';

let cluster: ScramCluster;
let target: ProviderTarget;

beforeAll(async () => {
  cluster = await startScramCluster();
  await query(
    cluster.adminUrl,
    `CREATE EXTENSION pg_stat_statements;
     CREATE TABLE orders (id int, total numeric); INSERT INTO orders VALUES (1, 10), (2, 20);
     CREATE ROLE orders_read NOLOGIN; GRANT SELECT ON orders TO orders_read;`,
  );
  target = await postgres.connect(
    { connection: 'orders' },
    { TIMEBOX_POSTGRES_ORDERS_URL: cluster.adminUrl },
  );
}, 60_000);

afterAll(async () => {
  await target?.close();
  cluster?.stop();
});

const spec = (file: string, expiresAt: Date): GrantSpec => ({
  owner: 'scram-test',
  file,
  grantId: `${file}@c1`,
  requester: 'alice',
  resourceId: 'orders-db',
  resource: { connection: 'orders' },
  role: 'read-only',
  roleSettings: { grant: ['orders_read'], read_only: true },
  startsAt: new Date(),
  expiresAt,
});

async function login(url: string) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  await client.connect();
  return client;
}

describe('postgres with password authentication', () => {
  it('the delivered URL works as it is; a wrong password is refused', async () => {
    const out = await target.grant(spec('requests/alice/a.yaml', new Date(Date.now() + 3_600_000)));
    const url = out.secret.trim();
    const client = await login(url);
    expect((await client.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(2);
    await client.end();
    const wrong = new URL(url);
    wrong.password = 'not-the-password';
    await expect(login(wrong.href)).rejects.toThrow(/password authentication failed/);
  });

  it('VALID UNTIL refuses a login after expiry, even with the right password', async () => {
    const out = await target.grant(spec('requests/alice/b.yaml', new Date(Date.now() + 1500)));
    const client = await login(out.secret.trim());
    await client.end();
    await new Promise((r) => setTimeout(r, 2000));
    await expect(login(out.secret.trim())).rejects.toThrow(/password authentication failed/);
  });

  it('revocation captures the statements the role ran', async () => {
    const out = await target.grant(spec('requests/alice/c.yaml', new Date(Date.now() + 3_600_000)));
    const client = await login(out.secret.trim());
    for (let i = 0; i < 3; i++) await client.query('SELECT total FROM orders WHERE id = $1', [i]);
    await client.end();
    const access = (await target.list()).find((a) => a.principal === out.principal);
    const revoked = await target.revoke(access as NonNullable<typeof access>);
    expect(revoked.activity?.statements).toContainEqual({
      query: 'SELECT total FROM orders WHERE id = $1',
      calls: 3,
      rows: 2,
    });
    expect(revoked.activity?.summary).toMatch(/^\d+ statements?, \d+ rows?$/);
  });
});
