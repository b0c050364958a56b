// The mysql provider's registry entry (MariaDB and MySQL): its settings in policy files, the account and
// statements of a grant, and its preview. Pure: no driver; granting is in index.ts.
import {
  connectionProperties,
  type FromSchema,
  ProviderError,
  principalNames,
  roleSettingsOf,
} from '../common.js';
import type { GrantSpec, PermissionPreview, ProviderEntry, RoleProblem } from '../types.js';

/** Where Timebox keeps its tags (`grants`) and the events that lock accounts at expiry. */
export const META_DB = 'timebox_meta';

/**
 * Schemas no role may reach, and why: Timebox's own bookkeeping, and the server's, where accounts and
 * privileges live (a grantee there could unlock, re-create or re-grant any account, its own included).
 */
export const RESERVED_SCHEMAS: Readonly<Record<string, string>> = {
  [META_DB]: 'where Timebox keeps its tags and the events that lock accounts at expiry',
  mysql: 'the server’s accounts and privileges',
  sys: 'a system schema (views and routines over the server’s internals)',
  performance_schema: 'a system schema (every session’s statements)',
  information_schema: 'a system schema',
};

/** Privileges a role may grant: data access and inspection, never administration. */
export const PRIVILEGES = [
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'EXECUTE',
  'SHOW VIEW',
  'CREATE TEMPORARY TABLES',
  'LOCK TABLES',
] as const;

/** `orders.*` or `orders.invoices`: a database and a table (or every table). */
export const OBJECT = '^[A-Za-z0-9_$]{1,64}\\.(\\*|[A-Za-z0-9_$]{1,64})$';

export const mysqlDefinition = {
  id: 'mysql',
  summary:
    'MySQL and MariaDB: a user per grant with the role’s privileges, locked at expiry where the server can',
  resourceSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['connection'],
    properties: {
      ...connectionProperties(
        'mysql',
        'The host and port requesters connect to, when it differs from the admin URL.',
      ),
      host: {
        type: 'string',
        pattern: '^[A-Za-z0-9.%:_-]{1,255}$',
        description: 'The host part of the accounts Timebox creates (default %, any host).',
        errorMessage: { pattern: 'must be a MySQL account host such as %, 10.0.% or app.internal' },
      },
    },
  },
  roleSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['privileges', 'on'],
    properties: {
      description: { type: 'string' },
      privileges: {
        type: 'array',
        minItems: 1,
        uniqueItems: true,
        items: { enum: [...PRIVILEGES] },
        description: 'What the user may do.',
      },
      on: {
        type: 'array',
        minItems: 1,
        uniqueItems: true,
        description: 'Where: database.table or database.* (the privileges are granted on each).',
        items: {
          type: 'string',
          pattern: OBJECT,
          errorMessage: { pattern: 'must be database.table or database.*' },
        },
      },
      max_user_connections: {
        type: 'integer',
        minimum: 1,
        maximum: 100,
        default: 2,
        description: 'MAX_USER_CONNECTIONS of the account.',
      },
    },
  },
  checkRole: checkMysqlRole,
  // INSERT, UPDATE or DELETE write; EXECUTE runs routines that may (unknown); the rest only read or lock.
  mayWrite(role: Record<string, unknown>) {
    const privileges = (Array.isArray(role.privileges) ? role.privileges : []).map((p) =>
      String(p).toUpperCase(),
    );
    if (privileges.some((p) => ['INSERT', 'UPDATE', 'DELETE'].includes(p))) return true;
    return privileges.includes('EXECUTE') ? null : false;
  },

  targetKey(resource) {
    return `mysql:${String(resource.connection)}`;
  },

  preview(spec): PermissionPreview {
    const user = userFor(spec);
    const host = hostOf(spec.resource);
    const role = roleOf(spec);
    const account = accountLiteral(user, host);
    return {
      summary: `a MySQL account ${account} with ${role.privileges.join(', ')} on ${role.on.join(', ')}, until ${spec.expiresAt.toISOString()}`,
      statements: [
        `CREATE USER ${account} IDENTIFIED BY PASSWORD '<hash of the password>' WITH MAX_USER_CONNECTIONS ${role.max_user_connections ?? 2}`,
        ...grantStatements(role).map((g) => g.replace('?@?', account)),
      ],
    };
  },

  load: async () => (await import('./index.js')).mysqlProvider,
} as const satisfies ProviderEntry;

