// A role's grant and revocation on one connection of the admin's pool, one role at a time (index.ts), and
// the catalog look-ups batch.ts shares when it does the same for many roles per round trip.
import pg from 'pg';
import type { Clock } from '../../core/clock.js';
import type { Activity, GrantSpec, RevokeOutcome } from '../types.js';
import { isWriteSql } from '../usage.js';
import {
  ALLOWED_BUILTIN_ROLES,
  grantStatements,
  ident,
  PostgresError,
  principalFor,
  REFUSED_BUILTIN_ROLES,
  roleOf,
} from './definition.js';

/**
 * Grants `spec` on the caller's connection, in one transaction: a new role, its tag and its settings appear
 * together or not at all; an existing one is brought in line. `verifier`: the password's SCRAM verifier.
 */
export async function grantRole(client: pg.ClientBase, spec: GrantSpec, verifier: string): Promise<void> {
  const name = principalFor(spec);
  const wanted = roleOf(spec).grant;
  await refuseDangerous(client, name, wanted);
  try {
    const exists = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1;
    if (!exists) {
      // One transaction in one round trip. Every identifier is allow-listed and every literal escaped by
      // grantStatements.
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
}

/**
 * Revokes the role `name` on the caller's connection: no new logins, no rights, sessions ended, what it owns
 * dropped in every database, the role dropped; verified.
 */
export async function revokeRole(
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
  for (const { datname } of elsewhere.rows) await dropOwnedIn(adminUrl, datname, [name]);
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
export async function sessionsOf(client: pg.ClientBase, name: string): Promise<number> {
  return Number(
    (await client.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [name])).rows[0]
      ?.n ?? 0,
  );
}

/** `DROP OWNED … CASCADE` of `names` in another database of the cluster, over a connection of its own. */
export async function dropOwnedIn(
  adminUrl: string,
  database: string,
  names: readonly string[],
): Promise<void> {
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  const client = new pg.Client({ connectionString: url.href, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  try {
    await client.connect();
    // A name the URL cannot carry must not land in another database than the one meant.
    const at = (await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db;
    if (at !== database) throw new Error(`connected to ${JSON.stringify(at)} instead`);
    await client.query(`DROP OWNED BY ${names.map(ident).join(', ')} CASCADE`);
  } catch (err) {
    throw new PostgresError(
      `revoking ${names.join(', ')}: cannot drop what ${names.length === 1 ? 'it owns' : 'they own'} in database ${JSON.stringify(database)}: ${(err as Error).message}`,
    );
  } finally {
    await client.end().catch(() => {});
  }
}

/** A role name read from the catalog, quoted (not allow-listed: it may be any role a DBA made). */
export function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The roles `name` is a direct member of. */
export async function membershipsOf(client: pg.ClientBase, name: string): Promise<string[]> {
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
export async function refuseDangerous(
  client: pg.ClientBase,
  principal: string,
  roles: readonly string[],
): Promise<void> {
  const why = refusal(principal, roles, await reachOf(client, roles));
  if (why) throw new PostgresError(why);
}

type Reached = { granted: string; rolname: string } & Record<(typeof ATTRIBUTES)[number][0], boolean>;

/** Every role each of `roles` reaches (itself included), with its attributes: one query for any number. */
export async function reachOf(client: pg.ClientBase, roles: readonly string[]): Promise<Reached[]> {
  const { rows } = await client.query<Reached>(
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
  return rows;
}

/** Why granting `roles` to `principal` is refused, from what they reach (`reachOf`), or null. */
export function refusal(
  principal: string,
  roles: readonly string[],
  reached: readonly Reached[],
): string | null {
  const asked = new Set(roles);
  for (const row of reached) {
    if (!asked.has(row.granted)) continue;
    const who = row.rolname === row.granted ? 'it' : `it is a member of ${row.rolname}, which`;
    const attribute = ATTRIBUTES.find(([column]) => row[column]);
    let why: string | undefined;
    if (attribute) why = `${who} has ${attribute[1]}`;
    else if (row.rolname.startsWith('pg_') && !ALLOWED_BUILTIN_ROLES.includes(row.rolname))
      why = `${who} ${REFUSED_BUILTIN_ROLES[row.rolname] ?? 'is a built-in role Timebox does not grant'}`;
    if (why) return `refusing to grant ${row.granted} to ${principal}: ${why}`;
  }
  return null;
}

export async function captureActivity(client: pg.ClientBase, name: string): Promise<Activity | null> {
  return (await activities(client, [name])).get(name) ?? null;
}

/**
 * What each of `names` ran (pg_stat_statements, its 100 most called statements), in two queries for any
 * number of roles; an empty map where the extension is not there.
 */
export async function activities(
  client: pg.ClientBase,
  names: readonly string[],
): Promise<Map<string, Activity>> {
  const out = new Map<string, Activity>();
  try {
    const ext = await client.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'");
    if (ext.rowCount === 0) return out;
    const { rows } = await client.query<{ rolname: string; query: string; calls: string; rows: string }>(
      `SELECT rolname, query, calls, rows FROM (
         SELECT r.rolname, s.query, s.calls, s.rows,
                row_number() OVER (PARTITION BY r.rolname ORDER BY s.calls DESC, s.query) AS n
           FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
          WHERE r.rolname = ANY($1::text[])) t
        WHERE n <= 100 ORDER BY rolname, calls DESC, query`,
      [names],
    );
    const by = new Map<string, Activity['statements']>();
    for (const r of rows) {
      const list = by.get(r.rolname) ?? [];
      list.push({ query: r.query, calls: Number(r.calls), rows: Number(r.rows) });
      by.set(r.rolname, list);
    }
    for (const name of names) {
      const statements = by.get(name) ?? [];
      const calls = statements.reduce((n, s) => n + s.calls, 0);
      const total = statements.reduce((n, s) => n + s.rows, 0);
      out.set(name, {
        summary: `${calls} statement${calls === 1 ? '' : 's'}, ${total} row${total === 1 ? '' : 's'}`,
        statements,
        writes: statements.filter((s) => isWriteSql(s.query)).reduce((n, s) => n + s.calls, 0),
      });
    }
  } catch {
    // The extension is installed but not loaded (shared_preload_libraries): no activity to report.
  }
  return out;
}
