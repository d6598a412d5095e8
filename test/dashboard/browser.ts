/**
 * Real-browser helpers for the dashboard tests: Debian's Chromium driven by puppeteer-core,
 * the dashboard built from web/ into a temporary folder, and screenshots into .screenshots/.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';
import { buildDashboard } from '../../web/build.mjs';

// Browser globals, used only inside page.evaluate callbacks (which run in Chromium, not here).
// eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-unused-vars -- their types are the browser's, not Node's
declare const window: any, document: any, sessionStorage: any, localStorage: any, location: any;

export const CHROMIUM = '/usr/bin/chromium';
export const SHOTS = join(import.meta.dirname, '..', '..', '.screenshots');

/**
 * Whether the browser is there. test/cluster/up.sh installs it (npm test runs up.sh first);
 * under CI=true its absence fails the file instead of skipping it.
 */
export function haveChromium(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: test/cluster/up.sh installs it (apt package chromium)`);
  return false;
}

export async function builtAssets(): Promise<string> {
  return buildDashboard(mkdtempSync(join(tmpdir(), 'hpcb-dash-')));
}

export function launch(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root on a test machine: Chromium's sandbox needs user namespaces it does not get here.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

export interface Watched {
  page: Page;
  /** CSP violations the page reported (securitypolicyviolation events). */
  violations(): Promise<string[]>;
  /** Every /api/v1 request URL the page made. */
  requests: string[];
}

/** A page that records CSP violations and API requests from its first script on. */
export async function watchedPage(ctx: Browser | BrowserContext): Promise<Watched> {
  const page = await ctx.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await page.evaluateOnNewDocument(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e: { violatedDirective: string; blockedURI: string }) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const requests: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/')) requests.push(r.url());
  });
  return { page, requests, violations: () => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp) };
}

export async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/#/jobs`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#token');
  await page.type('#token', token);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#user');
}

export async function shot(page: Page, name: string): Promise<string> {
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The text of an element, or '' while it is not there. */
export const textOf = (page: Page, sel: string) => page.$eval(sel, (e) => e.textContent ?? '').catch(() => '');
