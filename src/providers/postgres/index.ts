// PostgreSQL: one LOGIN role per grant, VALID UNTIL the expiry, member of the role's `grant` roles,
// with per-role settings and a COMMENT that tags it with the request file. See README.md beside this file.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Clock } from '../../core/clock.js';
import { adminUrl, clockOf, parseTag, settle, type Tag, taggedAccess, untaggedAccess } from '../common.js';
import type {
  GrantOutcome,
  GrantSpec,
  ManagedAccess,
  Provider,
  ProviderTarget,
  RevokeOutcome,
  Settled,
} from '../types.js';
import { grantBatch, revokeBatch } from './batch.js';
import { ident, PostgresError, postgresDefinition, principalFor, roleOf, TAG } from './definition.js';
import { grantRole, refuseDangerous } from './roles.js';
import { scramVerifierAsync } from './scram.js';

// What tests and docs import from here (the pure parts live in definition.ts).
export { connectionEnv, grantStatements, ident, PostgresError, principalFor } from './definition.js';

/**
 * `tb_` roles are Timebox's: `list` reports only those, and `revoke` never touches another role, whatever
 * its tag says (a tag copied onto a production role must not get it dropped with all it owns).
 */
const OURS = /^tb_/;
/** The names Timebox gives its roles (`tb_<login>_<10 hex>`, see grantName): listed even without a tag. */
const PRINCIPAL = /^tb_[a-z0-9_]{1,30}_[0-9a-f]{10}$/;

export const postgres: Provider = {
  ...postgresDefinition,

  async connect(resource, env, context) {
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
    return target(pool, resource, url, clockOf(context));
  },
};

/** Connections per target: enough for parallel revocations at expiry, few enough for a shared server. */
const POOL_SIZE = 4;
/**
 * Grants per transaction in `grantMany`, revocations per round of `revokeMany`: big enough that a round trip
 * is shared by many, small enough that a fallback to one at a time (a failure in the batch) stays short.
 */
const GRANT_BATCH = 100;
const REVOKE_BATCH = 50;

interface Secret {
  verifier: string;
  outcome: GrantOutcome;
}

function target(
  pool: pg.Pool,
  resource: Record<string, unknown>,
  adminUrl: string,
  clock: Clock,
): ProviderTarget {
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

  return {
    list: () => listRoles(pool),

    async check(spec): Promise<string[]> {
      const name = principalFor(spec);
      const wanted = roleOf(spec).grant;
      return session(async (client) => {
        const { rows } = await client.query<{ rolname: string }>(
          'SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])',
          [wanted],
        );
        const found = new Set(rows.map((r) => r.rolname));
        const missing = wanted.filter((r) => !found.has(r));
        if (missing.length > 0) {
          const list = missing.map((r) => `\`${r}\``).join(', ');
          return [
            `role \`${spec.role}\` of ${spec.resourceId} grants ${list}, which the database does not have : create ${missing.length === 1 ? 'it' : 'them'} (CREATE ROLE … NOLOGIN, with the rights the role should give) or fix the policy`,
          ];
        }
        try {
          await refuseDangerous(client, name, wanted);
        } catch (err) {
          return [(err as Error).message];
        }
        return [];
      });
    },

    async grant(spec): Promise<GrantOutcome> {
      const secret = await newSecret(spec, publicUrl);
      await session((client) => grantRole(client, spec, secret.verifier));
      return secret.outcome;
    },

    async grantMany(specs): Promise<Settled<GrantOutcome>[]> {
      const out: Settled<GrantOutcome>[] = [];
      for (let i = 0; i < specs.length; i += GRANT_BATCH) {
        const chunk = specs.slice(i, i + GRANT_BATCH);
        // The verifiers of a batch are derived on the thread pool, side by side, while its first queries run.
        const secrets = chunk.map((s) => settle(() => newSecret(s, publicUrl)));
        const items = chunk.map((spec, k) => {
          const verifier = (secrets[k] as Promise<Settled<Secret>>).then((s) => {
            if (!s.ok) throw s.error;
            return s.value.verifier;
          });
          // Its failure is the grant's (below), also when the batch never starts (no connection).
          verifier.catch(() => {});
          return { spec, verifier };
        });
        // A batch that fails as a whole (the connection lost) fails its own grants, not those made before.
        const errors = await settle(() => session((client) => grantBatch(client, items)));
        for (const [k, secret] of secrets.entries()) {
          const s = await secret;
          const error = s.ok ? (errors.ok ? errors.value[k] : errors.error) : undefined;
          out.push(!s.ok ? s : error ? { ok: false, error } : { ok: true, value: s.value.outcome });
        }
      }
      return out;
    },

    async revoke(access): Promise<RevokeOutcome> {
      const name = checkedName(access.principal);
      const [out] = await session((client) => revokeBatch(client, [name], adminUrl, clock));
      if (!out?.ok) throw out?.error ?? new PostgresError(`revoking ${name}: no outcome`);
      return out.value;
    },

    async revokeMany(accesses): Promise<Settled<RevokeOutcome>[]> {
      const names = await Promise.all(accesses.map((a) => settle(async () => checkedName(a.principal))));
      const ok = [...new Set(names.flatMap((n) => (n.ok ? [n.value] : [])))];
      const done = new Map<string, Settled<RevokeOutcome>>();
      for (let i = 0; i < ok.length; i += REVOKE_BATCH) {
        const chunk = ok.slice(i, i + REVOKE_BATCH);
        const results = await settle(() => session((client) => revokeBatch(client, chunk, adminUrl, clock)));
        for (const [k, name] of chunk.entries())
          done.set(name, results.ok ? (results.value[k] as Settled<RevokeOutcome>) : results);
      }
      return names.map((n) => (n.ok ? (done.get(n.value) as Settled<RevokeOutcome>) : n));
    },

    async close() {
      await pool.end().catch(() => {});
    },
  };
}

