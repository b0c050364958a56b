// The providers Timebox knows, by id. A new provider adds its folder and one line here.
import { mysqlDefinition } from './mysql/definition.js';
import { postgresDefinition } from './postgres/definition.js';
import { redisDefinition } from './redis/definition.js';
import { sshDefinition } from './ssh/definition.js';
import type { ProviderDefinition } from './types.js';

export const providerDefinitions: ReadonlyMap<string, ProviderDefinition> = new Map<
  string,
  ProviderDefinition
>([postgresDefinition, mysqlDefinition, redisDefinition, sshDefinition].map((p) => [p.id, p]));
