import { connectionProperties } from '../common.js';
import type { ProviderDefinition } from '../types.js';

const IDENT = '^[a-z_][a-z0-9_]{0,62}$';

export const postgresDefinition = {
  id: 'postgres',
  summary: 'PostgreSQL: a LOGIN role per grant, VALID UNTIL the expiry, member of the role’s grant roles',
  resourceSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['connection'],
    properties: connectionProperties(
      'postgres',
      'The host, port and database requesters connect to, when it differs from the admin URL.',
    ),
  },
  roleSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['grant'],
    properties: {
      description: { type: 'string' },
      grant: {
        type: 'array',
        minItems: 1,
        uniqueItems: true,
        items: {
          type: 'string',
          pattern: IDENT,
          errorMessage: { pattern: 'must be an existing role name (lower-case letters, digits and _)' },
        },
        description: 'Existing PostgreSQL roles the temporary login becomes a member of.',
      },
      read_only: { type: 'boolean', default: false, description: 'Sets default_transaction_read_only.' },
      statement_timeout: {
        type: 'string',
        pattern: '^[1-9][0-9]{0,6}(ms|s|min|h)$',
        errorMessage: { pattern: 'must be a PostgreSQL duration such as 500ms, 30s, 5min or 1h' },
      },
      connection_limit: { type: 'integer', minimum: 1, maximum: 100, default: 1 },
      log_statement: { enum: ['none', 'ddl', 'mod', 'all'], default: 'all' },
    },
  },
} satisfies ProviderDefinition;
