// MySQL and MariaDB: one account per grant (`'tb_…'@'<host>'`, a random password, MAX_USER_CONNECTIONS),
// the role's privileges on its objects, a tag row in `timebox_meta.grants` (accounts carry no comment on
// MariaDB), and — where the server runs its event scheduler — an event that locks the account at the
// window's end. Revoke kills the account's connections and drops it, verified. Values go to the server as
// escaped literals and identifiers through mysql2's placeholders; privileges and objects are allow-listed.
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { adminUrl, grantName } from '../common.js';
import type {
  GrantOutcome,
  GrantSpec,
  ManagedAccess,
  PermissionPreview,
  Provider,
  ProviderTarget,
  RevokeOutcome,
} from '../types.js';
import { mysqlDefinition, OBJECT, PRIVILEGES } from './definition.js';

export const META_DB = 'timebox_meta';
/** MySQL allows 32 characters in a user name: `tb_` + 17 of the login + `_` + 10 hex. */
const USER = /^tb_[a-z0-9_]{1,17}_[0-9a-f]{10}$/;
const OBJECT_RE = new RegExp(OBJECT);
const HOST_RE = /^[A-Za-z0-9.%:_-]{1,255}$/;

export class MysqlError extends Error {
  override name = 'MysqlError';
}

interface RoleSettings {
  privileges: string[];
  on: string[];
  max_user_connections?: number;
}

interface Tag {
  owner: string;
  file: string;
  grant: string;
  requester: string;
  /** The role of the request (absent in tags written before 0.2). */
  role?: string;
  resource: string;
  expires: string;
}

export function userFor(spec: Pick<GrantSpec, 'file' | 'requester' | 'owner'>): string {
  return checkedUser(grantName({ ...spec, requester: spec.requester.slice(0, 17) }));
}

function checkedUser(name: string): string {
  if (!USER.test(name)) throw new MysqlError(`refusing an unsafe account name ${JSON.stringify(name)}`);
  return name;
}

function hostOf(resource: Record<string, unknown>): string {
  const host = typeof resource.host === 'string' ? resource.host : '%';
  if (!HOST_RE.test(host)) throw new MysqlError(`refusing the account host ${JSON.stringify(host)}`);
  return host;
}

/** `GRANT <privileges> ON <db>.<table> TO ?@?` per object, with the identifiers escaped. */
export function grantStatements(role: RoleSettings): string[] {
  for (const p of role.privileges) {
    if (!(PRIVILEGES as readonly string[]).includes(p))
      throw new MysqlError(`refusing the privilege ${JSON.stringify(p)}`);
  }
  return role.on.map((object) => {
    if (!OBJECT_RE.test(object)) throw new MysqlError(`refusing the object ${JSON.stringify(object)}`);
    const [db, table] = object.split('.') as [string, string];
    const where =
      table === '*' ? `${mysql.escapeId(db)}.*` : `${mysql.escapeId(db)}.${mysql.escapeId(table)}`;
    return `GRANT ${role.privileges.join(', ')} ON ${where} TO ?@?`;
  });
}

export const mysqlProvider: Provider = {
  ...mysqlDefinition,

  targetKey(resource) {
    return `mysql:${String(resource.connection)}`;
  },

  preview(spec): PermissionPreview {
    const user = userFor(spec);
    const host = hostOf(spec.resource);
    const role = spec.roleSettings as unknown as RoleSettings;
    const account = mysql.format('?@?', [user, host]);
    return {
      summary: `a MySQL account ${account} with ${role.privileges.join(', ')} on ${role.on.join(', ')}, until ${spec.expiresAt.toISOString()}`,
      statements: [
        `CREATE USER ${account} IDENTIFIED BY '********' WITH MAX_USER_CONNECTIONS ${role.max_user_connections ?? 2}`,
        ...grantStatements(role).map((g) => mysql.format(g, [user, host])),
      ],
    };
  },

  async connect(resource, env) {
    const { connection, variable, url } = adminUrl('mysql', resource, env, (m) => new MysqlError(m));
    let pool: mysql.Pool;
    try {
      pool = mysql.createPool({ uri: url, connectionLimit: 4, connectTimeout: 5000 });
      await pool.query(`CREATE DATABASE IF NOT EXISTS ${META_DB}`);
      await pool.query(
        `CREATE TABLE IF NOT EXISTS ${META_DB}.grants (user VARCHAR(80) NOT NULL, host VARCHAR(255) NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (user, host))`,
      );
    } catch (err) {
      throw new MysqlError(
        `cannot connect to connection \`${connection}\` (${variable}): ${(err as Error).message}`,
      );
    }
    return target(pool, resource, url);
  },
};

