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
