// Shared plumbing for commands: repo root, time, teams file, colours, output streams.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import pc from 'picocolors';
import { compileSchema, validateAgainst } from '../core/schemas.js';
import { checkTimestamp } from '../core/time.js';
import { loadYaml } from '../core/yaml-loader.js';
import { ConfigError, readProblem, UsageError } from './errors.js';
import type { Io } from './io.js';

export { type Io, processIo, repoRoot, requireAccessRepo } from './io.js';

export function colors(io: Io) {
  return pc.createColors(io.color);
}

/** `--at`, `--since`, `--until`: the same rule as times in request files (src/core/time.ts). */
export function parseAt(value: string | undefined, now: () => Date = () => new Date(), flag = '--at'): Date {
  if (value === undefined) return now();
  const c = checkTimestamp(value);
  if (!c.ok) {
    throw new UsageError(
      `${flag} must be an RFC 3339 time with a time zone, such as 2026-12-01T09:00:00Z (got ${value}${c.problem ? `: ${c.problem}` : ''})`,
    );
  }
  return new Date(c.ms);
}

export function parseList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim().replace(/^@(?!.*\/)/, ''))
    .filter(Boolean);
}

/** Compiled on first use: most runs have no --teams file. */
let teamsSchema: ReturnType<typeof compileSchema> | undefined;
const teamsValidator = () =>
  (teamsSchema ??= compileSchema({
    type: 'object',
    propertyNames: {
      pattern: '^@[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9][A-Za-z0-9._-]*$',
    },
    additionalProperties: {
      type: 'array',
      items: { type: 'string', pattern: '^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$' },
    },
  }));

/** `--teams FILE`: `"@acme/qa": [alice, bob]`. Keys are lower-cased for lookups. */
export function parseTeams(text: string, file: string): Record<string, string[]> {
  const loaded = loadYaml(text, { scalars: 'strings', maxBytes: 1024 * 1024 });
  const errors =
    loaded.errors.length > 0 ? loaded.errors : validateAgainst(teamsValidator(), loaded.value, loaded);
  if (errors.length > 0) {
    throw new ConfigError(
      `${file} is not a valid teams file (a YAML map of "@org/team" to lists of logins)`,
      errors.map((e) => ({
        file,
        ...e,
        message: e.message.replace('is not a valid name here', 'must be written @org/team'),
      })),
    );
  }
  const teams: Record<string, string[]> = {};
  for (const [k, v] of Object.entries((loaded.value ?? {}) as Record<string, string[]>))
    teams[k.toLowerCase()] = v;
  return teams;
}

export async function loadTeams(io: Io, file: string | undefined): Promise<Record<string, string[]>> {
  if (!file) return {};
  let text: string;
  try {
    text = await readFile(resolve(io.cwd, file), 'utf8');
  } catch (err) {
    throw new UsageError(
      `cannot read --teams file ${resolve(io.cwd, file)}: ${readProblem(err)}; give a YAML map of "@org/team" to member logins (see teams.example.yaml), or leave out --teams`,
    );
  }
  return parseTeams(text, file);
}
