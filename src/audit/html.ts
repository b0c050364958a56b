// The audit as one self-contained HTML page an auditor opens offline: a timeline chart (inline SVG,
// one row per requester and resource, one bar per grant coloured by role) above the event table.
// No network: inline CSS, inline SVG, one hashed inline script (hover highlights a grant's events),
// and a Content-Security-Policy that forbids everything else. The chart reads without JavaScript:
// every bar carries an SVG <title>, which browsers show natively on hover.
// Everything that comes from git or a request file is escaped: it may be hostile.
import { createHash } from 'node:crypto';
import {
  type Grant,
  type GrantEnd,
  type Ledger,
  type LedgerEvent,
  type LedgerNote,
  TRAILERS,
} from '../core/ledger.js';

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escape text for HTML and SVG, in element content and in quoted attributes alike. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}
const esc = escapeHtml;

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

const STATES: { state: GrantEnd; label: string }[] = [
  { state: 'active', label: 'active: dark outline' },
  { state: 'scheduled', label: 'scheduled: faded, dashed outline' },
  { state: 'expired', label: 'expired: plain' },
  { state: 'revoked', label: 'revoked: hatched, red end mark' },
  { state: 'replaced', label: 'replaced (its file was edited): dotted end' },
];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const pad = (n: number) => String(n).padStart(2, '0');
const utcDate = (d: Date) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
const utcHm = (d: Date) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;

/** `2026-11-20 09:30` (seconds only when not zero), in UTC; unreadable input is shown as it is. */
function fmtTime(value: string | number): string {
  const ms = typeof value === 'number' ? value : Date.parse(value);
  if (Number.isNaN(ms)) return String(value);
  const d = new Date(ms);
  const s = d.getUTCSeconds();
  return `${utcDate(d)} ${utcHm(d)}${s ? `:${pad(s)}` : ''}`;
}

