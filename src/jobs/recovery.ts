// Crash recovery for graphile-worker 0.16: a job whose worker process died stays locked for 4 hours
// (node_modules/graphile-worker/dist/sql/resetLockedAt.js) unless someone calls `force_unlock_workers` with
// the dead worker ids (sql/000015.sql). Which workers are dead is read from PostgreSQL itself, not from
// heartbeats or a leader: each runner keeps one "liveness" session holding a session-level advisory lock
// of its own, and records its worker ids against that lock. The server drops a session's advisory locks the
// moment its backend ends — a killed process's socket closes at once; a lost host is noticed by TCP
// keepalives — so "its lock is no longer in pg_locks" means "that runner is gone". Every runner runs the
// same idempotent sweep; nobody is elected, nobody waits for anybody.
import pg from 'pg';
import type { Clock, Timer } from '../core/clock.js';

/** High half of every Timebox liveness lock (`tb`), so they never collide with other advisory locks. */
export const LIVENESS_NAMESPACE = 0x7462;

/** Jobs locked by a worker no runner has registered are released after this (the registration window). */
export const UNREGISTERED_GRACE_SECONDS = 30;

export const SCHEMA = 'timebox_jobs';

const DDL = `
create schema if not exists ${SCHEMA};
create table if not exists ${SCHEMA}.workers (
  worker_id text primary key,
  lock_key integer not null,
  runner text not null,
  registered_at timestamptz not null default now()
);`;

/**
 * Runs an idempotent `create … if not exists` step, again when a replica starting at the same moment won
 * the race: PostgreSQL's IF NOT EXISTS checks, then inserts, so two fresh starts can collide on the catalog's
 * unique index (23505) — graphile-worker 0.16's own `installSchema` (dist/migrate.js) included.
 */
export async function retryCreateRace(step: () => Promise<unknown>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await step();
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (attempt < 5 && (code === '23505' || code === '42P07' || code === '42710')) continue;
      throw err;
    }
  }
}

/** Creates Timebox's one table next to graphile-worker's schema. */
export function migrateRecovery(pool: pg.Pool): Promise<void> {
  return retryCreateRace(() => pool.query(DDL));
}

export interface LivenessOptions {
  connectionString: string;
  /** How long opening the session may take (default 5 s). */
  connectTimeoutMs?: number;
  runner: string;
  random: () => number;
  clock: Clock;
  /** The session was lost (a database restart, a network cut): other runners may now release our jobs. */
  onLost(error: Error): void;
}

/**
 * The runner's liveness session: open for the runner's life; its end is the runner's death certificate.
 * If it is lost while the runner lives, it is opened again under a new key and every worker re-registered,
 * so the runner is not taken for dead a second time (what ran meanwhile may run twice: handlers are
 * idempotent).
 */
