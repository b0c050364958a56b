// PostgreSQL: one LOGIN role per grant, VALID UNTIL the expiry, member of the role's `grant` roles,
// with per-role settings and a COMMENT that tags it with the request file. See README.md beside this file.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { adminUrl, grantName, connectionEnv as sharedConnectionEnv } from '../common.js';
import type {
  GrantOutcome,
  GrantSpec,
  ManagedAccess,
  PermissionPreview,
  Provider,
  ProviderTarget,
  RevokeOutcome,
} from '../types.js';
import { postgresDefinition } from './definition.js';

const TAG = 'timebox:';
const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

export class PostgresError extends Error {
  override name = 'PostgresError';
}

interface RoleSettings {
  grant: string[];
  read_only?: boolean;
  statement_timeout?: string;
  connection_limit?: number;
  log_statement?: 'none' | 'ddl' | 'mod' | 'all';
}

interface Tag {
  owner?: string;
  file: string;
  grant: string;
  requester: string;
  /** The role of the request (absent in tags written before 0.2). */
  role?: string;
  resource: string;
  expires: string;
}

/** `tb_<login>_<hash of the request path>`: ≤ 63 bytes, lower-case, and only [a-z0-9_]. */
export function principalFor(spec: Pick<GrantSpec, 'file' | 'requester'> & { owner?: string }): string {
  const name = grantName(spec);
  if (!IDENT.test(name)) throw new PostgresError(`cannot derive a safe role name for ${spec.requester}`);
  return name;
}

/** Quote an identifier after allow-listing it: names never reach SQL unchecked. */
export function ident(name: string): string {
  if (!IDENT.test(name))
    throw new PostgresError(`refusing unsafe PostgreSQL identifier ${JSON.stringify(name)}`);
  return `"${name}"`;
}

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export function connectionEnv(connection: string): string {
  return sharedConnectionEnv('postgres', connection);
}

/** The statements a grant runs, in order (the password as a placeholder in previews). */
export function grantStatements(spec: GrantSpec, password: string, exists: boolean): string[] {
  const role = spec.roleSettings as unknown as RoleSettings;
  const name = ident(principalFor(spec));
  const until = literal(spec.expiresAt.toISOString());
  const limit = role.connection_limit ?? 1;
  const tag: Tag = {
    owner: spec.owner,
    file: spec.file,
    grant: spec.grantId,
    requester: spec.requester,
    role: spec.role,
    resource: spec.resourceId,
    expires: spec.expiresAt.toISOString(),
  };
  const out = exists
    ? [
        `ALTER ROLE ${name} WITH LOGIN PASSWORD ${literal(password)} VALID UNTIL ${until} CONNECTION LIMIT ${limit}`,
      ]
    : [
        `CREATE ROLE ${name} WITH LOGIN PASSWORD ${literal(password)} VALID UNTIL ${until} CONNECTION LIMIT ${limit}`,
      ];
  out.push(`COMMENT ON ROLE ${name} IS ${literal(TAG + JSON.stringify(tag))}`);
  for (const g of role.grant) out.push(`GRANT ${ident(g)} TO ${name}`);
  out.push(`ALTER ROLE ${name} SET default_transaction_read_only = ${role.read_only ? 'on' : 'off'}`);
  if (role.statement_timeout)
    out.push(`ALTER ROLE ${name} SET statement_timeout = ${literal(role.statement_timeout)}`);
  out.push(`ALTER ROLE ${name} SET log_statement = ${literal(role.log_statement ?? 'all')}`);
  return out;
}

export const postgres: Provider = {
  ...postgresDefinition,

  targetKey(resource) {
    return `postgres:${String(resource.connection)}`;
  },

  preview(spec): PermissionPreview {
    const role = spec.roleSettings as unknown as RoleSettings;
    return {
      summary: `a PostgreSQL login ${principalFor(spec)} in ${role.grant.join(', ')}${role.read_only ? ', read-only' : ''}, valid until ${spec.expiresAt.toISOString()}`,
      statements: grantStatements(spec, '********', false).map((s) =>
        s.replace(/PASSWORD '[^']*'/, "PASSWORD '********'"),
      ),
    };
  },

  async connect(resource, env) {
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
    return target(pool, resource, url);
  },
};

