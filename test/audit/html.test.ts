// The HTML audit report: its markup and data document, and the page in a real headless Chromium
// (Debian `chromium` + playwright-core, test/audit/html-browser.ts). Pages and screenshots: test-output/.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderHtml } from '../../src/audit/html.js';
import type { Grant, Ledger, LedgerEvent } from '../../src/core/ledger.js';
import { launch, OUT, open, rendered } from './html-browser.js';

const GENERATED_AT = new Date('2026-11-21T12:00:00Z');

// --- A small ledger, by hand: 2 people, 2 roles, 5 grants (one revoked, one extended, one scheduled).

const sha = (c: string) => c.repeat(40);

const G1: Grant = {
  id: 'requests/alice/orders-read.yaml@aaaaaaaaaaaa',
  file: 'requests/alice/orders-read.yaml',
  requester: 'alice',
  resource: 'orders-db',
  role: 'read-only',
  reason: 'Reproduce BUG-1234',
  ticket: 'BUG-1234',
  starts_at: '2026-11-20T09:00:00Z',
  expires_at: '2026-11-20T11:00:00Z',
  ends_at: '2026-11-20T11:00:00Z',
  state: 'expired',
  commit: sha('a'),
  merged_at: '2026-11-20T09:00:00Z',
  pull_request: 12,
  approvers: ['carol'],
};
const G2: Grant = {
  id: 'requests/alice/orders-write.yaml@bbbbbbbbbbbb',
  file: 'requests/alice/orders-write.yaml',
  requester: 'alice',
  resource: 'orders-db',
  role: 'read-write',
  reason: 'Fix the stuck order 4711',
  ticket: 'OPS-77',
  starts_at: '2026-11-20T13:00:00Z',
  expires_at: '2026-11-20T15:00:00Z',
  ends_at: '2026-11-20T13:40:00Z',
  state: 'revoked',
  commit: sha('b'),
  merged_at: '2026-11-20T13:00:00Z',
  pull_request: 15,
  approvers: ['carol', 'dave'],
  ended_by: sha('c'),
  revocation_reason: 'done early',
  activity: '3 statements\nUPDATE orders SET state = ... (1 row)',
};
const G3: Grant = {
  id: 'requests/platform-reliability/bob/payments-reconciliation-november.yaml@dddddddddddd',
  file: 'requests/platform-reliability/bob/payments-reconciliation-november.yaml',
  requester: 'bob',
  resource: 'payments-db',
  role: 'read-only',
  reason: 'Reconcile November payouts',
  starts_at: '2026-11-20T16:00:00Z',
  expires_at: '2026-11-20T20:00:00Z',
  ends_at: '2026-11-20T18:30:00Z',
  state: 'replaced',
  commit: sha('d'),
  merged_at: '2026-11-20T16:00:00Z',
  approvers: ['carol'],
  ended_by: sha('e'),
};
const G4: Grant = {
  ...G3,
  id: 'requests/platform-reliability/bob/payments-reconciliation-november.yaml@eeeeeeeeeeee',
  reason: 'Reconcile November payouts (needs the night run too)',
  starts_at: '2026-11-20T18:30:00Z',
  expires_at: '2026-11-21T14:00:00Z',
  ends_at: '2026-11-21T14:00:00Z',
  state: 'active',
  commit: sha('e'),
  merged_at: '2026-11-20T18:30:00Z',
  extends: G3.id,
  ended_by: undefined,
};
const G5: Grant = {
  id: 'requests/bob/orders-write.yaml@ffffffffffff',
  file: 'requests/bob/orders-write.yaml',
  requester: 'bob',
  resource: 'orders-db',
  role: 'read-write',
  reason: 'Data migration dry run',
  ticket: 'OPS-80',
  starts_at: '2026-11-21T15:00:00Z',
  expires_at: '2026-11-21T17:00:00Z',
  ends_at: '2026-11-21T17:00:00Z',
  state: 'scheduled',
  commit: sha('f'),
  merged_at: '2026-11-21T10:05:00Z',
  approvers: ['carol', 'dave'],
};

function ev(
  g: Grant,
  time: string,
  type: LedgerEvent['type'],
  actor: string | null,
  extra: Partial<LedgerEvent> = {},
) {
  const base = {
    file: g.file,
    requester: g.requester,
    resource: g.resource,
    role: g.role,
    expires_at: g.expires_at,
    ticket: g.ticket ?? null,
    pull_request: g.pull_request ?? null,
    grant: g.id,
  };
  return { ...base, time, type, actor, commit: g.commit, ...extra } satisfies LedgerEvent;
}

