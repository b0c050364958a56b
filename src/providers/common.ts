// What the providers share: the admin connection named in a policy (its secret in the environment), the
// name of what a grant creates (`tb_<login>_<hash>`: the same request always gets the same name), the tag
// every provider writes beside it and reads back, and typed role settings.
import { createHash } from 'node:crypto';
import { type Clock, systemClock } from '../core/clock.js';
import type { GrantSpec, ManagedAccess, Settled, TargetContext } from './types.js';

/** What a provider throws: its subclass names the provider (`PostgresError`, …) in messages and logs. */
export class ProviderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

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
 * `tb_<login>_<10 hex of sha256(accessRepoId NUL file)>` (without one: of the file alone, as older versions
 * named them). Only `[a-z0-9_]` from the login; the caller still checks the result against its own rules.
 */
export function grantName(spec: { requester: string; file: string; accessRepoId?: string }): string {
  const login = spec.requester
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '_')
    .slice(0, 30);
  const hash = createHash('sha256')
    .update(spec.accessRepoId ? `${spec.accessRepoId}\u0000${spec.file}` : spec.file)
    .digest('hex')
    .slice(0, 10);
  return `tb_${login}_${hash}`;
}

/**
 * How a provider names its principals and checks a name before acting on it: `nameFor` is `grantName`
 * (the requester cut to `loginLength` characters first, where the target's names are short) checked
 * against `pattern`; `checked` refuses any name not of that shape (a tag, or a caller, could name any
 * principal: root, default, a production role).
 */
export function principalNames(
  pattern: RegExp,
  what: string,
  fail: (message: string) => Error,
  loginLength?: number,
) {
  const checked = (name: string): string => {
    if (!pattern.test(name)) throw fail(`refusing an unsafe ${what} ${JSON.stringify(name)}`);
    return name;
  };
  const nameFor = (spec: Pick<GrantSpec, 'file' | 'requester' | 'accessRepoId'>): string =>
    checked(grantName(loginLength ? { ...spec, requester: spec.requester.slice(0, loginLength) } : spec));
  return { pattern, checked, nameFor };
}

/**
 * What every provider records beside what it creates, so that `list` finds it again after a restart: the
 * JSON written to the target (a role's comment, a tag row, a hash field, the ssh registry), read back by
 * `parseTag`. Its keys are the wire format of grants already made and must stay readable: `owner` is the
 * access repo's id (`accessRepoId` everywhere else), named so since before the rename.
 */
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

/** The tag of a grant, as written to the target. */
export function tagFor(spec: GrantSpec): Tag {
  return {
    owner: spec.accessRepoId,
    file: spec.file,
    grant: spec.grantId,
    requester: spec.requester,
    role: spec.role,
    resource: spec.resourceId,
    expires: spec.expiresAt.toISOString(),
  };
}

/** What a provider lists for a principal its tag explains. */
export function taggedAccess(
  provider: string,
  principal: string,
  tag: Tag,
  expiresAt: string | null = tag.expires,
): ManagedAccess {
  return {
    accessRepoId: tag.owner ?? null,
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
    accessRepoId: null,
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

/**
 * The type a JSON Schema (as written in a provider's definition, `as const`) describes, for the subset the
 * role schemas use: objects with `required`, arrays, strings, numbers, booleans and enums.
 */
export type FromSchema<S> = S extends { enum: readonly (infer E)[] }
  ? E
  : S extends { type: 'string' }
    ? string
    : S extends { type: 'integer' | 'number' }
      ? number
      : S extends { type: 'boolean' }
        ? boolean
        : S extends { type: 'array'; items: infer I }
          ? FromSchema<I>[]
          : S extends { type: 'object'; properties: infer P }
            ? ObjectFrom<P, S extends { required: readonly (infer K)[] } ? K : never>
            : unknown;

type ObjectFrom<P, R> = {
  -readonly [K in keyof P as K extends R ? K : never]: FromSchema<P[K]>;
} & {
  -readonly [K in keyof P as K extends R ? never : K]?: FromSchema<P[K]>;
};

/**
 * A grant's role settings, typed from the provider's `roleSchema`: the policy loader validated them against
 * that schema, so this is the one place that says so to the compiler.
 */
export function roleSettingsOf<D extends { roleSchema: object }>(
  _definition: D,
  spec: Pick<GrantSpec, 'roleSettings'>,
): FromSchema<D['roleSchema']> {
  const settings: unknown = spec.roleSettings;
  return settings as FromSchema<D['roleSchema']>;
}

/** The clock of a target: the entry point's, or the system clock for a target opened on its own. */
export function clockOf(context: TargetContext | undefined): Clock {
  return context?.clock ?? systemClock;
}

/** What `fn` gives or throws, as a value: one item of a batch (`grantMany`, `revokeMany`). */
export async function settle<T>(fn: () => Promise<T>): Promise<Settled<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
  }
}
