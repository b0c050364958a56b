// Durations as requests and policies write them: days, hours and minutes in that order (`1d12h`, `30m`).

const DURATION = /^(?=\d)(?:(\d{1,4})d)?(?:(\d{1,5})h)?(?:(\d{1,6})m)?$/;
const MINUTE = 60_000;

/** Milliseconds, or null when `text` is not a duration. `0m` parses to 0; callers decide whether 0 is allowed. */
export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text);
  if (!m) return null;
  const [, d = '0', h = '0', min = '0'] = m;
  return ((Number(d) * 24 + Number(h)) * 60 + Number(min)) * MINUTE;
}

/** 5400000 → `1h30m`; 0 → `0m`. Rounds down to whole minutes. */
export function formatDuration(ms: number): string {
  let minutes = Math.floor(ms / MINUTE);
  if (minutes <= 0) return '0m';
  const d = Math.floor(minutes / 1440);
  minutes -= d * 1440;
  const h = Math.floor(minutes / 60);
  minutes -= h * 60;
  return `${d ? `${d}d` : ''}${h ? `${h}h` : ''}${minutes ? `${minutes}m` : ''}`;
}
