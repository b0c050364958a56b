// `npm run bench:expiry`: how late is a revocation? On a fresh database of the machine's PostgreSQL
// (test/helpers/postgres.ts), `--grants` logins are granted through the postgres provider with expiries
// spread over `--window` seconds (default: 200 grants in one minute), a tenth of them with a live session
// open, and the ExpiryScheduler (src/scheduler/expiry.ts) revokes each as `timebox serve` does at expiry
// (src/engine/keeper.ts: `revokeGrant` over one shared connection — find the grant's role by its tag, NOLOGIN,
// sessions ended, activity captured, role dropped, verified). Lateness = when the verified revocation
// returned − expires_at. The baseline, measured in the same run, is one revocation alone (a grant made
// and revoked at once), so the ratio says how much queueing adds.
// Goal: lateness p99 <= 2 s. A missed goal is reported, never an exit code.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadPolicies } from '../src/core/policy.js';
import { postgres } from '../src/providers/postgres/index.js';
import { revokeGrant, Targets } from '../src/providers/reconcile.js';
import { providerDefinitions } from '../src/providers/registry.js';
import type { GrantSpec, ManagedAccess } from '../src/providers/types.js';
import { ExpiryScheduler } from '../src/scheduler/expiry.js';
import * as lib from './lib.js';

