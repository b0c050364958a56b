// Used versus granted: at revocation, what the grantee did beside what its role allowed. A role that may
// write whose grantee wrote nothing is a role wider than the work needed; the note says so on the revert
// PR, in its `Timebox-Activity` trailer and in the audit, and `timebox audit --summary` counts it per
// resource and role so that policy owners can tighten them (docs/audit.md).
import type { Activity } from './types.js';

/** The words that end a note on unused write rights: `timebox audit --summary` looks for them. */
export const UNUSED_WRITE = 'no write executed: a read-only role would have done';

/** SQL that changes data or schema, by its first keyword (after comments and a `WITH …` prefix's body). */
const WRITE_SQL =
  /^(insert|update|delete|merge|upsert|replace|truncate|copy|create|alter|drop|grant|revoke|comment|rename|load|call|do|lock|vacuum|analyze|cluster|reindex|refresh|security|import|discard|reassign)\b/i;

/** Whether a statement's text (as pg_stat_statements normalises it) changes data or schema. */
export function isWriteSql(text: string): boolean {
  const sql = text
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .trim();
  // `COPY t TO STDOUT` reads; `COPY t FROM …` writes.
  if (WRITE_SQL.test(sql)) return !/^copy\b/i.test(sql) || /\bfrom\b/i.test(sql);
  // `WITH x AS (…) INSERT …`, or a data-modifying CTE inside: any write keyword as a statement of its own.
  if (/^with\b/i.test(sql))
    return /\b(insert\s+into|update\s+\S+\s+set|delete\s+from|merge\s+into)\b/i.test(sql);
  // `SELECT … INTO new_table` creates a table; `SELECT … FOR UPDATE` only locks rows.
  return /^select\b[\s\S]*\binto\b/i.test(sql);
}

/**
 * The note on `activity` for a role that may write (`mayWrite`), or null when there is nothing to say: the
 * role cannot write or the provider cannot tell, no activity was captured, or it could not tell writes
 * from reads, or something was written.
 */
export function usageNote(mayWrite: boolean | null, activity: Activity | null): string | null {
  if (mayWrite !== true || !activity || activity.writes === undefined || activity.writes > 0) return null;
  return `write rights granted, ${UNUSED_WRITE}`;
}

/** `activity` with its usage note appended to the summary (the one line that travels in trailers). */
export function withUsage(mayWrite: boolean | null, activity: Activity | null): Activity | null {
  const note = usageNote(mayWrite, activity);
  return activity && note ? { ...activity, summary: `${activity.summary}; ${note}` } : activity;
}
