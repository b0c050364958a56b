// Opening audit pages in a real headless Chromium (Debian `chromium` + playwright-core), for the html tests.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, type BrowserContextOptions, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Pages and screenshots land here (ignored by git). */
export const OUT = resolve('test-output');

const MISSING = `Chromium not found at ${CHROMIUM}. The HTML audit report is tested in a real headless browser: install it with \`apt-get update && apt-get install -y chromium\` (Debian; .ci/run does this), or set CHROMIUM_PATH to a Chromium binary.`;

export interface Opened {
  page: Page;
  /** Console errors and warnings, page errors, dialogs, CSP violations and requests that left the file. */
  problems: string[];
}

export async function launch(): Promise<Browser> {
  // Fails every browser test, loudly, when Chromium is missing: never a silent skip.
  if (!existsSync(CHROMIUM)) throw new Error(MISSING);
  await mkdir(OUT, { recursive: true });
  return chromium.launch({
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
}

/** Write the page to test-output/<name>.html and open it from disk, as an auditor would; wait until drawn. */
export async function open(
  browser: Browser | undefined,
  html: string,
  name: string,
  options: BrowserContextOptions = {},
): Promise<Opened> {
  if (!browser) throw new Error(MISSING);
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
  // Every Content-Security-Policy violation, reported to the test through a binding.
  await page.exposeBinding('tbViolation', (_source, what: string) => problems.push(`CSP violation: ${what}`));
  await page.addInitScript(`document.addEventListener('securitypolicyviolation', (e) =>
    window.tbViolation(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));`);
  await page.goto(url, { waitUntil: 'load' });
  if (options.javaScriptEnabled !== false) await page.waitForSelector('html[data-ready="true"]');
  return { page, problems };
}

/** Wait until the page has drawn `n` times (each filter change draws once). */
export async function rendered(page: Page, n: number): Promise<void> {
  await page.waitForSelector(`html[data-renders="${n}"]`, { state: 'attached' });
}