export class Liveness {
  #client: pg.Client | undefined;
  #key = 0;
  #closed = false;
  #retry: Timer | undefined;
  readonly #workers = new Set<string>();
  /** One query at a time on the session (pg clients do not pipeline): everything goes in a chain. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: LivenessOptions) {}

  get lockKey(): number {
    return this.#key;
  }

  async open(): Promise<void> {
    const { connectionString, runner, random } = this.options;
    const client = new pg.Client({
      connectionString,
      application_name: `timebox-jobs ${runner}`,
      keepAlive: true,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000,
    });
    client.on('error', (err) => this.#lost(client, err));
    client.on('end', () => this.#lost(client, new Error('liveness session ended')));
    await client.connect();
    for (let tries = 0; tries < 20; tries++) {
      const key = 1 + Math.floor(random() * 0x7ffffffe);
      const { rows } = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1, $2) as ok', [
        LIVENESS_NAMESPACE,
        key,
      ]);
      if (!rows[0]?.ok) continue;
      this.#key = key;
      this.#client = client;
      for (const id of this.#workers) await this.#insert(client, id);
      return;
    }
    await client.end();
    throw new Error('could not take a liveness lock (20 keys in use)');
  }

  #lost(client: pg.Client, error: Error): void {
    if (this.#closed || this.#client !== client) return;
    this.#client = undefined;
    this.options.onLost(error);
    const retry = () => {
      this.#retry = undefined;
      if (this.#closed) return;
      this.open().catch((err: Error) => {
        this.options.onLost(err);
        if (!this.#closed) this.#retry = this.options.clock.after(1000, retry);
      });
    };
    this.#retry = this.options.clock.after(250, retry);
  }

  register(workerId: string): Promise<void> {
    this.#workers.add(workerId);
    const next = this.#chain.then(() => (this.#client ? this.#insert(this.#client, workerId) : undefined));
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async #insert(client: pg.Client, workerId: string): Promise<void> {
    await client.query(
      `insert into ${SCHEMA}.workers (worker_id, lock_key, runner) values ($1, $2, $3)
       on conflict (worker_id) do update set lock_key = excluded.lock_key, runner = excluded.runner`,
      [workerId, this.#key, this.options.runner],
    );
  }

  /** Graceful end: graphile-worker has released its jobs by now; our rows go, then the lock with the session. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#retry?.cancel();
    await this.#chain;
    const client = this.#client;
    this.#client = undefined;
    if (!client) return;
    try {
      await client.query(`delete from ${SCHEMA}.workers where worker_id = any($1::text[])`, [
        [...this.#workers],
      ]);
    } finally {
      await client.end();
    }
  }
}

/**
 * Releases the jobs (and named queues) of workers whose runner's liveness lock is gone, and of workers no
 * runner registered within the grace period; wakes the workers with graphile-worker's own `jobs:insert`
 * notification. Returns the released worker ids. Safe to run on every replica at once: the deletes lock
 * the rows they remove, and `force_unlock_workers` is idempotent.
 */
export async function releaseDeadWorkers(pool: pg.Pool, workerSchema = 'graphile_worker'): Promise<string[]> {
  const ws = pg.escapeIdentifier(workerSchema);
  const { rows } = await pool.query<{ worker_id: string }>(
    `with dead as (
       delete from ${SCHEMA}.workers w
       where not exists (
         select 1 from pg_locks l
         where l.locktype = 'advisory' and l.granted and l.objsubid = 2
           and l.database = (select oid from pg_database where datname = current_database())
           and l.classid = $1::integer::oid and l.objid = w.lock_key::oid
       )
       returning w.worker_id
     ),
     unregistered as (
       select distinct j.locked_by as worker_id from ${ws}._private_jobs j
       where j.locked_by is not null
         and j.locked_at < now() - make_interval(secs => $2)
         and not exists (select 1 from ${SCHEMA}.workers w where w.worker_id = j.locked_by)
     )
     select worker_id from dead union select worker_id from unregistered`,
    [LIVENESS_NAMESPACE, UNREGISTERED_GRACE_SECONDS],
  );
  const ids = rows.map((r) => r.worker_id);
  if (ids.length === 0) return ids;
  await pool.query(`select ${ws}.force_unlock_workers($1::text[])`, [ids]);
  await pool.query(`select pg_notify('jobs:insert', $1)`, [JSON.stringify({ count: ids.length })]);
  return ids;
}

/**
 * Deletes the jobs graphile-worker retired when the same key was added again while they ran (`add_job` then
 * clears the running job's key and sets its attempts to the maximum, so that it is never run again, and inserts
 * the new one). Completed, a retired job is deleted; but one whose replica died is released, never runs, and
 * would stay for good. Only tasks Timebox always adds with a key (`identifiers`): a keyless one there is retired.
 */
export async function dropRetired(
  pool: pg.Pool,
  identifiers: readonly string[],
  workerSchema = 'graphile_worker',
): Promise<number> {
  const ws = pg.escapeIdentifier(workerSchema);
  const { rowCount } = await pool.query(
    `delete from ${ws}._private_jobs j using ${ws}._private_tasks t
      where t.id = j.task_id and t.identifier = any($1::text[])
        and j.key is null and j.locked_at is null and j.attempts >= j.max_attempts`,
    [identifiers],
  );
  return rowCount ?? 0;
}
