// The audit page's script, part 2: the timeline (one row per requester and resource, one bar per grant,
// coloured by role), drawn only for the rows and the time window in view, with zoom (wheel, buttons) and pan
// (drag, buttons). Bars and ticks use one x(t), so bars stay on the axis at any zoom. Then the wiring:
// filter controls, and `data-ready` on <html> once the page is drawn. Static text (see page-script.ts).

export const SCRIPT_CHART = String.raw`
const SVGNS = 'http://www.w3.org/2000/svg';
const svgEl = (tag, attrs) => {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  return e;
};
const MIN = 60000;
const HOUR = 3600000;
const STEPS = [MIN, 5 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY];
function ticks(from, to, max) {
  const step = STEPS.find((s) => (to - from) / s <= max);
  const out = [];
  if (step === undefined) {
    const months = (to - from) / (30.44 * DAY);
    const m = [1, 2, 3, 6, 12, 24, 60, 120].find((n) => months / n <= max) || Math.ceil(months / max);
    const d0 = new Date(from);
    let y = d0.getUTCFullYear();
    let mo = Math.ceil(d0.getUTCMonth() / m) * m;
    for (let n = 0; n < 200; n++) {
      y += Math.floor(mo / 12); mo %= 12;
      const at = Date.UTC(y, mo);
      if (at > to) break;
      if (at >= from) out.push({ at, label: m >= 12 ? String(y) : y + '-' + pad(mo + 1) });
      mo += m;
    }
    return out;
  }
  const offset = step === 7 * DAY ? 4 * DAY : 0;
  let lastDate = '';
  for (let at = Math.ceil((from - offset) / step) * step + offset; at <= to; at += step) {
    const d = new Date(at);
    const date = utcDate(d);
    if (step >= DAY) out.push({ at, label: date });
    else { out.push({ at, label: utcHm(d), sub: date !== lastDate ? date : '' }); lastDate = date; }
  }
  return out;
}

const C = { label: 230, right: 24, axis: 44, lane: 22, bar: 14, rowPad: 6, minBar: 3 };
const wrap = $('tb-chart');
const svg = $('tb-svg');
const tail = $('tb-chart-tail');
let rows = [];
let tops = [];
let contentH = 0;
let t0 = 0;
let t1 = 1;
function layout() {
  const map = new Map();
  for (const g of shownGrants) {
    if (Number.isNaN(gStart(g)) || Number.isNaN(gEnd(g))) continue;
    const k = G.who[g] + ':' + G.res[g];
    let r = map.get(k);
    if (!r) { r = { who: G.who[g], res: G.res[g], bars: [], lanes: 1 }; map.set(k, r); }
    r.bars.push({ g, lane: 0 });
  }
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  rows = [...map.values()].sort((a, b) => cmp(S[a.who], S[b.who]) || cmp(S[a.res], S[b.res]));
  tops = [];
  let y = C.axis;
  for (const r of rows) {
    r.bars.sort((a, b) => gStart(a.g) - gStart(b.g) || gEnd(a.g) - gEnd(b.g));
    const ends = [];
    for (const b of r.bars) {
      let l = ends.findIndex((e) => e <= gStart(b.g));
      if (l < 0) l = ends.length;
      ends[l] = gEnd(b.g);
      b.lane = l;
    }
    r.lanes = Math.max(1, ends.length);
    r.h = r.lanes * C.lane + C.rowPad;
    tops.push(y);
    y += r.h;
  }
  contentH = y + 8;
  const viewH = Math.max(120, Math.min(contentH, 520));
  svg.style.height = viewH + 'px';
  wrap.style.height = viewH + 'px';
  tail.style.height = Math.max(0, contentH - viewH) + 'px';
}
function fit() {
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rows) for (const b of r.bars) { lo = Math.min(lo, gStart(b.g)); hi = Math.max(hi, gEnd(b.g)); }
  if (!Number.isNaN(F.from)) lo = Math.max(lo, F.from);
  if (!Number.isNaN(F.to)) hi = Math.min(hi, F.to);
  if (!(lo < hi)) { lo = D.generated - DAY; hi = D.generated; }
  if (hi - lo < HOUR) hi = lo + HOUR;
  const m = (hi - lo) * 0.02;
  t0 = lo - m; t1 = hi + m;
}
function draw() {
  const width = Math.max(600, wrap.clientWidth);
  const viewH = parseFloat(svg.style.height) || 200;
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(viewH));
  svg.setAttribute('viewBox', '0 0 ' + width + ' ' + viewH);
  const plotW = width - C.label - C.right;
  const x = (t) => C.label + ((t - t0) / (t1 - t0)) * plotW;
  const scroll = wrap.scrollTop;
  const parts = [];
  const clip = svgEl('clipPath', { id: 'tb-plot' });
  clip.append(svgEl('rect', { x: C.label, y: 0, width: plotW, height: viewH }));
  parts.push(clip);
  // Rows in view: binary search for the first.
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (tops[mid] + rows[mid].h - scroll < C.axis) lo = mid + 1; else hi = mid; }
  const bands = svgEl('g', { class: 'bands' });
  const labels = svgEl('g', { class: 'labels' });
  const bars = svgEl('g', { class: 'bars', 'clip-path': 'url(#tb-plot)' });
  for (let i = lo; i < rows.length && tops[i] - scroll < viewH; i++) {
    const r = rows[i];
    const top = tops[i] - scroll;
    bands.append(svgEl('rect', { class: 'band' + (i % 2 ? ' odd' : ''), x: 0, y: top, width, height: r.h }));
    const name = str(r.who) + ' · ' + str(r.res);
    const t = svgEl('text', { class: 'row-label', x: C.label - 10, y: top + r.h / 2 });
    const title = svgEl('title', {});
    title.textContent = name;
    t.append(title, document.createTextNode(name.length > 34 ? name.slice(0, 33) + '…' : name));
    labels.append(t);
    for (const b of r.bars) {
      const g = b.g;
      const s = gStart(g);
      const e = gEnd(g);
      if (e < t0 || s > t1) continue;
      const bx = x(s);
      const bw = Math.max(C.minBar, x(e) - bx);
      const by = top + C.rowPad / 2 + b.lane * C.lane + (C.lane - C.bar) / 2;
      const state = D.states[G.state[g]];
      const colour = D.colours[G.role[g]] || '#7b8494';
      const rect = svgEl('rect', { class: 'grant state-' + state, x: bx.toFixed(2), y: by, width: bw.toFixed(2), height: C.bar,
        rx: 2, fill: colour, stroke: colour, 'data-grant': str(G.id[g]), 'data-role': str(D.roles[G.role[g]]), 'data-state': state,
        'data-start': String(s) });
      const tip = svgEl('title', {});
      tip.textContent = grantLines(g).filter((l) => l !== null).join('\n');
      rect.append(tip);
      rect.setAttribute('tabindex', '0');
      const pick = () => { F.grant = g; refresh(false); showGrant(g); };
      rect.addEventListener('click', () => { if (!dragged) pick(); });
      rect.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } });
      bars.append(rect);
      if (state === 'revoked') {
        bars.append(svgEl('rect', { class: 'hatch', x: bx, y: by, width: bw, height: C.bar }));
        bars.append(svgEl('rect', { class: 'revoked-mark', x: bx + bw - 1.5, y: by - 3, width: 3, height: C.bar + 6 }));
      }
      if (G.glass[g] === 2) bars.append(svgEl('rect', { class: 'unratified-mark', x: bx, y: by - 3, width: Math.min(bw, 6), height: 3 }));
    }
  }
  const axis = svgEl('g', { class: 'axis' });
  axis.append(svgEl('rect', { class: 'axis-bg', x: 0, y: 0, width, height: C.axis }));
  for (const tk of ticks(t0, t1, Math.max(2, Math.floor(plotW / 110)))) {
    const tx = x(tk.at).toFixed(2);
    axis.append(svgEl('line', { class: 'grid', x1: tx, x2: tx, y1: C.axis - 6, y2: viewH, 'data-at': String(tk.at) }));
    const lt = svgEl('text', { class: 'tick', x: tx, y: C.axis - 26 });
    lt.textContent = tk.label;
    axis.append(lt);
    if (tk.sub) { const st = svgEl('text', { class: 'tick sub', x: tx, y: C.axis - 12 }); st.textContent = tk.sub; axis.append(st); }
  }
  const at = svgEl('text', { class: 'axis-title', x: 12, y: C.axis - 26 });
  at.textContent = 'time (UTC)';
  axis.append(at);
  if (D.generated >= t0 && D.generated <= t1) {
    const nx = x(D.generated).toFixed(2);
    axis.append(svgEl('line', { class: 'now', x1: nx, x2: nx, y1: C.axis - 4, y2: viewH }));
  }
  svg.replaceChildren(...parts, bands, axis, labels, bars);
  $('tb-window').textContent = fmt(t0) + ' — ' + fmt(t1) + ' · ' + rows.length + (rows.length === 1 ? ' row' : ' rows');
}
let chartQueued = false;
const redraw = () => {
  if (chartQueued) return;
  chartQueued = true;
  requestAnimationFrame(() => { chartQueued = false; draw(); });
};
wrap.addEventListener('scroll', redraw);
const full = () => Math.max(HOUR, (D.generated - D.base) * 4 + 10 * 365 * DAY);
function zoom(f, at) {
  const span = Math.min(full(), Math.max(10 * MIN, (t1 - t0) * f));
  const p = (at - t0) / (t1 - t0);
  t0 = at - p * span;
  t1 = t0 + span;
  redraw();
}
function pan(frac) { const d = (t1 - t0) * frac; t0 += d; t1 += d; redraw(); }
svg.addEventListener('wheel', (e) => {
  e.preventDefault();
  const r = svg.getBoundingClientRect();
  const plotW = r.width - C.label - C.right;
  if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) { pan((e.deltaX || e.deltaY) / plotW); return; }
  const at = t0 + ((e.clientX - r.left - C.label) / plotW) * (t1 - t0);
  zoom(Math.exp(e.deltaY * 0.0015), Math.min(t1, Math.max(t0, at)));
}, { passive: false });
let drag = null;
let dragged = false;
svg.addEventListener('pointerdown', (e) => { drag = { x: e.clientX, y: e.clientY, t0, t1, top: wrap.scrollTop }; dragged = false; });
window.addEventListener('pointermove', (e) => {
  if (!drag) return;
  const plotW = svg.getBoundingClientRect().width - C.label - C.right;
  const dx = e.clientX - drag.x;
  if (Math.abs(dx) + Math.abs(e.clientY - drag.y) > 3) dragged = true;
  if (!dragged) return;
  const d = (dx / plotW) * (drag.t1 - drag.t0);
  t0 = drag.t0 - d; t1 = drag.t1 - d;
  wrap.scrollTop = drag.top - (e.clientY - drag.y);
  redraw();
});
window.addEventListener('pointerup', () => { drag = null; });
window.addEventListener('resize', () => { redraw(); drawRows(true); });
const on = (id, f) => $(id).addEventListener('click', f);
on('z-in', () => zoom(0.5, (t0 + t1) / 2));
on('z-out', () => zoom(2, (t0 + t1) / 2));
on('p-left', () => pan(-0.25));
on('p-right', () => pan(0.25));
on('z-fit', () => { fit(); redraw(); });
function showGrant(g) { details(grantLines(g)); }

// --- Wiring.
let renders = 0;
function refresh(refit) {
  applyFilters();
  spacer.style.height = shownEvents.length * ROW + 'px';
  body.style.height = Math.min(Math.max(shownEvents.length, 1) * ROW, 560) + 'px';
  body.scrollTop = 0;
  drawRows(true);
  $('tb-count').textContent = shownEvents.length + ' of ' + NE + ' events, ' + shownGrants.length + ' of ' + NG + ' grants';
  $('tb-grant-note').hidden = F.grant < 0;
  $('tb-grant-note-id').textContent = F.grant >= 0 ? str(G.id[F.grant]) : '';
  totals('who', $('tb-people'), 'people');
  totals('res', $('tb-resources'), 'resources');
  layout();
  if (refit) fit();
  wrap.scrollTop = 0;
  draw();
  root.setAttribute('data-renders', String(++renders));
}
const num = (v) => (v === '' ? -1 : Number(v));
const day = (v, plus) => (v ? Date.parse(v + 'T00:00:00Z') + (plus ? DAY : 0) : NaN);
const read = () => {
  F.who = num($('f-who').value); F.res = num($('f-res').value); F.role = num($('f-role').value);
  F.type = num($('f-type').value); F.from = day($('f-from').value, false); F.to = day($('f-to').value, true);
  F.q = $('f-q').value.trim().toLowerCase();
  F.grant = -1;
  refresh(true);
};
for (const id of ['f-who', 'f-res', 'f-role', 'f-type', 'f-from', 'f-to']) $(id).addEventListener('change', read);
// Typing filters once a frame at most (keystrokes in between are one change); no timers.
let typing = false;
$('f-q').addEventListener('input', () => {
  if (typing) return;
  typing = true;
  requestAnimationFrame(() => { typing = false; read(); });
});
on('f-clear', () => {
  for (const id of ['f-who', 'f-res', 'f-role', 'f-type', 'f-from', 'f-to', 'f-q']) $(id).value = '';
  read();
});
on('tb-grant-clear', () => { F.grant = -1; refresh(true); });
app.hidden = false;
refresh(true);
root.setAttribute('data-ready', 'true');
`;
