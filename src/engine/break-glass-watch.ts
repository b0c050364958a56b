// The keeper's side of break-glass (src/engine/break-glass.ts): each unsettled break-glass grant of a reconciled
// repository is announced once (every channel), checked once when first seen (a restart finds what was ratified
// meanwhile), on every review of its merged pull request, and at `ratify_by` (a timer on the Clock; `due()` when
// a test moves the clock). Once settled, its revert carries how (the audit's `ratified` / `unratified`); until
// then an expired grant's revert waits (`revertGlass` says 'hold'). Unratified: the keeper revokes it if still
// active (end reason `unratified`), the revert is queued and the alarm issue opened once.
//
// Nothing here is the only copy: the ledger says which grants are unsettled, and the answer of `ratification`
// depends only on the reviews submitted by `ratify_by`, so a fresh process settles each the same way.
import type { Clock, Timer } from '../core/clock.js';
import type { Grant } from '../core/ledger.js';
import {
  announceBreakGlass,
  candidates,
  type GlassWatch,
  glassMark,
  raiseUnratified,
  ratification,
} from './break-glass.js';
import type { Forge } from './forge.js';
import type { Notices } from './notices/index.js';
import type { Log } from './provision.js';
import type { CheckCache } from './pull-check.js';
import type { RevertGlass } from './revert.js';

export interface GlassHost {
  clock: Clock;
  log: Log;
  cache?: CheckCache;
  forge(repo: string): Promise<{ forge: Forge; notices: Notices; botLogin: string } | null>;
  /** The grant's pull request when the ledger does not name it (the provenance verdict's). */
  pullOf(repo: string, grant: Grant): number | null;
  /** Unratified: stop it being granted again, and revoke it now if `active`. */
  unratified(repo: string, grant: Grant, pull: number, active: boolean): Promise<void>;
  /** Queue (and start) the revert of `file`. */
  revert(repo: string, file: string, job: { reason: string; pull: number; glass: RevertGlass }): void;
  track(p: Promise<unknown>): void;
}

interface Watched {
  repo: string;
  watch: GlassWatch;
  timer?: Timer;
  settled?: RevertGlass;
  checking?: Promise<void> | undefined;
}

export class GlassWatcher {
  readonly #h: GlassHost;
  /** By `owner/repo#grant-id`. */
  readonly #watched = new Map<string, Watched>();
  /** Grants known to be ordinary approvals (decided once per process). */
  readonly #ordinary = new Set<string>();

  constructor(host: GlassHost) {
    this.#h = host;
  }

