// Missed deliveries (issue 18): GitHub does not retry a webhook delivery that failed (the App was down, or
// answered 5xx); it keeps a record of each attempt for the App (`GET /app/hook/deliveries`, authenticated as
// the App with a JWT) and redelivers one on request (`POST /app/hook/deliveries/{id}/attempts`). The sweep
// lists the deliveries since the last sweep (newest first, GitHub's cursor paging) and asks GitHub to
// redeliver each failed one whose guid (`X-GitHub-Delivery`, the same on every attempt) was not delivered
// successfully since. Each guid is claimed before it is redelivered, in memory for one process or in
// PostgreSQL across replicas (src/jobs/redeliveries.ts), so nothing is redelivered twice; the handlers are
// idempotent anyway (a redelivered webhook changes nothing). The look-back is bounded (DEFAULT_LOOK_BACK_MS,
// and at most `maxPages` pages); docs/deployment.md, "Missed deliveries".
import type { Clock, Timer } from '../core/clock.js';
import { pgRedeliveryLedger } from '../jobs/redeliveries.js';
import type { GitHub } from './client.js';

/** How far back a sweep looks at most (the first sweep of a process, or after a long outage): 24 hours. */
export const DEFAULT_LOOK_BACK_MS = 24 * 3_600_000;
/** A sweep also looks this far before the previous one: a delivery is recorded when its attempt ends. */
export const DEFAULT_OVERLAP_MS = 60_000;
/** At most this many pages of 100 deliveries per sweep. */
export const DEFAULT_MAX_PAGES = 50;
/** How often `serve` sweeps (one replica per interval when replicas share PostgreSQL). */
export const DEFAULT_SWEEP_INTERVAL_MS = 5 * 60_000;

/** A delivery as GitHub lists it (`hook-delivery-item`, the fields the sweep reads). */
export interface DeliveryItem {
  id: number;
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  status: string;
  status_code: number;
  event: string;
  action?: string | null;
}

/** What the sweep remembers: the guids it redelivered, and how far the last sweep looked. */
export interface RedeliveryLedger {
  /** Claims `guid` for one redelivery; false when it was claimed before (here or by another replica). */
  claim(guid: string, at: Date): Promise<boolean>;
  /** Gives a claim back (GitHub refused the redelivery request: the next sweep tries again). */
  release(guid: string): Promise<void>;
  /** When the last complete sweep started, if known. */
  lastSweep(): Promise<Date | undefined>;
  setLastSweep(at: Date): Promise<void>;
  /** Forgets claims older than `before` (they are out of every look-back). */
  prune(before: Date): Promise<void>;
}

/** One process's ledger (no PostgreSQL): forgotten on restart, when the first sweep looks back in full. */
export function memoryLedger(): RedeliveryLedger {
  const claims = new Map<string, number>();
  let last: Date | undefined;
  return {
    claim: async (guid, at) => {
      if (claims.has(guid)) return false;
      claims.set(guid, at.getTime());
      return true;
    },
    release: async (guid) => {
      claims.delete(guid);
    },
    lastSweep: async () => last,
    setLastSweep: async (at) => {
      last = at;
    },
    prune: async (before) => {
      for (const [guid, t] of claims) if (t < before.getTime()) claims.delete(guid);
    },
  };
}

