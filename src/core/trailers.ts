// The commit messages Timebox writes when it merges a request and when it reverts one: a title, a short
// body, and git trailers the ledger reads back (docs/audit.md). Pure: text in, text out.
import { type GlassMark, glassTrailer, onCallTrailer } from './glass-trailers.js';
import { TRAILERS } from './ledger.js';
import type { Decision } from './model.js';

export interface CommitMessage {
  title: string;
  /** Body, ending in the trailer block (the message is `title + "\n\n" + body`). */
  body: string;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this removes
const LINE_BREAKING = /[\u0000-\u001f\u007f\u2028\u2029]+/g;

/** A trailer value on one line: control characters and line breaks become spaces, trimmed and capped. */
function trailerValue(value: string): string {
  return value.replace(LINE_BREAKING, ' ').trim().slice(0, 500);
}

function block(lines: [string, string][]): string {
  return lines
    .filter(([, v]) => v.length > 0)
    .map(([k, v]) => `${k}: ${trailerValue(v)}`)
    .join('\n');
}

export interface MergeInput {
  pull: number;
  /** Who opened the pull request. */
  author: string;
  /** The approved decisions being merged (grants and removals). */
  decisions: readonly Decision[];
}

/** The merge commit message of an approved request PR. */
export function mergeMessage(input: MergeInput): CommitMessage {
  const files = input.decisions.map((d) => d.file);
  const grants = input.decisions.filter((d) => d.change !== 'removed');
  const approvers = new Set<string>();
  for (const d of input.decisions) {
    for (const step of d.approvals?.steps ?? []) for (const a of step.approvers) approvers.add(a);
  }
  const what =
    grants.length === 0
      ? `Revoke ${files.length === 1 ? files[0] : `${files.length} requests`} early`
      : grants.length === 1
        ? `Grant ${grants[0]?.request?.role} on ${grants[0]?.request?.resource} to ${grants[0]?.request?.requester}`
        : `Grant ${grants.length} requests`;
  const lines: [string, string][] = [
    ...files.map((f): [string, string] => [TRAILERS.request, f]),
    [TRAILERS.requestedBy, input.author],
    [TRAILERS.approvedBy, [...approvers].sort().join(', ')],
    ...grants.flatMap((d): [string, string][] => (d.window ? [[TRAILERS.expires, d.window.expires_at]] : [])),
    ...grants.flatMap((d): [string, string][] => {
      const bg = d.break_glass;
      return bg
        ? [[TRAILERS.breakGlass, glassTrailer({ file: d.file, rule: bg.rule, ratify_by: bg.ratify_by })]]
        : [];
    }),
    ...grants.flatMap((d) =>
      (d.approvals?.steps ?? []).flatMap((s): [string, string][] =>
        s.filled ? [[TRAILERS.onCall, onCallTrailer(s.filled)]] : [],
      ),
    ),
    [TRAILERS.pullRequest, String(input.pull)],
  ];
  const summary = grants
    .map(
      (d) =>
        `- ${d.file}: ${d.request?.requester} → ${d.request?.role} on ${d.request?.resource} until ${d.window?.expires_at}`,
    )
    .join('\n');
  return {
    title: trailerValue(`${what} (#${input.pull})`),
    body: `${summary ? `${summary.split('\n').map(trailerValue).join('\n')}\n\n` : ''}${block(lines)}\n`,
  };
}

export interface RevertInput {
  file: string;
  /** `expired`, `early revocation by alice`, … */
  reason: string;
  /** What the provider recorded during the session (one line). */
  activity?: string;
  /** The pull request that granted it, when known. */
  pull?: number;
  /** A break-glass grant: how its ratification was settled (the audit's `ratified` / `unratified`). */
  glass?: GlassMark & ({ ratified: { by: string[]; at: string } } | { unratified: true });
}

/** The commit that removes a request file once its access has been revoked. */
export function revertMessage(input: RevertInput): CommitMessage {
  return {
    title: trailerValue(`Revoke ${input.file} (${input.reason})`),
    body: `${block([
      [TRAILERS.request, input.file],
      [TRAILERS.reason, input.reason],
      [TRAILERS.activity, input.activity ?? ''],
      [TRAILERS.pullRequest, input.pull === undefined ? '' : String(input.pull)],
      ...glassLines(input.glass),
    ])}\n`,
  };
}

function glassLines(g: RevertInput['glass']): [string, string][] {
  if (!g) return [];
  const mark: [string, string] = [TRAILERS.breakGlass, glassTrailer(g)];
  if ('ratified' in g)
    return [mark, [TRAILERS.ratifiedBy, g.ratified.by.join(', ')], [TRAILERS.ratifiedAt, g.ratified.at]];
  return [mark, [TRAILERS.unratified, g.ratify_by]];
}