/** A mysql role's settings, as its schema says. */
export type MysqlRole = FromSchema<typeof mysqlDefinition.roleSchema>;

export const roleOf = (spec: Pick<GrantSpec, 'roleSettings'>): MysqlRole =>
  roleSettingsOf(mysqlDefinition, spec);

export class MysqlError extends ProviderError {}

/** MySQL allows 32 characters in a user name: `tb_` + 17 of the login + `_` + 10 hex. */
const names = principalNames(
  /^tb_[a-z0-9_]{1,17}_[0-9a-f]{10}$/,
  'account name',
  (m) => new MysqlError(m),
  17,
);
export const { pattern: USER, nameFor: userFor, checked: checkedUser } = names;
const OBJECT_RE = new RegExp(OBJECT);
const HOST_RE = /^[A-Za-z0-9.%:_-]{1,255}$/;

export function hostOf(resource: Record<string, unknown>): string {
  const host = typeof resource.host === 'string' ? resource.host : '%';
  if (!HOST_RE.test(host)) throw new MysqlError(`refusing the account host ${JSON.stringify(host)}`);
  return host;
}

/**
 * `'user'@'host'` as the driver would quote the two values: both are allow-listed (USER, HOST_RE), so no
 * character in them needs escaping. The preview says it without loading the driver.
 */
function accountLiteral(user: string, host: string): string {
  return `'${checkedUser(user)}'@'${hostOf({ host })}'`;
}

/** A MySQL identifier in backticks (what the driver's `escapeId` does to a name without a dot). */
function escapeId(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/**
 * `GRANT <privileges> ON <db>.<table> TO ?@?` per object, with the identifiers escaped. In a database-level
 * grant (`db.*`) MySQL and MariaDB read `_` and `%` in the name as wildcards (`shop_eu.*` would also grant
 * `shopXeu`), so they are escaped there (`shop\_eu`); in a table-level grant the name is literal, and an
 * escape would name another database.
 */
export function grantStatements(role: MysqlRole): string[] {
  for (const p of role.privileges) {
    if (!(PRIVILEGES as readonly string[]).includes(p))
      throw new MysqlError(`refusing the privilege ${JSON.stringify(p)}`);
  }
  for (const o of role.on)
    if (!OBJECT_RE.test(o)) throw new MysqlError(`refusing the object ${JSON.stringify(o)}`);
  const reach = checkMysqlRole(role);
  if (reach.length > 0) throw new MysqlError(`refusing the role: ${reach.map((p) => p.message).join('; ')}`);
  return role.on.map((object) => {
    const [db, table] = object.split('.') as [string, string];
    const where =
      table === '*' ? `${escapeId(db.replace(/[_%]/g, '\\$&'))}.*` : `${escapeId(db)}.${escapeId(table)}`;
    return `GRANT ${role.privileges.join(', ')} ON ${where} TO ?@?`;
  });
}

/**
 * Refuses `on:` objects in Timebox's bookkeeping or the server's system schemas. Compared without case:
 * servers with `lower_case_table_names` set take `MySQL.user` for `mysql.user`. (Names are otherwise literal:
 * `_` is escaped in database-level grants, so `mysq_.*` is the database `mysq_`, never `mysql`.)
 */
export function checkMysqlRole(role: Record<string, unknown>): RoleProblem[] {
  const on = Array.isArray(role.on) ? (role.on as unknown[]) : [];
  const problems: RoleProblem[] = [];
  on.forEach((object, i) => {
    if (typeof object !== 'string') return;
    const db = object.split('.')[0]?.toLowerCase() ?? '';
    const why = Object.hasOwn(RESERVED_SCHEMAS, db) ? RESERVED_SCHEMAS[db] : undefined;
    if (why)
      problems.push({
        path: ['on', i],
        message: `\`${object}\` is in \`${db}\`, ${why}: no role may reach it`,
      });
  });
  return problems;
}
