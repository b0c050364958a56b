// The audit page's fixed parts: its style sheet, the hatch pattern, its one inline script (whose hash the
// Content-Security-Policy names) and the glossary. None of it is built from data.
import { createHash } from 'node:crypto';
import { escapeHtml as esc } from './html-text.js';
import { SCRIPT_CHART } from './page-chart.js';
import { SCRIPT_CORE } from './page-script.js';

// The page's one script (page-script.ts, page-chart.ts): static text, never built from data, so its hash in
// the CSP is a constant. It renders the embedded data document on demand.
export const SCRIPT = `(() => {${SCRIPT_CORE}${SCRIPT_CHART}})();`;

/** The CSP's hash of the inline script. */
const SCRIPT_HASH = `sha256-${createHash('sha256').update(SCRIPT, 'utf8').digest('base64')}`;

/** The Content-Security-Policy the page declares: nothing but its own inline style and its one script. */
export const CSP = `default-src 'none'; style-src 'unsafe-inline'; script-src '${SCRIPT_HASH}'; base-uri 'none'; form-action 'none'`;

export const STYLE = `
:root { color-scheme: light; --fg: #1d2330; --muted: #667085; --line: #e3e6ec; --band: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; padding: 28px 32px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", "DejaVu Sans", sans-serif; color: var(--fg); background: #fff; }
header { border-bottom: 1px solid var(--line); padding-bottom: 14px; margin-bottom: 18px; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 16px; margin: 28px 0 10px; }
h3 { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 6px; }
.meta { margin: 2px 0; color: var(--muted); }
.meta strong { color: var(--fg); font-weight: 600; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 10px; padding: 0; list-style: none; }
.chips li { background: var(--band); border: 1px solid var(--line); border-radius: 999px; padding: 1px 10px; font-size: 12px; }
.count { font-weight: 400; color: var(--muted); font-size: 13px; }
.muted { color: var(--muted); }
.warn { color: #9a3412; }
code { font: 12px/1.3 ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; }
.chart-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; padding: 6px 0 4px; }
svg.chart { display: block; width: 100%; min-width: 900px; height: auto; font-size: 12px; }
svg.chart .band { fill: #fff; }
svg.chart .band.odd { fill: var(--band); }
svg.chart .grid { stroke: var(--line); stroke-width: 1; }
svg.chart .tick { fill: var(--muted); text-anchor: middle; font-size: 11px; }
svg.chart .tick.sub { font-weight: 600; fill: var(--fg); }
svg.chart .axis-title { fill: var(--muted); font-size: 11px; }
svg.chart .row-label { text-anchor: end; dominant-baseline: central; fill: var(--fg); }
rect.grant, .swatch rect { stroke-width: 0; }
rect.state-active { stroke: #111; stroke-width: 1.6; }
rect.state-scheduled { fill-opacity: .35; stroke-width: 1.4; stroke-dasharray: 4 2; }
svg.chart rect.grant { cursor: pointer; }
svg.chart rect.grant:hover, svg.chart rect.grant:focus { stroke: #111; stroke-width: 2; outline: none; }
rect.hatch { fill: url(#tb-hatch); pointer-events: none; }
rect.revoked-mark { fill: #c0262d; pointer-events: none; }
line.replaced-mark { stroke: #fff; stroke-width: 2; stroke-dasharray: 2 2; pointer-events: none; }
path.extends-mark { fill: #fff; fill-opacity: .85; pointer-events: none; }
line.now { stroke: #c0262d; stroke-width: 1.2; stroke-dasharray: 5 3; }
text.now-label { fill: #c0262d; font-size: 10px; text-anchor: middle; }
.legend { display: flex; flex-wrap: wrap; gap: 12px 48px; margin: 12px 2px 0; }
.legend ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 18px; }
.legend li { display: flex; align-items: center; gap: 6px; font-size: 13px; }
.filters { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: end; margin: 0 0 12px; }
.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
.filters select, .filters input { font: inherit; font-size: 13px; padding: 3px 6px; border: 1px solid #cfd4dc; border-radius: 4px; max-width: 220px; }
button { font: inherit; font-size: 13px; padding: 3px 10px; border: 1px solid #cfd4dc; border-radius: 4px; background: #fff; cursor: pointer; }
button:hover { background: var(--band); }
.tools { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; margin: 0 0 6px; }
.tools .win { color: var(--muted); font-size: 12px; margin-left: 8px; }
.chart-wrap { position: relative; overflow-y: auto; overflow-x: hidden; padding: 0; }
svg.chart { position: sticky; top: 0; min-width: 0; user-select: none; touch-action: none; }
svg.chart .axis-bg { fill: #fff; }
rect.unratified-mark { fill: #c0262d; pointer-events: none; }
.vt { border: 1px solid var(--line); border-radius: 6px; font-size: 13px; }
.vt-head, .vt-row { display: grid; grid-template-columns: 132px 92px minmax(150px, 1.3fr) 110px minmax(150px, 1fr) 104px minmax(150px, 1.6fr) 74px; }
.vt-head div { font-weight: 600; color: var(--muted); padding: 6px; border-bottom: 2px solid var(--line); white-space: nowrap; }
.vt-body { position: relative; overflow-y: auto; }
.vt-spacer { position: relative; }
.vt-row { position: absolute; left: 0; right: 0; height: 46px; border-bottom: 1px solid var(--line); cursor: pointer; }
.vt-row.odd { background: #fbfbfc; }
.vt-row:hover { background: #fff4cc; }
.vt-row .c { padding: 4px 6px; overflow: hidden; min-width: 0; }
.vt-row .l { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; line-height: 19px; }
.vt-row .path { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
.vt-row .on, .vt-row .activity { color: var(--muted); }
.git-name { font-style: italic; }
a { color: #1d4ed8; }
#tb-details { position: fixed; right: 16px; bottom: 16px; max-width: min(720px, 90vw); max-height: 60vh; overflow: auto; background: #fff; border: 1px solid #cfd4dc; border-radius: 6px; box-shadow: 0 6px 24px rgba(0,0,0,.15); padding: 10px 12px; z-index: 5; }
#tb-details pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 6px 0 0; font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
.note-bar { background: #fff4cc; border-radius: 4px; padding: 4px 8px; margin: 0 0 6px; }
table.totals { border-collapse: collapse; font-size: 13px; margin-bottom: 8px; }
table.totals caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 12px; padding-top: 4px; }
table.totals th { text-align: left; color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); padding: 4px 8px; white-space: nowrap; }
table.totals td { border-bottom: 1px solid var(--line); padding: 3px 8px; }
table.totals td:nth-child(n+2):not(:nth-child(6)) { text-align: right; font-variant-numeric: tabular-nums; }
.totals-grid { display: grid; grid-template-columns: 1fr; gap: 6px; overflow-x: auto; }
[hidden] { display: none !important; }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 6px; vertical-align: 0; }
.type { display: inline-block; border-radius: 4px; padding: 0 6px; font-size: 12px; font-weight: 600; background: #eef0f4; color: #344054; }
.type-approved { background: #e0ecff; color: #1d4ed8; }
.type-granted { background: #dcfce7; color: #166534; }
.type-extended { background: #ccfbf1; color: #0f766e; }
.type-revoked { background: #fee2e2; color: #b91c1c; }
.type-expired { background: #f1f5f9; color: #475569; }
ul.notes { padding-left: 18px; margin: 0; }
ul.notes li { margin: 3px 0; overflow-wrap: break-word; }
dl.glossary { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; font-size: 13px; max-width: 980px; }
dl.glossary dt { font-weight: 600; }
dl.glossary dd { margin: 0; }
.empty { border: 1px dashed #cfd4dc; border-radius: 8px; padding: 36px; text-align: center; background: var(--band); }
.empty .big { font-size: 18px; font-weight: 600; margin: 0 0 6px; }
footer { margin-top: 28px; color: var(--muted); font-size: 12px; }
@media print { body { padding: 0; } .chart-wrap { overflow: visible; border: 0; } * { print-color-adjust: exact; -webkit-print-color-adjust: exact; } }
`;

