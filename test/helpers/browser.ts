/**
 * Headless Chromium for the browser tests: Debian's `chromium` (or `$CHROMIUM`) driven by playwright-core,
 * no browser download. `npm test` installs chromium when missing (.ci/ensure-chromium).
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

const CANDIDATES = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].filter(Boolean) as string[];

/** Launches headless Chromium; throws naming the fix when no browser is installed. */
export async function launchChromium(): Promise<Browser> {
  const exe = CANDIDATES.find((f) => fs.existsSync(f));
  if (!exe) throw new Error(`no Chromium found (tried ${CANDIDATES.join(', ')}): run .ci/ensure-chromium (apt-get install -y chromium) or set CHROMIUM`);
  return chromium.launch({ executablePath: exe, args: ['--no-sandbox', '--disable-gpu'] });
}

/** A page that records console errors, page errors, dialogs and every request that is not a file: URL. */
export interface WatchedPage {
  page: Page;
  errors: string[];
  dialogs: string[];
  requests: string[];
}

/** Opens `file` in a new page of `browser` and waits until the report script has run. */
export async function openReport(browser: Browser, file: string, viewport = { width: 1400, height: 1000 }): Promise<WatchedPage> {
  const page = await browser.newPage({ viewport });
  const w: WatchedPage = { page, errors: [], dialogs: [], requests: [] };
  page.on('console', (m) => m.type() === 'error' && w.errors.push(m.text()));
  page.on('pageerror', (e) => w.errors.push(e.message));
  page.on('dialog', (d) => {
    w.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('request', (r) => !r.url().startsWith('file:') && w.requests.push(r.url()));
  await page.goto(`file://${path.resolve(file)}`);
  await page.waitForSelector('body[data-ready=true]', { timeout: 20_000 });
  await nextFrame(page);
  return w;
}

/** Waits until every wafer map has drawn a frame after the current one. */
export async function nextFrame(page: Page): Promise<void> {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/** Where tests leave screenshots (gitignored). */
export const ARTIFACTS = path.resolve(import.meta.dirname, '..', '.artifacts');
