// The HTML audit at moderate scale (600 grants, 2,400 events) in headless Chromium: the filters show exactly
// what they select, search finds a ticket, the table keeps only the rows in view, and the timeline's bars stay
// on its axis when zoomed and panned. Screenshots: test-output/audit-scale-*.png.
import { resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderHtml } from '../../src/audit/html.js';
import type { Grant, Ledger, LedgerEvent } from '../../src/core/ledger.js';
import { launch, OUT, open, rendered } from './html-browser.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 8, 1);
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const PEOPLE = Array.from({ length: 12 }, (_, i) => `person-${String.fromCharCode(97 + i)}`);
const RESOURCES = ['billing-db', 'orders-db', 'search-cache', 'payments-db', 'users-db', 'queue'];

/** 600 grants, each starting on a whole hour: requested, approved, granted, then expired or revoked. */
function ledger(): Ledger {
  const grants: Grant[] = [];
  const events: LedgerEvent[] = [];
  for (let i = 0; i < 600; i++) {
    const requester = PEOPLE[(i * 7) % PEOPLE.length] as string;
    const resource = RESOURCES[(i * 5) % RESOURCES.length] as string;
    const role = i % 3 === 0 ? 'read-write' : 'read-only';
    const start = T0 + i * 3 * HOUR;
    const end = start + (1 + (i % 4)) * HOUR;
    const revoked = i % 9 === 0;
    const commit = i.toString(16).padStart(40, 'c');
    const file = `requests/${requester}/${resource}-${i}.yaml`;
    const g: Grant = {
      id: `${file}@${commit.slice(0, 12)}`,
      file,
      requester,
      resource,
      role,
      reason: `Work on TCK-${i}-Z`,
      ticket: `TCK-${i}-Z`,
      starts_at: iso(start),
      expires_at: iso(end),
      ends_at: iso(end),
      state: revoked ? 'revoked' : 'expired',
      commit,
      merged_at: iso(start),
      pull_request: 1000 + i,
      approvers: [PEOPLE[(i + 1) % PEOPLE.length] as string],
    };
    grants.push(g);
    const ev = (time: number, type: LedgerEvent['type'], actor: string | null): LedgerEvent => ({
      time: iso(time),
      type,
      file,
      actor,
      requester,
      resource,
      role,
      expires_at: g.expires_at,
      ticket: g.ticket ?? null,
      pull_request: g.pull_request ?? null,
      commit,
      grant: g.id,
    });
    events.push(
      { ...ev(start - 600_000, 'requested', requester), reason: g.reason },
      ev(start, 'approved', g.approvers[0] ?? null),
      ev(start, 'granted', 'timebox[bot]'),
      ev(end, revoked ? 'revoked' : 'expired', revoked ? requester : null),
    );
  }
  return { grants, events, notes: [] };
}

const LEDGER = ledger();
const HTML = renderHtml(LEDGER, { generatedAt: new Date(T0 + 2000 * HOUR) });

/** What the table shows now: every row, scrolled through from top to bottom. */
async function allRows(page: Page): Promise<{ event: string; who: string; ticket: string; type: string }[]> {
  return (await page.evaluate(`(async () => {
    const body = document.getElementById('tb-rows');
    const seen = new Map();
    for (let top = 0; ; top += body.clientHeight) {
      body.scrollTop = top;
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      for (const r of document.querySelectorAll('.vt-row')) seen.set(r.dataset.event, {
        event: r.dataset.event,
        who: r.querySelector('.requester').textContent,
        ticket: r.querySelector('.ticket').textContent,
        type: r.querySelector('.type').textContent,
      });
      if (top + body.clientHeight >= body.scrollHeight) break;
    }
    body.scrollTop = 0;
    return [...seen.values()];
  })()`)) as { event: string; who: string; ticket: string; type: string }[];
}

/** Each axis tick's x and the x of every bar that starts exactly at its time. */
async function alignment(page: Page): Promise<{ at: string; tick: number; bar: number }[]> {
  return (await page.evaluate(`(() => {
    const out = [];
    for (const line of document.querySelectorAll('svg.chart line.grid')) {
      const tick = line.getBoundingClientRect().left;
      for (const bar of document.querySelectorAll('rect.grant[data-start="' + line.dataset.at + '"]'))
        out.push({ at: line.dataset.at, tick, bar: bar.getBoundingClientRect().left });
    }
    return out;
  })()`)) as { at: string; tick: number; bar: number }[];
}

