// Real Chromium for the UI's browser tests: Debian's /usr/bin/chromium (or CHROMIUM_PATH) driven by
// playwright-core, one persistent profile in a temp dir per test file, and screenshots under test-artifacts/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, type Page, chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts');
/** Without the browser a developer machine skips; CI (.ci/run installs chromium) must run it. */
export const skipWithoutChromium: string | false = !existsSync(CHROMIUM) && !process.env.CI ? `no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)` : false;

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(options: { width?: number; height?: number } = {}): Promise<TestBrowser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const profileDir = mkdtempSync(join(tmpdir(), 'meshlens-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: options.width ?? 1400, height: options.height ?? 860 },
    colorScheme: 'light',
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profileDir, { recursive: true, force: true });
    },
  };
}

/** Opens `url` and waits for the graph view to settle; fails on any script error the page reports by then. */
export async function openPage(context: BrowserContext, url: string, ready = '.graph-stage[data-state="ready"], .graph-stage[data-state="empty"], .graph-stage[data-state="error"]'): Promise<Page & { problems: string[] }> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  await page.goto(url);
  await page.waitForSelector(ready);
  assert.deepEqual(problems, [], 'no script errors on the page');
  return Object.assign(page, { problems });
}
