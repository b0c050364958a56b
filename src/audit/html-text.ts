// Formatting shared by the audit page's chart and table: escaping (everything from git or a request file may
// be hostile), UTC times and spans, and the small inline pieces (paths, actors, pull requests).

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

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export const pad = (n: number) => String(n).padStart(2, '0');
export const utcDate = (d: Date) =>
  `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
export const utcHm = (d: Date) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;

/** `2026-11-20 09:30` (seconds only when not zero), in UTC; unreadable input is shown as it is. */
export function fmtTime(value: string | number): string {
  const ms = typeof value === 'number' ? value : Date.parse(value);
  if (Number.isNaN(ms)) return String(value);
  const d = new Date(ms);
  const s = d.getUTCSeconds();
  return `${utcDate(d)} ${utcHm(d)}${s ? `:${pad(s)}` : ''}`;
}

export function fmtSpan(ms: number): string {
  const days = Math.floor(ms / DAY);
  const hours = Math.floor((ms % DAY) / HOUR);
  const minutes = Math.round((ms % HOUR) / MINUTE);
  const parts = [days ? `${days} d` : '', hours ? `${hours} h` : '', minutes ? `${minutes} min` : ''].filter(
    Boolean,
  );
  return parts.length > 0 ? parts.join(' ') : '0 min';
}

export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function timeTag(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return esc(value);
  return `<time datetime="${esc(new Date(ms).toISOString())}">${esc(fmtTime(ms))}</time>`;
}

/** A path that wraps only after a `/`, never inside a name (each segment is kept whole). */
export function pathHtml(path: string): string {
  return path
    .split('/')
    .map((seg) => `<span class="seg">${esc(seg)}</span>`)
    .join('/<wbr>');
}

/** An actor: a login, or (marked) a git name whose address named no GitHub login. */
export function actorHtml(actor: string | null): string {
  if (!actor) return '<span class="muted">—</span>';
  if (actor.startsWith('git:'))
    return `<span class="git-name" title="git author name: its e-mail address is not a GitHub no-reply address, so the login is not known">${esc(actor)}</span>`;
  return esc(actor);
}

export function pullHtml(pull: number | null, repoUrl: string | undefined): string {
  if (pull === null) return '<span class="muted">no PR</span>';
  if (!repoUrl) return `#${pull}`;
  return `<a href="${esc(`${repoUrl}/pull/${pull}`)}" rel="noreferrer noopener">#${pull}</a>`;
}

export const truncate = (s: string, n: number) => (s.length > n ? `${s.slice(0, Math.max(1, n - 1))}…` : s);