/** Connections per target: enough for parallel revocations at expiry, few enough for a shared server. */
const POOL_SIZE = 4;

function target(pool: pg.Pool, resource: Record<string, unknown>, adminUrl: string): ProviderTarget {
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

  // Always on the caller's connection: asking the pool for a second one while holding one deadlocks once
  // every connection is held by a revocation doing the same.
  const sessionsOf = async (client: pg.ClientBase, name: string) =>
    Number(
      (await client.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [name]))
        .rows[0]?.n ?? 0,
    );

  return {
    async list() {
      const { rows } = await pool.query<{
        rolname: string;
        rolvaliduntil: Date | null;
        comment: string | null;
      }>(
        `SELECT r.rolname, r.rolvaliduntil, shobj_description(r.oid, 'pg_authid') AS comment
           FROM pg_roles r
          WHERE shobj_description(r.oid, 'pg_authid') LIKE 'timebox:%'
          ORDER BY r.rolname`,
      );
      const out: ManagedAccess[] = [];
      for (const row of rows) {
        let tag: Tag;
        try {
          tag = JSON.parse((row.comment ?? '').slice(TAG.length)) as Tag;
        } catch {
          continue;
        }
        out.push({
          owner: tag.owner ?? null,
          provider: 'postgres',
          resourceId: tag.resource,
          file: tag.file,
          grantId: tag.grant,
          requester: tag.requester ?? null,
          role: tag.role ?? null,
          principal: row.rolname,
          expiresAt: row.rolvaliduntil ? row.rolvaliduntil.toISOString() : null,
        });
      }
      return out;
    },

    async grant(spec): Promise<GrantOutcome> {
      const name = principalFor(spec);
      const password = randomBytes(24).toString('base64url');
      await session(async (client) => {
        try {
          const exists =
            (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1;
          if (!exists) {
            // One transaction in one round trip: the role, its tag and its settings appear together or not at
            // all. Every identifier is allow-listed and every literal escaped by grantStatements.
            await client.query(['BEGIN', ...grantStatements(spec, password, false), 'COMMIT'].join(';\n'));
          } else {
            await client.query('BEGIN');
            for (const sql of grantStatements(spec, password, true)) await client.query(sql);
            // An edited request may name other roles: drop memberships it no longer grants.
            const wanted = new Set((spec.roleSettings as unknown as RoleSettings).grant);
            const { rows } = await client.query<{ rolname: string }>(
              `SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
               JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1`,
              [name],
            );
            for (const r of rows)
              if (!wanted.has(r.rolname))
                await client.query(`REVOKE ${ident(r.rolname)} FROM ${ident(name)}`);
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
      return session(async (client) => {
        const exists =
          (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1;
        if (!exists) return { principal: name, sessionsEnded: 0, activity: null };
        await client.query(`ALTER ROLE ${ident(name)} NOLOGIN`);
        let ended = 0;
        for (let attempt = 0; attempt < 50; attempt++) {
          const r = await client.query(
            'SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1) t',
            [name],
          );
          ended += Number(r.rows[0]?.n ?? 0);
          if ((await sessionsOf(client, name)) === 0) break;
          // A terminated backend is gone within milliseconds: look again soon, then less often.
          await new Promise((r) => setTimeout(r, Math.min(100, 5 * 2 ** attempt)));
        }
        const activity = await captureActivity(client, name);
        await client.query(`REASSIGN OWNED BY ${ident(name)} TO CURRENT_USER`);
        await client.query(`DROP OWNED BY ${ident(name)}`);
        await client.query(`DROP ROLE ${ident(name)}`);
        const left = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount ?? 0;
        const sessions = await sessionsOf(client, name);
        if (left > 0 || sessions > 0) {
          throw new PostgresError(
            `revoking ${name} is not verified: ${left} role(s) and ${sessions} session(s) left`,
          );
        }
        return { principal: name, sessionsEnded: ended, activity };
      });
    },

    async close() {
      await pool.end().catch(() => {});
    },
  };
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
