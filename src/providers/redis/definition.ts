// The redis provider's settings in policy files (what `timebox check` validates); granting is in index.ts.
import { connectionProperties } from '../common.js';
import type { ProviderDefinition } from '../types.js';

/** Key and channel patterns: glob characters, no spaces or control characters (each is one ACL argument). */
export const PATTERN = '^[A-Za-z0-9:_.*?\\[\\]{}/-]{1,200}$';
/** `+@read`, `-@dangerous`, `+get`, `-flushall`, `+config|get`. */
export const COMMAND_RULE = '^[+-](@[a-z]{1,30}|[a-z][a-z0-9-]{0,30}(\\|[a-z][a-z0-9-]{0,30})?)$';

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
} as const satisfies ProviderDefinition;
