// What the policy-change check says (src/engine/whatif-check.ts): a headline ("3 past requests would now be
// denied, 1 open request becomes approved") and the changes with their reasons, as Markdown in which every
// value that comes from a request, a policy or git (file names, rules, reasons, branch names) is escaped to
// plain text (`md`), and bounded below GitHub's 65,535 characters per check-run output field.
import type { FileProblem, Status } from '../core/model.js';
import type { WhatifChange, WhatifResult } from '../core/whatif.js';
import { md } from '../report/pull-request.js';
import type { ForgePull } from './forge.js';

/** What a replay found: the comparison, or why one side could not be read. */
export type PolicyReplay =
  | {
      ok: true;
      result: WhatifResult;
      /** Merged versions replayed, and open requests (request files of open pull requests). */
      merged: number;
      open: number;
      /** Open pull requests left out: their request files could not be read against the base. */
      unreadable: number[];
    }
  | { ok: false; side: 'base' | 'proposed'; errors: FileProblem[] };

/** GitHub refuses a check-run summary over 65,535 characters; bytes are counted here, leaving room for the tail. */
export const MAX_SUMMARY_BYTES = 60_000;
/** Reasons listed per change; the rest are counted. */
const MAX_REASONS = 5;

const RANK: Record<Status, number> = { approved: 0, pending: 1, denied: 2, invalid: 3 };
const STATUSES: Status[] = ['approved', 'pending', 'denied', 'invalid'];

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * One line: how many past versions and open requests change, by their new status. Past first, then open;
 * within each, toward approved first (wider access is what a reviewer reads first).
 */
export function whatifHeadline(replay: { result: WhatifResult; merged: number; open: number }): string {
  const parts: string[] = [];
  for (const open of [false, true]) {
    for (const status of STATUSES) {
      const n = replay.result.changed.filter(
        (c) => (c.commit === null) === open && c.after === status,
      ).length;
      if (n === 0) continue;
      parts.push(
        open
          ? `${plural(n, 'open request', 'open requests')} ${n === 1 ? 'becomes' : 'become'} ${status}`
          : `${plural(n, 'past request', 'past requests')} would now be ${status}`,
      );
    }
  }
  if (parts.length > 0) return parts.join(', ');
  return `No decision changes (${plural(replay.merged, 'past request', 'past requests')} and ${plural(replay.open, 'open request', 'open requests')} replayed)`;
}

/** A change as a list item: before → after, the file, where it comes from, then why (escaped). */
function changeItem(c: WhatifChange): string {
  const where =
    c.commit === null
      ? `open${c.pull !== undefined ? ` in #${c.pull}` : ''}, decided at ${md(c.at)}`
      : `merged in ${c.commit.slice(0, 7)} at ${md(c.at)}`;
  const reasons = c.reasons
    .slice(0, MAX_REASONS)
    .map((r) => `  - ${r.rule ? `${md(r.rule)}: ` : ''}${md(r.message)}`);
  if (c.reasons.length > MAX_REASONS) reasons.push(`  - … ${c.reasons.length - MAX_REASONS} more`);
  return [`- **${c.before} → ${c.after}** · ${md(c.file)} · ${where}`, ...reasons].join('\n');
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** The changes, toward approved first, as many as fit in `budget` bytes; the rest counted. */
function changeList(changed: readonly WhatifChange[], budget: number, base: string): string {
  const sorted = [...changed].sort(
    (a, b) =>
      RANK[a.after] - RANK[a.before] - (RANK[b.after] - RANK[b.before]) || RANK[a.after] - RANK[b.after],
  );
  const items: string[] = [];
  let used = 0;
  for (const c of sorted) {
    const item = changeItem(c);
    if (used + bytes(item) + 1 > budget) break;
    items.push(item);
    used += bytes(item) + 1;
  }
  const left = sorted.length - items.length;
  if (left > 0)
    items.push(
      `\n… and ${plural(left, 'more change', 'more changes')}, not listed here (a check run holds at most 65,535 characters): run \`timebox whatif --base ${base}\` in a checkout of this pull request's head for all of them.`,
    );
  return items.join('\n');
}

export interface WhatifOutputInput {
  pull: ForgePull;
  replay?: PolicyReplay | undefined;
  failure?: string | undefined;
  /** Said below the list (open pull requests not replayed). */
  notes: readonly string[];
  /** The branch whose history is replayed. */
  branch: string;
}

const FOOTER =
  'This check informs the review of a policy change; it never blocks a merge (its conclusion is always neutral). Each past version is decided at its merge time with the approvals Timebox recorded on its own merge commit; open requests are decided now, opened by their author, without approvals (see docs/whatif.md in Timebox).';

/** The check run's title and summary. */
export function whatifCheckOutput(input: WhatifOutputInput): { title: string; summary: string } {
  const { pull, replay } = input;
  const base = pull.base.sha.slice(0, 7);
  const head = pull.head.sha.slice(0, 7);
  const notes = input.notes.length > 0 ? `\n\n${input.notes.map((n) => `- ${md(n)}`).join('\n')}` : '';
  if (!replay || input.failure) {
    return {
      title: 'Cannot replay the history',
      summary: `${md(input.failure ?? 'Nothing was replayed.')}${notes}\n\n${FOOTER}`,
    };
  }
  if (!replay.ok) {
    const whose =
      replay.side === 'proposed' ? 'The proposed policies are' : "The base branch's configuration is";
    const errors = replay.errors
      .slice(0, 50)
      .map((e) => `- ${md(e.file)} line ${e.line}: ${md(e.message)}`)
      .join('\n');
    return {
      title: `${whose} invalid`,
      summary: `${whose} invalid, so nothing was replayed:\n\n${errors}${notes}\n\n${FOOTER}`,
    };
  }
  const headline = whatifHeadline(replay);
  const intro = `**${headline}**\n\nReplayed ${plural(replay.merged, 'merged request version', 'merged request versions')} of ${md(input.branch)} and ${plural(replay.open, 'open request', 'open requests')} under the policies of the base (${base}) and of this pull request (${head}); ${plural(replay.result.unchanged, 'decision is', 'decisions are')} unchanged.`;
  const fixed = `${intro}\n\n${notes}\n\n${FOOTER}`;
  const list = changeList(replay.result.changed, MAX_SUMMARY_BYTES - bytes(fixed), pull.base.sha);
  return {
    title: headline,
    summary: `${intro}${list ? `\n\n${list}` : ''}${notes}\n\n${FOOTER}`,
  };
}
