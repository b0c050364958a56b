// The precise side of expiry: revoke each grant at its `expires_at`, remind the requester before, and retry
// a failed revocation until it is verified. One timer for the earliest thing due; everything past due runs
// at once (so a restart catches up on what it missed). The caller says what should be scheduled (`sync`)
// and what revoking means (`actions`); nothing here talks to a provider or to GitHub.
import { type Clock, systemClock, type Timer } from '../core/clock.js';

export interface ScheduledGrant {
  /** The ledger's grant id (`file@commit`): one revocation per id, ever. */
  id: string;
  file: string;
  expiresAt: number;
  /** This grant's reminder lead time (its repo's `remind_before`); default: the scheduler's. 0 = none. */
  remindMs?: number;
}

export interface ExpiryActions {
  /** Revoke and verify; throw if anything is left (it is retried). */
  revoke(grant: ScheduledGrant): Promise<void>;
  /** Tell the requester that access ends soon. Failures are reported, not retried. */
  remind?(grant: ScheduledGrant): Promise<void>;
  /** A revocation failed `attempts` times so far and will be retried after `retryInMs`. */
  alarm?(grant: ScheduledGrant, error: unknown, attempts: number, retryInMs: number): void;
  /** A revocation that had failed went through. */
  recovered?(grant: ScheduledGrant, attempts: number): void;
  /** Anything else that went wrong (a reminder that failed). */
  warn?(message: string): void;
}

export interface ExpiryOptions {
  /** How long before expiry the reminder goes out (default 15 minutes; 0 = none). */
  reminderMs?: number;
  /** Waits between retries of a failing revocation; the last one repeats (default 1 s … 60 s). */
  retryMs?: readonly number[];
  /** Revocations run at once, at most this many in parallel (default 16). */
  concurrency?: number;
  /** Time and timers (default: the wall clock, which follows vitest's fake timers). */
  clock?: Clock;
}

type Job = { kind: 'revoke' | 'remind'; at: number; grant: ScheduledGrant; attempts: number };

export class ExpiryScheduler {
  readonly #actions: ExpiryActions;
  readonly #reminderMs: number;
  readonly #retryMs: readonly number[];
  readonly #concurrency: number;
  readonly #clock: Clock;
  /** Waiting jobs by grant id (a revoke job and at most one reminder). */
  readonly #jobs = new Map<string, Job[]>();
  /** Grants whose revocation is verified: never scheduled again. */
  readonly #done = new Set<string>();
  readonly #reminded = new Set<string>();
  readonly #running = new Set<string>();
  #timer: Timer | undefined;
  #armedFor = Number.POSITIVE_INFINITY;
  #active = 0;
  readonly #queue: Job[] = [];
  #stopped = false;
  readonly #idle = new Set<() => void>();

  constructor(actions: ExpiryActions, opts: ExpiryOptions = {}) {
    this.#actions = actions;
    this.#reminderMs = opts.reminderMs ?? 15 * 60_000;
    this.#retryMs = opts.retryMs ?? [1_000, 2_000, 5_000, 10_000, 30_000, 60_000];
    this.#concurrency = Math.max(1, opts.concurrency ?? 16);
    this.#clock = opts.clock ?? systemClock;
  }

