// MySQL and MariaDB: one account per grant (`'tb_…'@'<host>'`, a random password sent only as its
// mysql_native_password hash, MAX_USER_CONNECTIONS), the role's privileges on its objects (database names
// escaped in database-level grants, where `_` and `%` are wildcards), a tag row in `timebox_meta.grants`
// (accounts carry no comment on MariaDB), and — where the server runs its event scheduler — an event that
// locks the account at the window's end (scheduled in UTC: every admin connection sets its time zone).
// Revoke kills the account's connections and drops it, verified. `list` also finds Timebox-named accounts
// whose tag is gone. Values go to the server as escaped literals and identifiers through mysql2's
// placeholders; privileges and objects are allow-listed, and no object may be in a reserved schema.
import { createHash, randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { adminUrl, parseTag, type Tag, tagFor, taggedAccess, untaggedAccess } from '../common.js';
import type {
  GrantOutcome,
  GrantSpec,
  ManagedAccess,
  Provider,
  ProviderTarget,
  RevokeOutcome,
} from '../types.js';
import { captureActivity } from './activity.js';
import {
  checkedUser,
  grantStatements,
  hostOf,
  META_DB,
  MysqlError,
  mysqlDefinition,
  roleOf,
  USER,
  userFor,
} from './definition.js';

// What tests import from here (the pure parts live in definition.ts).
export { grantStatements, META_DB, MysqlError, userFor };

/**
 * The mysql_native_password hash of a password (`*` and the upper-case hex of SHA1(SHA1(password))): what
 * the server stores, and all it needs to be sent, so the password is in no general, slow or binary log.
 */
export function nativePasswordHash(password: string): string {
  const inner = createHash('sha1').update(password, 'utf8').digest();
  return `*${createHash('sha1').update(inner).digest('hex').toUpperCase()}`;
}

/**
 * How the account's password hash is given: MariaDB `IDENTIFIED BY PASSWORD '*…'`; MySQL (no longer
 * accepting that form since 8.0) `IDENTIFIED WITH mysql_native_password AS '*…'`.
 */
function identifiedBy(flavour: Flavour): string {
  return flavour === 'mariadb' ? 'IDENTIFIED BY PASSWORD ?' : 'IDENTIFIED WITH mysql_native_password AS ?';
}

type Flavour = 'mariadb' | 'mysql';

interface CoreConnection {
  query(sql: string, callback: (err: Error | null) => void): unknown;
  destroy(): void;
}

export const mysqlProvider: Provider = {
  ...mysqlDefinition,

  async connect(resource, env) {
    const { connection, variable, url } = adminUrl('mysql', resource, env, (m) => new MysqlError(m));
    let pool: mysql.Pool;
    let flavour: Flavour;
    try {
      pool = mysql.createPool({ uri: url, connectionLimit: 4, connectTimeout: 5000 });
      // Every connection works in UTC: the lock event's `AT` is read in the session's time zone, and a
      // server at -05:00 would otherwise lock the account five hours late. A connection that cannot is
      // closed, so nothing runs on it.
      // (mysql2 hands the listener the callback-style connection, whatever its typings say; the query is
      // queued before anything the pool runs on the new connection.)
      pool.on('connection', (conn: unknown) => {
        const core = conn as CoreConnection;
        core.query("SET time_zone = '+00:00'", (err) => {
          if (err) core.destroy();
        });
      });
      const [version] = await pool.query('SELECT VERSION() AS v');
      flavour = /mariadb/i.test(String((version as { v: string }[])[0]?.v)) ? 'mariadb' : 'mysql';
      await pool.query(`CREATE DATABASE IF NOT EXISTS ${META_DB}`);
      await pool.query(
        `CREATE TABLE IF NOT EXISTS ${META_DB}.grants (user VARCHAR(80) NOT NULL, host VARCHAR(255) NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (user, host))`,
      );
    } catch (err) {
      throw new MysqlError(
        `cannot connect to connection \`${connection}\` (${variable}): ${(err as Error).message}`,
      );
    }
    return target(pool, resource, url, flavour);
  },
};

/** The server-wide lock a grant holds while it writes a tag and creates its account. */
const lockName = (user: string) => `timebox:${user}`;
const eventName = (user: string) => mysql.escapeId(`${user}_expiry`);

async function schedulerOn(pool: mysql.Pool): Promise<boolean> {
  const [rows] = await pool.query('SELECT @@event_scheduler AS s');
  return String((rows as { s: string }[])[0]?.s).toUpperCase() === 'ON';
}

/**
 * Tags and creates (or brings in line) the account of a grant, under its name's lock so that no list takes
 * the tag for an orphan before the account exists; with an event that locks it at expiry where the server
 * runs its event scheduler.
 */
async function createAccount(
  pool: mysql.Pool,
  flavour: Flavour,
  a: { user: string; host: string; limit: number; grants: string[]; spec: GrantSpec; hash: string },
): Promise<void> {
  const { user, host, limit, hash } = a;
  const conn = await pool.getConnection();
  let locked = false;
  try {
    const [got] = await conn.query('SELECT GET_LOCK(?, 10) AS got', [lockName(user)]);
    locked = (got as { got: number | null }[])[0]?.got === 1;
    if (!locked) throw new Error('another grant of this account is under way');
    // The tag first (a crash leaves a tag without an account, which list drops), then the account.
    await conn.query(`REPLACE INTO ${META_DB}.grants (user, host, tag) VALUES (?, ?, ?)`, [
      user,
      host,
      JSON.stringify(tagFor(a.spec)),
    ]);
    await conn.query(
      `CREATE USER IF NOT EXISTS ?@? ${identifiedBy(flavour)} WITH MAX_USER_CONNECTIONS ${limit}`,
      [user, host, hash],
    );
    await conn.query(
      `ALTER USER ?@? ${identifiedBy(flavour)} WITH MAX_USER_CONNECTIONS ${limit} ACCOUNT UNLOCK`,
      [user, host, hash],
    );
    // An edited role may grant less: start from nothing.
    await conn.query('REVOKE ALL PRIVILEGES, GRANT OPTION FROM ?@?', [user, host]);
    for (const g of a.grants) await conn.query(g, [user, host]);
    if (await schedulerOn(pool)) {
      await conn.query(
        `CREATE OR REPLACE EVENT ${META_DB}.${eventName(user)} ON SCHEDULE AT ? DO ALTER USER ${mysql.format('?@?', [user, host])} ACCOUNT LOCK`,
        [a.spec.expiresAt.toISOString().slice(0, 19).replace('T', ' ')],
      );
    }
  } catch (err) {
    throw new MysqlError(`granting ${user} failed: ${(err as Error).message}`);
  } finally {
    if (locked) await conn.query('SELECT RELEASE_LOCK(?)', [lockName(user)]).catch(() => {});
    conn.release();
  }
}

function target(
  pool: mysql.Pool,
  resource: Record<string, unknown>,
  url: string,
  flavour: Flavour,
): ProviderTarget {
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
  /**
   * A tag whose account is gone (deleted by hand, a revoke stopped half way, a crash before the account):
   * the tag alone is not access, so it is dropped — unless a grant of that name holds its lock (it is
   * about to create the account), and only if the account is still absent once the lock is held.
   */
  const dropOrphanTag = async (user: string, host: string) => {
    const conn = await pool.getConnection();
    try {
      const [got] = await conn.query('SELECT GET_LOCK(?, 0) AS got', [lockName(user)]);
      if ((got as { got: number | null }[])[0]?.got !== 1) return;
      try {
        if (!(await exists(user, host)))
          await conn.query(`DELETE FROM ${META_DB}.grants WHERE user = ? AND host = ?`, [user, host]);
      } finally {
        await conn.query('SELECT RELEASE_LOCK(?)', [lockName(user)]);
      }
    } finally {
      conn.release();
    }
  };

  return {
    async list() {
      // The accounts first, then the tags: a grant writes its tag before it creates the account, so an
      // account seen here whose tag is missing below lost it afterwards — never a grant half done.
      const [accountRows] = await pool.query(
        "SELECT User AS user, Host AS host FROM mysql.user WHERE User LIKE 'tb\\_%'",
      );
      const accounts = (accountRows as { user: string; host: string }[]).filter((a) => USER.test(a.user));
      const [rows] = await pool.query(`SELECT user, host, tag FROM ${META_DB}.grants ORDER BY user`);
      const key = (user: string, host: string) => `${user}\u0000${host}`;
      const present = new Set(accounts.map((a) => key(a.user, a.host)));
      const tags = new Map<string, Tag>();
      const byUser = new Map<string, Tag>();
      for (const row of rows as { user: string; host: string; tag: string }[]) {
        if (!USER.test(row.user)) continue;
        if (!present.has(key(row.user, row.host))) {
          await dropOrphanTag(row.user, row.host);
          continue;
        }
        const tag = parseTag(row.tag);
        if (!tag) continue;
        tags.set(key(row.user, row.host), tag);
        byUser.set(row.user, tag);
      }
      // A Timebox-named account on a host no readable tag explains: nothing in git can explain it, so
      // reconciliation revokes the name (every host), whichever access repo made it.
      const untagged = new Set(accounts.filter((a) => !tags.has(key(a.user, a.host))).map((a) => a.user));
      const out: ManagedAccess[] = [];
      for (const user of [...new Set(accounts.map((a) => a.user))].sort()) {
        const tag = byUser.get(user);
        if (untagged.has(user) || !tag) {
          out.push(untaggedAccess('mysql', user));
          continue;
        }
        out.push(taggedAccess('mysql', user, tag));
      }
      return out;
    },

    async grant(spec): Promise<GrantOutcome> {
      const user = userFor(spec);
      const host = hostOf(spec.resource);
      const role = roleOf(spec);
      const grants = grantStatements(role);
      const limit = Number(role.max_user_connections ?? 2);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100)
        throw new MysqlError(`refusing max_user_connections ${limit}`);
      const password = randomBytes(24).toString('base64url');
      await createAccount(pool, flavour, {
        user,
        host,
        limit,
        grants,
        spec,
        hash: nativePasswordHash(password),
      });
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
      // What the account did, once its connections are ended (their statements are counted) and before it is dropped.
      const activity = hosts.length > 0 ? await captureActivity(pool, user).catch(() => null) : null;
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
      return { principal: user, sessionsEnded: open.length, activity };
    },

    async close() {
      await pool.end().catch(() => {});
    },
  };
}
