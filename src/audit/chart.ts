// The audit page's timeline legend (the timeline itself is drawn by the page's script, page-chart.ts):
// one swatch per role, in the colour its bars have, and one per grant state.
import type { GrantEnd } from '../core/ledger.js';
import { escapeHtml as esc } from './html-text.js';

export const STATES: { state: GrantEnd; label: string }[] = [
  { state: 'active', label: 'active: dark outline' },
  { state: 'scheduled', label: 'scheduled: faded, dashed outline' },
  { state: 'expired', label: 'expired: plain' },
  { state: 'revoked', label: 'revoked: hatched, red end mark' },
  { state: 'replaced', label: 'replaced (its file was edited): dotted end' },
];

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
