// The mysql provider's settings in policy files (MariaDB and MySQL); granting is in index.ts.
import { connectionProperties } from '../common.js';
import type { ProviderDefinition } from '../types.js';

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
} as const satisfies ProviderDefinition;
