// An example provider, for tests only: how a provider is added. Its registry entry — settings schemas,
// target key, preview, and a lazy `load` of the implementation — is this file; the implementation is
// index.ts; the one line that registers it is `registryOf([...builtinProviders, memoryDefinition])`
// (test/providers/contract.test.ts), and it passes the contract suite like every built-in provider.
import { type FromSchema, grantName, roleSettingsOf } from '../../../src/providers/common.js';
import type { GrantSpec, PermissionPreview, ProviderEntry } from '../../../src/providers/types.js';

export class MemoryError extends Error {
  override name = 'MemoryError';
}

export const memoryDefinition = {
  id: 'memory',
  summary: 'An in-memory account per grant (an example for tests)',
  resourceSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['server'],
    properties: { server: { type: 'string', pattern: '^[a-z0-9-]{1,40}$' } },
  },
  roleSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['can'],
    properties: {
      description: { type: 'string' },
      can: { type: 'array', minItems: 1, items: { enum: ['read', 'write'] } },
    },
  },

  targetKey: (resource) => `memory:${String(resource.server)}`,

  preview(spec): PermissionPreview {
    return {
      summary: `an in-memory account ${userFor(spec)} that can ${roleOf(spec).can.join(', ')}`,
      statements: [`CREATE ACCOUNT ${userFor(spec)} UNTIL ${spec.expiresAt.toISOString()}`],
    };
  },

  load: async () => (await import('./index.js')).memory,
} as const satisfies ProviderEntry;

export type MemoryRole = FromSchema<typeof memoryDefinition.roleSchema>;

export function roleOf(spec: Pick<GrantSpec, 'roleSettings'>): MemoryRole {
  return roleSettingsOf(memoryDefinition, spec);
}

export const USER = /^tb_[a-z0-9_]{1,30}_[0-9a-f]{10}$/;

export function userFor(spec: Pick<GrantSpec, 'file' | 'requester' | 'accessRepoId'>): string {
  return checkedUser(grantName(spec));
}

export function checkedUser(name: string): string {
  if (!USER.test(name)) throw new MemoryError(`refusing an unsafe account name ${JSON.stringify(name)}`);
  return name;
}
