// What a pull request shows: the check run (conclusion, summary, annotations) and the one summary
// comment, rendered from decisions. Pure: no octokit here; the engine's notices (src/engine/notices) use it.
import type { ApprovalReport, Decision, Status } from '../core/model.js';
import { COMMENT_MARKER } from '../engine/notices/markers.js';
import type { PermissionPreview } from '../providers/types.js';

export { COMMENT_MARKER } from '../engine/notices/markers.js';

export type CheckConclusion = 'success' | 'action_required' | 'failure' | 'neutral';

export interface Annotation {
  path: string;
  start_line: number;
  end_line: number;
  start_column?: number;
  end_column?: number;
  annotation_level: 'failure' | 'warning' | 'notice';
  title: string;
  message: string;
}

/** GitHub accepts at most 50 annotations per check-run request. */
export const ANNOTATION_BATCH = 50;

const ICON: Record<Status, string> = { approved: '✅', pending: '⏳', denied: '⛔', invalid: '❌' };

/** success = every request approved; action_required = some pending; failure = any denied or invalid. */
export function conclusionOf(decisions: readonly Decision[]): CheckConclusion {
  if (decisions.length === 0) return 'success';
  if (decisions.some((d) => d.status === 'denied' || d.status === 'invalid')) return 'failure';
  if (decisions.some((d) => d.status === 'pending')) return 'action_required';
  return 'success';
}

export function annotationsOf(decisions: readonly Decision[]): Annotation[][] {
  const all: Annotation[] = [];
  for (const d of decisions) {
    for (const e of d.errors) {
      all.push({
        path: d.file,
        start_line: e.line,
        end_line: e.line,
        start_column: e.column,
        end_column: e.column,
        annotation_level: 'failure',
        title: `invalid: ${e.path}`,
        message: e.message,
      });
    }
    if (d.status === 'denied') {
      for (const r of d.reasons) {
        all.push({
          path: d.file,
          start_line: 1,
          end_line: 1,
          annotation_level: 'failure',
          title: `denied by ${r.rule}`,
          message: r.message,
        });
      }
    }
  }
  const batches: Annotation[][] = [];
  for (let i = 0; i < all.length; i += ANNOTATION_BATCH) batches.push(all.slice(i, i + ANNOTATION_BATCH));
  return batches;
}

/** Markdown-safe text for values that come from request files and logins (hostile input). */
export function md(text: string): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this removes
      .replace(/[\u0000-\u001f\u007f]/g, ' ')
      .slice(0, 500)
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/@/g, '&#64;')
      .replace(/[\\`*_{}[\]()#+\-.!|~]/g, (c) => `\\${c}`)
  );
}

/** `@login` for a valid GitHub login (a mention), else the text escaped (no mention, no markup). */
export const mention = (l: string) => (/^[A-Za-z0-9-]{1,39}$/.test(l) ? `@${l}` : md(l));
const login = mention;
const who = (p: string) => (p === '*' ? 'anyone with write access' : p.startsWith('@') ? p : login(p));

export interface CommentInput {
  decisions: readonly Decision[];
  /** What each request would be granted, by file (from the provider's `preview`). */
  previews: ReadonlyMap<string, PermissionPreview>;
  /** The head commit the decisions are for. */
  headSha: string;
}

/** The one summary comment, updated in place on every event. */
export function renderComment(input: CommentInput): string {
  const { decisions } = input;
  const lines: string[] = [COMMENT_MARKER, '### Timebox', ''];
  if (decisions.length === 0) {
    lines.push('This pull request changes no access request.');
    return `${lines.join('\n')}\n`;
  }
  lines.push(`Decided for \`${input.headSha.slice(0, 7)}\`. ${summaryLine(decisions)}`, '');
  for (const d of decisions) {
    const r = d.request;
    const head = r
      ? d.change === 'removed'
        ? `removes ${login(r.requester)}'s **${md(r.role)}** on **${md(r.resource)}**`
        : `${login(r.requester)} → **${md(r.role)}** on **${md(r.resource)}** for ${md(r.duration ?? `until ${r.until}`)}`
      : '';
    lines.push(
      `#### ${ICON[d.status]} ${d.status}: \`${d.file.replace(/`/g, "'")}\`${head ? ` — ${head}` : ''}`,
      '',
    );
    if (r && d.change !== 'removed')
      lines.push(`> ${md(r.reason)}${r.ticket ? ` (${md(r.ticket)})` : ''}`, '');
    for (const e of d.errors)
      lines.push(`- line ${e.line}, column ${e.column} (\`${e.path.replace(/`/g, "'")}\`): ${md(e.message)}`);
    for (const reason of d.reasons) lines.push(`- **${md(reason.rule)}**: ${md(reason.message)}`);
    if (d.errors.length + d.reasons.length > 0) lines.push('');
    const bg = d.break_glass;
    if (bg) {
      lines.push(
        `> 🚨 **Break-glass** under rule **${md(bg.rule)}**: approved before its approvals. They must ratify it on this pull request by ${code(bg.ratify_by)} (within ${md(bg.ratify_within)} of the decision); unratified, the access is revoked and an alarm is raised.`,
        '',
      );
    }
    const a = bg ? bg.ratification : d.approvals;
    if (a && d.status !== 'denied' && d.status !== 'invalid') lines.push(...approvalTable(a, Boolean(bg)));
    const preview = input.previews.get(d.file);
    if (preview && (d.status === 'approved' || d.status === 'pending')) {
      lines.push('<details><summary>What would be granted</summary>', '', md(preview.summary), '', '```sql');
      for (const st of preview.statements) lines.push(st.replace(/```/g, "'''"));
      lines.push('```', '</details>', '');
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The steps (and CODEOWNERS) with who approved and who still can; under break-glass, what must ratify. */
function approvalTable(a: ApprovalReport, ratification: boolean): string[] {
  const lines = [
    `| ${ratification ? 'to ratify' : 'step'} | needs | approved by | can approve |`,
    '|---|---|---|---|',
  ];
  a.steps.forEach((s, i) => {
    const done = Boolean(s.filled) || s.approvers.length >= s.count;
    const by = s.filled
      ? `filled: ${login(s.filled.login)} is on call (${code(s.filled.schedule)}, ${md(s.filled.layer)}, until ${code(s.filled.to)})`
      : s.approvers.map(login).join(', ') || '—';
    lines.push(
      `| ${i + 1} ${done ? '✅' : '⏳'} | ${s.count} of ${s.from.map(who).join(', ')}${s.on_call ? ` or on call in ${code(s.on_call)}` : ''} | ${by} | ${done ? '' : s.candidates.map(login).join(', ')} |`,
    );
  });
  if (a.codeowners.owners.length > 0) {
    lines.push(
      `| CODEOWNERS ${a.codeowners.satisfied ? '✅' : '⏳'} | one code owner | ${a.codeowners.satisfied ? 'yes' : '—'} | ${a.codeowners.satisfied ? '' : a.codeowners.owners.map(who).join(', ')} |`,
    );
  }
  lines.push('');
  for (const i of a.ignored) lines.push(`- not counted: ${login(i.login)} ${md(i.reason)}`);
  if (a.ignored.length > 0) lines.push('');
  return lines;
}

/** A code span for text that is not Markdown (paths, times): backticks inside cannot end it. */
function code(text: string): string {
  return `\`${text.replace(/`/g, "'")}\``;
}

function summaryLine(decisions: readonly Decision[]): string {
  return (['approved', 'pending', 'denied', 'invalid'] as const)
    .map((s) => [s, decisions.filter((d) => d.status === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
}
