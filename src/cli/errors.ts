// The few failures the CLI expects, mapped to exit codes in one place (main.ts).
import type { FileProblem } from '../core/model.js';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Bad flags or arguments: exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The access repo's own files (policies, timebox.yaml, --teams) are broken: exit 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    message: string,
    readonly problems: FileProblem[] = [],
  ) {
    super(message);
  }
}

export function formatProblem(p: FileProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.message}${p.path && p.path !== '$' ? ` (${p.path})` : ''}`;
}

/** Why a file could not be read, in words (`ENOENT` alone tells a user nothing). */
export function readProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory, not a file';
  return code ?? String(err);
}

/**
 * The exit code of a reconciliation: 2 when a failure is a configuration error (an admin URL not set: its
 * message says what to set), 1 for any other failure, 0 for none.
 */
export function failureExit(failures: readonly { config?: string }[]): number {
  if (failures.some((f) => f.config)) return EXIT.usage;
  return failures.length > 0 ? EXIT.failed : EXIT.ok;
}
