// The break-glass and on-call part of the record (docs/audit.md, docs/decisions.md "Break-glass: the engine
// side"): the trailers Timebox writes on its merge of an emergency request, on the commit that settles its
// ratification (the revert of the request file), and for approval steps filled by `on_call`; and how the
// ledger reads them back. Pure, and importing nothing of the ledger (which imports this): no import circle.

/** Trailer keys (canonical spelling; the history reader lower-cases them). */
export const GLASS_TRAILERS = {
  /** `<ratify_by> <file> (rule <rule>)`: approved by break-glass, to be ratified by `ratify_by`. */
  breakGlass: 'Timebox-Break-Glass',
  /** Who ratified it (logins, comma-separated), on the commit that settles it. */
  ratifiedBy: 'Timebox-Ratified-By',
  /** When the ratification was complete (the last counted approval), RFC 3339. */
  ratifiedAt: 'Timebox-Ratified-At',
  /** `<ratify_by>`: it was not ratified by then. */
  unratified: 'Timebox-Unratified',
  /** `<login> <schedule> <from>/<to> (layer <layer>)`: an approval step filled because the requester was on call. */
  onCall: 'Timebox-On-Call',
} as const;

export interface GlassMark {
  file: string;
  rule: string;
  ratify_by: string;
}

export interface OnCallMark {
  login: string;
  schedule: string;
  from: string;
  to: string;
  layer?: string;
}

export const glassTrailer = (m: GlassMark): string => `${m.ratify_by} ${m.file} (rule ${m.rule})`;

export function parseGlassTrailer(value: string): GlassMark | null {
  const m = /^(\S+) (.+) \(rule (.+)\)$/.exec(value.trim());
  if (!m || Number.isNaN(Date.parse(m[1] as string))) return null;
  return { ratify_by: m[1] as string, file: m[2] as string, rule: m[3] as string };
}

export const onCallTrailer = (m: OnCallMark): string =>
  `${m.login} ${m.schedule} ${m.from}/${m.to}${m.layer ? ` (layer ${m.layer})` : ''}`;

export function parseOnCallTrailer(value: string): OnCallMark | null {
  const m = /^(\S+) (\S+) (\S+)\/(\S+)(?: \(layer (.+)\))?$/.exec(value.trim());
  if (!m) return null;
  return {
    login: m[1] as string,
    schedule: m[2] as string,
    from: m[3] as string,
    to: m[4] as string,
    ...(m[5] ? { layer: m[5] } : {}),
  };
}

/** How a break-glass grant's ratification was settled, as the settling commit says. */
export type GlassOutcome =
  | { ratified: { by: string[]; at: string } }
  | { unratified: { ratify_by: string } }
  | Record<string, never>;

/** The settlement a commit's trailers record (lower-cased keys → values), if any. */
export function glassOutcome(trailers: Record<string, string[]>): GlassOutcome {
  const get = (k: string) => trailers[k.toLowerCase()]?.[0]?.trim();
  const by = get(GLASS_TRAILERS.ratifiedBy);
  const at = get(GLASS_TRAILERS.ratifiedAt);
  if (by && at && !Number.isNaN(Date.parse(at))) {
    const logins = by
      .split(/[\s,]+/)
      .map((s) => s.replace(/^@/, ''))
      .filter(Boolean);
    if (logins.length > 0) return { ratified: { by: logins, at } };
  }
  const un = get(GLASS_TRAILERS.unratified);
  if (un && !Number.isNaN(Date.parse(un))) return { unratified: { ratify_by: un } };
  return {};
}

/** A break-glass grant's mark and settlement, as the ledger keeps it. */
export interface GrantGlass {
  rule: string;
  ratify_by: string;
  /** Ratified: by whom, when (the commit that recorded it). */
  ratified?: { by: string[]; at: string; commit: string };
  /** Not ratified by `ratify_by` (the commit that recorded it). */
  unratified?: { commit: string };
}

export type GlassEvent = 'break_glass' | 'ratified' | 'unratified';

/** What of a commit and a grant these functions read (the ledger's HistoryCommit and Grant have it). */
interface MarkedCommit {
  sha: string;
  trailers: Record<string, string[]>;
}
interface MarkedGrant {
  file: string;
  requester: string;
  merged_at: string;
  commit: string;
  break_glass?: GrantGlass;
}

const values = (c: MarkedCommit, key: string): string[] => c.trailers[key.toLowerCase()] ?? [];

/** The break-glass and on-call marks of the granting commit, for `file`. */
export function marksOf(
  commit: MarkedCommit,
  file: string,
): { break_glass?: GrantGlass; on_call?: OnCallMark[] } {
  const glass = values(commit, GLASS_TRAILERS.breakGlass)
    .map(parseGlassTrailer)
    .find((m) => m?.file === file);
  const onCall = values(commit, GLASS_TRAILERS.onCall).flatMap((v) => parseOnCallTrailer(v) ?? []);
  return {
    ...(glass ? { break_glass: { rule: glass.rule, ratify_by: glass.ratify_by } } : {}),
    ...(onCall.length > 0 ? { on_call: onCall } : {}),
  };
}

/**
 * A removal that settles a break-glass grant's ratification (Timebox's revert) records how. The removal
 * names the break-glass too, so a grant whose merge did not (a person merged it) is still known as one.
 */
export function settleGlass(g: MarkedGrant, commit: MarkedCommit): void {
  const out = glassOutcome(commit.trailers);
  if (!('ratified' in out) && !('unratified' in out)) return;
  const mark = marksOf(commit, g.file).break_glass;
  const base = g.break_glass ?? mark;
  if (!base) return;
  const { rule, ratify_by } = base;
  g.break_glass =
    'ratified' in out
      ? { rule, ratify_by, ratified: { ...out.ratified, commit: commit.sha } }
      : { rule, ratify_by, unratified: { commit: commit.sha } };
}

/** `break_glass` at the merge; `ratified` (one per ratifier) or `unratified` (at `ratify_by`) once recorded. */
export function glassEvents(
  g: MarkedGrant,
  add: (time: string, type: GlassEvent, actor: string | null, commit: string, reason: string) => void,
): void {
  const bg = g.break_glass;
  if (!bg) return;
  add(g.merged_at, 'break_glass', g.requester, g.commit, `rule ${bg.rule}; ratify by ${bg.ratify_by}`);
  const r = bg.ratified;
  if (r) for (const by of r.by) add(r.at, 'ratified', by, r.commit, `break-glass ratified (rule ${bg.rule})`);
  // Recorded by a commit: it happened, whatever the reader's clock says.
  else if (bg.unratified)
    add(bg.ratify_by, 'unratified', null, bg.unratified.commit, `not ratified by ${bg.ratify_by}`);
}
