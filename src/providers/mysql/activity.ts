// What a MySQL/MariaDB account did, read at revocation from what the server itself keeps per account:
// - performance_schema (MySQL's default, MariaDB with `performance_schema=ON`, set at start only): statements
//   per kind (`select`, `update`, …) with rows sent and affected, from
//   `events_statements_summary_by_user_by_event_name`;
// - otherwise MariaDB's user statistics (`userstat=1`, can be turned on at run time): select, update and
//   other commands, rows read, sent, inserted, updated and deleted, from `information_schema.USER_STATISTICS`;
// - otherwise nothing (the revert PR says no activity was captured, never that nothing was done).
// Both count since the server started or the statistics were last flushed, for that account name: Timebox's
// names are unique per grant (src/providers/mysql/definition.ts), so they are this grant's.
import type mysql from 'mysql2/promise';
import type { Activity } from '../types.js';
import { isWriteSql } from '../usage.js';

/** Most statement kinds kept per account: a handful exist (select, insert, update, delete, …). */
const MAX_KINDS = 100;

type Queryable = Pick<mysql.Pool, 'query'>;

/** `user`'s activity, or null where the server keeps none that the admin may read. */
export async function captureActivity(db: Queryable, user: string): Promise<Activity | null> {
  const [vars] = await db.query('SELECT @@performance_schema AS ps');
  const ps = Number((vars as { ps: unknown }[])[0]?.ps ?? 0) === 1;
  if (ps) {
    const fromPs = await fromPerformanceSchema(db, user).catch(() => null);
    if (fromPs) return fromPs;
  }
  return fromUserStatistics(db, user).catch(() => null);
}

async function fromPerformanceSchema(db: Queryable, user: string): Promise<Activity | null> {
  const [rows] = await db.query(
    `SELECT EVENT_NAME AS name, COUNT_STAR AS calls, SUM_ROWS_SENT AS sent, SUM_ROWS_AFFECTED AS affected
       FROM performance_schema.events_statements_summary_by_user_by_event_name
      WHERE USER = ? AND COUNT_STAR > 0 AND EVENT_NAME LIKE 'statement/sql/%'
      ORDER BY COUNT_STAR DESC, EVENT_NAME LIMIT ${MAX_KINDS}`,
    [user],
  );
  const statements = (rows as { name: string; calls: unknown; sent: unknown; affected: unknown }[]).map(
    (r) => ({
      query: r.name.slice('statement/sql/'.length).replaceAll('_', ' '),
      calls: Number(r.calls),
      rows: Number(r.sent) + Number(r.affected),
    }),
  );
  return described(statements, 'performance_schema');
}

interface UserStatistics {
  select: unknown;
  update: unknown;
  other: unknown;
  rowsRead: unknown;
  rowsSent: unknown;
  rowsChanged: unknown;
}

async function fromUserStatistics(db: Queryable, user: string): Promise<Activity | null> {
  const [vars] = await db.query('SELECT @@userstat AS on_');
  if (Number((vars as { on_: unknown }[])[0]?.on_ ?? 0) !== 1) return null;
  const [rows] = await db.query(
    `SELECT SELECT_COMMANDS AS \`select\`, UPDATE_COMMANDS AS \`update\`, OTHER_COMMANDS AS other,
            ROWS_READ AS rowsRead, ROWS_SENT AS rowsSent,
            ROWS_INSERTED + ROWS_UPDATED + ROWS_DELETED AS rowsChanged
       FROM information_schema.USER_STATISTICS WHERE USER = ?`,
    [user],
  );
  const r = (rows as UserStatistics[])[0];
  if (!r) return described([], 'user statistics');
  const statements = [
    // SELECT_COMMANDS counts statements that read; UPDATE_COMMANDS those that write (insert, update, delete …).
    { query: 'select', calls: Number(r.select), rows: Number(r.rowsSent) },
    { query: 'update', calls: Number(r.update), rows: Number(r.rowsChanged) },
    { query: 'other', calls: Number(r.other), rows: 0 },
  ].filter((s) => s.calls > 0);
  return described(statements, 'user statistics', Number(r.rowsRead));
}

/**
 * Statements that wrote: performance_schema's kinds (`insert`, `update multi`, `create table` …) read as SQL
 * by their first word; user statistics' `update` counts writes, and its `other` may hide DDL, so with any
 * `other` the writes are unknown (never a false "no write").
 */
function writesOf(statements: Activity['statements']): number | undefined {
  if (statements.some((s) => s.query === 'other' && s.calls > 0)) return undefined;
  return statements.filter((s) => isWriteSql(s.query)).reduce((n, s) => n + s.calls, 0);
}

function described(statements: Activity['statements'], source: string, rowsRead?: number): Activity {
  const calls = statements.reduce((n, s) => n + s.calls, 0);
  const rows = statements.reduce((n, s) => n + s.rows, 0);
  const kinds = statements.map((s) => `${s.calls} ${s.query}`).join(', ');
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  const read = rowsRead === undefined ? '' : `, ${plural(rowsRead, 'row')} read`;
  const writes = writesOf(statements);
  return {
    summary: `${plural(calls, 'statement')}${kinds ? ` (${kinds})` : ''}, ${plural(rows, 'row')}${read} (${source})`,
    statements,
    ...(writes === undefined ? {} : { writes }),
  };
}
