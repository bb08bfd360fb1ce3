// Shared by the browser tests: Debian's Chromium, headless, with the flags the project's CI uses,
// and small assertion helpers that fail with a message saying what was expected.

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// Playwright starts Chromium with a fresh temporary --user-data-dir of its own for every launch.
export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

export async function expectText(page, selector, text, timeout = 30000) {
  try {
    await page.locator(selector).filter({ hasText: text }).first().waitFor({ timeout });
  } catch {
    const got = await page.locator(selector).allTextContents().catch(() => []);
    throw new Error(`expected ${selector} to contain ${JSON.stringify(text)}; found ${JSON.stringify(got)}`);
  }
}
