// PostgreSQL: one LOGIN role per grant, VALID UNTIL the expiry, member of the role's `grant` roles,
// with per-role settings and a COMMENT that tags it with the request file. See README.md beside this file.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Clock } from '../../core/clock.js';
import { adminUrl, clockOf, parseTag, type Tag, taggedAccess, untaggedAccess } from '../common.js';
import type { GrantOutcome, ManagedAccess, Provider, ProviderTarget, RevokeOutcome } from '../types.js';
import {
  ALLOWED_BUILTIN_ROLES,
  grantStatements,
  ident,
  PostgresError,
  postgresDefinition,
  principalFor,
  REFUSED_BUILTIN_ROLES,
  roleOf,
  TAG,
} from './definition.js';
import { scramVerifier } from './scram.js';

// What tests and docs import from here (the pure parts live in definition.ts).
export { connectionEnv, grantStatements, ident, PostgresError, principalFor } from './definition.js';

/**
 * `tb_` roles are Timebox's: `list` reports only those, and `revoke` never touches another role, whatever
 * its tag says (a tag copied onto a production role must not get it dropped with all it owns).
 */
const OURS = /^tb_/;
/** The names Timebox gives its roles (`tb_<login>_<10 hex>`, see grantName): listed even without a tag. */
const PRINCIPAL = /^tb_[a-z0-9_]{1,30}_[0-9a-f]{10}$/;

export const postgres: Provider = {
  ...postgresDefinition,

  async connect(resource, env, context) {
    const { connection, variable, url } = adminUrl('postgres', resource, env, (m) => new PostgresError(m));
    // A small pool: revocations at expiry run in parallel, and a grant's transaction owns its connection.
    const pool = new pg.Pool({
      connectionString: url,
      connectionTimeoutMillis: 5000,
      max: POOL_SIZE,
      // Reconnecting costs more than an idle connection: keep them (serve holds one pool per target).
      idleTimeoutMillis: 0,
    });
    pool.on('error', () => {});
    try {
      (await pool.connect()).release();
    } catch (err) {
      await pool.end().catch(() => {});
      throw new PostgresError(
        `cannot connect to connection \`${connection}\` (${variable}): ${(err as Error).message}`,
      );
    }
    return target(pool, resource, url, clockOf(context));
  },
};

/** Connections per target: enough for parallel revocations at expiry, few enough for a shared server. */
const POOL_SIZE = 4;

function target(
  pool: pg.Pool,
  resource: Record<string, unknown>,
  adminUrl: string,
  clock: Clock,
): ProviderTarget {
  /** Runs `fn` on one connection of the pool (statements that must share a session or a transaction). */
  const session = async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      return await fn(client);
    } finally {
      client.release();
    }
  };
  const publicUrl = new URL(typeof resource.public_url === 'string' ? resource.public_url : adminUrl);

  return {
    list: () => listRoles(pool),

    async check(spec): Promise<string[]> {
      const name = principalFor(spec);
      const wanted = roleOf(spec).grant;
      return session(async (client) => {
        const { rows } = await client.query<{ rolname: string }>(
          'SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])',
          [wanted],
        );
        const found = new Set(rows.map((r) => r.rolname));
        const missing = wanted.filter((r) => !found.has(r));
        if (missing.length > 0) {
          const list = missing.map((r) => `\`${r}\``).join(', ');
          return [
            `role \`${spec.role}\` of ${spec.resourceId} grants ${list}, which the database does not have : create ${missing.length === 1 ? 'it' : 'them'} (CREATE ROLE … NOLOGIN, with the rights the role should give) or fix the policy`,
          ];
        }
        try {
          await refuseDangerous(client, name, wanted);
        } catch (err) {
          return [(err as Error).message];
        }
        return [];
      });
    },

    async grant(spec): Promise<GrantOutcome> {
      const name = principalFor(spec);
      const wanted = roleOf(spec).grant;
      const password = randomBytes(24).toString('base64url');
      const verifier = scramVerifier(password);
      await session(async (client) => {
        await refuseDangerous(client, name, wanted);
        try {
          const exists =
            (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1;
          if (!exists) {
            // One transaction in one round trip: the role, its tag and its settings appear together or not at
            // all. Every identifier is allow-listed and every literal escaped by grantStatements.
            await client.query(['BEGIN', ...grantStatements(spec, verifier, false), 'COMMIT'].join(';\n'));
          } else {
            await client.query('BEGIN');
            for (const sql of grantStatements(spec, verifier, true)) await client.query(sql);
            // An edited request may name other roles: drop memberships it no longer grants.
            const keep = new Set(wanted);
            for (const r of await membershipsOf(client, name))
              if (!keep.has(r)) await client.query(`REVOKE ${quote(r)} FROM ${ident(name)}`);
            await client.query('COMMIT');
          }
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw new PostgresError(`granting ${name} failed: ${(err as Error).message}`);
        }
      });
      const url = new URL(publicUrl.href);
      url.username = name;
      url.password = password;
      url.search = '';
      return { principal: name, expiresAt: spec.expiresAt.toISOString(), secret: `${url.href}\n` };
    },

    async revoke(access): Promise<RevokeOutcome> {
      const name = access.principal;
      ident(name);
      if (!OURS.test(name)) {
        throw new PostgresError(`refusing to revoke ${name}: the roles Timebox makes are named tb_…`);
      }
      return session((client) => revokeRole(client, name, adminUrl, clock));
    },

    async close() {
      await pool.end().catch(() => {});
    },
  };
}

