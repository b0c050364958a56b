// Many grants, or many revocations, on one connection in a few round trips (`grantMany`, `revokeMany`): the
// same statements as one at a time (roles.ts), sent together. A failure in a batch is isolated by doing that
// batch again one at a time, on the same connection: the batch of grants is one transaction, rolled back
// whole; every step of a revocation is idempotent, so what a failed batch did is done again or found done.
import type pg from 'pg';
import type { Clock } from '../../core/clock.js';
import type { GrantSpec, RevokeOutcome, Settled } from '../types.js';
import { grantStatements, ident, PostgresError, principalFor, roleOf } from './definition.js';
import { activities, dropOwnedIn, grantRole, quote, reachOf, refusal, revokeRole } from './roles.js';

export interface GrantItem {
  spec: GrantSpec;
  /**
   * The password's SCRAM verifier (scram.ts), never the password; still being derived when the batch starts,
   * so that its checks, and its first statements, reach the server while later verifiers are derived.
   */
  verifier: Promise<string>;
}

/** New roles per query of a batch's transaction: one query waits for these verifiers only. */
const SLICE = 25;

/**
 * Grants `items` on the caller's connection: the refusal check of every role they name in one query, which
 * of them exist in another, and the new ones in one transaction, sent a slice of roles per query as their
 * verifiers are ready. A role that exists already (an edited or regranted request) is brought in line alone.
 * When the batch fails (a role named that does not exist, a name taken meanwhile, …) it is rolled back whole
 * and its grants are made one at a time: only the failing one fails, and nothing of it is left. An item
 * whose verifier cannot be derived fails alone. One error (or undefined) per item, in order.
 */
export async function grantBatch(
  client: pg.ClientBase,
  items: readonly GrantItem[],
): Promise<(Error | undefined)[]> {
  const errors: (Error | undefined)[] = items.map(() => undefined);
  if (items.length === 0) return errors;
  const verifiers = items.map((i) =>
    i.verifier.then(
      (v) => v,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    ),
  );
  /** The verifier of item k, or undefined (and the item failed) when it could not be derived. */
  const verifierOf = async (k: number): Promise<string | undefined> => {
    const v = await verifiers[k];
    if (typeof v === 'string') return v;
    errors[k] = v;
    return undefined;
  };
  const names = items.map((i) => principalFor(i.spec));
  const wanted = items.map((i) => roleOf(i.spec).grant);
  const reached = await reachOf(client, [...new Set(wanted.flat())]);
  const existing = new Set(
    (
      await client.query<{ rolname: string }>(
        'SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])',
        [names],
      )
    ).rows.map((r) => r.rolname),
  );
  const together: number[] = [];
  const alone: number[] = [];
  const seen = new Set<string>();
  for (const [k, name] of names.entries()) {
    const why = refusal(name, wanted[k] as string[], reached);
    if (why) errors[k] = new PostgresError(why);
    else if (existing.has(name) || seen.has(name)) alone.push(k);
    else together.push(k);
    seen.add(name);
  }
  if (together.length > 0) {
    const sent: number[] = [];
    try {
      // Every identifier is allow-listed and every literal escaped by grantStatements.
      let statements = ['BEGIN'];
      for (let i = 0; i < together.length; i += SLICE) {
        for (const k of together.slice(i, i + SLICE)) {
          const verifier = await verifierOf(k);
          if (verifier === undefined) continue;
          statements.push(...grantStatements((items[k] as GrantItem).spec, verifier, false));
          sent.push(k);
        }
        if (i + SLICE >= together.length) statements.push('COMMIT');
        if (statements.length > 0) await client.query(statements.join(';\n'));
        statements = [];
      }
    } catch {
      await client.query('ROLLBACK').catch(() => {});
      alone.push(...sent);
    }
  }
  for (const k of alone.sort((a, b) => a - b)) {
    const item = items[k] as GrantItem;
    const verifier = await verifierOf(k);
    if (verifier === undefined) continue;
    try {
      await grantRole(client, item.spec, verifier);
    } catch (err) {
      errors[k] = err as Error;
    }
  }
  return errors;
}

/**
 * Revokes the roles `names` (tb_ roles, checked by the caller) on the caller's connection, as revokeRole
 * does one — NOLOGIN, memberships revoked, the admin takes the role's privileges, sessions ended, what it
 * owns dropped in every database, the role dropped, verified — each step for all of them in one round trip.
 * A step that fails sends the batch to revokeRole one role at a time. One outcome per name, in order.
 */
