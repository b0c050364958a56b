// What the providers share: the admin connection named in a policy (its secret in the environment) and
// the name of what a grant creates (`tb_<login>_<hash>`: the same request always gets the same name).
import { createHash } from 'node:crypto';
import type { ManagedAccess } from './types.js';

/** `TIMEBOX_<PROVIDER>_<CONNECTION>_URL`: where a connection's admin URL is read from. */
export function connectionEnv(provider: string, connection: string): string {
  const up = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return `TIMEBOX_${up(provider)}_${up(connection)}_URL`;
}

/** The `connection` and `public_url` settings of a resource whose admin URL is in the environment. */
export function connectionProperties(provider: string, publicUrl: string) {
  return {
    connection: {
      type: 'string',
      pattern: '^[a-z0-9][a-z0-9_]{0,40}$',
      description: `Connection name; the admin URL is read from TIMEBOX_${provider.toUpperCase()}_<CONNECTION>_URL.`,
      errorMessage: { pattern: 'must be a connection name (lower-case letters, digits and _)' },
    },
    public_url: { type: 'string', format: 'uri', description: publicUrl },
  } as const;
}

/** The admin URL of `resource.connection`, or a clear error naming the variable to set. */
export function adminUrl(
  provider: string,
  resource: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  fail: (message: string) => Error,
): { connection: string; variable: string; url: string } {
  const connection = String(resource.connection);
  const variable = connectionEnv(provider, connection);
  const url = env[variable];
  if (!url) throw fail(`${variable} is not set: the admin URL for connection \`${connection}\``);
  return { connection, variable, url };
}

/**
 * `tb_<login>_<10 hex of sha256(owner NUL file)>` (without an owner: of the file alone, as older versions
 * named them). Only `[a-z0-9_]` from the login; the caller still checks the result against its own rules.
 */
export function grantName(spec: { requester: string; file: string; owner?: string }): string {
  const login = spec.requester
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '_')
    .slice(0, 30);
  const hash = createHash('sha256')
    .update(spec.owner ? `${spec.owner}\u0000${spec.file}` : spec.file)
    .digest('hex')
    .slice(0, 10);
  return `tb_${login}_${hash}`;
}

/** What every provider records beside what it creates, so that `list` finds it again after a restart. */
export interface Tag {
  /** The access repo (its root commit); absent in tags written before several repos could share a target. */
  owner?: string;
  file: string;
  grant: string;
  requester: string;
  /** The role of the request (absent in tags written before 0.2). */
  role?: string;
  resource: string;
  expires: string;
}

/** A tag that names its grant (file, grant, resource), or null: a damaged tag explains nothing. */
export function parseTag(raw: string): Tag | null {
  try {
    const tag = JSON.parse(raw) as Partial<Tag> | null;
    if (!tag || typeof tag !== 'object') return null;
    const { file, grant, resource } = tag;
    if (typeof file !== 'string' || typeof grant !== 'string' || typeof resource !== 'string') return null;
    return tag as Tag;
  } catch {
    return null;
  }
}

/** What a provider lists for a principal its tag explains. */
export function taggedAccess(
  provider: string,
  principal: string,
  tag: Tag,
  expiresAt: string | null = tag.expires,
): ManagedAccess {
  return {
    owner: tag.owner ?? null,
    provider,
    resourceId: tag.resource,
    file: tag.file,
    grantId: tag.grant,
    requester: tag.requester ?? null,
    role: tag.role ?? null,
    principal,
    expiresAt,
  };
}

/**
 * What a provider lists for a principal named as Timebox names its grants but with no (readable) tag: nothing
 * in git can explain it, so reconciliation revokes it, whichever access repo made it.
 */
export function untaggedAccess(
  provider: string,
  principal: string,
  expiresAt: string | null = null,
): ManagedAccess {
  return {
    untagged: true,
    owner: null,
    provider,
    resourceId: '',
    file: '',
    grantId: '',
    requester: null,
    role: null,
    principal,
    expiresAt,
  };
}
