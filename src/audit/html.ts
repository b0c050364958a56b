// The audit as one self-contained HTML page an auditor opens offline: a timeline chart (inline SVG,
// one row per requester and resource, one bar per grant coloured by role) above the event table.
// No network: inline CSS, inline SVG, one hashed inline script (hover highlights a grant's events),
// and a Content-Security-Policy that forbids everything else. The chart reads without JavaScript:
// every bar carries an SVG <title>, which browsers show natively on hover.
// Everything that comes from git or a request file is escaped: it may be hostile.
import type { GrantEnd, Ledger, LedgerEvent, LedgerNote } from '../core/ledger.js';
import { renderChart, renderLegend, STATES } from './chart.js';
import {
  actorHtml,
  escapeHtml as esc,
  fmtSpan,
  fmtTime,
  pathHtml,
  plural,
  pullHtml,
  timeTag,
} from './html-text.js';
import { CSP, DEFS, renderGlossary, SCRIPT, STYLE } from './page-assets.js';

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

function renderEvents(
  events: LedgerEvent[],
  colour: (role: string) => string,
  repoUrl: string | undefined,
): string {
  if (events.length === 0) return '<p class="muted">No events in this range.</p>';
  const head = [
    'Time (UTC)',
    'Event',
    'File',
    'Actor',
    'Access',
    'Ticket / PR',
    'Reason / activity',
    'Commit',
  ];
  const rows = events.map((e) => {
    const extendsId = e.type === 'extended' ? /^extends (\S+)$/.exec(e.reason ?? '')?.[1] : undefined;
    // The grant it extends is this file's earlier grant: name it by its commit (its id is `file@commit`).
    const extended = extendsId?.startsWith(`${e.file}@`) ? extendsId.slice(e.file.length + 1) : undefined;
    const reason = extended
      ? `extends the grant of commit <code>${esc(extended)}</code>`
      : extendsId
        ? `extends <span class="path">${pathHtml(extendsId)}</span>`
        : esc(e.reason);
    const detail = [
      e.reason ? `<div class="reason">${reason}</div>` : '',
      e.activity ? `<div class="activity"><span class="muted">activity:</span> ${esc(e.activity)}</div>` : '',
    ].join('');
    return [
      `<tr data-grant="${esc(e.grant)}" data-type="${esc(e.type)}">`,
      `<td class="nowrap">${timeTag(e.time)}</td>`,
      `<td><span class="type type-${esc(e.type)}">${esc(e.type)}</span></td>`,
      `<td class="path">${pathHtml(e.file)}</td>`,
      `<td class="actor">${actorHtml(e.actor)}</td>`,
      `<td class="nowrap access"><div class="requester">${esc(e.requester)}</div><div><span class="role"><span class="dot" style="background:${colour(e.role)}"></span>${esc(e.role)}</span> <span class="on">on ${esc(e.resource)}</span></div><div class="expires"><span class="muted">expires</span> ${timeTag(e.expires_at)}</div></td>`,
      `<td class="nowrap ticket-pr"><div class="ticket">${e.ticket ? esc(e.ticket) : '<span class="muted">no ticket</span>'}</div><div class="pr">${pullHtml(e.pull_request, repoUrl)}</div></td>`,
      `<td class="detail">${detail}</td>`,
      `<td><code title="${esc(e.commit)}">${esc(e.commit.slice(0, 8))}</code></td>`,
      '</tr>',
    ].join('');
  });
  return `<div class="table-wrap"><table class="events"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
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
    body.push(`<section><h2>Timeline <span class="count">${esc(plural(grants.length, 'grant'))}</span></h2>`);
    body.push(renderChart(grants, colour, opts.generatedAt));
    if (grants.length > 0) {
      const states = new Set(grants.map((g) => g.state));
      body.push(
        renderLegend(
          roles,
          colour,
          states,
          grants.some((g) => g.extends),
        ),
      );
      body.push(
        '<p class="muted">Hover a bar for its details; its events are highlighted in the table below. The glossary at the end explains the terms.</p>',
      );
    }
    body.push('</section>');
    body.push(
      `<section><h2>Events <span class="count">${events.length}</span></h2>${renderEvents(events, colour, opts.repoUrl)}</section>`,
    );
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
