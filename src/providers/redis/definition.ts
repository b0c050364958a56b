// The redis provider's registry entry: its settings in policy files (what `timebox check` validates), the
// user and ACL rules of a grant, and its preview. Pure: no client; granting is in index.ts.
import { connectionProperties, ProviderError, principalNames, roleSettingsOf } from '../common.js';
import type { GrantSpec, PermissionPreview, ProviderEntry, RoleProblem } from '../types.js';
import { DENY_AFTER, outOfBounds, redisGlobMatch } from './acl.js';

/** Where the tags live: user name → JSON (owner, request path, grant, requester, role, resource, expiry). */
export const TAGS_KEY = 'timebox:acl';
/** Every key Timebox keeps on a Redis target: no role's key pattern may match one. */
export const BOOKKEEPING_KEYS = [TAGS_KEY] as const;

/** Key and channel patterns: glob characters, no spaces or control characters (each is one ACL argument). */
export const PATTERN = '^[A-Za-z0-9:_.*?\\[\\]{}/-]{1,200}$';
/** `+@read`, `-@dangerous`, `+get`, `-flushall`, `+config|get`. */
export const COMMAND_RULE = '^[+-](@[a-z]{1,30}|[a-z][a-z0-9-]{0,30}(\\|[a-z][a-z0-9-]{0,30})?)$';

/** A grant's role settings, typed from the role schema below. */
export const roleOf = (spec: Pick<GrantSpec, 'roleSettings'>) => roleSettingsOf(redisDefinition, spec);
export type RedisRole = ReturnType<typeof roleOf>;

export class RedisError extends ProviderError {}

/** `tb_<login>_<hash of access repo and request path>`: stable, so a retry finds the same user. */
const names = principalNames(/^tb_[a-z0-9_]{1,30}_[0-9a-f]{10}$/, 'ACL user name', (m) => new RedisError(m));
export const { pattern: USER, nameFor: userFor, checked: checkedUser } = names;
export const redisDefinition = {
  id: 'redis',
  summary: 'Redis: an ACL user per grant with the role’s key patterns and command rules',
  resourceSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['connection'],
    properties: connectionProperties(
      'redis',
      'The host and port requesters connect to, when it differs from the admin URL.',
    ),
  },
  roleSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['keys', 'commands'],
    properties: {
      description: { type: 'string' },
      keys: {
        type: 'array',
        minItems: 1,
        uniqueItems: true,
        description: 'Key patterns the user may touch (`orders:*`).',
        items: {
          type: 'string',
          pattern: PATTERN,
          errorMessage: {
            pattern: 'must be a key pattern without spaces (letters, digits, : _ . * ? [ ] { } / -)',
          },
        },
      },
      channels: {
        type: 'array',
        uniqueItems: true,
        description: 'Pub/sub channel patterns (none by default).',
        items: {
          type: 'string',
          pattern: PATTERN,
          errorMessage: { pattern: 'must be a channel pattern without spaces' },
        },
      },
      commands: {
        type: 'array',
        minItems: 1,
        description: 'Command rules applied after `-@all`, in order (`+@read`, `-keys`).',
        items: {
          type: 'string',
          pattern: COMMAND_RULE,
          errorMessage: { pattern: 'must be a command rule such as +@read, -@dangerous, +get or -flushall' },
        },
      },
    },
  },
  checkRole: checkRedisRole,

  targetKey(resource) {
    return `redis:${String(resource.connection)}`;
  },

  preview(spec): PermissionPreview {
    const role = roleOf(spec);
    return {
      summary: `a Redis ACL user ${userFor(spec)} for keys ${role.keys.join(', ')} with ${role.commands.join(' ')}, revoked at ${spec.expiresAt.toISOString()}`,
      statements: [setUserArgs(spec, '#<sha256 of the password>').join(' ')],
    };
  },

  load: async () => (await import('./index.js')).redis,
} as const satisfies ProviderEntry;

const PATTERN_RE = new RegExp(PATTERN);
const COMMAND_RE = new RegExp(COMMAND_RULE);

/**
 * The ACL rules of a role, each one argument of ACL SETUSER; everything is checked again here, and a role
 * whose rights reach Timebox's bookkeeping is refused as `timebox check` refuses it. The role's rules are
 * followed by `DENY_AFTER` (a no-op for an accepted role on Redis 7; on a server whose categories differ it
 * still takes away every `@admin` command).
 */
export function aclRules(role: RedisRole): string[] {
  const reach = checkRedisRole(role);
  if (reach.length > 0)
    throw new RedisError(
      `refusing the role: ${reach.map((p) => `${p.path.join('.')}: ${p.message}`).join('; ')}`,
    );
  const rules = ['resetkeys', 'resetchannels', '-@all'];
  for (const k of role.keys) {
    if (!PATTERN_RE.test(k)) throw new RedisError(`refusing the key pattern ${JSON.stringify(k)}`);
    rules.push(`~${k}`);
  }
  for (const c of role.channels ?? []) {
    if (!PATTERN_RE.test(c)) throw new RedisError(`refusing the channel pattern ${JSON.stringify(c)}`);
    rules.push(`&${c}`);
  }
  for (const c of role.commands) {
    if (!COMMAND_RE.test(c)) throw new RedisError(`refusing the command rule ${JSON.stringify(c)}`);
    rules.push(c);
  }
  return [...rules, ...DENY_AFTER];
}

/** `ACL SETUSER` for a grant, the password given as `hash` (never the password). */
export function setUserArgs(spec: GrantSpec, hash: string): string[] {
  return ['ACL', 'SETUSER', userFor(spec), 'reset', 'on', hash, ...aclRules(roleOf(spec))];
}

/**
 * Refuses a role whose rights reach Timebox's bookkeeping: a key pattern matching `timebox:acl` (a grantee
 * could delete its own tag; Redis users never expire, so nothing would ever revoke it), or command rules
 * that, after `-@all`, leave a command acting beyond key patterns (ACL users, FLUSHALL, CONFIG, …).
 */
export function checkRedisRole(role: Record<string, unknown>): RoleProblem[] {
  const problems: RoleProblem[] = [];
  const keys = Array.isArray(role.keys) ? (role.keys as string[]) : [];
  keys.forEach((pattern, i) => {
    const hit = BOOKKEEPING_KEYS.find((key) => redisGlobMatch(pattern, key));
    if (hit)
      problems.push({
        path: ['keys', i],
        message: `key pattern \`${pattern}\` matches \`${hit}\`, where Timebox keeps its tags: a grantee could erase its own tag and keep access for ever; use a pattern that stops before it (\`orders:*\`)`,
      });
  });
  const commands = Array.isArray(role.commands) ? (role.commands as string[]) : [];
  for (const [i, names] of outOfBounds(commands)) {
    const shown =
      names.length > 6 ? `${names.slice(0, 6).join(', ')} and ${names.length - 6} more` : names.join(', ');
    problems.push({
      path: ['commands', i],
      message: `\`${commands[i]}\` lets the user run ${shown}, which act beyond its key patterns (on Timebox's tags, ACL users or the whole dataset); take them away after it (\`-@admin -flushall -flushdb -swapdb\`) or allow single commands`,
    });
  }
  return problems;
}
