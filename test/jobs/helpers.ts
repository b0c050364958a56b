// A fresh database per test file on the machine's PostgreSQL (test/helpers/postgres.ts finds it), handlers
// that record what ran, and waiting on conditions (polling, never a fixed sleep).
import { randomBytes } from 'node:crypto';
import { systemClock } from '../../src/core/clock.js';
import type { CronRunInfo, JobHandlers, JobsLogger, RunInfo, WebhookDelivery } from '../../src/jobs/index.js';
import { adminUrl, query } from '../helpers/postgres.js';

export interface JobsDb {
  url: string;
  drop(): Promise<void>;
}

export async function createJobsDb(): Promise<JobsDb> {
  const name = `timebox_jobs_${randomBytes(4).toString('hex')}`;
  const admin = await adminUrl();
  await query(admin, `CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    drop: () => query(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => undefined),
  };
}

export const quiet: JobsLogger = { info: () => {}, warn: () => {}, error: (m, d) => console.error(m, d) };

export interface Ran {
  task: 'webhook' | 'revocation' | 'reminder' | 'reconcile' | 'staleSweep';
  id: string;
  runner: string;
  start: number;
  end?: number;
  info: RunInfo | CronRunInfo;
}

/** Handlers that log each run into `ran`; `work` lets a test slow or block one. */
export function recording(ran: Ran[], work: (r: Ran) => Promise<void> = async () => {}): JobHandlers {
  const record = async (task: Ran['task'], id: string, info: RunInfo | CronRunInfo) => {
    const r: Ran = { task, id, runner: info.runner, start: systemClock.nowMs(), info };
    ran.push(r);
    await work(r);
    r.end = systemClock.nowMs();
  };
  return {
    webhook: (d: WebhookDelivery, info) => record('webhook', d.id, info),
    revocation: (g, info) => record('revocation', g, info),
    reminder: (g, info) => record('reminder', g, info),
    reconcile: (info) => record('reconcile', info.scheduledFor.toISOString(), info),
    staleSweep: (info) => record('staleSweep', info.scheduledFor.toISOString(), info),
  };
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = systemClock.nowMs() + timeoutMs;
  while (!(await cond())) {
    if (systemClock.nowMs() > deadline) throw new Error(`timed out waiting for ${what}`);
    await systemClock.sleep(25);
  }
}

export const clock = systemClock;