  /**
   * The grants that should be revoked when they expire (the ledger's active grants, after a reconcile).
   * New ones are scheduled, ones no longer listed are dropped (removed early, already revoked), the rest
   * keep their timers. A grant listed with a changed expiry is rescheduled. Past-due ones run now.
   */
  sync(grants: readonly ScheduledGrant[]): void {
    const wanted = new Map(grants.map((g) => [g.id, g]));
    for (const id of [...this.#jobs.keys()]) {
      // A revocation that is failing stays until it is verified, whatever the ledger says now.
      const jobs = this.#jobs.get(id) ?? [];
      if (!wanted.has(id) && !jobs.some((j) => j.kind === 'revoke' && j.attempts > 0)) this.#jobs.delete(id);
    }
    const now = this.#clock.nowMs();
    for (const g of wanted.values()) {
      if (this.#done.has(g.id) || this.#running.has(g.id)) continue;
      const current = this.#jobs.get(g.id);
      const revoke = current?.find((j) => j.kind === 'revoke');
      if (revoke && revoke.attempts > 0) continue;
      const jobs: Job[] = [{ kind: 'revoke', at: g.expiresAt, grant: g, attempts: 0 }];
      const lead = g.remindMs ?? this.#reminderMs;
      const remindAt = g.expiresAt - lead;
      if (lead > 0 && this.#actions.remind && !this.#reminded.has(g.id) && g.expiresAt > now) {
        jobs.push({ kind: 'remind', at: Math.max(remindAt, now), grant: g, attempts: 0 });
      }
      this.#jobs.set(g.id, jobs);
    }
    this.#arm();
  }

  /** Grants waiting for revocation (or retrying), soonest first. */
  scheduled(): { id: string; file: string; at: number; attempts: number }[] {
    return [...this.#jobs.values()]
      .flat()
      .filter((j) => j.kind === 'revoke')
      .map((j) => ({ id: j.grant.id, file: j.grant.file, at: j.at, attempts: j.attempts }))
      .sort((a, b) => a.at - b.at);
  }

  /** Resolves when nothing is running or due now (tests and shutdown). */
  idle(): Promise<void> {
    if (this.#active === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.add(resolve));
  }

  /** Look at the clock again (after an injected clock jumped): anything now due runs, the timer is re-armed. */
  rearm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    this.#fire();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #arm(): void {
    if (this.#stopped) return;
    let next = Number.POSITIVE_INFINITY;
    for (const jobs of this.#jobs.values()) for (const j of jobs) next = Math.min(next, j.at);
    if (next === this.#armedFor && this.#timer) return;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#armedFor = next;
    if (next === Number.POSITIVE_INFINITY) return;
    // The clock re-arms waits longer than a Node timer can hold (2^31-1 ms).
    const wait = Math.max(0, next - this.#clock.nowMs());
    this.#timer = this.#clock.after(wait, () => {
      this.#timer = undefined;
      this.#armedFor = Number.POSITIVE_INFINITY;
      this.#fire();
    });
    // A pending expiry must not keep a process alive that is otherwise done (tests, CLI); serve listens.
    this.#timer.unref();
  }

  #fire(): void {
    const now = this.#clock.nowMs();
    for (const [id, jobs] of [...this.#jobs]) {
      const due = jobs.filter((j) => j.at <= now);
      if (due.length === 0) continue;
      let rest = jobs.filter((j) => j.at > now);
      const revoke = due.find((j) => j.kind === 'revoke');
      if (revoke) {
        // Revoking makes a reminder pointless.
        rest = rest.filter((j) => j.kind !== 'remind');
        this.#running.add(id);
        this.#queue.push(revoke);
      } else this.#queue.push(...due);
      if (rest.length > 0) this.#jobs.set(id, rest);
      else this.#jobs.delete(id);
    }
    this.#pump();
    this.#arm();
  }

  #pump(): void {
    while (this.#active < this.#concurrency && this.#queue.length > 0) {
      const job = this.#queue.shift() as Job;
      this.#active += 1;
      void this.#run(job).finally(() => {
        this.#active -= 1;
        this.#pump();
        if (this.#active === 0 && this.#queue.length === 0) {
          for (const resolve of this.#idle) resolve();
          this.#idle.clear();
        }
      });
    }
  }

  async #run(job: Job): Promise<void> {
    const { grant } = job;
    if (job.kind === 'remind') {
      this.#reminded.add(grant.id);
      try {
        await this.#actions.remind?.(grant);
      } catch (err) {
        this.#actions.warn?.(`reminder for ${grant.file} failed: ${(err as Error).message}`);
      }
      return;
    }
    try {
      await this.#actions.revoke(grant);
      this.#done.add(grant.id);
      this.#running.delete(grant.id);
      if (job.attempts > 0) this.#actions.recovered?.(grant, job.attempts);
    } catch (err) {
      const attempts = job.attempts + 1;
      const wait = this.#retryMs[Math.min(attempts - 1, this.#retryMs.length - 1)] ?? 60_000;
      this.#running.delete(grant.id);
      this.#jobs.set(grant.id, [{ kind: 'revoke', at: this.#clock.nowMs() + wait, grant, attempts }]);
      this.#actions.alarm?.(grant, err, attempts, wait);
      this.#arm();
    }
  }
}
