// The missed-deliveries sweep's memory across replicas (src/github/deliveries.ts `RedeliveryLedger`, matched
// by shape): which guids were redelivered (a primary key, so two replicas cannot both claim one) and when the
// last sweep started. Two small tables next to the recovery table, created idempotently.
import pg from 'pg';
import { retryCreateRace, SCHEMA } from './recovery.js';

const DDL = `
create schema if not exists ${SCHEMA};
create table if not exists ${SCHEMA}.redeliveries (
  guid text primary key,
  claimed_at timestamptz not null
);
create table if not exists ${SCHEMA}.delivery_sweeps (
  id boolean primary key default true check (id),
  started_at timestamptz not null
);`;

export interface PgRedeliveryLedger {
  claim(guid: string, at: Date): Promise<boolean>;
  release(guid: string): Promise<void>;
  lastSweep(): Promise<Date | undefined>;
  setLastSweep(at: Date): Promise<void>;
  prune(before: Date): Promise<void>;
  close(): Promise<void>;
}

/**
 * The ledger in PostgreSQL (`connectionString`: the replicas' shared database); `close` ends its pool.
 * `allowExitOnIdle`: a pool that is never closed (a replica's) does not keep the process alive.
 */
export async function pgRedeliveryLedger(
  connectionString: string,
  options: { allowExitOnIdle?: boolean } = {},
): Promise<PgRedeliveryLedger> {
  const pool = new pg.Pool({ connectionString, max: 2, allowExitOnIdle: options.allowExitOnIdle === true });
  pool.on('error', () => undefined);
  try {
    await retryCreateRace(() => pool.query(DDL));
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return {
    claim: async (guid, at) => {
      const r = await pool.query(
        `insert into ${SCHEMA}.redeliveries (guid, claimed_at) values ($1, $2) on conflict (guid) do nothing`,
        [guid, at],
      );
      return r.rowCount === 1;
    },
    release: async (guid) => {
      await pool.query(`delete from ${SCHEMA}.redeliveries where guid = $1`, [guid]);
    },
    lastSweep: async () => {
      const r = await pool.query<{ started_at: Date }>(`select started_at from ${SCHEMA}.delivery_sweeps`);
      return r.rows[0]?.started_at;
    },
    setLastSweep: async (at) => {
      await pool.query(
        `insert into ${SCHEMA}.delivery_sweeps (id, started_at) values (true, $1)
         on conflict (id) do update set started_at = greatest(${SCHEMA}.delivery_sweeps.started_at, excluded.started_at)`,
        [at],
      );
    },
    prune: async (before) => {
      await pool.query(`delete from ${SCHEMA}.redeliveries where claimed_at < $1`, [before]);
    },
    close: () => pool.end(),
  };
}
