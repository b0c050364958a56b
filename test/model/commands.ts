// The steps of a generated history (fast-check commands): what people do to an access repo's main branch
// (add, edit requester / resource / role / duration / until, break or mend, rename, remove, re-add), time
// passing (then `timebox apply` or `timebox expire` runs, as the scheduled workflows do), and a grantee
// tampering with what its rights reach or keeping a session open. Every change to main is followed by an
// apply and the checks; a tamper step happens between runs (a grantee does not wait for one), and is
// checked for gains only.
import fc from 'fast-check';
import {
  DURATIONS,
  iso,
  type Model,
  type ModelPolicy,
  PG,
  PG_TAMPER,
  REDIS,
  REDIS_TAMPER,
  REQUESTERS,
  type Req,
  type ResourceId,
  requestText,
  SLOTS,
  type World,
  windowOf,
} from './world.js';

export type Step = fc.AsyncCommand<Model, World, false>;

/**
 * A request path: a slot, or (a number) one of the paths the step applies to, picked by index when the step
 * runs — most generated steps then act on a file that exists instead of being skipped.
 */
type Target = string | number;
const pick = (paths: string[], t: Target): string | undefined =>
  typeof t === 'string' ? (paths.includes(t) ? t : undefined) : paths.sort()[t % paths.length];
const onMain = (m: Readonly<Model>) => [...m.files.keys()];
const free = (m: Readonly<Model>) => SLOTS.filter((s) => !m.files.has(s));
const showTarget = (t: Target) => (typeof t === 'string' ? t : `#${t}`);

const show = (r: Req) =>
  `{${r.requester} ${r.resource} ${r.role} ${r.until ? `until ${r.until}` : r.duration}${r.start ? ` start ${r.start}` : ''}${r.invalid ? ' INVALID' : ''}}`;

export class Add implements Step {
  constructor(
    /** A free slot (by name, or the n-th free one). */
    readonly file: Target,
    readonly req: Omit<Req, 'start'>,
    /** Minutes after the commit when access starts (a future `start`), or none. */
    readonly startIn?: number,
  ) {}
  check(m: Readonly<Model>) {
    return pick(free(m), this.file) !== undefined;
  }
  async run(m: Model, w: World) {
    const file = pick(free(m), this.file) as string;
    const req: Req = this.startIn ? { ...this.req, start: iso(m.at + this.startIn * 60_000) } : this.req;
    const entry = w.begin(m, `add ${file} ${show(req)}`);
    w.commit(m, `add ${file}`, () => w.writeRequest(file, req));
    m.files.set(file, { ...req, committedAt: m.at });
    m.removed.delete(file);
    await w.applyAndCheck(m, entry);
  }
  toString() {
    return `add(${showTarget(this.file)}, ${show(this.req)}${this.startIn ? `, start +${this.startIn}m` : ''})`;
  }
}

