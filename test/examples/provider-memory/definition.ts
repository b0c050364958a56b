// An example provider, for tests only: how a provider is added. Its registry entry — settings schemas,
// target key, preview, and a lazy `load` of the implementation — is this file; the implementation is
// index.ts; the one line that registers it is `registryOf([...builtinProviders, memoryDefinition])`
// (test/providers/contract.test.ts), and it passes the contract suite like every built-in provider.
import { type FromSchema, principalNames, roleSettingsOf } from '../../../src/providers/common.js';
import type { GrantSpec, PermissionPreview, ProviderEntry } from '../../../src/providers/types.js';

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

export const roleOf = (spec: Pick<GrantSpec, 'roleSettings'>): MemoryRole =>
  roleSettingsOf(memoryDefinition, spec);

export const {
  pattern: USER,
  nameFor: userFor,
  checked: checkedUser,
} = principalNames(/^tb_[a-z0-9_]{1,30}_[0-9a-f]{10}$/, 'account name', (m) => new Error(m));