async function listRoles(pool: pg.Pool): Promise<ManagedAccess[]> {
  const { rows } = await pool.query<{
    rolname: string;
    rolvaliduntil: Date | null;
    comment: string | null;
  }>(
    `SELECT r.rolname, r.rolvaliduntil, shobj_description(r.oid, 'pg_authid') AS comment
       FROM pg_roles r
      WHERE starts_with(r.rolname, 'tb_')
        AND (r.rolname ~ $1 OR shobj_description(r.oid, 'pg_authid') LIKE 'timebox:%')
      ORDER BY r.rolname`,
    [PRINCIPAL.source],
  );
  const out: ManagedAccess[] = [];
  for (const row of rows) {
    // A role made by hand may say VALID UNTIL 'infinity', which is no date.
    const until = row.rolvaliduntil;
    const expiresAt = until instanceof Date && !Number.isNaN(until.getTime()) ? until.toISOString() : null;
    const tag = tagOf(row.comment);
    if (!tag && !PRINCIPAL.test(row.rolname)) continue; // a damaged tag on a role not named as ours
    if (!tag) {
      // Named as Timebox names its roles, but no tag says which grant it is (erased, damaged, never
      // written): nothing in git can explain it, so reconciliation revokes it.
      out.push(untaggedAccess('postgres', row.rolname, expiresAt));
      continue;
    }
    out.push(taggedAccess('postgres', row.rolname, tag, expiresAt));
  }
  return out;
}

/**
 * Revokes the role `name` on the caller's connection: no new logins, no rights, sessions ended, what it owns
 * dropped in every database, the role dropped; verified.
 */
