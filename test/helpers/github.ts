// Shared by the GitHub tests: the App manifest as shipped, registering it with the fake, a plain request
// file, and running a script the way a runner does.
import { type SpawnOptions, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { FakeGitHub } from '../../src/forge/fake-github.js';
import { ROOT } from './repo.js';

/** app.yml, the permissions and events the App asks for. */
export const MANIFEST = parse(readFileSync(join(ROOT, 'app.yml'), 'utf8')) as {
  default_permissions: Record<string, 'read' | 'write'>;
  default_events: string[];
};

/** A read-only request on orders-db for 2h, allowed by the example policies for @acme/qa members. */
export const requestYaml = (requester: string, extra = ''): string =>
  `requester: ${requester}\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1234, EU order totals off by VAT\n${extra}`;

/** Registers the Timebox App (app.yml's permissions and events) with the fake; returns its private key (PEM). */
export function registerTimeboxApp(fake: FakeGitHub, id: number): string {
  return fake.registerManifestApp(id, 'timebox', MANIFEST);
}

/**
 * Runs a command and collects its output. Asynchronous on purpose: the fake GitHub answers from this
 * process, so a synchronous spawn would deadlock.
 */
export async function runCollecting(
  command: string,
  args: string[],
  options: SpawnOptions,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += String(d);
  });
  child.stderr?.on('data', (d) => {
    stderr += String(d);
  });
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { status, stdout, stderr };
}

/**
 * An access repo's policy for a test database: orders-db (postgres, `connection: orders`) whose read-only
 * role grants `readRole`, for @acme/qa with one @acme/qa-leads approval, at most 4h.
 */
export const ordersPolicy = (readRole: string): string => `resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [${readRole}], read_only: true, statement_timeout: 30s }
rules:
  - name: qa-read
    requesters: ["@acme/qa"]
    resources: ["*-db"]
    roles: [read-only]
    max_duration: 4h
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
`;