export interface DeliverySweepOptions {
  clock: Clock;
  ledger: RedeliveryLedger;
  lookBackMs?: number;
  overlapMs?: number;
  maxPages?: number;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export interface DeliverySweepResult {
  /** Deliveries read within the window. */
  listed: number;
  /** The guids GitHub was asked to redeliver. */
  redelivered: string[];
  /** Failed guids already redelivered by an earlier sweep (or another replica). */
  claimedBefore: string[];
  /** Failed guids whose redelivery request GitHub refused (tried again next sweep). */
  errors: { guid: string; message: string }[];
  /** The start of the window looked at. */
  since: Date;
}

/** A status GitHub counts as delivered (its `status=success` filter: 200–399). */
export const delivered = (d: Pick<DeliveryItem, 'status_code'>): boolean =>
  d.status_code >= 200 && d.status_code < 400;

/**
 * The failed deliveries to redeliver: per guid, the newest failed attempt, unless an attempt of that guid
 * was delivered. `items` newest first.
 */
export function failedGuids(items: readonly DeliveryItem[]): DeliveryItem[] {
  const ok = new Set(items.filter(delivered).map((d) => d.guid));
  const out = new Map<string, DeliveryItem>();
  for (const d of items) if (!ok.has(d.guid) && !out.has(d.guid)) out.set(d.guid, d);
  return [...out.values()].reverse();
}

/**
 * One sweep: lists the App's deliveries back to the last sweep (less an overlap; at most `lookBackMs` and
 * `maxPages`), and asks GitHub to redeliver each failed guid not delivered since, once. `app` is authenticated
 * as the App (JWT), not as an installation.
 */
export async function redeliverFailed(app: GitHub, o: DeliverySweepOptions): Promise<DeliverySweepResult> {
  const started = o.clock.now();
  const lookBack = o.lookBackMs ?? DEFAULT_LOOK_BACK_MS;
  const last = await o.ledger.lastSweep();
  const since = new Date(
    Math.max(started.getTime() - lookBack, (last?.getTime() ?? 0) - (o.overlapMs ?? DEFAULT_OVERLAP_MS)),
  );
  const items: DeliveryItem[] = [];
  let pages = 0;
  for await (const response of app.paginate.iterator('GET /app/hook/deliveries', { per_page: 100 })) {
    const page = response.data as DeliveryItem[];
    items.push(...page.filter((d) => Date.parse(d.delivered_at) >= since.getTime()));
    pages += 1;
    const oldest = page[page.length - 1];
    if (
      !oldest ||
      Date.parse(oldest.delivered_at) < since.getTime() ||
      pages >= (o.maxPages ?? DEFAULT_MAX_PAGES)
    )
      break;
  }
  const result: DeliverySweepResult = {
    listed: items.length,
    redelivered: [],
    claimedBefore: [],
    errors: [],
    since,
  };
  for (const d of failedGuids(items)) {
    if (!(await o.ledger.claim(d.guid, started))) {
      result.claimedBefore.push(d.guid);
      continue;
    }
    try {
      await app.request('POST /app/hook/deliveries/{delivery_id}/attempts', { delivery_id: d.id });
      result.redelivered.push(d.guid);
      o.log?.info(
        { guid: d.guid, event: d.event, status: d.status, delivered_at: d.delivered_at },
        `asked GitHub to redeliver ${d.event}${d.action ? `.${d.action}` : ''} ${d.guid}`,
      );
    } catch (err) {
      await o.ledger.release(d.guid);
      result.errors.push({ guid: d.guid, message: (err as Error).message });
      o.log?.warn({ guid: d.guid }, `cannot redeliver ${d.guid}: ${(err as Error).message}`);
    }
  }
  await o.ledger.setLastSweep(started);
  await o.ledger.prune(new Date(started.getTime() - 2 * lookBack));
  return result;
}

/**
 * The sweep of one `serve` process (no PostgreSQL): at start, then every `everyMs`; a sweep still running
 * when the next is due is not doubled. Replicas run it as a graphile-worker cron task instead (src/jobs).
 */
export function scheduleDeliverySweep(
  clock: Clock,
  everyMs: number,
  sweep: () => Promise<unknown>,
  onError: (err: unknown) => void,
): Timer {
  let running = false;
  const once = () => {
    if (running) return;
    running = true;
    sweep()
      .catch(onError)
      .finally(() => {
        running = false;
      });
  };
  const first = clock.after(0, once);
  const timer = clock.every(everyMs, once);
  const handle: Timer = {
    cancel: () => {
      first.cancel();
      timer.cancel();
    },
    unref: () => {
      first.unref();
      timer.unref();
      return handle;
    },
  };
  return handle;
}

/** What `serve` hands the sweep: Probot (its `auth()` without an installation is the App's JWT client). */
export interface AppAuth {
  auth(): Promise<unknown>;
}

type PinoLike = NonNullable<DeliverySweepOptions['log']>;

/**
 * One `serve` process (no PostgreSQL): the sweep at start and every `everyMs` (DEFAULT_SWEEP_INTERVAL_MS),
 * its claims in memory. Wiring: `const t = startDeliverySweep(probot, { clock, log })`, `t.cancel()` on close.
 */
export function startDeliverySweep(
  probot: AppAuth,
  o: { clock: Clock; log: PinoLike & { error(obj: object, msg: string): void }; everyMs?: number },
): Timer {
  const ledger = memoryLedger();
  return scheduleDeliverySweep(
    o.clock,
    o.everyMs ?? DEFAULT_SWEEP_INTERVAL_MS,
    async () => redeliverFailed((await probot.auth()) as GitHub, { clock: o.clock, ledger, log: o.log }),
    (err) => o.log.error({ err }, 'missed-deliveries sweep failed'),
  ).unref();
}

/**
 * Replicas: the `deliveries` handler of src/jobs (a cron task, once per interval across replicas), its claims
 * in the shared database (made on first use). Wiring: `handlers: { ...replicaHandlers(ctx),
 * deliveries: replicaDeliverySweep(probot, databaseUrl, clock, log) }`.
 */
export function replicaDeliverySweep(
  probot: AppAuth,
  databaseUrl: string,
  clock: Clock,
  log: {
    info(message: string, meta?: Record<string, unknown>): void;
    warn(message: string, meta?: Record<string, unknown>): void;
  },
): () => Promise<void> {
  let ledger: Promise<RedeliveryLedger> | undefined;
  const adapted: PinoLike = {
    info: (obj, msg) => log.info(msg, obj as Record<string, unknown>),
    warn: (obj, msg) => log.warn(msg, obj as Record<string, unknown>),
  };
  return async () => {
    ledger ??= pgRedeliveryLedger(databaseUrl, { allowExitOnIdle: true });
    await redeliverFailed((await probot.auth()) as GitHub, { clock, ledger: await ledger, log: adapted });
  };
}
