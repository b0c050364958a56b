// `npm run bench:audit-html`: the HTML audit of a 100,000-commit history in a real browser.
// The ledger is generated in memory with the counts bench:ledger's history folds to (21,480 grants,
// 87,005 events; people, resources, roles, tickets, reasons, commits and pull requests as varied), because
// what is measured is the page, not reading git (bench:ledger measures that). Then:
//   size   - the bytes `renderHtml` writes;
//   load   - Debian chromium (playwright-core), a new empty profile, opens the file: until the page says it
//            is drawn (`data-ready` on <html>), the median of --rounds loads;
//   filter - choosing one person in the filter: until the page has drawn again (`data-renders`).
// Goals (issue 20): size <= 10 MB, load <= 3 s. A missed goal is reported, never an exit code.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { renderHtml } from '../src/audit/html.js';
import type { Grant, GrantEnd, Ledger, LedgerEvent } from '../src/core/ledger.js';
import * as lib from './lib.js';

const GOAL_BYTES = 10 * 1000 * 1000;
const GOAL_LOAD_MS = 3000;

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    grants: { type: 'string', default: '21480' },
    events: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (values.help) {
  lib.exitWithUsage(
    'usage: npm run bench:audit-html -- [--grants N] [--events N] [--rounds N] [--keep]\n' +
      '  --grants  grants in the ledger (default 21480, as bench:ledger folds 100,000 commits to)\n' +
      '  --events  events (default: grants x 87005/21480)\n' +
      '  --rounds  page loads measured (default 3; the median is reported; 0: the size only)\n' +
      '  --keep    keep the page and print its path\n',
  );
}
const nGrants = lib.wholeNumber('grants', values.grants, 1);
const nEvents = lib.wholeNumber('events', values.events ?? String(Math.round((nGrants * 87005) / 21480)), 1);
const rounds = lib.wholeNumber('rounds', values.rounds, 0);

const hex = (rand: () => number) =>
  Array.from({ length: 40 }, () => '0123456789abcdef'[Math.floor(rand() * 16)]).join('');
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** A ledger like bench:ledger's history folds to: two years, ten minutes a commit, a grant every 5 commits. */
function generateLedger(grantCount: number, eventCount: number, seed = 20): Ledger {
  const rand = lib.random(seed);
  const pick = lib.picker(rand);
  const people = Array.from({ length: 240 }, (_, i) => `user-${i.toString(36)}${i % 7 === 0 ? '-ops' : ''}`);
  const services = [
    'orders',
    'billing',
    'customers',
    'payments',
    'search',
    'inventory',
    'shipping',
    'reports',
  ];
  const resources = services.flatMap((s) => [`${s}-db`, `${s}-cache`, `${s}-queue`]);
  const roles = ['read-only', 'read-write', 'admin'];
  const verbs = ['Investigate', 'Fix', 'Backfill', 'Reconcile', 'Migrate', 'Debug', 'Export'];
  const start = Date.UTC(2024, 11, 1);
  const span = 100_000 * 600_000;
  const now = start + span;
  const grants: Grant[] = [];
  const events: LedgerEvent[] = [];
  const base = 4;
  let extra = Math.max(0, eventCount - grantCount * base);
  for (let i = 0; i < grantCount; i++) {
    const requester = pick(people) as string;
    const resource = pick(resources) as string;
    const role = pick(roles) as string;
    const file = `requests/${requester}/${resource}-${role}-${i}.yaml`;
    const commit = hex(rand);
    const at = start + Math.floor((i / grantCount) * span) + Math.floor(rand() * 3_600_000);
    const hours = 1 + Math.floor(rand() * 8);
    const expires = at + hours * 3_600_000;
    const revoked = rand() < 0.15;
    const ends = revoked ? at + Math.floor(rand() * hours * 3_600_000) : expires;
    const state: GrantEnd = ends > now ? 'active' : revoked ? 'revoked' : 'expired';
    const ticket = rand() < 0.8 ? `OPS-${1000 + i}` : undefined;
    const approvers = [pick(people) as string];
    if (extra > 0) {
      approvers.push(pick(people) as string);
      extra--;
    }
    const g: Grant = {
      id: `${file}@${commit.slice(0, 12)}`,
      file,
      requester,
      resource,
      role,
      reason: `${pick(verbs)} ${ticket ?? 'an incident'} on ${resource} (${Math.floor(rand() * 1e6)} rows)`,
      ...(ticket ? { ticket } : {}),
      starts_at: iso(at),
      expires_at: iso(expires),
      ends_at: iso(ends),
      state,
      commit,
      merged_at: iso(at),
      pull_request: 1 + i,
      approvers,
    };
    grants.push(g);
    const ev = (
      time: number,
      type: LedgerEvent['type'],
      actor: string | null,
      more: Partial<LedgerEvent> = {},
    ) =>
      events.push({
        time: iso(time),
        type,
        file,
        actor,
        requester,
        resource,
        role,
        expires_at: g.expires_at,
        ticket: ticket ?? null,
        pull_request: g.pull_request ?? null,
        commit,
        grant: g.id,
        ...more,
      });
    ev(at - 600_000, 'requested', requester, { reason: g.reason });
    for (const a of approvers) ev(at, 'approved', a);
    ev(at, 'granted', 'timebox[bot]');
    if (ends <= now)
      ev(ends, revoked ? 'revoked' : 'expired', revoked ? requester : null, {
        commit: hex(rand),
        ...(revoked ? { reason: 'done early', activity: `${1 + Math.floor(rand() * 9)} statements` } : {}),
      });
  }
  events.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  return { grants, events: events.slice(0, eventCount), notes: [] };
}

