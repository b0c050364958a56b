// The audit page's data: the ledger as ONE compact JSON document the page's script renders on demand.
// Columnar, with one string table: a person, a path, a commit is written once however many events name it;
// times are whole seconds from a base. Events repeat nothing of their grant (file, requester, resource,
// role, expiry, ticket, pull request) unless they differ from it. Embedded in
// <script type="application/json">: never executed, and every `<` is written \u003c so that no text from
// git (`</script>`, `<!--`) can end or change the element.
import type { Grant, Ledger, LedgerEvent } from '../core/ledger.js';

/** The document's version: the page's script reads this shape. */
export const DATA_VERSION = 1;

export interface PageData {
  v: number;
  /** Seconds are counted from here (ms since the epoch). */
  base: number;
  generated: number;
  repoUrl: string | null;
  /** The string table: every other string is an index into it (-1: none). */
  s: string[];
  roles: number[];
  colours: string[];
  types: string[];
  states: string[];
  grants: {
    /** -2: the id is `file@` and the commit's first 12 characters (as the ledger names grants). */
    id: number[];
    file: number[];
    who: number[];
    res: number[];
    role: number[];
    /** Seconds from `base`; null when the ledger's time is unreadable. */
    start: (number | null)[];
    end: (number | null)[];
    /** The requested expiry, in seconds from `base` (null: unreadable, then `expRaw` has the text). */
    exp: (number | null)[];
    expRaw: Record<string, number>;
    state: number[];
    approvers: number[][];
    reason: number[];
    ticket: number[];
    pr: number[];
    commit: number[];
    extends: number[];
    revoked: number[];
    activity: number[];
    /** 0: no break-glass; 1: break-glass, ratified; 2: unratified; 3: pending (not settled yet). */
    glass: number[];
  };
  events: {
    t: (number | null)[];
    type: number[];
    /** Index into grants, or -1 (then `own` has the event's own fields). */
    g: number[];
    actor: number[];
    commit: number[];
    /** Sparse: event index → string, for the events that have one. */
    reason: Record<string, number>;
    activity: Record<string, number>;
  };
  /** Events that do not repeat their grant: index → [file, who, res, role, exp (string), ticket, pr]. */
  own: Record<string, [number, number, number, number, number, number, number]>;
}

class Strings {
  readonly list: string[] = [];
  private readonly index = new Map<string, number>();
  of(value: string | null | undefined): number {
    if (value === null || value === undefined) return -1;
    let i = this.index.get(value);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(value);
      this.index.set(value, i);
    }
    return i;
  }
}

function glassOf(g: Grant): number {
  if (!g.break_glass) return 0;
  if (g.break_glass.unratified) return 2;
  return g.break_glass.ratified ? 1 : 3;
}

const sameAsGrant = (e: LedgerEvent, g: Grant) =>
  e.file === g.file &&
  e.requester === g.requester &&
  e.resource === g.resource &&
  e.role === g.role &&
  e.expires_at === g.expires_at &&
  e.ticket === (g.ticket ?? null) &&
  e.pull_request === (g.pull_request ?? null);

/** The ledger as the page's data document (see PageData). */
export function pageData(
  ledger: Ledger,
  opts: { generatedAt: Date; repoUrl?: string; roles: string[]; colours: string[] },
): PageData {
  const { grants, events } = ledger;
  const s = new Strings();
  const times = grants
    .map((g) => Date.parse(g.starts_at))
    .concat(events.map((e) => Date.parse(e.time)))
    .filter((n) => !Number.isNaN(n));
  let base = opts.generatedAt.getTime();
  for (const t of times) if (t < base) base = t;
  base = Math.floor(base / 1000) * 1000;
  const sec = (iso: string) => {
    const ms = Date.parse(iso);
    return Number.isNaN(ms) ? null : Math.round((ms - base) / 1000);
  };
  const types = [...new Set(events.map((e) => e.type))].sort();
  const typeIndex = new Map(types.map((t, i) => [t, i]));
  const states = ['active', 'scheduled', 'expired', 'revoked', 'replaced'];
  const roleIndex = new Map(opts.roles.map((r, i) => [r, i]));
  const G: PageData['grants'] = {
    id: [],
    file: [],
    who: [],
    res: [],
    role: [],
    start: [],
    end: [],
    exp: [],
    expRaw: {},
    state: [],
    approvers: [],
    reason: [],
    ticket: [],
    pr: [],
    commit: [],
    extends: [],
    revoked: [],
    activity: [],
    glass: [],
  };
  const byId = new Map<string, number>();
  grants.forEach((g, i) => {
    byId.set(g.id, i);
    G.id.push(g.id === `${g.file}@${g.commit.slice(0, 12)}` ? -2 : s.of(g.id));
    G.file.push(s.of(g.file));
    G.who.push(s.of(g.requester));
    G.res.push(s.of(g.resource));
    G.role.push(roleIndex.get(g.role) ?? 0);
    G.start.push(sec(g.starts_at));
    G.end.push(sec(g.ends_at));
    const exp = sec(g.expires_at);
    G.exp.push(exp);
    if (exp === null) G.expRaw[String(i)] = s.of(g.expires_at);
    G.state.push(Math.max(0, states.indexOf(g.state)));
    G.approvers.push(g.approvers.map((a) => s.of(a)));
    G.reason.push(s.of(g.reason));
    G.ticket.push(s.of(g.ticket));
    G.pr.push(g.pull_request ?? -1);
    G.commit.push(s.of(g.commit));
    G.extends.push(s.of(g.extends));
    G.revoked.push(s.of(g.revocation_reason));
    G.activity.push(s.of(g.activity));
    G.glass.push(glassOf(g));
  });
  const E: PageData['events'] = { t: [], type: [], g: [], actor: [], commit: [], reason: {}, activity: {} };
  const own: PageData['own'] = {};
  events.forEach((e, i) => {
    let gi = byId.get(e.grant) ?? -1;
    const grant = gi >= 0 ? grants[gi] : undefined;
    if (!grant || !sameAsGrant(e, grant)) {
      gi = -1;
      own[String(i)] = [
        s.of(e.file),
        s.of(e.requester),
        s.of(e.resource),
        s.of(e.role),
        s.of(e.expires_at),
        s.of(e.ticket),
        e.pull_request ?? -1,
      ];
    }
    E.t.push(sec(e.time));
    E.type.push(typeIndex.get(e.type) ?? 0);
    E.g.push(gi);
    E.actor.push(s.of(e.actor));
    E.commit.push(s.of(e.commit));
    if (e.reason !== undefined) E.reason[String(i)] = s.of(e.reason);
    if (e.activity !== undefined) E.activity[String(i)] = s.of(e.activity);
  });
  return {
    v: DATA_VERSION,
    base,
    generated: opts.generatedAt.getTime(),
    repoUrl: opts.repoUrl && /^https?:\/\//i.test(opts.repoUrl) ? opts.repoUrl : null,
    s: s.list,
    roles: opts.roles.map((r) => s.of(r)),
    colours: opts.colours,
    types,
    states,
    grants: G,
    events: E,
    own,
  };
}

/** JSON safe inside <script type="application/json">: no `<` (so no `</script>`, no `<!--`), no U+2028/9. */
export function embedJson(data: unknown): string {
  return JSON.stringify(data)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}
