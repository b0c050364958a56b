// The providers Timebox knows, by id: one line each. A provider is one folder: `definition.ts` (its entry:
// schemas, target key, preview; what `check`, the report and the core use, no driver) and `index.ts` (the
// implementation, loaded by the entry's `load` only when a target is used). See docs/design.md.
import { mysqlDefinition } from './mysql/definition.js';
import { postgresDefinition } from './postgres/definition.js';
import { redisDefinition } from './redis/definition.js';
import { sshDefinition } from './ssh/definition.js';
import type { ProviderEntry } from './types.js';

export const builtinProviders: readonly ProviderEntry[] = [
  postgresDefinition,
  mysqlDefinition,
  redisDefinition,
  sshDefinition,
];

/** A registry of `entries` by id (tests build one with their own providers added). */
export function registryOf(entries: readonly ProviderEntry[]): ReadonlyMap<string, ProviderEntry> {
  return new Map(entries.map((p) => [p.id, p]));
}

export const providerDefinitions: ReadonlyMap<string, ProviderEntry> = registryOf(builtinProviders);