function fmtSpan(ms: number): string {
  const days = Math.floor(ms / DAY);
  const hours = Math.floor((ms % DAY) / HOUR);
  const minutes = Math.round((ms % HOUR) / MINUTE);
  const parts = [days ? `${days} d` : '', hours ? `${hours} h` : '', minutes ? `${minutes} min` : ''].filter(
    Boolean,
  );
  return parts.length > 0 ? parts.join(' ') : '0 min';
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function timeTag(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return esc(value);
  return `<time datetime="${esc(new Date(ms).toISOString())}">${esc(fmtTime(ms))}</time>`;
}

/** A path that wraps only after a `/`, never inside a name (each segment is kept whole). */
function pathHtml(path: string): string {
  return path
    .split('/')
    .map((seg) => `<span class="seg">${esc(seg)}</span>`)
    .join('/<wbr>');
}

/** An actor: a login, or (marked) a git name whose address named no GitHub login. */
function actorHtml(actor: string | null): string {
  if (!actor) return '<span class="muted">—</span>';
  if (actor.startsWith('git:'))
    return `<span class="git-name" title="git author name: its e-mail address is not a GitHub no-reply address, so the login is not known">${esc(actor)}</span>`;
  return esc(actor);
}

function pullHtml(pull: number | null, repoUrl: string | undefined): string {
  if (pull === null) return '<span class="muted">no PR</span>';
  if (!repoUrl) return `#${pull}`;
  return `<a href="${esc(`${repoUrl}/pull/${pull}`)}" rel="noreferrer noopener">#${pull}</a>`;
}

// ---------------------------------------------------------------------------------------------
// The chart

interface Tick {
  at: number;
  label: string;
  /** The date under a time label, where the day changes. */
  sub?: string;
}

const STEPS = [
  MINUTE,
  5 * MINUTE,
  15 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  DAY,
  2 * DAY,
  7 * DAY,
];

/** Tick marks on round UTC times: at most `max` of them between `from` and `to`. */
export function timeTicks(from: number, to: number, max = 8): Tick[] {
  const step = STEPS.find((s) => (to - from) / s <= max);
  if (step === undefined) return monthTicks(from, to, max);
  // Weeks start on Monday (the epoch was a Thursday); shorter steps are whole multiples since the epoch.
  const offset = step === 7 * DAY ? 4 * DAY : 0;
  const ticks: Tick[] = [];
  let lastDate = '';
  for (let at = Math.ceil((from - offset) / step) * step + offset; at <= to; at += step) {
    const d = new Date(at);
    const date = utcDate(d);
    if (step >= DAY) ticks.push({ at, label: date });
    else {
      ticks.push({ at, label: utcHm(d), ...(date !== lastDate ? { sub: date } : {}) });
      lastDate = date;
    }
  }
  return ticks;
}

function monthTicks(from: number, to: number, max: number): Tick[] {
  const start = new Date(from);
  const months =
    (new Date(to).getUTCFullYear() - start.getUTCFullYear()) * 12 +
    new Date(to).getUTCMonth() -
    start.getUTCMonth();
  const step = [1, 2, 3, 6, 12, 24, 60, 120].find((m) => months / m <= max) ?? Math.ceil(months / max);
  const ticks: Tick[] = [];
  let y = start.getUTCFullYear();
  let m = Math.ceil((start.getUTCMonth() + (from > Date.UTC(y, start.getUTCMonth()) ? 1 : 0)) / step) * step;
  for (;;) {
    const at = Date.UTC(y, m);
    if (at > to) break;
    const d = new Date(at);
    ticks.push({
      at,
      label: step >= 12 ? String(d.getUTCFullYear()) : `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}`,
    });
    m += step;
    y += Math.floor(m / 12);
    m %= 12;
  }
  return ticks;
}

interface Bar {
  grant: Grant;
  start: number;
  end: number;
  lane: number;
}

interface Row {
  requester: string;
  resource: string;
  bars: Bar[];
  lanes: number;
}

/** One row per (requester, resource); grants that overlap in a row get their own lanes. */
function rowsOf(grants: Grant[]): Row[] {
  const rows = new Map<string, Row>();
  for (const grant of grants) {
    const key = JSON.stringify([grant.requester, grant.resource]);
    let row = rows.get(key);
    if (!row) {
      row = { requester: grant.requester, resource: grant.resource, bars: [], lanes: 0 };
      rows.set(key, row);
    }
    row.bars.push({ grant, start: Date.parse(grant.starts_at), end: Date.parse(grant.ends_at), lane: 0 });
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const sorted = [...rows.values()].sort(
    (a, b) => cmp(a.requester, b.requester) || cmp(a.resource, b.resource),
  );
  for (const row of sorted) {
    row.bars.sort((a, b) => a.start - b.start || a.end - b.end || cmp(a.grant.id, b.grant.id));
    const laneEnds: number[] = [];
    for (const bar of row.bars) {
      let lane = laneEnds.findIndex((end) => end <= bar.start);
      if (lane < 0) lane = laneEnds.length;
      laneEnds[lane] = bar.end;
      bar.lane = lane;
    }
    row.lanes = Math.max(1, laneEnds.length);
  }
  return sorted;
}

function grantDetails(g: Grant): string {
  const lines = [
    `file: ${g.file}`,
    `requester: ${g.requester}`,
    `resource: ${g.resource}`,
    `role: ${g.role}`,
    `starts_at: ${g.starts_at}`,
    `ends_at: ${g.ends_at}${g.ends_at !== g.expires_at ? ` (requested until ${g.expires_at})` : ''}`,
    `state: ${g.state}`,
    `approvers: ${g.approvers.length > 0 ? g.approvers.join(', ') : g.ignored_trailers?.includes(TRAILERS.approvedBy) ? '(unknown: named in a commit Timebox did not make)' : '(none recorded)'}`,
    `reason: ${g.reason}`,
  ];
  if (g.ticket) lines.push(`ticket: ${g.ticket}`);
  if (g.pull_request !== undefined) lines.push(`pull request: #${g.pull_request}`);
  if (g.revocation_reason) lines.push(`revocation reason: ${g.revocation_reason}`);
  if (g.activity) lines.push(`activity: ${g.activity}`);
  if (g.extends) lines.push(`extends: ${g.extends}`);
  lines.push(`grant: ${g.id}`);
  return lines.join('\n');
}

const truncate = (s: string, n: number) => (s.length > n ? `${s.slice(0, Math.max(1, n - 1))}…` : s);

/** `alice · orders-db`, shortened to fit the label column: the resource keeps up to 16 characters. */
function rowLabel(requester: string, resource: string, max = 32): string {
  if (requester.length + resource.length + 3 <= max) return `${requester} · ${resource}`;
  const r = truncate(resource, Math.max(16, max - 3 - requester.length));
  return `${truncate(requester, max - 3 - r.length)} · ${r}`;
}

const CHART = { width: 1200, label: 230, right: 28, top: 46, lane: 26, bar: 16, rowPad: 8, minBar: 10 };

function renderChart(grants: Grant[], colour: (role: string) => string, generatedAt: Date): string {
  const drawable = grants.filter(
    (g) => !Number.isNaN(Date.parse(g.starts_at)) && !Number.isNaN(Date.parse(g.ends_at)),
  );
  const skipped = grants.length - drawable.length;
  const skippedNote =
    skipped > 0
      ? `<p class="warn">${esc(plural(skipped, 'grant'))} with unreadable times not drawn; see the event table.</p>`
      : '';
  if (drawable.length === 0) return `<p class="muted">No grants to chart.</p>${skippedNote}`;

  const rows = rowsOf(drawable);
  let from = Math.min(...drawable.map((g) => Date.parse(g.starts_at)));
  let to = Math.max(...drawable.map((g) => Date.parse(g.ends_at)));
  if (to - from < HOUR) to = from + HOUR;
  const { width, label, right, top, lane, bar, rowPad, minBar } = CHART;
  const plotW = width - label - right;
  // Padding on both sides: 2 % of the span, and at least room for a bar of the minimum width after the
  // last time, so that a short grant at either end is a visible mark inside the plot, never clipped.
  const span = to - from;
  const pad = minBar + 4;
  const margin = Math.max(span * 0.02, (span * pad) / (plotW - 2 * pad));
  const [lo, hi] = [from, to];
  from -= margin;
  to += margin;

  const x = (ms: number) => label + ((ms - from) / (to - from)) * plotW;
  const heights = rows.map((r) => r.lanes * lane + rowPad);
  const height = top + heights.reduce((a, b) => a + b, 0) + 20;
  const f = (n: number) => n.toFixed(1);

  const out: string[] = [];
  out.push(
    `<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Access timeline: one row per requester and resource, one bar per grant">`,
  );
  // Row bands first, then the grid over them, then labels and bars.
  const tops: number[] = [];
  let y = top;
  out.push('<g class="bands">');
  rows.forEach((_, i) => {
    const h = heights[i] ?? lane;
    tops.push(y);
    out.push(`<rect class="band${i % 2 ? ' odd' : ''}" x="0" y="${y}" width="${width}" height="${h}"/>`);
    y += h;
  });
  out.push('</g><g class="axis">');
  for (const t of timeTicks(lo, hi)) {
    const tx = f(x(t.at));
    out.push(`<line class="grid" x1="${tx}" x2="${tx}" y1="${top - 6}" y2="${y}"/>`);
    out.push(`<text class="tick" x="${tx}" y="${top - 24}">${esc(t.label)}</text>`);
    if (t.sub) out.push(`<text class="tick sub" x="${tx}" y="${top - 11}">${esc(t.sub)}</text>`);
  }
  out.push(`<text class="axis-title" x="12" y="${top - 24}">time (UTC)</text>`);
  out.push('</g>');

  rows.forEach((row, i) => {
    const rowTop = tops[i] ?? top;
    const h = heights[i] ?? lane;
    const name = `${row.requester} · ${row.resource}`;
    out.push('<g class="row">');
    out.push(
      `<text class="row-label" x="${label - 10}" y="${f(rowTop + h / 2)}"><title>${esc(name)}</title>${esc(rowLabel(row.requester, row.resource))}</text>`,
    );
    for (const b of row.bars) {
      const g = b.grant;
      const bx = x(b.start);
      // A short grant (5 minutes in a month) keeps a visible width: it is drawn at least minBar wide.
      const bw = Math.max(minBar, x(b.end) - bx);
      const by = rowTop + rowPad / 2 + b.lane * lane + (lane - bar) / 2;
      const c = colour(g.role);
      const geom = `x="${f(bx)}" y="${f(by)}" width="${f(bw)}" height="${bar}"`;
      out.push(
        `<rect class="grant state-${esc(g.state)}" data-grant="${esc(g.id)}" data-role="${esc(g.role)}" data-state="${esc(g.state)}" ${geom} rx="2" fill="${c}" stroke="${c}" tabindex="0"><title>${esc(grantDetails(g))}</title></rect>`,
      );
      if (g.state === 'revoked') {
        out.push(`<rect class="hatch" ${geom} rx="2"/>`);
        out.push(
          `<rect class="revoked-mark" x="${f(bx + bw - 1.5)}" y="${f(by - 3)}" width="3" height="${bar + 6}"/>`,
        );
      } else if (g.state === 'replaced') {
        out.push(
          `<line class="replaced-mark" x1="${f(bx + bw - 1)}" x2="${f(bx + bw - 1)}" y1="${f(by)}" y2="${f(by + bar)}"/>`,
        );
      }
      if (g.extends) {
        out.push(
          `<path class="extends-mark" d="M${f(bx)} ${f(by + 2)} l6 ${f(bar / 2 - 2)} l-6 ${f(bar / 2 - 2)}z"/>`,
        );
      }
    }
    out.push('</g>');
  });

  // When the report was generated, if it falls inside the chart.
  const now = generatedAt.getTime();
  if (now >= from && now <= to) {
    const nx = f(x(now));
    out.push(`<line class="now" x1="${nx}" x2="${nx}" y1="${top - 4}" y2="${y + 2}"/>`);
    out.push(`<text class="now-label" x="${nx}" y="${y + 14}">generated</text>`);
  }
  out.push('</svg>');
  return `<div class="chart-wrap">${out.join('')}</div>${skippedNote}`;
}

function swatch(inner: string): string {
  return `<svg class="swatch" width="34" height="16" viewBox="0 0 34 16" aria-hidden="true">${inner}</svg>`;
}

function renderLegend(
  roles: string[],
  colour: (role: string) => string,
  states: Set<GrantEnd>,
  extensions: boolean,
): string {
  const geom = 'x="2" y="2" width="30" height="12" rx="2"';
  const grey = '#7b8494';
  const roleItems = roles.map(
    (r) =>
      `<li>${swatch(`<rect class="role" data-role="${esc(r)}" ${geom} fill="${colour(r)}"/>`)}<span>${esc(r)}</span></li>`,
  );
  const stateItems = STATES.filter((s) => states.has(s.state)).map((s) => {
    let inner = `<rect class="state-${s.state}" ${geom} fill="${grey}" stroke="${grey}"/>`;
    if (s.state === 'revoked')
      inner += `<rect class="hatch" ${geom}/><rect class="revoked-mark" x="30" y="0" width="3" height="16"/>`;
    if (s.state === 'replaced') inner += '<line class="replaced-mark" x1="31" x2="31" y1="2" y2="14"/>';
    return `<li>${swatch(inner)}<span>${esc(s.label)}</span></li>`;
  });
  if (extensions) {
    stateItems.push(
      `<li>${swatch(`<rect ${geom} fill="${grey}"/><path class="extends-mark" d="M2 4 l6 4 l-6 4z"/>`)}<span>extends the bar before it</span></li>`,
    );
  }
  return `<div class="legend"><div><h3>Role</h3><ul>${roleItems.join('')}</ul></div><div><h3>State</h3><ul>${stateItems.join('')}</ul></div></div>`;
}

// ---------------------------------------------------------------------------------------------
// Table, notes, page

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

// Hover or focus on a bar highlights its events in the table; a click scrolls to the first one.
// Static text (never built from data), so its hash in the CSP is a constant.
const SCRIPT = `(() => {
  const rows = Array.from(document.querySelectorAll('tr[data-grant]'));
  const mark = (id) => { for (const tr of rows) tr.classList.toggle('hl', id !== null && tr.dataset.grant === id); };
  for (const bar of document.querySelectorAll('rect.grant[data-grant]')) {
    const id = bar.getAttribute('data-grant');
    bar.addEventListener('mouseenter', () => mark(id));
    bar.addEventListener('focus', () => mark(id));
    bar.addEventListener('mouseleave', () => mark(null));
    bar.addEventListener('blur', () => mark(null));
    bar.addEventListener('click', () => {
      const first = rows.find((tr) => tr.dataset.grant === id);
      if (first) first.scrollIntoView({ block: 'center', behavior: 'smooth' });
    });
  }
})();`;

/** The CSP's hash of the inline script. */
export const SCRIPT_HASH = `sha256-${createHash('sha256').update(SCRIPT, 'utf8').digest('base64')}`;

/** The Content-Security-Policy the page declares: nothing but its own inline style and its one script. */
export const CSP = `default-src 'none'; style-src 'unsafe-inline'; script-src '${SCRIPT_HASH}'; base-uri 'none'; form-action 'none'`;

const STYLE = `
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
.table-wrap { overflow-x: auto; }
table.events { border-collapse: collapse; width: 100%; font-size: 13px; }
table.events th { white-space: nowrap; text-align: left; font-weight: 600; color: var(--muted); border-bottom: 2px solid var(--line); padding: 6px; background: #fff; }
table.events td { border-bottom: 1px solid var(--line); padding: 5px 6px; vertical-align: top; }
table.events tbody tr:hover { background: var(--band); }
table.events tr.hl { background: #fff4cc !important; }
td.nowrap { white-space: nowrap; }
td.path, span.path { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; overflow-wrap: normal; word-break: normal; }
.path .seg { white-space: nowrap; }
td.actor { white-space: nowrap; }
td.access .role, td.access .on, td.access time { white-space: nowrap; }
.git-name { font-style: italic; }
td .pr a { color: #1d4ed8; }
td.detail { min-width: 11em; max-width: 420px; overflow-wrap: break-word; }
td.detail .activity { white-space: pre-wrap; margin-top: 2px; }
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

const DEFS =
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
    'A reviewer whose approval satisfied the policy, as Timebox named them when it merged. An approval with no actor is one that a commit Timebox did not make claimed: it is not believed.',
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

function renderGlossary(): string {
  const items = GLOSSARY.map(([t, m]) => `<dt>${esc(t)}</dt><dd>${esc(m)}</dd>`);
  return `<section id="glossary"><h2>Glossary</h2><dl class="glossary">${items.join('')}</dl></section>`;
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
