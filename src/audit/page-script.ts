// The audit page's script, part 1: reads the embedded data (page-data.ts), the filters, the virtualised
// event table (fixed row height: only the rows in view exist), the totals per person and per resource.
// Part 2 (page-chart.ts) draws the timeline. Static text, never built from data: the CSP names its hash.
// Data reaches the DOM only through textContent, setAttribute on inert attributes, and checked https links.
// Plain ES2020 in a string: no backticks, no template placeholders.

export const SCRIPT_CORE = String.raw`
'use strict';
const root = document.documentElement;
const dataEl = document.getElementById('timebox-data');
const app = document.getElementById('tb-app');
if (!dataEl || !app) { root.setAttribute('data-ready', 'true'); return; }
const D = JSON.parse(dataEl.textContent || '{}');
const S = D.s;
const G = D.grants;
const E = D.events;
const NG = G.id.length;
const NE = E.t.length;
const DAY = 86400000;
const str = (i) => (i >= 0 ? S[i] : '');
const ms = (s) => (s === null || s === undefined ? NaN : D.base + s * 1000);
const pad = (n) => String(n).padStart(2, '0');
const utcDate = (d) => d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate());
const utcHm = (d) => pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
const fmt = (t) => {
  if (Number.isNaN(t)) return '(unreadable)';
  const d = new Date(t);
  const s = d.getUTCSeconds();
  return utcDate(d) + ' ' + utcHm(d) + (s ? ':' + pad(s) : '');
};
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const $ = (id) => document.getElementById(id);
const repo = typeof D.repoUrl === 'string' && /^https?:\/\/[^\s"<>]+$/i.test(D.repoUrl) ? D.repoUrl : null;
const link = (text, path) => {
  if (!repo) return el('span', '', text);
  const a = el('a', '', text);
  a.href = repo + path;
  a.rel = 'noreferrer noopener';
  return a;
};
const prLink = (n) => (n >= 0 ? link('#' + n, '/pull/' + n) : el('span', 'muted', 'no PR'));
const commitLink = (c) => link(c.slice(0, 8), '/commit/' + encodeURIComponent(c));

// Per event: what it shares with its grant, or its own (D.own).
const roleOfStr = new Map(D.roles.map((s, i) => [s, i]));
const own = (i, k) => D.own[i][k];
const ev = { file: new Int32Array(NE), who: new Int32Array(NE), res: new Int32Array(NE), role: new Int32Array(NE),
  ticket: new Int32Array(NE), pr: new Int32Array(NE) };
for (let i = 0; i < NE; i++) {
  const g = E.g[i];
  if (g >= 0) {
    ev.file[i] = G.file[g]; ev.who[i] = G.who[g]; ev.res[i] = G.res[g]; ev.role[i] = G.role[g];
    ev.ticket[i] = G.ticket[g]; ev.pr[i] = G.pr[g];
  } else {
    ev.file[i] = own(i, 0); ev.who[i] = own(i, 1); ev.res[i] = own(i, 2);
    ev.role[i] = roleOfStr.get(own(i, 3)) ?? 0; ev.ticket[i] = own(i, 5); ev.pr[i] = own(i, 6);
  }
}
const grantTypes = new Int32Array(NG);
for (let i = 0; i < NE; i++) if (E.g[i] >= 0) grantTypes[E.g[i]] |= 1 << E.type[i];
const gStart = (g) => ms(G.start[g]);
for (let g = 0; g < NG; g++) if (G.id[g] === -2) { S.push(S[G.file[g]] + '@' + S[G.commit[g]].slice(0, 12)); G.id[g] = S.length - 1; }
const eReason = new Int32Array(NE).fill(-1);
const eActivity = new Int32Array(NE).fill(-1);
for (const k in E.reason) eReason[Number(k)] = E.reason[k];
for (const k in E.activity) eActivity[Number(k)] = E.activity[k];
const gExp = (g) => (G.exp[g] === null ? str(G.expRaw[g]) : fmt(ms(G.exp[g])));
const gEnd = (g) => ms(G.end[g]);

// --- Filters.
const F = { who: -1, res: -1, role: -1, type: -1, from: NaN, to: NaN, q: '', grant: -1 };
let lower = null;
const low = (i) => { if (!lower) lower = S.map((x) => x.toLowerCase()); return i >= 0 ? lower[i] : ''; };
const hasQ = (i) => i >= 0 && low(i).includes(F.q);
const eventSearch = (i) => {
  const g = E.g[i];
  return hasQ(ev.file[i]) || hasQ(ev.ticket[i]) || hasQ(eReason[i]) || hasQ(eActivity[i]) || hasQ(E.actor[i]) ||
    hasQ(E.commit[i]) || (g >= 0 && hasQ(G.reason[g])) || ('#' + ev.pr[i]) === F.q;
};
const grantSearch = (g) => hasQ(G.file[g]) || hasQ(G.ticket[g]) || hasQ(G.reason[g]) || hasQ(G.id[g]) ||
  hasQ(G.commit[g]) || hasQ(G.activity[g]) || hasQ(G.revoked[g]) || ('#' + G.pr[g]) === F.q;
const periodSet = () => !Number.isNaN(F.from) || !Number.isNaN(F.to);
const inPeriod = (t) => !(t < F.from) && !(t >= F.to);

let shownEvents = new Int32Array(0);
let shownGrants = [];
function applyFilters() {
  const searchHit = F.q ? new Uint8Array(NG) : null;
  const evs = [];
  for (let i = 0; i < NE; i++) {
    const g = E.g[i];
    let hit = true;
    if (F.q) { hit = eventSearch(i); if (hit && g >= 0) searchHit[g] = 1; }
    if (!hit) continue;
    if (F.who >= 0 && ev.who[i] !== F.who) continue;
    if (F.res >= 0 && ev.res[i] !== F.res) continue;
    if (F.role >= 0 && ev.role[i] !== F.role) continue;
    if (F.type >= 0 && E.type[i] !== F.type) continue;
    if (F.grant >= 0 && g !== F.grant) continue;
    if (periodSet() && !inPeriod(ms(E.t[i]))) continue;
    evs.push(i);
  }
  shownEvents = Int32Array.from(evs);
  const gs = [];
  for (let g = 0; g < NG; g++) {
    if (F.who >= 0 && G.who[g] !== F.who) continue;
    if (F.res >= 0 && G.res[g] !== F.res) continue;
    if (F.role >= 0 && G.role[g] !== F.role) continue;
    if (F.type >= 0 && !(grantTypes[g] & (1 << F.type))) continue;
    if (F.grant >= 0 && g !== F.grant) continue;
    if (F.q && !searchHit[g] && !grantSearch(g)) continue;
    if (periodSet() && (gEnd(g) < F.from || gStart(g) >= F.to)) continue;
    gs.push(g);
  }
  shownGrants = gs;
}

function option(select, value, text) {
  const o = el('option', '', text);
  o.value = String(value);
  select.append(o);
}
function fill(select, indexes) {
  const names = [...new Set(indexes)].filter((i) => i >= 0).sort((a, b) => (S[a] < S[b] ? -1 : S[a] > S[b] ? 1 : 0));
  for (const i of names) option(select, i, S[i]);
}
fill($('f-who'), Array.from(G.who).concat(Array.from(ev.who)));
fill($('f-res'), Array.from(G.res).concat(Array.from(ev.res)));
D.roles.forEach((s, i) => option($('f-role'), i, S[s]));
D.types.forEach((t, i) => option($('f-type'), i, t));

// --- The event table: fixed row height, only the rows in view are in the DOM.
const ROW = 46;
const body = $('tb-rows');
const spacer = $('tb-spacer');
let drawn = '';
function cell(cls, ...lines) {
  const c = el('div', 'c ' + cls);
  for (const l of lines) if (l) c.append(l);
  return c;
}
function line(cls, ...parts) {
  const d = el('div', 'l ' + cls);
  for (const p of parts) d.append(typeof p === 'string' ? document.createTextNode(p) : p);
  d.title = d.textContent || '';
  return d;
}
function reasonText(i) {
  const r = str(eReason[i]);
  const m = /^extends (\S+)$/.exec(r);
  if (D.types[E.type[i]] === 'extended' && m) {
    const file = str(ev.file[i]);
    return m[1].startsWith(file + '@') ? 'extends the grant of commit ' + m[1].slice(file.length + 1) : 'extends ' + m[1];
  }
  return r;
}
function rowOf(k) {
  const i = shownEvents[k];
  const type = D.types[E.type[i]];
  const r = el('div', 'vt-row' + (k % 2 ? ' odd' : ''));
  r.style.top = k * ROW + 'px';
  r.setAttribute('data-event', String(i));
  r.setAttribute('data-grant', E.g[i] >= 0 ? str(G.id[E.g[i]]) : '');
  const actor = str(E.actor[i]);
  const dot = el('span', 'dot');
  dot.style.background = D.colours[ev.role[i]] || '#7b8494';
  r.append(
    cell('time', line('', fmt(ms(E.t[i])))),
    cell('event', line('', el('span', 'type type-' + type.replace(/[^a-z_]/g, ''), type))),
    cell('path', line('', str(ev.file[i]))),
    cell('actor', line(actor.startsWith('git:') ? 'git-name' : actor ? '' : 'muted', actor || '—')),
    cell('access', line('requester', str(ev.who[i])),
      line('', dot, str(D.roles[ev.role[i]]), el('span', 'on', ' on ' + str(ev.res[i])))),
    cell('ticket-pr', line('ticket', ev.ticket[i] >= 0 ? str(ev.ticket[i]) : el('span', 'muted', 'no ticket')),
      line('pr', prLink(ev.pr[i]))),
    cell('detail', line('reason', reasonText(i)), eActivity[i] >= 0 ? line('activity', 'activity: ' + str(eActivity[i])) : null),
    cell('commit', line('', commitLink(str(E.commit[i])))),
  );
  r.addEventListener('click', (e) => { if (!e.target.closest('a')) showEvent(i); });
  return r;
}
function drawRows(force) {
  const top = body.scrollTop;
  const h = body.clientHeight || 600;
  const a = Math.max(0, Math.floor(top / ROW) - 4);
  const b = Math.min(shownEvents.length, Math.ceil((top + h) / ROW) + 4);
  const key = a + ':' + b;
  if (!force && key === drawn) return;
  drawn = key;
  const rows = [];
  for (let k = a; k < b; k++) rows.push(rowOf(k));
  spacer.replaceChildren(...rows);
}
let rowsQueued = false;
body.addEventListener('scroll', () => {
  if (rowsQueued) return;
  rowsQueued = true;
  requestAnimationFrame(() => { rowsQueued = false; drawRows(false); });
});

function details(lines) {
  const box = $('tb-details');
  box.replaceChildren();
  const pre = el('pre', '', lines.filter((l) => l !== null).join('\n'));
  const close = el('button', '', 'Close');
  close.type = 'button';
  close.addEventListener('click', () => { box.hidden = true; });
  box.append(close, pre);
  box.hidden = false;
}
function grantLines(g) {
  const glass = ['', 'break-glass, ratified', 'break-glass, NOT ratified (unratified)', 'break-glass, ratification pending'][G.glass[g]];
  return [
    'grant: ' + str(G.id[g]), 'file: ' + str(G.file[g]), 'requester: ' + str(G.who[g]), 'resource: ' + str(G.res[g]),
    'role: ' + str(D.roles[G.role[g]]), 'starts_at: ' + fmt(gStart(g)), 'ends_at: ' + fmt(gEnd(g)) + ' (requested until ' + gExp(g) + ')',
    'state: ' + D.states[G.state[g]], 'approvers: ' + (G.approvers[g].length ? G.approvers[g].map(str).join(', ') : '(none recorded)'),
    'reason: ' + str(G.reason[g]), G.ticket[g] >= 0 ? 'ticket: ' + str(G.ticket[g]) : null,
    G.pr[g] >= 0 ? 'pull request: #' + G.pr[g] : null, 'commit: ' + str(G.commit[g]),
    G.revoked[g] >= 0 ? 'revocation reason: ' + str(G.revoked[g]) : null,
    G.activity[g] >= 0 ? 'activity: ' + str(G.activity[g]) : null,
    G.extends[g] >= 0 ? 'extends: ' + str(G.extends[g]) : null, glass ? 'break-glass: ' + glass : null,
  ];
}
function showEvent(i) {
  const g = E.g[i];
  details(['event: ' + D.types[E.type[i]] + ' at ' + fmt(ms(E.t[i])), 'actor: ' + (str(E.actor[i]) || '—'),
    'commit: ' + str(E.commit[i]), eReason[i] >= 0 ? 'reason: ' + str(eReason[i]) : null,
    eActivity[i] >= 0 ? 'activity: ' + str(eActivity[i]) : null, ''].concat(g >= 0 ? grantLines(g) : [
    'file: ' + str(ev.file[i]), 'requester: ' + str(ev.who[i]), 'resource: ' + str(ev.res[i])]));
}

// --- Totals per person and per resource.
const LIMIT = 100;
function totals(key, table, countLabel) {
  const now = D.generated;
  const by = new Map();
  for (const g of shownGrants) {
    const k = G[key][g];
    let t = by.get(k);
    if (!t) { t = { grants: 0, hours: 0, approvals: 0, approvers: new Map(), glass: 0, unratified: 0, revoked: 0, other: new Set() }; by.set(k, t); }
    t.grants++;
    let a = gStart(g);
    let b = Math.min(gEnd(g), now);
    if (!Number.isNaN(F.from)) a = Math.max(a, F.from);
    if (!Number.isNaN(F.to)) b = Math.min(b, F.to);
    if (b > a) t.hours += (b - a) / 3600000;
    for (const p of G.approvers[g]) { t.approvals++; t.approvers.set(p, (t.approvers.get(p) || 0) + 1); }
    if (G.glass[g]) t.glass++;
    if (G.glass[g] === 2) t.unratified++;
    if (D.states[G.state[g]] === 'revoked') t.revoked++;
    t.other.add(key === 'who' ? G.res[g] : G.who[g]);
  }
  const rows = [...by.entries()].sort((x, y) => y[1].hours - x[1].hours || (S[x[0]] < S[y[0]] ? -1 : 1));
  const tbody = table.tBodies[0];
  tbody.replaceChildren();
  for (const [k, t] of rows.slice(0, LIMIT)) {
    const tr = el('tr');
    const who = [...t.approvers.entries()].sort((x, y) => y[1] - x[1]).slice(0, 6)
      .map(([p, n]) => str(p) + (n > 1 ? ' ×' + n : '')).join(', ') + (t.approvers.size > 6 ? ', …' : '');
    for (const v of [str(k), String(t.grants), t.hours.toFixed(1), String(t.other.size), String(t.approvals), who || '—',
      String(t.glass), String(t.unratified), String(t.revoked)]) tr.append(el('td', '', v));
    tbody.append(tr);
  }
  table.caption.textContent = rows.length > LIMIT ? 'The ' + LIMIT + ' ' + countLabel + ' with the most hours of ' + rows.length + ': filter to see the others.' : '';
}
`;