const LEDGER: Ledger = {
  grants: [G1, G2, G3, G4, G5],
  events: [
    ev(G1, '2026-11-20T08:40:00Z', 'requested', 'alice', { reason: G1.reason }),
    ev(G1, '2026-11-20T09:00:00Z', 'approved', 'carol'),
    ev(G1, '2026-11-20T09:00:00Z', 'granted', 'timebox[bot]'),
    ev(G1, '2026-11-20T11:00:00Z', 'expired', null),
    ev(G2, '2026-11-20T12:30:00Z', 'requested', 'alice', { reason: G2.reason }),
    ev(G2, '2026-11-20T13:00:00Z', 'approved', 'carol'),
    ev(G2, '2026-11-20T13:00:00Z', 'approved', 'dave'),
    ev(G2, '2026-11-20T13:00:00Z', 'granted', 'timebox[bot]'),
    ev(G2, '2026-11-20T13:40:00Z', 'revoked', 'alice', {
      commit: sha('c'),
      reason: 'done early',
      activity: G2.activity,
    }),
    ev(G3, '2026-11-20T15:50:00Z', 'requested', 'bob', { reason: G3.reason }),
    ev(G3, '2026-11-20T16:00:00Z', 'approved', 'carol'),
    ev(G3, '2026-11-20T16:00:00Z', 'granted', 'timebox[bot]'),
    ev(G4, '2026-11-20T18:20:00Z', 'requested', 'bob', { reason: G4.reason }),
    ev(G4, '2026-11-20T18:30:00Z', 'approved', 'carol'),
    ev(G4, '2026-11-20T18:30:00Z', 'extended', 'timebox[bot]', { reason: `extends ${G3.id}` }),
    ev(G5, '2026-11-21T10:00:00Z', 'requested', 'bob', { reason: G5.reason }),
    ev(G5, '2026-11-21T10:05:00Z', 'approved', 'carol'),
    ev(G5, '2026-11-21T15:00:00Z', 'granted', 'timebox[bot]'),
  ],
  notes: [
    { commit: sha('9'), file: 'access/orders.yaml', message: 'ignored: request-like file outside requests/' },
  ],
};

// --- Hostile input: everything that comes from git or a request file.

const XSS_REASON = '<img src=x onerror=alert(1)>';
const HOSTILE: Grant = {
  id: `requests/"><script>alert(1)</script>.yaml@'1'"2"`,
  file: `requests/"><script>alert(1)</script>.yaml`,
  requester: `"><svg onload=alert(2)>`,
  resource: `</title><script>alert(3)</script>`,
  role: `x" onmouseover="alert(4)`,
  reason: XSS_REASON,
  ticket: `</text></svg><iframe src=javascript:alert(5)>`,
  starts_at: '2026-11-20T09:00:00Z',
  expires_at: '2026-11-20T12:00:00Z',
  ends_at: '2026-11-20T10:00:00Z',
  state: 'revoked',
  commit: `'><b onclick=alert(6)>`,
  merged_at: '2026-11-20T09:00:00Z',
  approvers: ['<u>mallory</u>', "o'brien"],
  revocation_reason: '</title><img src=x onerror=alert(7)>',
  activity: '</td></tr></table><script>alert(8)</script>\n-- ]]> <!-- ',
};
const HOSTILE_LEDGER: Ledger = {
  grants: [HOSTILE, { ...HOSTILE, id: `${HOSTILE.id}&amp;2`, role: 'read-only', state: 'expired' }],
  events: [
    ev(HOSTILE, '2026-11-20T09:00:00Z', 'requested', '<script>alert(9)</script>', { reason: XSS_REASON }),
    ev(HOSTILE, '2026-11-20T10:00:00Z', 'revoked', `"'><img src=x onerror=alert(10)>`, {
      reason: HOSTILE.revocation_reason,
      activity: HOSTILE.activity,
    }),
  ],
  notes: [{ commit: '<b>c</b>', file: '<i>f</i>', message: '<iframe src="javascript:alert(11)"></iframe>' }],
};

const EMPTY: Ledger = { grants: [], events: [], notes: [] };