describe('the HTML audit at moderate scale, in headless Chromium', () => {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('filters show exactly what they select; search finds a ticket; only the rows in view exist', async () => {
    const { page, problems } = await open(browser, HTML, 'audit-scale');
    expect(await page.textContent('#tb-count')).toBe('2400 of 2400 events, 600 of 600 grants');
    expect(await page.$$eval('.vt-row', (rs) => rs.length)).toBeLessThan(40);

    const who = 'person-c';
    await page.selectOption('#f-who', { label: who });
    await rendered(page, 2);
    const mine = LEDGER.events.filter((e) => e.requester === who);
    expect(mine.length).toBeGreaterThan(100);
    expect(await page.textContent('#tb-count')).toBe(
      `${mine.length} of 2400 events, ${mine.length / 4} of 600 grants`,
    );
    const rows = await allRows(page);
    expect(rows).toHaveLength(mine.length);
    expect(new Set(rows.map((r) => r.who))).toEqual(new Set([who]));
    expect(
      await page.$$eval('svg.chart text.row-label title', (ts) =>
        ts.every((t) => t.textContent?.startsWith('person-c · ')),
      ),
    ).toBe(true);
    const people = await page.$$eval('#tb-people tbody tr td:first-child', (ts) =>
      ts.map((t) => t.textContent),
    );
    expect(people).toEqual([who]);
    await page.screenshot({ path: resolve(OUT, 'audit-scale-person.png'), fullPage: true });

    await page.selectOption('#f-type', { label: 'revoked' });
    await rendered(page, 3);
    const revoked = await allRows(page);
    expect(revoked).toHaveLength(mine.filter((e) => e.type === 'revoked').length);
    expect(revoked.every((r) => r.type === 'revoked' && r.who === who)).toBe(true);

    await page.click('#f-clear');
    await rendered(page, 4);
    await page.fill('#f-q', 'tck-421-z');
    await rendered(page, 5);
    const found = await allRows(page);
    expect(found).toHaveLength(4);
    expect(new Set(found.map((r) => r.ticket))).toEqual(new Set(['TCK-421-Z']));
    await page.screenshot({ path: resolve(OUT, 'audit-scale-search.png'), fullPage: true });

    // A period: whole UTC days, the last one included.
    await page.fill('#f-q', '');
    await rendered(page, 6);
    await page.fill('#f-from', '2026-09-10');
    await rendered(page, 7);
    await page.fill('#f-to', '2026-09-12');
    await rendered(page, 8);
    const [lo, hi] = [Date.parse('2026-09-10T00:00:00Z'), Date.parse('2026-09-13T00:00:00Z')];
    const inPeriod = LEDGER.events.filter((e) => Date.parse(e.time) >= lo && Date.parse(e.time) < hi);
    expect(inPeriod.length).toBeGreaterThan(50);
    expect(await allRows(page)).toHaveLength(inPeriod.length);
    expect(await page.textContent('#tb-count')).toMatch(new RegExp(`^${inPeriod.length} of 2400 events, `));
    expect(problems).toEqual([]);
  });

  it('zoom and pan keep every bar on the axis tick of its start time', async () => {
    const { page, problems } = await open(browser, HTML, 'audit-scale-zoom');
    let renders = 0;
    const checks: string[] = [];
    const check = async (what: string) => {
      const pairs = await alignment(page);
      checks.push(`${what}: ${pairs.length}`);
      for (const p of pairs) expect(Math.abs(p.bar - p.tick), `${what} at ${p.at}`).toBeLessThan(0.75);
      return pairs.length;
    };
    const frame = () =>
      page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
    const windowText = async () => (await page.textContent('#tb-window')) ?? '';
    await check('fit');
    const before = await windowText();
    for (let i = 0; i < 5; i++) await page.click('#z-in');
    await frame();
    expect(await windowText()).not.toBe(before);
    let compared = await check('zoomed in with the buttons');
    await page.click('#p-right');
    await frame();
    compared += await check('panned');
    const svg = await page.$('svg.chart');
    const box = await svg?.boundingBox();
    if (!box) throw new Error('no chart');
    await page.mouse.move(box.x + box.width * 0.6, box.y + 100);
    await page.mouse.wheel(0, -400);
    await frame();
    compared += await check('zoomed in with the wheel');
    await page.mouse.move(box.x + box.width * 0.6, box.y + 100);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.4, box.y + 100, { steps: 5 });
    await page.mouse.up();
    await frame();
    compared += await check('dragged');
    // Bars were really compared with ticks (the grants start on whole hours).
    expect(compared, checks.join(', ')).toBeGreaterThan(3);
    await page.screenshot({ path: resolve(OUT, 'audit-scale-zoom.png'), fullPage: true });
    renders = Number(await page.getAttribute('html', 'data-renders'));
    expect(renders).toBe(1);
    expect(problems).toEqual([]);
  });
});
