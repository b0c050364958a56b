// Formatting for the audit page's markup (header, notes, legend): escaping (everything from git or a request
// file may be hostile), UTC times and spans, paths. The page's script formats the data it draws itself.

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

/** A path that wraps only after a `/`, never inside a name (each segment is kept whole). */
export function pathHtml(path: string): string {
  return path
    .split('/')
    .map((seg) => `<span class="seg">${esc(seg)}</span>`)
    .join('/<wbr>');
}