const dir = mkdtempSync(join(tmpdir(), 'tb-bench-audit-html-'));
try {
  const ledger = generateLedger(nGrants, nEvents);
  const generatedAt = new Date(Date.UTC(2024, 11, 1) + 100_000 * 600_000);
  const rendered = await lib.timed(() =>
    renderHtml(ledger, { generatedAt, repoUrl: 'https://github.com/acme/access' }),
  );
  const file = join(dir, 'audit.html');
  writeFileSync(file, rendered.value);
  const bytes = statSync(file).size;
  lib.out(
    `ledger: ${ledger.grants.length} grants, ${ledger.events.length} events (in memory); renderHtml ${rendered.ms.toFixed(0)} ms`,
  );
  lib.out(`page: ${(bytes / 1e6).toFixed(2)} MB (${lib.mib(bytes)})`);

  const url = pathToFileURL(file).href;
  const loads: number[] = [];
  const filters: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const profile = mkdtempSync(join(dir, 'profile-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      viewport: { width: 1280, height: 900 },
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      const t0 = performance.now();
      await page.goto(url, { waitUntil: 'commit', timeout: 300_000 });
      await page.waitForSelector('html[data-ready]', { timeout: 300_000 });
      loads.push(performance.now() - t0);
      const who = await page.$eval(
        '#f-who option:nth-child(2)',
        (o) => (o as unknown as { value: string }).value,
      );
      const t1 = performance.now();
      await page.selectOption('#f-who', who);
      await page.waitForSelector('html[data-renders="2"]', { timeout: 300_000 });
      filters.push(performance.now() - t1);
      const count = await page.textContent('#tb-count');
      lib.out(
        `round ${r + 1}: load ${loads[r]?.toFixed(0)} ms, filter by one person ${filters[r]?.toFixed(0)} ms (${count})${errors.length ? `, console errors: ${errors.join(' | ')}` : ''}`,
      );
    } finally {
      await context.close();
    }
  }
  lib.out(`goal size <= 10 MB: ${bytes <= GOAL_BYTES ? 'met' : 'NOT met'} (${(bytes / 1e6).toFixed(2)} MB)`);
  if (rounds > 0) {
    const load = lib.median(loads);
    const filter = lib.median(filters);
    lib.out(`load (median of ${rounds}): ${load.toFixed(0)} ms; filter: ${filter.toFixed(0)} ms`);
    lib.out(
      `goal interactive <= 3 s: ${load <= GOAL_LOAD_MS ? 'met' : 'NOT met'} (${(load / 1000).toFixed(2)} s)`,
    );
  }
  if (values.keep) lib.out(`kept: ${file}`);
} finally {
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
}