/** A principal `revoke` may act on: allow-listed, and one of Timebox's (tb_). */
function checkedName(name: string): string {
  ident(name);
  if (!OURS.test(name)) {
    throw new PostgresError(`refusing to revoke ${name}: the roles Timebox makes are named tb_…`);
  }
  return name;
}

/** A fresh password for `spec`: its SCRAM verifier for the server, the URL with it for the requester. */
async function newSecret(spec: GrantSpec, publicUrl: URL): Promise<Secret> {
  const name = principalFor(spec);
  const password = randomBytes(24).toString('base64url');
  const verifier = await scramVerifierAsync(password);
  const url = new URL(publicUrl.href);
  url.username = name;
  url.password = password;
  url.search = '';
  return {
    verifier,
    outcome: { principal: name, expiresAt: spec.expiresAt.toISOString(), secret: `${url.href}\n` },
  };
}

async function listRoles(pool: pg.Pool): Promise<ManagedAccess[]> {
  const { rows } = await pool.query<{
    rolname: string;
    rolvaliduntil: Date | null;
    comment: string | null;
  }>(
    `SELECT r.rolname, r.rolvaliduntil, shobj_description(r.oid, 'pg_authid') AS comment
       FROM pg_roles r
      WHERE starts_with(r.rolname, 'tb_')
        AND (r.rolname ~ $1 OR shobj_description(r.oid, 'pg_authid') LIKE 'timebox:%')
      ORDER BY r.rolname`,
    [PRINCIPAL.source],
  );
  const out: ManagedAccess[] = [];
  for (const row of rows) {
    // A role made by hand may say VALID UNTIL 'infinity', which is no date.
    const until = row.rolvaliduntil;
    const expiresAt = until instanceof Date && !Number.isNaN(until.getTime()) ? until.toISOString() : null;
    const tag = tagOf(row.comment);
    if (!tag && !PRINCIPAL.test(row.rolname)) continue; // a damaged tag on a role not named as ours
    if (!tag) {
      // Named as Timebox names its roles, but no tag says which grant it is (erased, damaged, never
      // written): nothing in git can explain it, so reconciliation revokes it.
      out.push(untaggedAccess('postgres', row.rolname, expiresAt));
      continue;
    }
    out.push(taggedAccess('postgres', row.rolname, tag, expiresAt));
  }
  return out;
}

/** The tag of a role, or null when its comment is not a whole Timebox tag. */
function tagOf(comment: string | null): Tag | null {
  return comment?.startsWith(TAG) ? parseTag(comment.slice(TAG.length)) : null;
}
