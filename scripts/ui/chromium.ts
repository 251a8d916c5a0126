/**
 * A headless Chromium for the dashboard's browser test and its README screenshot (development
 * only: playwright-core is a dev dependency, and the CLI never loads this). Debian's `chromium`
 * package, driven by playwright-core, with a fresh profile each time.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export async function launchChromium(
  executablePath = CHROMIUM_PATH,
): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!existsSync(executablePath))
    throw new Error(
      `no Chromium at ${executablePath}: install it with 'apt-get install -y chromium' (as root)`,
    );
  const profile = mkdtempSync(join(tmpdir(), 'flotilla-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
