// The audit as one self-contained HTML page an auditor opens offline. The header, legend, notes and
// glossary are HTML; the ledger itself is ONE compact JSON document (page-data.ts) that the page's one
// hashed inline script (page-script.ts, page-chart.ts) renders on demand: filters, a virtualised event
// table, a zoomable timeline drawn only for what is in view, totals per person and per resource. So a
// 100,000-commit history stays a page of a few MB that is ready in a second or two.
// No network: inline CSS, one hashed inline script, and a Content-Security-Policy that forbids everything
// else. Everything that comes from git or a request file is escaped here, or set with textContent there.
import type { GrantEnd, Ledger, LedgerNote } from '../core/ledger.js';
import { renderLegend, STATES } from './chart.js';
import { escapeHtml as esc, fmtSpan, fmtTime, pathHtml, plural } from './html-text.js';
import { CSP, DEFS, renderGlossary, SCRIPT, STYLE } from './page-assets.js';
import { embedJson, pageData } from './page-data.js';

/** Colour-blind-safe (Okabe–Ito first), dark enough for white hatching on top. Roles take them in name order. */
const PALETTE = [
  '#0072b2',
  '#e69f00',
  '#009e73',
  '#cc79a7',
  '#d55e00',
  '#56b4e9',
  '#7a5195',
  '#8c6d31',
  '#3f7f6f',
  '#b8860b',
];

/** The page's controls and empty containers: the script fills them from the data document. */
function renderApp(roles: string[], colour: (role: string) => string, grants: Ledger['grants']): string {
  const select = (id: string, label: string, all: string) =>
    `<label>${label}<select id="${id}"><option value="">${all}</option></select></label>`;
  const states = new Set(grants.map((g) => g.state));
  const th = (cols: string[]) => `<thead><tr>${cols.map((c) => `<th>${c}</th>`).join('')}</tr></thead>`;
  const totalsCols = (first: string, other: string) =>
    th([
      first,
      'Grants',
      'Hours of access',
      other,
      'Approvals',
      'Approved by',
      'Break-glass',
      'Unratified',
      'Revoked',
    ]);
  return [
    '<noscript><p class="warn">This page draws its timeline, event table and totals with JavaScript (its own inline script; nothing is loaded). Enable JavaScript for this file to read them.</p></noscript>',
    '<div id="tb-app" hidden>',
    '<section><h2>Filters</h2><div class="filters" role="search">',
    select('f-who', 'Person', 'everyone'),
    select('f-res', 'Resource', 'every resource'),
    select('f-role', 'Role', 'every role'),
    select('f-type', 'Event', 'every event type'),
    '<label>From (UTC day)<input id="f-from" type="date"></label>',
    '<label>To (UTC day, included)<input id="f-to" type="date"></label>',
    '<label>Search: ticket, reason, file, commit, #PR<input id="f-q" type="search" placeholder="e.g. OPS-77"></label>',
    '<button type="button" id="f-clear">Clear filters</button>',
    '</div><p id="tb-count" class="muted" aria-live="polite"></p></section>',
    '<section><h2>Timeline</h2>',
    '<div class="tools"><button type="button" id="z-in" title="Zoom in">+ Zoom in</button><button type="button" id="z-out" title="Zoom out">− Zoom out</button>',
    '<button type="button" id="p-left" title="Earlier">◀ Earlier</button><button type="button" id="p-right" title="Later">Later ▶</button>',
    '<button type="button" id="z-fit">Fit</button><span id="tb-window" class="win"></span></div>',
    '<div class="chart-wrap" id="tb-chart"><svg class="chart" id="tb-svg" role="img" aria-label="Access timeline: one row per requester and resource, one bar per grant"></svg><div id="tb-chart-tail"></div></div>',
    renderLegend(roles, colour, states, false),
    '<p class="muted">Wheel over the timeline to zoom, shift+wheel or drag to pan; drag up and down or use the scroll bar for more rows. Hover a bar for its details; click it to list its events. The glossary at the end explains the terms.</p>',
    '</section>',
    '<section><h2>Events</h2>',
    '<p class="note-bar" id="tb-grant-note" hidden>Showing the events of grant <code id="tb-grant-note-id"></code> <button type="button" id="tb-grant-clear">Show all</button></p>',
    '<div class="vt" id="tb-table"><div class="vt-head">',
    ['Time (UTC)', 'Event', 'File', 'Actor', 'Access', 'Ticket / PR', 'Reason / activity', 'Commit']
      .map((h) => `<div>${h}</div>`)
      .join(''),
    '</div><div class="vt-body" id="tb-rows" tabindex="0"><div class="vt-spacer" id="tb-spacer"></div></div></div>',
    '<p class="muted">Click an event for all its details.</p></section>',
    '<section><h2>Totals per person</h2><div class="totals-grid"><table class="totals" id="tb-people"><caption></caption>',
    totalsCols('Person', 'Resources'),
    '<tbody></tbody></table></div>',
    '<h2>Totals per resource</h2><div class="totals-grid"><table class="totals" id="tb-resources"><caption></caption>',
    totalsCols('Resource', 'People'),
    '<tbody></tbody></table></div>',
    '<p class="muted">For the grants the filters select. Hours of access: from each grant’s start to its end (or to when this page was generated), within the period when one is set. Approvals: the approvers the policy counted; break-glass: approved before its approvals; unratified: break-glass whose approvals did not ratify it in time.</p></section>',
    '<div id="tb-details" hidden role="dialog" aria-label="Details"></div>',
    '</div>',
  ].join('');
}