export async function revokeBatch(
  client: pg.ClientBase,
  names: readonly string[],
  adminUrl: string,
  clock: Clock,
): Promise<Settled<RevokeOutcome>[]> {
  let done: Map<string, RevokeOutcome>;
  try {
    done = await revokeTogether(client, names, adminUrl, clock);
  } catch {
    const out: Settled<RevokeOutcome>[] = [];
    for (const name of names) {
      try {
        out.push({ ok: true, value: await revokeRole(client, name, adminUrl, clock) });
      } catch (err) {
        out.push({ ok: false, error: err as Error });
      }
    }
    return out;
  }
  // Verified: no role and no session left, for each.
  const { rows } = await client.query<{ name: string; roles: number; sessions: number }>(
    `SELECT n AS name,
            (SELECT count(*)::int FROM pg_roles WHERE rolname = n) AS roles,
            (SELECT count(*)::int FROM pg_stat_activity WHERE usename = n) AS sessions
       FROM unnest($1::text[]) AS n`,
    [names],
  );
  const left = new Map(rows.map((r) => [r.name, r]));
  return names.map((name): Settled<RevokeOutcome> => {
    const l = left.get(name);
    if (l && (l.roles > 0 || l.sessions > 0)) {
      return {
        ok: false,
        error: new PostgresError(
          `revoking ${name} is not verified: ${l.roles} role(s) and ${l.sessions} session(s) left`,
        ),
      };
    }
    return { ok: true, value: done.get(name) ?? { principal: name, sessionsEnded: 0, activity: null } };
  });
}

/** The steps of revokeRole for several roles, each in one round trip; throws on the first that fails. */
async function revokeTogether(
  client: pg.ClientBase,
  names: readonly string[],
  adminUrl: string,
  clock: Clock,
): Promise<Map<string, RevokeOutcome>> {
  const { rows } = await client.query<{
    rolname: string;
    privileged: boolean;
    memberships: string[];
    v16: boolean;
  }>(
    `SELECT r.rolname, pg_has_role(current_user, r.oid, 'USAGE') AS privileged,
            ARRAY(SELECT DISTINCT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                   WHERE m.member = r.oid ORDER BY 1) AS memberships,
            current_setting('server_version_num')::int >= 160000 AS v16
       FROM pg_roles r WHERE r.rolname = ANY($1::text[]) ORDER BY r.rolname`,
    [names],
  );
  const out = new Map<string, RevokeOutcome>();
  if (rows.length === 0) return out;
  const present = rows.map((r) => r.rolname);
  // No new logins; no rights from the grant any more; the role's privileges for the admin, needed to end
  // its sessions and drop what it owns (see revokeRole: PostgreSQL 16+ wants INHERIT without SET). One
  // implicit transaction: a REVOKE the admin may not make (granted by someone else) fails the batch, and
  // revokeRole, one at a time, passes over it.
  const statements: string[] = [];
  for (const r of rows) {
    const name = ident(r.rolname);
    statements.push(`ALTER ROLE ${name} NOLOGIN`);
    for (const g of r.memberships) statements.push(`REVOKE ${quote(g)} FROM ${name}`);
    if (!r.privileged)
      statements.push(`GRANT ${name} TO CURRENT_USER${r.v16 ? ' WITH INHERIT TRUE, SET FALSE' : ''}`);
  }
  await client.query(statements.join(';\n'));
  const ended = await endSessions(client, present, clock);
  const activity = await activities(client, present);
  // What the grants made is dropped, never handed to the admin, in every database where they own something
  // or hold a privilege (pg_shdepend); DROP OWNED and DROP ROLE take several roles at once.
  const elsewhere = await client.query<{ datname: string; names: string[] }>(
    `SELECT d.datname, array_agg(DISTINCT r.rolname::text ORDER BY r.rolname::text) AS names
       FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.refobjid
      WHERE s.refclassid = 'pg_authid'::regclass AND r.rolname = ANY($1::text[])
        AND d.datname <> current_database()
      GROUP BY d.datname ORDER BY 1`,
    [present],
  );
  for (const { datname, names: owners } of elsewhere.rows) await dropOwnedIn(adminUrl, datname, owners);
  const list = present.map(ident).join(', ');
  await client.query(`DROP OWNED BY ${list} CASCADE;\nDROP ROLE ${list}`);
  for (const name of present) {
    out.set(name, {
      principal: name,
      sessionsEnded: ended.get(name)?.size ?? 0,
      activity: activity.get(name) ?? null,
    });
  }
  return out;
}

/** Ends every session of `names` (looked at again until none is left), and says which were ended. */
async function endSessions(
  client: pg.ClientBase,
  names: readonly string[],
  clock: Clock,
): Promise<Map<string, Set<number>>> {
  const ended = new Map<string, Set<number>>();
  for (let attempt = 0; attempt < 50; attempt++) {
    // The call stays in the select list: in WHERE, the planner may call it before `usename = ANY($1)`
    // has filtered the rows, ending every session it may end.
    const r = await client.query<{ usename: string; pid: number; ok: boolean }>(
      'SELECT usename, pid, pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE usename = ANY($1::text[])',
      [names],
    );
    for (const row of r.rows) {
      if (!row.ok) continue;
      const set = ended.get(row.usename) ?? new Set<number>();
      set.add(row.pid);
      ended.set(row.usename, set);
    }
    // None found: none to wait for (NOLOGIN is committed, so none can start; the verification looks again).
    if (r.rows.length === 0) break;
    const left = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = ANY($1::text[])',
      [names],
    );
    if ((left.rows[0]?.n ?? 0) === 0) break;
    // A terminated backend is gone within milliseconds: look again soon, then less often.
    await clock.sleep(Math.min(100, 5 * 2 ** attempt));
  }
  return ended;
}
