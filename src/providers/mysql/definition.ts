// The mysql provider's settings in policy files (MariaDB and MySQL); granting is in index.ts.
import { connectionProperties } from '../common.js';
import type { ProviderDefinition, RoleProblem } from '../types.js';

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
} as const satisfies ProviderDefinition;

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