/** The page's embedded data document (what the script renders). */
function dataOf(html: string): { s: string[]; repoUrl: string | null; events: { t: unknown[] } } {
  const m = /<script type="application\/json" id="timebox-data">([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error('no data document');
  return JSON.parse(m[1] ?? '');
}

// --- The page as text.

describe('renderHtml (text)', () => {
  const html = renderHtml(LEDGER, { generatedAt: GENERATED_AT });

  it('is a self-contained page with a strict Content-Security-Policy', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    const csp = (
      /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)?.[1] ?? ''
    ).replace(/&#39;/g, "'");
    expect(csp).toMatch(
      /^default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-[A-Za-z0-9+/]+=*'/,
    );
    // The one script is the one the policy allows; the data document is JSON, never executed.
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1] ?? '');
    expect(scripts).toHaveLength(1);
    expect(html.match(/<script\b/g)).toHaveLength(2);
    expect(
      `sha256-${createHash('sha256')
        .update(scripts[0] ?? '')
        .digest('base64')}`,
    ).toBe(/script-src '(sha256-[^']+)'/.exec(csp)?.[1]);
    // No URL, stylesheet, font or script from anywhere else (outside the script's own code).
    const markup = html.replace(/<script>[\s\S]*?<\/script>/, '');
    expect(markup).not.toMatch(
      /https?:|\/\/[a-z]|<link|@import|@font-face|\bsrc=|\bhref=|url\((?!#tb-hatch\))/i,
    );
  });

  it('embeds every event once, in one JSON document, and the repository address only when known', () => {
    const data = dataOf(html);
    expect(data.events.t).toHaveLength(LEDGER.events.length);
    expect(data.repoUrl).toBeNull();
    // A string table: a file named by many events is written once.
    expect(data.s.filter((x) => x === G2.file)).toHaveLength(1);
    const linked = renderHtml(LEDGER, {
      generatedAt: GENERATED_AT,
      repoUrl: 'https://github.com/acme/access',
    });
    expect(dataOf(linked).repoUrl).toBe('https://github.com/acme/access');
    // Never a scheme that would run.
    expect(
      dataOf(renderHtml(LEDGER, { generatedAt: GENERATED_AT, repoUrl: 'javascript:alert(1)' })).repoUrl,
    ).toBe(null);
  });

  it('explains its jargon: every event type and state it shows is in the glossary', () => {
    const terms = [...html.matchAll(/<dt>([^<]*)<\/dt>/g)].flatMap((m) => (m[1] ?? '').split(' / '));
    for (const t of [
      'requested',
      'approved',
      'granted',
      'extended',
      'revoked',
      'expired',
      'replaced',
      'active',
      'scheduled',
      'actor',
    ])
      expect(terms).toContain(t);
    expect(html).toMatch(
      /<dt>replaced<\/dt><dd>A grant that ended early because its request file was edited/,
    );
  });

  it('is deterministic', () => {
    expect(renderHtml(LEDGER, { generatedAt: GENERATED_AT })).toBe(html);
  });

  it('escapes everything that comes from git: no text can end the data document or add markup', () => {
    const hostile = renderHtml(HOSTILE_LEDGER, { generatedAt: GENERATED_AT });
    expect(hostile).not.toMatch(/<(img|iframe|svg onload|u>|b>|i>|b onclick)/i);
    expect(hostile.match(/<script>/g)).toHaveLength(1);
    expect(hostile.match(/<\/script>/g)).toHaveLength(2);
    const data = dataOf(hostile);
    expect(data.s).toContain(XSS_REASON);
    expect(data.s).toContain(HOSTILE.activity);
    expect(hostile).toContain('&lt;iframe src=&quot;javascript:alert(11)&quot;&gt;&lt;/iframe&gt;');
  });
});

// --- The page in a real browser.

