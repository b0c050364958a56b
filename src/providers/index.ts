// Providers that can grant and revoke, by id. (registry.ts lists every provider's schemas for policy checks.)
import { mysqlProvider } from './mysql/index.js';
import { postgres } from './postgres/index.js';
import { redis } from './redis/index.js';
import { ssh } from './ssh/index.js';
import type { Provider } from './types.js';

export const providers: ReadonlyMap<string, Provider> = new Map<string, Provider>([
  [postgres.id, postgres],
  [redis.id, redis],
  [mysqlProvider.id, mysqlProvider],
  [ssh.id, ssh],
]);
