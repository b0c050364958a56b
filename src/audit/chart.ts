// The audit page's timeline: inline SVG, one row per requester and resource, one bar per grant coloured by
// role, and its legend. It reads without JavaScript: every bar carries an SVG <title>.
import { type Grant, type GrantEnd, TRAILERS } from '../core/ledger.js';
import { DAY, escapeHtml as esc, HOUR, MINUTE, pad, plural, truncate, utcDate, utcHm } from './html-text.js';

export const STATES: { state: GrantEnd; label: string }[] = [
  { state: 'active', label: 'active: dark outline' },
  { state: 'scheduled', label: 'scheduled: faded, dashed outline' },
  { state: 'expired', label: 'expired: plain' },
  { state: 'revoked', label: 'revoked: hatched, red end mark' },
  { state: 'replaced', label: 'replaced (its file was edited): dotted end' },
];

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
function timeTicks(from: number, to: number, max = 8): Tick[] {
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

/** `alice · orders-db`, shortened to fit the label column: the resource keeps up to 16 characters. */
function rowLabel(requester: string, resource: string, max = 32): string {
  if (requester.length + resource.length + 3 <= max) return `${requester} · ${resource}`;
  const r = truncate(resource, Math.max(16, max - 3 - requester.length));
  return `${truncate(requester, max - 3 - r.length)} · ${r}`;
}

const CHART = { width: 1200, label: 230, right: 28, top: 46, lane: 26, bar: 16, rowPad: 8, minBar: 10 };

export function renderChart(grants: Grant[], colour: (role: string) => string, generatedAt: Date): string {
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

export function renderLegend(
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