describe('renderHtml in headless Chromium', () => {
  let browser: Browser | undefined;

  beforeAll(async () => {
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('renders the timeline and the event table without errors, and keeps a screenshot', async () => {
    const { page, problems } = await open(
      browser,
      renderHtml(LEDGER, { generatedAt: GENERATED_AT }),
      'audit-report',
    );

    const bars = await page.$$eval('rect.grant', (rs) => rs.map((r) => r.getAttribute('data-grant')));
    expect([...bars].sort()).toEqual(LEDGER.grants.map((g) => g.id).sort());
    const roles = await page.$$eval('rect.grant', (rs) =>
      rs.map((r) => [r.getAttribute('data-role'), r.getAttribute('fill')]),
    );
    expect(new Map(roles as [string, string][]).size).toBe(2);
    expect(new Set(roles.map(([, fill]) => fill)).size).toBe(2);

    const labels = await page.$$eval('svg.chart text.row-label', (ts) =>
      ts.map((t) => t.querySelector('title')?.textContent),
    );
    expect(labels).toEqual(['alice · orders-db', 'bob · orders-db', 'bob · payments-db']);

    const tip = await page.$eval(`rect.grant[data-grant="${G2.id}"] > title`, (t) => t.textContent ?? '');
    for (const line of [
      `file: ${G2.file}`,
      'requester: alice',
      'resource: orders-db',
      'role: read-write',
      'starts_at: 2026-11-20 13:00',
      'ends_at: 2026-11-20 13:40 (requested until 2026-11-20 15:00)',
      'state: revoked',
      'approvers: carol, dave',
      `reason: ${G2.reason}`,
      'revocation reason: done early',
      'activity: 3 statements',
    ]) {
      expect(tip).toContain(line);
    }
    expect(await page.$$eval('svg.chart rect.hatch', (rs) => rs.length)).toBe(1);

    expect(await page.textContent('#tb-count')).toBe('18 of 18 events, 5 of 5 grants');
    const times = await page.$$eval('.vt-row .time', (cs) => cs.map((c) => c.textContent));
    expect(times[0]).toBe('2026-11-20 08:40');
    expect(await page.$$eval('ul.notes li', (ls) => ls.length)).toBe(1);
    const legend = await page.$eval('.legend', (l) => l.textContent ?? '');
    expect(legend).toContain('read-only');
    expect(legend).toContain('read-write');
    expect(legend).toContain('revoked');

    // The script runs under the CSP: a click on a bar lists that grant's events, and only them.
    // From the keyboard too: Enter on a focused bar.
    await page.focus(`rect.grant[data-grant="${G1.id}"]`);
    await page.keyboard.press('Enter');
    await rendered(page, 2);
    expect(await page.textContent('#tb-count')).toBe('4 of 18 events, 1 of 5 grants');
    await page.click('#tb-grant-clear');
    await rendered(page, 3);
    expect(await page.textContent('#tb-count')).toBe('18 of 18 events, 5 of 5 grants');
    await page.click(`rect.grant[data-grant="${G2.id}"]`);
    await rendered(page, 4);
    expect(await page.textContent('#tb-count')).toBe('5 of 18 events, 1 of 5 grants');
    const grants = await page.$$eval('.vt-row', (rs) => rs.map((r) => r.getAttribute('data-grant')));
    expect(grants).toEqual(LEDGER.events.filter((e) => e.grant === G2.id).map(() => G2.id));
    expect(await page.textContent('#tb-details pre')).toContain('revocation reason: done early');

    await page.screenshot({ path: resolve(OUT, 'audit-report.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('the legend shows the colours the bars and the table have', async () => {
    const { page, problems } = await open(
      browser,
      renderHtml(LEDGER, { generatedAt: GENERATED_AT }),
      'audit-report-legend',
    );
    const seen = (await page.evaluate(`(() => {
      const paint = (e) => {
        const c = getComputedStyle(e);
        return { fill: c.fill, opacity: c.fillOpacity };
      };
      const legend = [...document.querySelectorAll('.legend > div:first-child li')].map((li) => ({
        role: (li.textContent ?? '').trim(),
        ...paint(li.querySelector('svg rect')),
      }));
      const bars = [...document.querySelectorAll('svg.chart rect.grant')].map((b) => ({
        role: b.getAttribute('data-role'),
        state: b.getAttribute('data-state'),
        ...paint(b),
      }));
      const dots = [...document.querySelectorAll('.vt-row .dot')].map((d) => ({
        role: d.parentElement?.childNodes[1]?.textContent ?? '',
        fill: getComputedStyle(d).backgroundColor,
      }));
      return { legend, bars, dots };
    })()`)) as {
      legend: { role: string; fill: string; opacity: string }[];
      bars: { role: string; state: string; fill: string; opacity: string }[];
      dots: { role: string; fill: string }[];
    };
    const legend = new Map(seen.legend.map((l) => [l.role, { fill: l.fill, opacity: l.opacity }]));
    expect([...legend.keys()].sort()).toEqual(['read-only', 'read-write']);
    expect(new Set([...legend.values()].map((v) => v.fill)).size).toBe(2);
    const solid = seen.bars.filter((b) => b.state !== 'scheduled');
    expect(solid.length).toBeGreaterThanOrEqual(4);
    for (const b of solid)
      expect({ fill: b.fill, opacity: b.opacity }, `${b.role} ${b.state}`).toEqual(legend.get(b.role));
    for (const b of seen.bars.filter((x) => x.state === 'scheduled'))
      expect(b.fill).toBe(legend.get(b.role)?.fill);
    expect(seen.dots.length).toBeGreaterThan(5);
    for (const d of seen.dots) expect(d.fill, d.role).toBe(legend.get(d.role)?.fill);
    expect(problems).toEqual([]);
  });

  it('the event table fits a laptop window, and links only pull requests and commits of the repository', async () => {
    const html = renderHtml(LEDGER, { generatedAt: GENERATED_AT, repoUrl: 'https://github.com/acme/access' });
    const { page, problems } = await open(browser, html, 'audit-report-fit', {
      viewport: { width: 1280, height: 800 },
    });
    const fit = (await page.evaluate(
      `(() => { const w = document.querySelector('.vt'); return [w.scrollWidth, w.clientWidth]; })()`,
    )) as [number, number];
    expect(fit[0]).toBeLessThanOrEqual(fit[1]);
    const hrefs = await page.$$eval('a[href]', (as) => as.map((a) => a.getAttribute('href')));
    expect(new Set(hrefs.filter((h) => h?.includes('/pull/')))).toEqual(
      new Set(['https://github.com/acme/access/pull/12', 'https://github.com/acme/access/pull/15']),
    );
    for (const h of hrefs)
      expect(h).toMatch(/^https:\/\/github\.com\/acme\/access\/(pull\/\d+|commit\/[0-9a-f]{40})$/);
    // Without the address, nothing is linked.
    const plain = await open(
      browser,
      renderHtml(LEDGER, { generatedAt: GENERATED_AT }),
      'audit-report-nolinks',
    );
    expect(await plain.page.$$eval('a[href]', (as) => as.length)).toBe(0);
    expect(await plain.page.$$eval('.vt-row .pr', (ps) => ps.map((p) => p.textContent))).toContain('#12');
    expect([...problems, ...plain.problems]).toEqual([]);
  });

  it('ticks on round UTC times', async () => {
    const axisOf = async (from: string, to: string, name: string) => {
      const html = renderHtml(
        { grants: [{ ...G1, starts_at: from, expires_at: to, ends_at: to }], events: [], notes: [] },
        { generatedAt: GENERATED_AT },
      );
      const { page, problems } = await open(browser, html, name);
      expect(problems).toEqual([]);
      return (await page.evaluate(`(() => {
        const subs = new Map([...document.querySelectorAll('text.tick.sub')].map((t) => [t.getAttribute('x'), t.textContent]));
        return [...document.querySelectorAll('text.tick:not(.sub)')].map((t) => ({ label: t.textContent, sub: subs.get(t.getAttribute('x')) }));
      })()`)) as { label: string; sub?: string }[];
    };
    const t = await axisOf('2026-11-20T08:50:00Z', '2026-11-21T17:10:00Z', 'audit-report-ticks');
    expect(t.map((x) => x.label)).toEqual(['12:00', '18:00', '00:00', '06:00', '12:00']);
    expect(t.map((x) => x.sub)).toEqual(['2026-11-20', undefined, '2026-11-21', undefined, undefined]);
    const months = await axisOf('2026-01-15T00:00:00Z', '2026-12-20T00:00:00Z', 'audit-report-ticks-months');
    expect(months[0]?.label).toBe('2026-03');
    expect(months.every((x) => /^\d{4}-\d{2}$/.test(x.label))).toBe(true);
  });

  it('a 5-minute grant in a 30-day window is a visible bar, not a sliver clipped at the edge', async () => {
    const at = (iso: string, minutes: number) =>
      new Date(Date.parse(iso) + minutes * 60_000).toISOString().replace('.000Z', 'Z');
    const grant = (id: string, requester: string, starts: string, minutes: number): Grant => ({
      ...G1,
      id: `requests/${requester}/${id}.yaml@${id}`,
      file: `requests/${requester}/${id}.yaml`,
      requester,
      starts_at: starts,
      expires_at: at(starts, minutes),
      ends_at: at(starts, minutes),
      state: 'expired',
    });
    const MONTH = '2026-10-01T00:00:00Z';
    const grants = [
      grant('month', 'alice', MONTH, 30 * 24 * 60),
      grant('first', 'bob', MONTH, 5),
      grant('last', 'carol', at(MONTH, 30 * 24 * 60 - 5), 5),
      grant('middle', 'dave', '2026-10-15T12:00:00Z', 5),
    ];
    const { page, problems } = await open(
      browser,
      renderHtml({ grants, events: [], notes: [] }, { generatedAt: GENERATED_AT }),
      'audit-report-short',
    );
    const seen = (await page.evaluate(`(() => {
      const svg = document.querySelector('svg.chart');
      const box = svg.getBoundingClientRect();
      const labels = Math.max(...[...svg.querySelectorAll('text.row-label')].map((t) => t.getBoundingClientRect().right));
      const bars = [...svg.querySelectorAll('rect.grant')].map((r) => {
        const b = r.getBoundingClientRect();
        const hit = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
        return { id: r.getAttribute('data-grant'), left: b.left, right: b.right, width: b.width, onTop: hit === r };
      });
      return { right: box.right, labels, bars };
    })()`)) as {
      right: number;
      labels: number;
      bars: { id: string; left: number; right: number; width: number; onTop: boolean }[];
    };
    expect(seen.bars).toHaveLength(4);
    for (const b of seen.bars) {
      expect(b.width, b.id).toBeGreaterThanOrEqual(3);
      expect(b.left, b.id).toBeGreaterThan(seen.labels);
      expect(b.right, b.id).toBeLessThanOrEqual(seen.right - 20);
      expect(b.onTop, b.id).toBe(true);
    }
    await page.screenshot({ path: resolve(OUT, 'audit-report-short.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('without JavaScript, says so and still shows the summary and the glossary', async () => {
    const { page, problems } = await open(
      browser,
      renderHtml(LEDGER, { generatedAt: GENERATED_AT }),
      'audit-report-nojs',
      { javaScriptEnabled: false },
    );
    const text = (await page.textContent('body')) ?? '';
    expect(text).toContain('Enable JavaScript for this file');
    expect(text).toContain('5 grants');
    expect(text).toContain('18 events');
    expect(await page.isVisible('#glossary')).toBe(true);
    expect(problems).toEqual([]);
  });

  it('shows hostile text as text: no script runs, no dialog opens', async () => {
    const { page, problems } = await open(
      browser,
      renderHtml(HOSTILE_LEDGER, { generatedAt: GENERATED_AT }),
      'audit-report-hostile',
    );
    for (const bar of await page.$$('rect.grant')) await bar.hover();
    for (const row of await page.$$('.vt-row')) await row.hover();

    expect(await page.$$eval('img, iframe, b, i, u', (es) => es.length)).toBe(0);
    expect(await page.$$eval('script', (es) => es.length)).toBe(2);
    expect(await page.$$eval('svg.chart svg, svg.chart foreignObject', (es) => es.length)).toBe(0);

    const bars = await page.$$eval('rect.grant', (rs) => rs.map((r) => r.getAttribute('data-grant')));
    expect([...bars].sort()).toEqual(HOSTILE_LEDGER.grants.map((g) => g.id).sort());
    expect(await page.$$eval('rect.grant', (rs) => rs.map((r) => r.getAttribute('data-role')))).toContain(
      HOSTILE.role,
    );
    const reasons = await page.$$eval('.vt-row .reason', (ds) => ds.map((d) => d.textContent));
    expect(reasons).toContain(XSS_REASON);
    const actors = await page.$$eval('.vt-row .actor', (ds) => ds.map((d) => d.textContent));
    expect(actors).toContain('<script>alert(9)</script>');
    const tip = await page.$eval('rect.grant > title', (t) => t.textContent ?? '');
    expect(tip).toContain(`resource: ${HOSTILE.resource}`);
    expect(tip).toContain(`revocation reason: ${HOSTILE.revocation_reason}`);
    expect(tip).toContain(`activity: ${HOSTILE.activity}`);
    expect(await page.textContent('#tb-count')).toBe('2 of 2 events, 2 of 2 grants');
    const note = await page.$eval('ul.notes li', (l) => l.textContent ?? '');
    expect(note).toContain('<iframe src="javascript:alert(11)"></iframe>');
    // Filters list hostile names as text too.
    expect(await page.$$eval('#f-who option', (os) => os.map((o) => o.textContent))).toContain(
      HOSTILE.requester,
    );

    await page.screenshot({ path: resolve(OUT, 'audit-report-hostile.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('renders an empty ledger as a friendly, valid page', async () => {
    const html = renderHtml(EMPTY, { generatedAt: GENERATED_AT });
    const { page, problems } = await open(browser, html, 'audit-report-empty');
    expect(await page.textContent('body')).toContain('No grants in this range');
    expect(await page.$$eval('rect.grant, .vt-row, #timebox-data', (rs) => rs.length)).toBe(0);
    await page.screenshot({ path: resolve(OUT, 'audit-report-empty.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});