function target(pool: mysql.Pool, resource: Record<string, unknown>, url: string): ProviderTarget {
  const publicUrl = new URL(typeof resource.public_url === 'string' ? resource.public_url : url);
  const exists = async (user: string, h: string) => {
    const [rows] = await pool.query('SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?', [user, h]);
    return (rows as unknown[]).length > 0;
  };
  const processes = async (user: string) => {
    const [rows] = await pool.query('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?', [
      user,
    ]);
    return (rows as { id: number }[]).map((r) => r.id);
  };
  const schedulerOn = async () => {
    const [rows] = await pool.query('SELECT @@event_scheduler AS s');
    return String((rows as { s: string }[])[0]?.s).toUpperCase() === 'ON';
  };
  const eventName = (user: string) => mysql.escapeId(`${user}_expiry`);

  return {
    async list() {
      const [rows] = await pool.query(`SELECT user, host, tag FROM ${META_DB}.grants ORDER BY user`);
      const out: ManagedAccess[] = [];
      for (const row of rows as { user: string; host: string; tag: string }[]) {
        if (!USER.test(row.user)) continue;
        let tag: Tag;
        try {
          tag = JSON.parse(row.tag) as Tag;
        } catch {
          continue;
        }
        if (!(await exists(row.user, row.host))) {
          await pool.query(`DELETE FROM ${META_DB}.grants WHERE user = ? AND host = ?`, [row.user, row.host]);
          continue;
        }
        out.push({
          owner: tag.owner ?? null,
          provider: 'mysql',
          resourceId: tag.resource,
          file: tag.file,
          grantId: tag.grant,
          requester: tag.requester ?? null,
          role: tag.role ?? null,
          principal: row.user,
          expiresAt: tag.expires,
        });
      }
      return out;
    },

    async grant(spec): Promise<GrantOutcome> {
      const user = userFor(spec);
      const host = hostOf(spec.resource);
      const role = spec.roleSettings as unknown as RoleSettings;
      const grants = grantStatements(role);
      const limit = Number(role.max_user_connections ?? 2);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100)
        throw new MysqlError(`refusing max_user_connections ${limit}`);
      const password = randomBytes(24).toString('base64url');
      const tag: Tag = {
        owner: spec.owner,
        file: spec.file,
        grant: spec.grantId,
        requester: spec.requester,
        role: spec.role,
        resource: spec.resourceId,
        expires: spec.expiresAt.toISOString(),
      };
      const conn = await pool.getConnection();
      try {
        // The tag first (a crash leaves a tag without an account, which list drops), then the account.
        await conn.query(`REPLACE INTO ${META_DB}.grants (user, host, tag) VALUES (?, ?, ?)`, [
          user,
          host,
          JSON.stringify(tag),
        ]);
        await conn.query(`CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ? WITH MAX_USER_CONNECTIONS ${limit}`, [
          user,
          host,
          password,
        ]);
        await conn.query(`ALTER USER ?@? IDENTIFIED BY ? WITH MAX_USER_CONNECTIONS ${limit} ACCOUNT UNLOCK`, [
          user,
          host,
          password,
        ]);
        // An edited role may grant less: start from nothing.
        await conn.query('REVOKE ALL PRIVILEGES, GRANT OPTION FROM ?@?', [user, host]);
        for (const g of grants) await conn.query(g, [user, host]);
        if (await schedulerOn()) {
          await conn.query(
            `CREATE OR REPLACE EVENT ${META_DB}.${eventName(user)} ON SCHEDULE AT ? DO ALTER USER ${mysql.format('?@?', [user, host])} ACCOUNT LOCK`,
            [spec.expiresAt.toISOString().slice(0, 19).replace('T', ' ')],
          );
        }
      } catch (err) {
        throw new MysqlError(`granting ${user} failed: ${(err as Error).message}`);
      } finally {
        conn.release();
      }
      const out = new URL(publicUrl.href);
      out.username = user;
      out.password = password;
      // The database the role reaches, when it is one; else none (the admin URL's is not theirs).
      const dbs = new Set(role.on.map((o) => o.split('.')[0]));
      out.pathname = dbs.size === 1 ? `/${[...dbs][0]}` : '/';
      return { principal: user, expiresAt: spec.expiresAt.toISOString(), secret: `${out.href}\n` };
    },

    async revoke(access): Promise<RevokeOutcome> {
      const user = checkedUser(access.principal);
      // Every host this name exists for (a `tb_` name is Timebox's whatever the host).
      const [rows] = await pool.query('SELECT Host AS host FROM mysql.user WHERE User = ?', [user]);
      const hosts = (rows as { host: string }[]).map((r) => r.host);
      // No new logins first, then end what is open, then drop.
      for (const host of hosts) await pool.query('ALTER USER ?@? ACCOUNT LOCK', [user, host]);
      const open = await processes(user);
      for (const id of open) await pool.query(`KILL CONNECTION ${Number(id)}`).catch(() => {});
      for (const host of hosts) await pool.query('DROP USER IF EXISTS ?@?', [user, host]);
      await pool.query(`DROP EVENT IF EXISTS ${META_DB}.${eventName(user)}`);
      const [leftRows] = await pool.query('SELECT 1 FROM mysql.user WHERE User = ?', [user]);
      const left = (leftRows as unknown[]).length;
      const sessions = (await processes(user)).length;
      if (left > 0 || sessions > 0)
        throw new MysqlError(
          `revoking ${user} is not verified: ${left} account(s) and ${sessions} connection(s) left`,
        );
      await pool.query(`DELETE FROM ${META_DB}.grants WHERE user = ?`, [user]);
      return { principal: user, sessionsEnded: open.length, activity: null };
    },

    async close() {
      await pool.end().catch(() => {});
    },
  };
}
