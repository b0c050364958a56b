// The audit timeline as CSV (RFC 4180), one row per event.
import type { LedgerEvent } from '../core/ledger.js';

const COLUMNS = [
  'time',
  'type',
  'file',
  'actor',
  'requester',
  'resource',
  'role',
  'expires_at',
  'ticket',
  'pull_request',
  'reason',
  'activity',
  'commit',
  'grant',
] as const;

function cell(value: unknown): string {
  let s = value === undefined || value === null ? '' : String(value);
  // Spreadsheet formula injection: a cell starting with = + - @ is data, not a formula.
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderCsv(events: LedgerEvent[]): string {
  const lines = [COLUMNS.join(',')];
  for (const e of events) lines.push(COLUMNS.map((c) => cell(e[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
