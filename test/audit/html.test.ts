// The HTML audit report, rendered in a real headless Chromium (Debian `chromium` + playwright-core).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, type BrowserContextOptions, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderHtml } from '../../src/audit/html.js';
import type { Grant, Ledger, LedgerEvent } from '../../src/core/ledger.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUT = resolve('test-output');
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

// What the browser-side checks return (they run as page scripts: this project compiles without the DOM lib).
type Paint = { fill: string; opacity: string };
type LegendSeen = {
  legend: ({ role: string } & Paint)[];
  bars: ({ role: string; state: string } & Paint)[];
  dots: { role: string; fill: string }[];
};
type PathsSeen = { text: string; style: string; breaks: string[] }[];
type ShortSeen = {
  right: number;
  labels: number;
  scale: number;
  bars: { id: string; left: number; right: number; width: number; onTop: boolean }[];
};

const EMPTY: Ledger = { grants: [], events: [], notes: [] };

/** The time axis the chart draws for one grant from `from` to `to`: each tick's label and, where the day changes, its date. */
function axisOf(from: string, to: string): { label: string; sub?: string }[] {
  const html = renderHtml(
    { grants: [{ ...G1, starts_at: from, expires_at: to, ends_at: to }], events: [], notes: [] },
    { generatedAt: GENERATED_AT },
  );
  const text = (cls: string) =>
    [...html.matchAll(new RegExp(`<text class="${cls}" x="([^"]+)"[^>]*>([^<]*)</text>`, 'g'))].map(
      (m) => [m[1] ?? '', m[2] ?? ''] as const,
    );
  const subs = new Map(text('tick sub'));
  return text('tick').map(([x, label]) => ({ label, ...(subs.has(x) ? { sub: subs.get(x) } : {}) }));
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
    // No URL, stylesheet, font or script from anywhere else.
    expect(html).not.toMatch(
      /https?:|\/\/[a-z]|<link|@import|@font-face|\bsrc=|\bhref=|url\((?!#tb-hatch\))/i,
    );
    // The one script is the one the policy allows.
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1] ?? '');
    expect(scripts).toHaveLength(1);
    expect(
      `sha256-${createHash('sha256')
        .update(scripts[0] ?? '')
        .digest('base64')}`,
    ).toBe(/script-src '(sha256-[^']+)'/.exec(csp)?.[1]);
  });

  it('links pull requests only when the repository’s web address is known, and links nothing else', () => {
    expect(html).toContain('<div class="pr">#12</div>');
    const linked = renderHtml(LEDGER, {
      generatedAt: GENERATED_AT,
      repoUrl: 'https://github.com/acme/access',
    });
    const hrefs = [...linked.matchAll(/\bhref="([^"]*)"/g)].map((m) => m[1]);
    expect([...new Set(hrefs)].sort()).toEqual([
      'https://github.com/acme/access/pull/12',
      'https://github.com/acme/access/pull/15',
    ]);
    expect(linked).not.toMatch(/<link|@import|@font-face|\bsrc=/i);
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

  it('escapes everything that comes from git', () => {
    const hostile = renderHtml(HOSTILE_LEDGER, { generatedAt: GENERATED_AT });
    expect(hostile).not.toMatch(/<(img|iframe|svg onload|u>|b>|i>|b onclick)/i);
    expect(hostile.match(/<script>/g)).toHaveLength(1);
    expect(hostile).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('ticks on round UTC times', () => {
    const t = axisOf('2026-11-20T08:50:00Z', '2026-11-21T17:10:00Z');
    expect(t.map((x) => x.label)).toEqual(['12:00', '18:00', '00:00', '06:00', '12:00']);
    expect(t.map((x) => x.sub)).toEqual(['2026-11-20', undefined, '2026-11-21', undefined, undefined]);
    const months = axisOf('2026-01-15T00:00:00Z', '2026-12-20T00:00:00Z');
    expect(months[0]?.label).toBe('2026-03');
    expect(months.every((x) => /^\d{4}-\d{2}$/.test(x.label))).toBe(true);
  });
});

// --- The page in a real browser.

const MISSING = `Chromium not found at ${CHROMIUM}. The HTML audit report is tested in a real headless browser: install it with \`apt-get update && apt-get install -y chromium\` (Debian; .ci/run does this), or set CHROMIUM_PATH to a Chromium binary.`;

describe('renderHtml in headless Chromium', () => {
  let browser: Browser | undefined;
  let launchError: Error | undefined;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      launchError = new Error(MISSING);
      return;
    }
    await mkdir(OUT, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-quic',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  interface Opened {
    page: Page;
    /** Console errors, page errors, dialogs and requests that left the file. */
    problems: string[];
  }

  /** Write the page to test-output/<name>.html and open it from disk, as an auditor would. */
  async function open(html: string, name: string, options: BrowserContextOptions = {}): Promise<Opened> {
    // Fails every browser test, loudly, when Chromium is missing: never a silent skip.
    if (!browser) throw launchError ?? new Error(MISSING);
    const file = resolve(OUT, `${name}.html`);
    await writeFile(file, html);
    const url = pathToFileURL(file).href;
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('dialog', (d) => {
      problems.push(`dialog ${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
    page.on('request', (r) => {
      if (r.url() !== url) problems.push(`request: ${r.url()}`);
    });
    await page.goto(url, { waitUntil: 'load' });
    return { page, problems };
  }

  it('renders the timeline and the event table without errors, and keeps a screenshot', async () => {
    const { page, problems } = await open(renderHtml(LEDGER, { generatedAt: GENERATED_AT }), 'audit-report');

    const bars = await page.$$eval('rect.grant', (rs) => rs.map((r) => r.getAttribute('data-grant')));
    expect(bars).toHaveLength(LEDGER.grants.length);
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
      `starts_at: ${G2.starts_at}`,
      `ends_at: ${G2.ends_at}`,
      'state: revoked',
      'approvers: carol, dave',
      `reason: ${G2.reason}`,
      'revocation reason: done early',
      'activity: 3 statements',
    ]) {
      expect(tip).toContain(line);
    }
    expect(await page.$$eval('svg.chart rect.hatch', (rs) => rs.length)).toBe(1);
    expect(await page.$$eval('svg.chart path.extends-mark', (ps) => ps.length)).toBe(1);

    expect(await page.$$eval('table.events tbody tr', (rs) => rs.length)).toBe(LEDGER.events.length);
    expect(await page.$$eval('ul.notes li', (ls) => ls.length)).toBe(1);
    const legend = await page.$eval('.legend', (l) => l.textContent ?? '');
    expect(legend).toContain('read-only');
    expect(legend).toContain('read-write');
    expect(legend).toContain('revoked');

    // The script runs under the CSP: hovering a bar highlights that grant's events.
    await page.hover(`rect.grant[data-grant="${G2.id}"]`);
    const highlighted = await page.$$eval('tr.hl', (rs) => rs.map((r) => r.getAttribute('data-grant')));
    expect(highlighted).toEqual(LEDGER.events.filter((e) => e.grant === G2.id).map(() => G2.id));
    await page.mouse.move(0, 0);

    await page.screenshot({ path: resolve(OUT, 'audit-report.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('the legend shows the colours the bars and the table have', async () => {
    const { page, problems } = await open(
      renderHtml(LEDGER, { generatedAt: GENERATED_AT }),
      'audit-report-legend',
    );
    const seen = (await page.evaluate(`(() => {
      const paint = (e) => {
        const c = getComputedStyle(e);
        return { fill: c.fill, opacity: c.fillOpacity };
      };
      // The role legend is the first list: each item a swatch and the role's name.
      const legend = [...document.querySelectorAll('.legend > div:first-child li')].map((li) => ({
        role: (li.textContent ?? '').trim(),
        ...paint(li.querySelector('svg rect')),
      }));
      const bars = [...document.querySelectorAll('svg.chart rect.grant')].map((b) => ({
        role: b.getAttribute('data-role'),
        state: b.getAttribute('data-state'),
        ...paint(b),
      }));
      const dots = [...document.querySelectorAll('table.events .dot')].map((d) => ({
        role: d.parentElement?.textContent ?? '',
        fill: getComputedStyle(d).backgroundColor,
      }));
      return { legend, bars, dots };
    })()`)) as LegendSeen;
    const legend = new Map(seen.legend.map((l) => [l.role, { fill: l.fill, opacity: l.opacity }]));
    expect([...legend.keys()].sort()).toEqual(['read-only', 'read-write']);
    expect(new Set([...legend.values()].map((v) => v.fill)).size).toBe(2);
    // Every bar but a scheduled one (faded, as the state legend says) has exactly its role's swatch colour.
    const solid = seen.bars.filter((b) => b.state !== 'scheduled');
    expect(solid.length).toBeGreaterThanOrEqual(4);
    for (const b of solid)
      expect({ fill: b.fill, opacity: b.opacity }, `${b.role} ${b.state}`).toEqual(legend.get(b.role));
    for (const b of seen.bars.filter((x) => x.state === 'scheduled'))
      expect(b.fill).toBe(legend.get(b.role)?.fill);
    expect(seen.dots).toHaveLength(LEDGER.events.length);
    for (const d of seen.dots) expect(d.fill, d.role).toBe(legend.get(d.role)?.fill);
    expect(problems).toEqual([]);
  });

  it('the event table fits a laptop window: no column is cut off behind a scrollbar', async () => {
    const html = renderHtml(LEDGER, { generatedAt: GENERATED_AT, repoUrl: 'https://github.com/acme/access' });
    for (const width of [1280]) {
      const { page, problems } = await open(html, `audit-report-fit-${width}`, {
        viewport: { width, height: 800 },
      });
      const fit = (await page.evaluate(
        `(() => { const w = document.querySelector('.table-wrap'); return [w.scrollWidth, w.clientWidth]; })()`,
      )) as [number, number];
      expect(fit[0], `table at ${width}px`).toBeLessThanOrEqual(fit[1]);
      expect(problems).toEqual([]);
    }
  });

  it('paths wrap only after a slash, never inside a name, at any width', async () => {
    const html = renderHtml(LEDGER, { generatedAt: GENERATED_AT });
    let wrapped = 0;
    for (const width of [1280, 960, 640]) {
      const { page, problems } = await open(html, `audit-report-paths-${width}`, {
        viewport: { width, height: 800 },
      });
      const seen = (await page.evaluate(`(() => {
        const out = [];
        for (const el of document.querySelectorAll('.path')) {
          const chars = [];
          const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
          for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            const text = n.textContent ?? '';
            for (let i = 0; i < text.length; i++) {
              const r = document.createRange();
              r.setStart(n, i);
              r.setEnd(n, i + 1);
              chars.push({ ch: text[i] ?? '', top: r.getBoundingClientRect().top });
            }
          }
          // A character whose line box is lower than the one before it starts a new line.
          const breaks = [];
          for (let i = 1; i < chars.length; i++) {
            const [a, b] = [chars[i - 1], chars[i]];
            if (a && b && b.top > a.top + 2) breaks.push(\`\${a.ch}|\${b.ch}\`);
          }
          const c = getComputedStyle(el);
          out.push({ text: el.textContent ?? '', style: \`\${c.overflowWrap} \${c.wordBreak}\`, breaks });
        }
        return out;
      })()`)) as PathsSeen;
      expect(seen.length).toBeGreaterThan(LEDGER.events.length);
      for (const p of seen) {
        expect(p.style, p.text).toBe('normal normal');
        for (const b of p.breaks)
          expect(b.startsWith('/|'), `${p.text} at ${width}px breaks at ${b}`).toBe(true);
        wrapped += p.breaks.length;
      }
      // What is copied is the path: the break opportunities add no characters.
      expect(seen.map((p) => p.text)).toEqual(expect.arrayContaining(LEDGER.events.map((e) => e.file)));
      if (width === 640)
        await page.screenshot({ path: resolve(OUT, 'audit-report-paths-640.png'), fullPage: true });
      expect(problems).toEqual([]);
    }
    // The narrow window did wrap long paths (at slashes): the check above looked at real line breaks.
    expect(wrapped).toBeGreaterThan(0);
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
      renderHtml({ grants, events: [], notes: [] }, { generatedAt: GENERATED_AT }),
      'audit-report-short',
    );
    const seen = (await page.evaluate(`(() => {
      const svg = document.querySelector('svg.chart');
      const box = svg.getBoundingClientRect();
      const scale = box.width / svg.viewBox.baseVal.width;
      const labels = Math.max(
        ...[...svg.querySelectorAll('text.row-label')].map((t) => t.getBoundingClientRect().right),
      );
      const wrap = (document.querySelector('.chart-wrap')).getBoundingClientRect();
      const bars = [...svg.querySelectorAll('rect.grant')].map((r) => {
        const b = r.getBoundingClientRect();
        const hit = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
        return {
          id: r.getAttribute('data-grant'),
          left: b.left,
          right: b.right,
          width: b.width,
          onTop: hit === r,
        };
      });
      return { right: Math.min(box.right, wrap.right), labels, scale, bars };
    })()`)) as ShortSeen;
    for (const b of seen.bars) {
      expect(b.width, b.id ?? '').toBeGreaterThanOrEqual(8);
      expect(b.left, b.id ?? '').toBeGreaterThan(seen.labels);
      // Inside the plot: clear of the chart's right edge by the axis padding, never cut off by it.
      expect(b.right, b.id ?? '').toBeLessThanOrEqual(seen.right - 20 * seen.scale);
      expect(b.onTop, b.id ?? '').toBe(true);
    }
    await page.screenshot({ path: resolve(OUT, 'audit-report-short.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('reads without JavaScript: bars and their details are plain SVG', async () => {
    const { page, problems } = await open(
      renderHtml(LEDGER, { generatedAt: GENERATED_AT }),
      'audit-report-nojs',
      {
        javaScriptEnabled: false,
      },
    );
    const titles = await page.$$eval('rect.grant > title', (ts) => ts.map((t) => t.textContent ?? ''));
    expect(titles).toHaveLength(LEDGER.grants.length);
    expect(titles.every((t) => t.includes('requester: ') && t.includes('state: '))).toBe(true);
    expect(problems).toEqual([]);
  });

  it('shows hostile text as text: no script runs, no dialog opens', async () => {
    const { page, problems } = await open(
      renderHtml(HOSTILE_LEDGER, { generatedAt: GENERATED_AT }),
      'audit-report-hostile',
    );
    // Give any injected handler a chance to fire.
    for (const bar of await page.$$('rect.grant')) await bar.hover();
    await page.waitForTimeout(100);

    expect(await page.$$eval('img, iframe, b, i, u', (es) => es.length)).toBe(0);
    expect(await page.$$eval('script', (es) => es.length)).toBe(1);
    expect(await page.$$eval('svg.chart svg, svg.chart foreignObject', (es) => es.length)).toBe(0);

    const bars = await page.$$eval('rect.grant', (rs) => rs.map((r) => r.getAttribute('data-grant')));
    expect([...bars].sort()).toEqual(HOSTILE_LEDGER.grants.map((g) => g.id).sort());
    expect(await page.$$eval('rect.grant', (rs) => rs.map((r) => r.getAttribute('data-role')))).toContain(
      HOSTILE.role,
    );

    const reasons = await page.$$eval('table.events td.detail .reason', (ds) => ds.map((d) => d.textContent));
    expect(reasons).toContain(XSS_REASON);
    const tip = await page.$eval('rect.grant > title', (t) => t.textContent ?? '');
    expect(tip).toContain(`resource: ${HOSTILE.resource}`);
    expect(tip).toContain(`revocation reason: ${HOSTILE.revocation_reason}`);
    expect(tip).toContain(`activity: ${HOSTILE.activity}`);
    expect(await page.$$eval('table.events tbody tr', (rs) => rs.length)).toBe(HOSTILE_LEDGER.events.length);
    const note = await page.$eval('ul.notes li', (l) => l.textContent ?? '');
    expect(note).toContain('<iframe src="javascript:alert(11)"></iframe>');

    await page.screenshot({ path: resolve(OUT, 'audit-report-hostile.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('renders an empty ledger as a friendly, valid page', async () => {
    const html = renderHtml(EMPTY, { generatedAt: GENERATED_AT });
    const { page, problems } = await open(html, 'audit-report-empty');
    expect(await page.textContent('body')).toContain('No grants in this range');
    expect(await page.$$eval('rect.grant', (rs) => rs.length)).toBe(0);
    expect(await page.$$eval('table.events', (ts) => ts.length)).toBe(0);
    await page.screenshot({ path: resolve(OUT, 'audit-report-empty.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});