async function revokeRole(
  client: pg.ClientBase,
  name: string,
  adminUrl: string,
  clock: Clock,
): Promise<RevokeOutcome> {
  const exists = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1;
  if (!exists) return { principal: name, sessionsEnded: 0, activity: null };
  const step = async (what: string, sql: string) => {
    try {
      await client.query(sql);
    } catch (err) {
      throw new PostgresError(`revoking ${name}: ${what} failed: ${(err as Error).message}`);
    }
  };
  // No new logins.
  await step('ALTER ROLE … NOLOGIN', `ALTER ROLE ${ident(name)} NOLOGIN`);
  // No rights from the grant any more, for live sessions too, and for what the role still owns should a
  // later step fail (its SECURITY DEFINER functions run with its rights). DROP ROLE removes memberships in
  // any case, so one the admin may not revoke (granted by someone else) does not stop the revocation.
  for (const r of await membershipsOf(client, name))
    await client.query(`REVOKE ${quote(r)} FROM ${ident(name)}`).catch(() => {});
  // Ending the role's sessions and DROP OWNED need the role's privileges. A superuser has them; the
  // documented admin (CREATEROLE) takes them by granting the role to itself: PostgreSQL 15 lets
  // CREATEROLE grant any non-superuser role, 16+ lets the role's creator (ADMIN OPTION), and INHERIT
  // is explicit there because the creator's own membership carries neither INHERIT nor SET.
  const privileged = await client.query<{ ok: boolean }>(
    `SELECT pg_has_role(current_user, $1, 'USAGE') AS ok`,
    [name],
  );
  if (!privileged.rows[0]?.ok) {
    const v16 = Number((await client.query('SHOW server_version_num')).rows[0]?.server_version_num) >= 160000;
    await step(
      'taking the role’s privileges',
      `GRANT ${ident(name)} TO CURRENT_USER${v16 ? ' WITH INHERIT TRUE, SET FALSE' : ''}`,
    );
  }
  // Sessions, not signals: a session still shutting down is signalled again on the next look.
  const ended = new Set<number>();
  for (let attempt = 0; attempt < 50; attempt++) {
    // The call stays in the select list: in WHERE, the planner may call it before `usename = $1`
    // has filtered the rows, ending every session it may end.
    const r = await client.query<{ pid: number; ok: boolean }>(
      'SELECT pid, pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE usename = $1',
      [name],
    );
    for (const row of r.rows) if (row.ok) ended.add(row.pid);
    if ((await sessionsOf(client, name)) === 0) break;
    // A terminated backend is gone within milliseconds: look again soon, then less often.
    await clock.sleep(Math.min(100, 5 * 2 ** attempt));
  }
  const activity = await captureActivity(client, name);
  // What the grant made is dropped, never handed to the admin (REASSIGN OWNED would give its SECURITY
  // DEFINER functions and views the admin's rights). CASCADE: what others built on it goes too, so a
  // grantee cannot pin its objects in place. DROP OWNED acts in one database: every other database in
  // which the role owns something or holds a privilege (pg_shdepend) gets its own.
  const elsewhere = await client.query<{ datname: string }>(
    `SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
      WHERE s.refclassid = 'pg_authid'::regclass
        AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)
        AND d.datname <> current_database()
      ORDER BY 1`,
    [name],
  );
  for (const { datname } of elsewhere.rows) await dropOwnedIn(adminUrl, datname, name);
  await step('DROP OWNED', `DROP OWNED BY ${ident(name)} CASCADE`);
  await step('DROP ROLE', `DROP ROLE ${ident(name)}`);
  const left = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount ?? 0;
  const sessions = await sessionsOf(client, name);
  if (left > 0 || sessions > 0) {
    throw new PostgresError(
      `revoking ${name} is not verified: ${left} role(s) and ${sessions} session(s) left`,
    );
  }
  return { principal: name, sessionsEnded: ended.size, activity };
}

// Always on the caller's connection: asking the pool for a second one while holding one deadlocks once
// every connection is held by a revocation doing the same.
async function sessionsOf(client: pg.ClientBase, name: string): Promise<number> {
  return Number(
    (await client.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [name])).rows[0]
      ?.n ?? 0,
  );
}