export const DEFS =
  '<svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false"><defs>' +
  '<pattern id="tb-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">' +
  '<rect width="2.4" height="6" fill="#fff" fill-opacity=".75"/></pattern></defs></svg>';

const GLOSSARY: [term: string, meaning: string][] = [
  [
    'grant',
    'The access one version of a request file gave: from its start to its expiry, or to the commit that ended it early. One bar in the timeline.',
  ],
  [
    'requested',
    'The request was written: the author time of the change (for a pull request, of its last commit).',
  ],
  [
    'approved',
    'A reviewer whose approval satisfied the policy, as Timebox named them when it merged. An approval with no actor is one that a commit Timebox did not make claimed: it is not believed. An approval "on call in <schedule>" is a step filled because the requester was on call: the schedule and the shift are named.',
  ],
  ['granted', 'Access began: when the request was merged onto the default branch, or at its later start.'],
  [
    'extended',
    'The request file was edited while its grant was running (e.g. a longer duration); the edit, approved again, is a new grant that continues the old one.',
  ],
  [
    'replaced',
    'A grant that ended early because its request file was edited: by an extension, another requester or role, or an invalid file. What the edit granted, if anything, is its own bar.',
  ],
  [
    'revoked',
    'The request file was removed. Before the expiry this is an early revocation and access ended then; after it, it is the revert Timebox made once it had revoked the expired access (with what the session did).',
  ],
  ['expired', 'The grant reached its expiry (expires_at).'],
  [
    'break_glass',
    'An emergency request approved before its approvals, under a rule with break_glass: the approvals it lacked had to ratify it on the merged pull request by the time shown ("ratify by").',
  ],
  [
    'ratified',
    'A break-glass access ratified: one event per reviewer whose approval on the merged pull request counted, at the time the last of them approved.',
  ],
  [
    'unratified',
    "A break-glass access not ratified by its deadline: revoked if still running, a timebox-alarm issue opened, and the requester's next emergency request denied until a code owner of the policies closes it.",
  ],
  ['active / scheduled', 'Running when this page was generated / approved, with a start still to come.'],
  [
    'actor',
    'The GitHub login that did it. A name that starts with "git:" is a git author name: its e-mail address was not a GitHub no-reply address, so no login is known.',
  ],
  ['ticket, PR', 'The ticket the request names, and the pull request that granted it.'],
  ['commit', 'The git commit on the default branch that records the event.'],
  [
    'notes',
    'What the ledger ignored or corrected while reading history (e.g. trailers in a commit Timebox did not make).',
  ],
];

export function renderGlossary(): string {
  const items = GLOSSARY.map(([t, m]) => `<dt>${esc(t)}</dt><dd>${esc(m)}</dd>`);
  return `<section id="glossary"><h2>Glossary</h2><dl class="glossary">${items.join('')}</dl></section>`;
}