function renderNotes(notes: LedgerNote[]): string {
  if (notes.length === 0) return '';
  const items = notes.map(
    (n) =>
      `<li><code title="${esc(n.commit)}">${esc(n.commit.slice(0, 12))}</code>${n.file ? ` <span class="path">${pathHtml(n.file)}</span>` : ''}: ${esc(n.message)}</li>`,
  );
  return `<section><h2>Notes <span class="count">${notes.length}</span></h2><ul class="notes">${items.join('')}</ul></section>`;
}

/** The audit report: one self-contained HTML page (no network, strict CSP). */
export function renderHtml(ledger: Ledger, opts: { generatedAt: Date; repoUrl?: string }): string {
  const { grants, events, notes } = ledger;
  const roles = [...new Set(grants.map((g) => g.role).concat(events.map((e) => e.role)))].sort();
  const roleIndex = new Map(roles.map((r, i) => [r, i]));
  const colour = (role: string) => PALETTE[(roleIndex.get(role) ?? 0) % PALETTE.length] ?? '#7b8494';

  const data =
    grants.length > 0 || events.length > 0
      ? `<script type="application/json" id="timebox-data">${embedJson(
          pageData(ledger, {
            generatedAt: opts.generatedAt,
            ...(opts.repoUrl ? { repoUrl: opts.repoUrl } : {}),
            roles,
            colours: roles.map(colour),
          }),
        )}</script>`
      : '';
  const generated = fmtTime(opts.generatedAt.getTime());
  const people = new Set(grants.map((g) => g.requester).concat(events.map((e) => e.requester)));
  const resources = new Set(grants.map((g) => g.resource).concat(events.map((e) => e.resource)));
  const starts = grants.map((g) => Date.parse(g.starts_at)).filter((n) => !Number.isNaN(n));
  const ends = grants.map((g) => Date.parse(g.ends_at)).filter((n) => !Number.isNaN(n));
  const eventTimes = events.map((e) => Date.parse(e.time)).filter((n) => !Number.isNaN(n));

  const header: string[] = ['<header><h1>Timebox access audit</h1>'];
  header.push(`<p class="meta">Generated <strong>${esc(generated)} UTC</strong>. All times are UTC.</p>`);
  if (starts.length > 0 && ends.length > 0) {
    const lo = Math.min(...starts);
    const hi = Math.max(...ends);
    header.push(
      `<p class="meta">Access from <strong>${esc(fmtTime(lo))}</strong> to <strong>${esc(fmtTime(hi))}</strong> (${esc(fmtSpan(hi - lo))})</p>`,
    );
  }
  if (eventTimes.length > 0) {
    header.push(
      `<p class="meta">Events from ${esc(fmtTime(Math.min(...eventTimes)))} to ${esc(fmtTime(Math.max(...eventTimes)))}</p>`,
    );
  }
  const byState = new Map<GrantEnd, number>();
  for (const g of grants) byState.set(g.state, (byState.get(g.state) ?? 0) + 1);
  const chips = [
    plural(grants.length, 'grant'),
    plural(events.length, 'event'),
    ...(people.size > 0 ? [plural(people.size, 'person', 'people')] : []),
    ...(resources.size > 0 ? [plural(resources.size, 'resource')] : []),
    ...STATES.filter((s) => byState.has(s.state)).map((s) => `${byState.get(s.state)} ${s.state}`),
    ...(notes.length > 0 ? [plural(notes.length, 'note')] : []),
  ];
  header.push(`<ul class="chips">${chips.map((c) => `<li>${esc(c)}</li>`).join('')}</ul></header>`);

  const body: string[] = [];
  if (grants.length === 0 && events.length === 0) {
    body.push(
      '<div class="empty"><p class="big">No grants in this range.</p>' +
        '<p class="muted">Nothing was requested, granted, extended, revoked or expired in the selected period.</p></div>',
    );
  } else {
    body.push(renderApp(roles, colour, grants));
  }
  body.push(renderNotes(notes));
  if (grants.length > 0 || events.length > 0) body.push(renderGlossary());

  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${esc(CSP)}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light">',
    '<meta name="referrer" content="no-referrer">',
    `<title>Timebox access audit — ${esc(generated)} UTC</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    DEFS,
    data,
    header.join(''),
    '<main>',
    body.join('\n'),
    '</main>',
    `<footer>Generated by Timebox from the git history of the access repository. Self-contained: this page loads nothing from the network.</footer>`,
    `<script>${SCRIPT}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
