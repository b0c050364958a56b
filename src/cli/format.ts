// Human output for decisions: one line per file with its status, then reasons and who must approve.
// Readable without colour; colour only adds emphasis.
import type { Decision, Status } from '../core/model.js';
import { colors, type Io } from './context.js';

const LABEL: Record<Status, string> = {
  approved: 'approved',
  pending: 'pending ',
  denied: 'denied  ',
  invalid: 'invalid ',
};

export function formatDecisions(decisions: Decision[], io: Pick<Io, 'color'>): string {
  if (decisions.length === 0) return 'no request files to check\n';
  return humanOutput(
    [decisionLines(decisions, io)],
    decisions.map((d) => d.status),
  );
}

/** The human output from the lines of each part (in order) and every file's status. */
export function humanOutput(parts: string[], statuses: Status[]): string {
  if (statuses.length === 0) return 'no request files to check\n';
  const counts = (['approved', 'pending', 'denied', 'invalid'] as const)
    .map((s) => [s, statuses.filter((x) => x === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  const footer = `\n${statuses.length} file${statuses.length === 1 ? '' : 's'}: ${counts.join(', ')}\n`;
  return `${parts.filter((p) => p !== '').join('\n')}\n${footer}`;
}

/** The human lines of `decisions`, joined, without the totals: parts of one output can be made apart. */
export function decisionLines(decisions: Decision[], io: Pick<Io, 'color'>): string {
  const c = colors(io);
  const paint: Record<Status, (s: string) => string> = {
    approved: c.green,
    pending: c.yellow,
    denied: c.red,
    invalid: c.red,
  };
  const lines: string[] = [];
  const indent = '          ';
  for (const d of decisions) {
    const what = describe(d);
    lines.push(`${c.bold(paint[d.status](LABEL[d.status]))}  ${d.file}${what ? `  ${c.dim(what)}` : ''}`);
    for (const e of d.errors)
      lines.push(`${indent}${d.file}:${e.line}:${e.column}: ${e.message} ${c.dim(`(${e.path})`)}`);
    for (const r of d.reasons) lines.push(`${indent}${c.cyan(r.rule)}: ${r.message}`);
    const glass = d.break_glass;
    if (glass) {
      lines.push(
        `${indent}${c.yellow('break-glass')}: approved by rule ${glass.rule} before its approvals; they must ratify it on the merged pull request within ${glass.ratify_within} (by ${glass.ratify_by}), or the access is revoked and an alarm issue opened`,
      );
    }
    const a = d.approvals;
    if (a && d.status !== 'denied') {
      a.steps.forEach((s, i) => {
        if (s.filled) {
          const f = s.filled;
          lines.push(
            `${indent}step ${i + 1}: ${s.count} of ${s.from.join(', ')} — filled: ${f.login} is on call (${f.schedule}, layer ${f.layer}, until ${f.to})`,
          );
          return;
        }
        const got = s.approvers.length > 0 ? `approved by ${s.approvers.join(', ')}` : 'no approval yet';
        const can =
          s.approvers.length < s.count && s.candidates.length > 0
            ? `; can approve: ${s.candidates.join(', ')}`
            : '';
        lines.push(`${indent}step ${i + 1}: ${s.count} of ${s.from.join(', ')} — ${got}${can}`);
      });
      if (a.codeowners.owners.length > 0) {
        lines.push(
          `${indent}CODEOWNERS: ${a.codeowners.owners.join(', ')} — ${a.codeowners.satisfied ? 'satisfied' : 'an owner must approve'}`,
        );
      }
      for (const i of a.ignored) lines.push(`${indent}${c.dim(`not counted: ${i.login} ${i.reason}`)}`);
    }
  }
  return lines.join('\n');
}

/** The SPEC's `check --json` result shape (plus `change` and `window`). */
export function toJson(d: Decision) {
  return {
    file: d.file,
    status: d.status,
    request: d.request,
    rule: d.rule,
    errors: d.errors,
    reasons: d.reasons,
    approvals: d.approvals,
    change: d.change,
    window: d.window,
    ...(d.break_glass ? { break_glass: d.break_glass } : {}),
  };
}

/** `check --json`: the whole output, as `JSON.stringify({ results }, null, 2)` writes it. */
export function jsonOutput(decisions: Decision[]): string {
  return `${JSON.stringify({ results: decisions.map(toJson) }, null, 2)}\n`;
}

/** The items of `decisions` as they stand inside `jsonOutput`'s array, joined: a part of one output. */
export function jsonItems(decisions: Decision[]): string {
  return decisions
    .map((d) => `    ${JSON.stringify(toJson(d), null, 2).replaceAll('\n', '\n    ')}`)
    .join(',\n');
}

/** `jsonOutput` from the items of each part, in order. */
export function jsonFromItems(parts: string[]): string {
  const items = parts.filter((p) => p !== '');
  return items.length === 0 ? '{\n  "results": []\n}\n' : `{\n  "results": [\n${items.join(',\n')}\n  ]\n}\n`;
}

function describe(d: Decision): string {
  const r = d.request;
  if (!r) return '';
  if (d.change === 'removed') return `removes ${r.requester}'s ${r.role} on ${r.resource}`;
  const length = r.duration ? `for ${r.duration}` : `until ${r.until}`;
  return `${r.requester}: ${r.role} on ${r.resource} ${length}${d.rule ? ` (rule ${d.rule})` : ''}`;
}
