// Shared by the GitHub tests: the App manifest as shipped, and a plain request file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './repo.js';

/** app.yml, the permissions and events the App asks for. */
export const MANIFEST = parse(readFileSync(join(ROOT, 'app.yml'), 'utf8')) as {
  default_permissions: Record<string, 'read' | 'write'>;
  default_events: string[];
};

/** A read-only request on orders-db for 2h, allowed by the example policies for @acme/qa members. */
export const requestYaml = (requester: string, extra = ''): string =>
  `requester: ${requester}\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1234, EU order totals off by VAT\n${extra}`;