const USAGE = `usage: npm run bench:expiry -- [--grants N] [--window SECONDS] [--lead SECONDS] [--concurrency N]

  --grants N        grants to revoke (default 200)
  --window S        their expiries are spread evenly over S seconds (default 60; 0 = all at once)
  --lead S          the first expiry is S seconds after the grants are made (default 5)
  --concurrency N   revocations in parallel (default 16, as timebox serve)
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      grants: { type: 'string', default: '200' },
      window: { type: 'string', default: '60' },
      lead: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '16' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) lib.exitWithUsage(USAGE);
  const grants = lib.wholeNumber('grants', values.grants, 1);
  const windowS = lib.wholeNumber('window', values.window, 0);
  const leadS = lib.wholeNumber('lead', values.lead, 1);
  const concurrency = lib.wholeNumber('concurrency', values.concurrency, 1);

  const stopSampler = lib.startRssSampler(true);
  lib.printMachine('expiry');
  lib.out(
    `grants: ${grants}, expiring over ${windowS} s from ${leadS} s on; ${concurrency} revocations in parallel`,
  );

  const { createTestDatabase } = await import('../test/helpers/postgres.js');
  const db = await createTestDatabase();
  const env = { TIMEBOX_POSTGRES_ORDERS_URL: db.url };
  const target = await postgres.connect({ connection: 'orders' }, env);
  const sessions: pg.Client[] = [];
  const closers: (() => Promise<void>)[] = [];
  try {
    const owner = `bench-${db.name}`;
    const spec = (n: number, expiresAt: Date): GrantSpec => ({
      accessRepoId: owner,
      file: `requests/u${n}/${db.name}.yaml`,
      grantId: `requests/u${n}/${db.name}.yaml@bench`,
      requester: `u${n}`,
      resourceId: 'orders-db',
      resource: { connection: 'orders' },
      role: 'read-only',
      roleSettings: { grant: [db.readRole], read_only: true, statement_timeout: '5s', connection_limit: 2 },
      startsAt: new Date(),
      expiresAt,
    });
    const accessOf = async (file: string): Promise<ManagedAccess> => {
      const found = (await target.list()).find((a) => a.accessRepoId === owner && a.file === file);
      if (!found) throw new Error(`${file}: not found on the target`);
      return found;
    };

    // The revoking side opens its own connection, as serve does (reconciles and expiries do not share one).
    const { policies } = loadPolicies(
      [
        {
          path: 'policies/bench.yaml',
          text: `resources:\n  orders-db:\n    provider: postgres\n    connection: orders\n    roles:\n      read-only: { grant: [${db.readRole}] }\nrules: []\n`,
        },
      ],
      providerDefinitions,
    );
    const revoker = await Targets.connect(policies, env);
    closers.push(() => revoker.close());
    const revokeAtExpiry = async (grantId: string, file: string) => {
      const out = await revokeGrant(revoker, { id: grantId, file, resource: 'orders-db' }, owner, 'expired');
      if (out.length !== 1) throw new Error(`${file}: ${out.length} roles revoked, expected 1`);
    };

    // Baseline: one revocation alone, five times (the median).
    const alone: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = spec(100_000 + i, new Date(Date.now() + 3_600_000));
      await target.grant(s);
      await accessOf(s.file);
      const t0 = performance.now();
      await revokeAtExpiry(s.grantId, s.file);
      alone.push(performance.now() - t0);
    }

    // The grants, and live sessions on every tenth.
    const start = Date.now() + leadS * 1000;
    const specs: GrantSpec[] = [];
    const t0 = performance.now();
    for (let n = 1; n <= grants; n++) {
      const at = new Date(start + (grants === 1 ? 0 : Math.round(((n - 1) * windowS * 1000) / (grants - 1))));
      const s = spec(n, at);
      const out = await target.grant(s);
      specs.push(s);
      if (n % 10 === 0) {
        const url = new URL(db.url);
        url.username = out.principal;
        url.password = out.secret;
        const c = new pg.Client({ connectionString: url.href });
        c.on('error', () => {});
        await c.connect();
        await c.query('SELECT count(*) FROM orders');
        sessions.push(c);
      }
    }
    const granting = performance.now() - t0;
    if (Date.now() > start) {
      lib.out(
        `warning: granting took ${(granting / 1000).toFixed(1)} s, past the first expiry; raise --lead`,
      );
    }

    const lateness: number[] = [];
    let failures = 0;
    await new Promise<void>((resolve) => {
      let left = specs.length;
      const scheduler = new ExpiryScheduler(
        {
          revoke: async (g) => {
            await revokeAtExpiry(g.id, g.file);
            lateness.push(Date.now() - g.expiresAt);
            left -= 1;
            if (left === 0) resolve();
          },
          alarm: () => {
            failures += 1;
          },
        },
        { reminderMs: 0, concurrency, retryMs: [200, 500, 1000] },
      );
      scheduler.sync(specs.map((s) => ({ id: s.grantId, file: s.file, expiresAt: s.expiresAt.getTime() })));
    });

    const remaining = (await target.list()).filter((a) => a.accessRepoId === owner).length;
    const sorted = [...lateness].sort((a, b) => a - b);
    const p50 = lib.percentile(sorted, 50);
    const p99 = lib.percentile(sorted, 99);
    const base = lib.median(alone);
    lib.out('');
    lib.printTable([
      ['one revocation alone (median of 5)', `${base.toFixed(1)} ms`, 'baseline'],
      ['granting', `${(granting / 1000).toFixed(1)} s`, `${grants} grants, ${sessions.length} live sessions`],
      ['lateness p50', `${p50.toFixed(0)} ms`, `${(p50 / base).toFixed(2)}x the baseline`],
      ['lateness p99', `${p99.toFixed(0)} ms`, `${(p99 / base).toFixed(2)}x the baseline`],
      ['lateness max', `${(sorted.at(-1) ?? 0).toFixed(0)} ms`, ''],
      ['failed attempts (retried)', String(failures), ''],
      ['roles left on the server', String(remaining), 'must be 0'],
      ...lib.peakRssRows(),
    ]);
    lib.out('');
    lib.out(
      `goal lateness p99 <= 2 s: ${p99 <= 2000 && remaining === 0 ? 'met' : 'NOT met'} (${p99.toFixed(0)} ms)`,
    );
  } finally {
    stopSampler();
    for (const c of sessions) await c.end().catch(() => {});
    for (const close of closers) await close();
    await target.close();
    await db.drop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench/expiry.ts: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
