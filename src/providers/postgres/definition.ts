// The postgres provider's registry entry: its settings in policy files (what `timebox check` validates),
// the name and statements of a grant, and its preview. Pure: no driver; granting is in index.ts.
import {
  connectionProperties,
  type FromSchema,
  grantName,
  ProviderError,
  roleSettingsOf,
  connectionEnv as sharedConnectionEnv,
  tagFor,
} from '../common.js';
import type { GrantSpec, PermissionPreview, ProviderEntry } from '../types.js';

const IDENT = '^[a-z_][a-z0-9_]{0,62}$';
const IDENT_RE = new RegExp(IDENT);
/** Where a role's tag starts in its COMMENT. */
export const TAG = 'timebox:';

/**
 * Built-in roles a policy may never grant, and why: each reaches beyond the data a policy names — the
 * database host, every table of every database, other sessions, or Timebox's own revocation. Refused in
 * `grant:` at check time (the role schema below) and, also when only reached through membership, at grant
 * time (index.ts).
 */
export const REFUSED_BUILTIN_ROLES: Readonly<Record<string, string>> = {
  pg_execute_server_program: 'runs programs on the database host (COPY … PROGRAM)',
  pg_read_server_files: 'reads any file the server can read on the database host',
  pg_write_server_files: 'writes files on the database host as the server',
  pg_read_all_data: 'reads every table of every database, password hashes in pg_authid included',
  pg_write_all_data: 'writes every table of every database, whatever the grants',
  pg_signal_backend: "ends other roles' sessions, Timebox's own revocations included",
  pg_create_subscription: 'makes the server connect to any host',
  pg_maintain: 'locks any table, system catalogs included (a grantee could hold off its own revocation)',
  pg_checkpoint: 'forces checkpoints on the whole cluster',
  pg_use_reserved_connections: 'takes the connection slots reserved for administrators',
};

/**
 * The only built-in (`pg_`) roles a policy may grant: read-only monitoring. Any other `pg_` role — one
 * named above, or one a later PostgreSQL adds — is refused until it has been reviewed.
 */
export const ALLOWED_BUILTIN_ROLES: readonly string[] = [
  'pg_monitor',
  'pg_read_all_settings',
  'pg_read_all_stats',
  'pg_stat_scan_tables',
];

export class PostgresError extends ProviderError {}

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
          allOf: [
            ...Object.entries(REFUSED_BUILTIN_ROLES).map(([role, why]) => ({
              not: { const: role },
              errorMessage: `\`${role}\` is never granted: it ${why}`,
            })),
            {
              not: {
                pattern: '^pg_',
                not: { enum: [...ALLOWED_BUILTIN_ROLES, ...Object.keys(REFUSED_BUILTIN_ROLES)] },
              },
              errorMessage: `\${0} is a built-in role Timebox does not grant (of those, only ${ALLOWED_BUILTIN_ROLES.join(', ')} may be granted)`,
            },
          ],
        },
        description:
          'Existing PostgreSQL roles the temporary login becomes a member of (never a role with SUPERUSER, CREATEROLE, CREATEDB, BYPASSRLS or REPLICATION, nor one of the built-in roles outside pg_monitor and its parts).',
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

  targetKey(resource) {
    return `postgres:${String(resource.connection)}`;
  },

  // Without `read_only` the session may write, as far as its grant roles allow: which they do is the
  // server's to say, so "a read-only role would have done" is advice to set `read_only: true`.
  mayWrite: (role: Record<string, unknown>) => role.read_only !== true,

  preview(spec): PermissionPreview {
    const role = roleOf(spec);
    return {
      summary: `a PostgreSQL login ${principalFor(spec)} in ${role.grant.join(', ')}${role.read_only ? ', read-only' : ''}, valid until ${spec.expiresAt.toISOString()}`,
      statements: grantStatements(spec, '********', false),
    };
  },

  load: async () => (await import('./index.js')).postgres,
} as const satisfies ProviderEntry;

/** A postgres role's settings, as its schema says. */
export type PostgresRole = FromSchema<typeof postgresDefinition.roleSchema>;

export const roleOf = (spec: Pick<GrantSpec, 'roleSettings'>): PostgresRole =>
  roleSettingsOf(postgresDefinition, spec);

/** `tb_<login>_<hash of the request path>`: ≤ 63 bytes, lower-case, and only [a-z0-9_]. */
export function principalFor(
  spec: Pick<GrantSpec, 'file' | 'requester'> & { accessRepoId?: string },
): string {
  const name = grantName(spec);
  if (!IDENT_RE.test(name)) throw new PostgresError(`cannot derive a safe role name for ${spec.requester}`);
  return name;
}

/** Quote an identifier after allow-listing it: names never reach SQL unchecked. */
export function ident(name: string): string {
  if (!IDENT_RE.test(name))
    throw new PostgresError(`refusing unsafe PostgreSQL identifier ${JSON.stringify(name)}`);
  return `"${name}"`;
}

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export function connectionEnv(connection: string): string {
  return sharedConnectionEnv('postgres', connection);
}

/**
 * The statements a grant runs, in order. `verifier` is the password's SCRAM verifier (scram.ts), never the
 * password itself, so nothing the server logs or keeps in pg_stat_statements can log in; previews pass a
 * placeholder.
 */
export function grantStatements(spec: GrantSpec, verifier: string, exists: boolean): string[] {
  const role = roleOf(spec);
  const name = ident(principalFor(spec));
  const until = literal(spec.expiresAt.toISOString());
  const limit = role.connection_limit ?? 1;
  const out = [
    `${exists ? 'ALTER' : 'CREATE'} ROLE ${name} WITH LOGIN PASSWORD ${literal(verifier)} VALID UNTIL ${until} CONNECTION LIMIT ${limit}`,
  ];
  out.push(`COMMENT ON ROLE ${name} IS ${literal(TAG + JSON.stringify(tagFor(spec)))}`);
  for (const g of role.grant) out.push(`GRANT ${ident(g)} TO ${name}`);
  out.push(`ALTER ROLE ${name} SET default_transaction_read_only = ${role.read_only ? 'on' : 'off'}`);
  if (role.statement_timeout)
    out.push(`ALTER ROLE ${name} SET statement_timeout = ${literal(role.statement_timeout)}`);
  out.push(`ALTER ROLE ${name} SET log_statement = ${literal(role.log_statement ?? 'all')}`);
  return out;
}
