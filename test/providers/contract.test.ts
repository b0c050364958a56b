// One contract, run over every registered provider (contract.ts) and over the example provider of
// test/examples/provider-memory, which is added to the registry by the one line below.
import { describe, expect, it } from 'vitest';
import { builtinProviders, providerDefinitions, registryOf } from '../../src/providers/registry.js';
import { memoryDefinition } from '../examples/provider-memory/definition.js';
import { memoryFixture } from '../examples/provider-memory/fixture.js';
import { type ContractFixture, providerContract } from './contract.js';
import { mysqlFixture } from './fixtures/mysql.js';
import { postgresFixture } from './fixtures/postgres.js';
import { redisFixture } from './fixtures/redis.js';
import { sshFixture } from './fixtures/ssh.js';

/** The registry with the example provider: adding a provider is this one line (and its folder). */
const registry = registryOf([...builtinProviders, memoryDefinition]);

const fixtures: Record<string, ContractFixture> = {
  postgres: postgresFixture,
  mysql: mysqlFixture,
  redis: redisFixture,
  ssh: sshFixture,
  memory: memoryFixture,
};

describe('the provider contract', () => {
  it('covers every registered provider', () => {
    expect([...providerDefinitions.keys()].filter((id) => !fixtures[id])).toEqual([]);
  });
});

for (const entry of registry.values()) {
  const fixture = fixtures[entry.id] as ContractFixture;
  providerContract(entry, fixture, registry, await fixture.unavailable());
}