  /** After a reconcile: watch the repository's unsettled break-glass grants (new ones announced and checked). */
  async sync(repo: string, grants: readonly Grant[]): Promise<void> {
    const now = this.#h.clock.nowMs();
    const fresh: string[] = [];
    const todo = candidates(grants, (g) => this.#h.pullOf(repo, g), now).filter((c) => {
      const id = `${repo}#${c.grant.id}`;
      return !this.#watched.has(id) && !this.#ordinary.has(id);
    });
    if (todo.length === 0) return;
    const f = await this.#h.forge(repo);
    if (!f) return;
    const opts = { botLogin: f.botLogin, ...(this.#h.cache ? { cache: this.#h.cache } : {}) };
    // One that cannot be decided now is neither watched nor ordinary: the next reconcile asks again.
    const marks = await Promise.all(
      todo.map((c) =>
        glassMark(f.forge, c, opts).catch((err: unknown) => {
          this.#h.log.warn({ repo, file: c.grant.file }, `break-glass: ${(err as Error).message}`);
          return undefined;
        }),
      ),
    );
    for (const [i, c] of todo.entries()) {
      const w = marks[i];
      const id = `${repo}#${c.grant.id}`;
      if (w === undefined) continue;
      if (w === null) {
        this.#ordinary.add(id);
        continue;
      }
      const byMs = Date.parse(w.grant.break_glass.ratify_by);
      const x: Watched = { repo, watch: w };
      this.#watched.set(id, x);
      fresh.push(id);
      if (byMs <= now) continue;
      x.timer = this.#h.clock
        .after(Math.min(byMs - now, 2 ** 31 - 1), () => this.#h.track(this.check(id)))
        .unref();
      if (Date.parse(w.grant.ends_at) > now) this.#h.track(this.#announce(x, now));
    }
    await Promise.all(fresh.map((id) => this.check(id)));
    // And whatever is past its ratify_by and still unsettled (a check that failed is tried again).
    this.due();
  }

  /** Checks every watched grant whose `ratify_by` has come (the clock moved). */
  due(): void {
    const now = this.#h.clock.nowMs();
    for (const [id, x] of this.#watched)
      if (!x.settled && Date.parse(x.watch.grant.break_glass.ratify_by) <= now) this.#h.track(this.check(id));
  }

  /** Checks the watched grants of pull request `pull` (a review arrived). */
  async reviewed(repo: string, pull: number): Promise<void> {
    const ids = [...this.#watched]
      .filter(([, x]) => x.repo === repo && x.watch.pull === pull)
      .map(([id]) => id);
    await Promise.all(ids.map((id) => this.check(id)));
  }

  /** Whether `file`'s revert waits for its ratification ('hold'), or the trailers it carries. */
  revertGlass(repo: string, file: string): 'hold' | { glass?: RevertGlass } {
    const x = [...this.#watched.values()].find((w) => w.repo === repo && w.watch.grant.file === file);
    if (!x) return {};
    return x.settled ? { glass: x.settled } : 'hold';
  }

  stop(): void {
    for (const x of this.#watched.values()) x.timer?.cancel();
  }

  /** One check at a time per grant. */
  check(id: string): Promise<void> {
    const x = this.#watched.get(id);
    if (!x || x.settled) return Promise.resolve();
    x.checking ??= this.#settle(x).finally(() => {
      x.checking = undefined;
    });
    return x.checking;
  }

  async #announce(x: Watched, now: number): Promise<void> {
    const f = await this.#h.forge(x.repo);
    if (!f) return;
    const r = await ratification(f.forge, x.watch, { botLogin: f.botLogin, nowMs: now }).catch(() => null);
    await announceBreakGlass(f.notices, x.watch, r && r.state !== 'ratified' ? r.missing : [], now);
  }

  async #settle(x: Watched): Promise<void> {
    const f = await this.#h.forge(x.repo);
    if (!f) return;
    const { watch: w } = x;
    const now = this.#h.clock.nowMs();
    const r = await ratification(f.forge, w, {
      botLogin: f.botLogin,
      nowMs: now,
      ...(this.#h.cache ? { cache: this.#h.cache } : {}),
    });
    if (r.state === 'waiting') return;
    x.timer?.cancel();
    const { file } = w.grant;
    const mark = { file, rule: w.grant.break_glass.rule, ratify_by: w.grant.break_glass.ratify_by };
    const active = Date.parse(w.grant.ends_at) > now;
    if (r.state === 'ratified') {
      x.settled = { ...mark, ratified: { by: r.by, at: r.at } };
      this.#h.log.info(
        { repo: x.repo, file, by: r.by },
        `break-glass ${file} ratified by ${r.by.join(', ')}`,
      );
      // Still running: its revert at expiry carries the ratification.
      if (!active) this.#h.revert(x.repo, file, { reason: 'expired', pull: w.pull, glass: x.settled });
      return;
    }
    x.settled = { ...mark, unratified: true };
    this.#h.log.warn(
      { repo: x.repo, file, missing: r.missing },
      `break-glass ${file} not ratified by ${mark.ratify_by}`,
    );
    await this.#h.unratified(x.repo, w.grant, w.pull, active);
    this.#h.revert(x.repo, file, {
      reason: active ? 'unratified' : 'expired',
      pull: w.pull,
      glass: x.settled,
    });
    await raiseUnratified(f.forge, f.notices, w, r.missing, now);
  }
}