/** `DROP OWNED … CASCADE` in another database of the cluster, over a connection of its own. */
async function dropOwnedIn(adminUrl: string, database: string, name: string): Promise<void> {
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  const client = new pg.Client({ connectionString: url.href, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  try {
    await client.connect();
    // A name the URL cannot carry must not land in another database than the one meant.
    const at = (await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db;
    if (at !== database) throw new Error(`connected to ${JSON.stringify(at)} instead`);
    await client.query(`DROP OWNED BY ${ident(name)} CASCADE`);
  } catch (err) {
    throw new PostgresError(
      `revoking ${name}: cannot drop what it owns in database ${JSON.stringify(database)}: ${(err as Error).message}`,
    );
  } finally {
    await client.end().catch(() => {});
  }
}

/** The tag of a role, or null when its comment is not a whole Timebox tag. */
function tagOf(comment: string | null): Tag | null {
  return comment?.startsWith(TAG) ? parseTag(comment.slice(TAG.length)) : null;
}

/** A role name read from the catalog, quoted (not allow-listed: it may be any role a DBA made). */
function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The roles `name` is a direct member of. */
async function membershipsOf(client: pg.ClientBase, name: string): Promise<string[]> {
  const { rows } = await client.query<{ rolname: string }>(
    `SELECT DISTINCT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
       JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1 ORDER BY 1`,
    [name],
  );
  return rows.map((r) => r.rolname);
}

const ATTRIBUTES = [
  ['rolsuper', 'SUPERUSER'],
  ['rolcreaterole', 'CREATEROLE'],
  ['rolcreatedb', 'CREATEDB'],
  ['rolbypassrls', 'BYPASSRLS'],
  ['rolreplication', 'REPLICATION'],
] as const;

/**
 * Refuses a grant whose roles reach further than data: a role with SUPERUSER, CREATEROLE (it could rewrite
 * tags and other roles), CREATEDB (databases outlive DROP OWNED), BYPASSRLS or REPLICATION, or a built-in
 * role outside the monitoring ones — itself, or any role it is a member of, however indirectly (a member may
 * SET ROLE to it or inherit its rights). The policy schema refuses the built-ins by name at check time; only
 * the target knows attributes and memberships.
 */
async function refuseDangerous(client: pg.ClientBase, principal: string, roles: string[]): Promise<void> {
  const { rows } = await client.query<
    { granted: string; rolname: string } & Record<(typeof ATTRIBUTES)[number][0], boolean>
  >(
    `WITH RECURSIVE up(granted, oid) AS (
       SELECT rolname, oid FROM pg_roles WHERE rolname = ANY($1::text[])
       UNION
       SELECT up.granted, m.roleid FROM up JOIN pg_auth_members m ON m.member = up.oid
     )
     SELECT up.granted, r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, r.rolreplication
       FROM up JOIN pg_roles r ON r.oid = up.oid
      ORDER BY up.granted, r.rolname`,
    [roles],
  );
  for (const row of rows) {
    const who = row.rolname === row.granted ? 'it' : `it is a member of ${row.rolname}, which`;
    const attribute = ATTRIBUTES.find(([column]) => row[column]);
    let why: string | undefined;
    if (attribute) why = `${who} has ${attribute[1]}`;
    else if (row.rolname.startsWith('pg_') && !ALLOWED_BUILTIN_ROLES.includes(row.rolname))
      why = `${who} ${REFUSED_BUILTIN_ROLES[row.rolname] ?? 'is a built-in role Timebox does not grant'}`;
    if (why) throw new PostgresError(`refusing to grant ${row.granted} to ${principal}: ${why}`);
  }
}

async function captureActivity(client: pg.ClientBase, name: string) {
  try {
    const ext = await client.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'");
    if (ext.rowCount === 0) return null;
    const { rows } = await client.query<{ query: string; calls: string; rows: string }>(
      `SELECT s.query, s.calls, s.rows FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
        WHERE r.rolname = $1 ORDER BY s.calls DESC, s.query LIMIT 100`,
      [name],
    );
    const statements = rows.map((r) => ({ query: r.query, calls: Number(r.calls), rows: Number(r.rows) }));
    const calls = statements.reduce((n, s) => n + s.calls, 0);
    const total = statements.reduce((n, s) => n + s.rows, 0);
    return {
      summary: `${calls} statement${calls === 1 ? '' : 's'}, ${total} row${total === 1 ? '' : 's'}`,
      statements,
    };
  } catch {
    return null; // the extension is installed but not loaded (shared_preload_libraries): no activity to report
  }
}