/** The same request again, where it was removed (or renamed away) from. */
export class ReAdd implements Step {
  constructor(readonly file: Target) {}
  #paths(m: Readonly<Model>) {
    return [...m.removed.keys()].filter((f) => !m.files.has(f));
  }
  check(m: Readonly<Model>) {
    return pick(this.#paths(m), this.file) !== undefined;
  }
  async run(m: Model, w: World) {
    const file = pick(this.#paths(m), this.file) as string;
    const req = m.removed.get(file) as Req;
    const entry = w.begin(m, `re-add ${file} ${show(req)}`);
    w.commit(m, `re-add ${file}`, () => w.writeRequest(file, req));
    m.files.set(file, { ...req, committedAt: m.at });
    m.removed.delete(file);
    await w.applyAndCheck(m, entry);
  }
  toString() {
    return `readd(${showTarget(this.file)})`;
  }
}

type Field = 'requester' | 'resource' | 'role' | 'duration';

export class Edit implements Step {
  constructor(
    readonly file: Target,
    readonly field: Field,
    readonly value: string,
  ) {}
  check(m: Readonly<Model>) {
    return pick(onMain(m), this.file) !== undefined;
  }
  async run(m: Model, w: World) {
    const file = pick(onMain(m), this.file) as string;
    const { committedAt: _, ...current } = m.files.get(file) as Req & { committedAt: number };
    const next = { ...current, [this.field]: this.value } as Req;
    if (this.field === 'duration') delete next.until;
    const entry = w.begin(m, `edit ${file} ${this.field}: ${current[this.field]} -> ${this.value}`);
    // An edit that changes nothing (the value it already had) is no commit: the ledger sees nothing.
    if (requestText(next) !== requestText(current)) {
      w.commit(m, `edit ${file}`, () => w.writeRequest(file, next));
      m.files.set(file, { ...next, committedAt: m.at });
    }
    await w.applyAndCheck(m, entry);
  }
  toString() {
    return `edit(${showTarget(this.file)}, ${this.field}=${this.value})`;
  }
}

/** The request is given an end time instead of a duration, minutes from now (negative: already past). */
export class SetUntil implements Step {
  constructor(
    readonly file: Target,
    readonly minutes: number,
  ) {}
  check(m: Readonly<Model>) {
    return pick(onMain(m), this.file) !== undefined;
  }
  async run(m: Model, w: World) {
    const file = pick(onMain(m), this.file) as string;
    const { committedAt: _, duration: __, ...current } = m.files.get(file) as Req & { committedAt: number };
    const next: Req = { ...current, until: iso(m.at + this.minutes * 60_000) };
    const entry = w.begin(m, `edit ${file} until: ${next.until}`);
    if (requestText(next) !== requestText(m.files.get(file) as Req)) {
      w.commit(m, `edit ${file}`, () => w.writeRequest(file, next));
      m.files.set(file, { ...next, committedAt: m.at });
    }
    await w.applyAndCheck(m, entry);
  }
  toString() {
    return `until(${showTarget(this.file)}, ${this.minutes}m)`;
  }
}

/** Someone breaks the request (a field the schema refuses), or mends a broken one. */
export class Garble implements Step {
  constructor(readonly file: Target) {}
  check(m: Readonly<Model>) {
    return pick(onMain(m), this.file) !== undefined;
  }
  async run(m: Model, w: World) {
    const file = pick(onMain(m), this.file) as string;
    const { committedAt: _, invalid, ...current } = m.files.get(file) as Req & { committedAt: number };
    const next: Req = invalid ? current : { ...current, invalid: true };
    const entry = w.begin(m, `${invalid ? 'mend' : 'break'} ${file}`);
    w.commit(m, `edit ${file}`, () => w.writeRequest(file, next));
    m.files.set(file, { ...next, committedAt: m.at });
    await w.applyAndCheck(m, entry);
  }
  toString() {
    return `garble(${showTarget(this.file)})`;
  }
}

export class Rename implements Step {
  constructor(
    readonly from: Target,
    readonly to: Target,
  ) {}
  check(m: Readonly<Model>) {
    return pick(onMain(m), this.from) !== undefined && pick(free(m), this.to) !== undefined;
  }
  async run(m: Model, w: World) {
    const from = pick(onMain(m), this.from) as string;
    const to = pick(free(m), this.to) as string;
    const { committedAt: _, ...req } = m.files.get(from) as Req & { committedAt: number };
    const entry = w.begin(m, `rename ${from} -> ${to}`);
    w.commit(m, `rename ${from}`, () => w.renameRequest(from, to));
    m.files.delete(from);
    m.removed.set(from, req);
    m.files.set(to, { ...req, committedAt: m.at });
    m.removed.delete(to);
    await w.applyAndCheck(m, entry);
  }
  toString() {
    return `rename(${showTarget(this.from)}, ${showTarget(this.to)})`;
  }
}

export class Remove implements Step {
  constructor(readonly file: Target) {}
  check(m: Readonly<Model>) {
    return pick(onMain(m), this.file) !== undefined;
  }
  async run(m: Model, w: World) {
    const file = pick(onMain(m), this.file) as string;
    const { committedAt: _, ...req } = m.files.get(file) as Req & { committedAt: number };
    const entry = w.begin(m, `remove ${file}`);
    w.commit(m, `remove ${file}`, () => w.removeRequest(file));
    m.files.delete(file);
    m.removed.set(file, req);
    await w.applyAndCheck(m, entry);
  }
  toString() {
    return `remove(${showTarget(this.file)})`;
  }
}

/**
 * The clock moves: to the next start or expiry of a request on main (exactly onto it, or a second past),
 * or by some minutes; then a scheduled run: `timebox apply`, or `timebox expire` (revocations only).
 */
export class Advance implements Step {
  constructor(
    readonly to: 'boundary' | 'minutes',
    readonly amount: number,
    readonly by: 'apply' | 'expire' = 'apply',
  ) {}
  check(m: Readonly<Model>) {
    return m.files.size > 0;
  }
  async run(m: Model, w: World) {
    const boundaries = [...m.files.values()]
      .flatMap((f) => {
        const { starts, ends } = windowOf(f);
        return [starts, ends];
      })
      .filter((t) => t > m.at)
      .sort((a, b) => a - b);
    const next = boundaries[0];
    m.at =
      this.to === 'boundary' && next !== undefined
        ? next + (this.amount % 2) * 1000
        : m.at + this.amount * 60_000;
    const entry = w.begin(m, `time passes to ${iso(m.at)}, ${this.by} runs`);
    await w.applyAndCheck(m, entry, this.by);
  }
  toString() {
    return `${
      this.to === 'boundary'
        ? `advance(next start or expiry${this.amount % 2 ? ' + 1s' : ''}`
        : `advance(${this.amount}m`
    }, ${this.by})`;
  }
}

/**
 * A grantee uses its credentials (picked by index among the active grants') against what its rights reach,
 * between two applies. `late`: it waits until a minute before its access ends (the clock moves, no apply
 * runs), the moment a grantee who wants to keep access would pick.
 */
export class Tamper implements Step {
  constructor(
    readonly pick: number,
    readonly action: number,
    readonly late = false,
  ) {}
  check(m: Readonly<Model>) {
    // Only once something was ever asked for (before that no grantee has credentials).
    return m.files.size + m.removed.size > 0;
  }
  async run(m: Model, w: World) {
    const c = w.grantee(m, this.pick);
    const end = c && this.late ? w.endOf(m, c) : undefined;
    if (end !== undefined && end - 60_000 > m.at) m.at = end - 60_000;
    const entry = w.begin(m, end !== undefined ? 'tamper, a minute before its access ends' : 'tamper');
    entry.notes.push(c ? await w.tamper(m, c, this.action) : 'no grantee has credentials yet');
    await w.checkAfterTamper(m, entry);
  }
  toString() {
    return `tamper(grantee #${this.pick}, redis: ${REDIS_TAMPER[this.action % REDIS_TAMPER.length]} / postgres: ${PG_TAMPER[this.action % PG_TAMPER.length]}${this.late ? ', late' : ''})`;
  }
}

/** The steps a history is made of; `first` opens every history (a history with no request checks little). */
export function commandArbitraries(policy: ModelPolicy): {
  first: fc.Arbitrary<Add>;
  steps: fc.Arbitrary<Step>[];
} {
  const index = fc.nat({ max: SLOTS.length - 1 });
  const resource = fc.constantFrom<ResourceId>(PG, REDIS);
  // Mostly a role the resource offers; sometimes one only the other resource has (nothing can be granted).
  const roleOf = (r: ResourceId) =>
    fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...policy.roles[r]) },
      { weight: 1, arbitrary: fc.constantFrom(...policy.allRoles) },
    );
  const req = resource.chain((r) =>
    fc.record({
      requester: fc.constantFrom(...REQUESTERS),
      resource: fc.constant(r),
      role: roleOf(r),
      duration: fc.constantFrom(...DURATIONS),
    }),
  );
  const add = fc
    .tuple(index, req, fc.option(fc.constantFrom(20, 90), { nil: undefined, freq: 3 }))
    .map(([f, r, s]) => new Add(f, r, s));
  const editRequester = fc
    .tuple(index, fc.constantFrom(...REQUESTERS))
    .map(([f, v]) => new Edit(f, 'requester', v));
  const editRole = fc
    .tuple(index, fc.constantFrom(...policy.allRoles))
    .map(([f, v]) => new Edit(f, 'role', v));
  const by = fc.constantFrom<'apply' | 'expire'>('apply', 'expire');
  const advance = fc.oneof(
    fc.tuple(fc.nat({ max: 1 }), by).map(([n, b]) => new Advance('boundary', n, b)),
    fc.tuple(fc.constantFrom(10, 45, 90, 600, 1500), by).map(([n, b]) => new Advance('minutes', n, b)),
  );
  const tamper = fc
    .tuple(
      fc.nat({ max: 7 }),
      fc.nat({ max: Math.max(REDIS_TAMPER.length, PG_TAMPER.length) - 1 }),
      fc.boolean(),
    )
    .map(([p, a, late]) => new Tamper(p, a, late));
  // fc.commands picks among these uniformly: repeating one makes it likelier.
  const steps = [
    add,
    add,
    add,
    index.map((f) => new ReAdd(f)),
    // What a grant is (requester, resource, role) changing under it: the heart of the matter, twice.
    editRequester,
    editRequester,
    fc.tuple(index, resource).map(([f, v]) => new Edit(f, 'resource', v)),
    editRole,
    editRole,
    fc.tuple(index, fc.constantFrom(...DURATIONS)).map(([f, v]) => new Edit(f, 'duration', v)),
    fc.tuple(index, fc.constantFrom(-30, 15, 120)).map(([f, v]) => new SetUntil(f, v)),
    index.map((f) => new Garble(f)),
    fc.tuple(index, index).map(([a, b]) => new Rename(a, b)),
    index.map((f) => new Remove(f)),
    advance,
    advance,
    tamper,
    tamper,
  ];
  return { first: add, steps };
}
