/**
 * The dashboard in a real headless browser (Debian's chromium through playwright-core) against
 * the embedded emulator and a real Worker: the page loads without console errors, a running
 * batch advances, a cancel click stops a job, a redrive click empties the DLQ. A screenshot of
 * each run goes to artifacts/ (ignored by git).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Submitter } from '../../../client/submit.js';
import { type ErrorRecord, errorKey } from '../../../core/envelope.js';
import { launchChromium } from '../../../scripts/ui/chromium.js';
import { Dashboard } from '../../../scripts/ui/dashboard.js';
import { type DashboardServer, startDashboardServer } from '../../../scripts/ui/server.js';
import { builtinHandlers } from '../../../workers/handlers/index.js';
import { Worker } from '../../../workers/runtime/worker.js';
import { freshDeployment, queueDepth } from '../../support/deployment.js';
import { startEmbedded } from '../../support/emulators.js';

const ARTIFACTS = join(import.meta.dirname, '..', '..', '..', 'artifacts');

let emu: Awaited<ReturnType<typeof startEmbedded>>;
let d: Awaited<ReturnType<typeof freshDeployment>>;
let worker: Worker;
let server: DashboardServer;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
const problems: string[] = [];
let batch: string;

beforeAll(async () => {
  emu = await startEmbedded();
  d = await freshDeployment(emu);
  const submitter = new Submitter({ queue: d.queue, store: d.store });
  // Twelve jobs of four seconds, two at a time: the batch runs for about 24 seconds once the
  // worker starts (in the second test).
  const handle = await submitter.submitMany(
    'sleep',
    Array.from({ length: 12 }, () => ({ payload: { ms: 4000 } })),
  );
  batch = handle.batch;
  // A job that failed for good: its message in the DLQ, its final error record.
  const dead = await submitter.submit('echo', { hello: 'again' }, { id: 'dead1', batch: 'deadbatch' });
  const body = JSON.stringify({
    v: 1,
    id: 'dead1',
    type: 'echo',
    batch: dead.batch,
    submittedAt: new Date().toISOString(),
    payload: { hello: 'again' },
  });
  await d.dlq.send({ body, attributes: { 'flotilla-error': 'boom' } });
  const rec: ErrorRecord = {
    v: 1,
    jobId: 'dead1',
    batch: dead.batch,
    type: 'echo',
    status: 'failed',
    final: true,
    error: { name: 'Error', message: 'boom' },
    attempt: 5,
    at: new Date().toISOString(),
    worker: 'w0',
  };
  await d.store.put(errorKey(dead.batch, 'dead1'), JSON.stringify(rec));
  worker = new Worker({
    queue: d.queue,
    dlq: d.dlq,
    store: d.store,
    handlers: builtinHandlers(),
    concurrency: 2,
    waitTimeSeconds: 1,
    visibilityTimeoutSeconds: 30,
    heartbeatIntervalMs: 500,
    progressIntervalMs: 400,
    statusIntervalMs: 1000,
  });
  server = await startDashboardServer({
    dashboard: new Dashboard({
      queues: Object.entries(d.jobQueues).map(([name, q]) => ({ name, ...q })),
      store: d.store,
    }),
  });
  browser = await launchChromium();
  page = await browser.context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${server.url}?refresh=500&noconfirm=1`);
});

afterAll(async () => {
  if (page) {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-test.png'), fullPage: true }).catch(() => {});
  }
  await browser?.close();
  await server?.stop();
  await worker?.stop();
  await emu?.stop();
});

const count = async (sel: string) => Number(await page.locator(sel).first().textContent());

describe('the dashboard in a browser', () => {
  it('loads with no console errors and shows the queues, the worker and the batch', async () => {
    await page.locator(`#batches tr[data-batch="${batch}"]`).waitFor();
    await page.locator('#chart canvas').waitFor();
    expect(await count(`#batches tr[data-batch="${batch}"] td[data-count="queued"]`)).toBe(12);
    for (const name of ['urgent', 'default', 'bulk'])
      for (const row of [name, `${name} DLQ`])
        expect(await page.locator(`#queues tr[data-queue="${row}"]`).count(), row).toBe(1);
    expect(problems).toEqual([]);
  });

  it('shows a running batch advancing, with its jobs progress', async () => {
    const row = `#batches tr[data-batch="${batch}"]`;
    const before = await count(`${row} td[data-count="done"]`);
    void worker.start();
    await page.locator('#workers tbody tr').first().waitFor();
    await page.locator(`${row} a[data-action="open"]`).click();
    await page
      .locator('#jobs tr[data-status="running"] td[data-progress]:not([data-progress=""])')
      .first()
      .waitFor({ timeout: 15_000 });
    await expect
      .poll(() => count(`${row} td[data-count="done"]`), { timeout: 20_000 })
      .toBeGreaterThan(before);
  });

  it('stops a running job when its cancel button is clicked', async () => {
    const target = page.locator('#jobs tr[data-status="running"]').first();
    const jobId = await target.getAttribute('data-job');
    expect(jobId).toBeTruthy();
    await page.locator(`#jobs tr[data-job="${jobId}"] button[data-action="cancel"]`).click();
    await expect
      .poll(() => page.locator(`#jobs tr[data-job="${jobId}"]`).getAttribute('data-status'), {
        timeout: 15_000,
      })
      .toBe('cancelled');
  });

  it('empties the DLQ when redrive is clicked', async () => {
    await expect
      .poll(() => page.locator('#dlq-count').textContent(), { timeout: 10_000 })
      .toBe('1 message(s)');
    await page.locator('#redrive').click();
    await expect
      .poll(() => page.locator('#redrive-result').textContent(), { timeout: 15_000 })
      .toContain('moved 1');
    await expect
      .poll(() => page.locator('#dlq-count').textContent(), { timeout: 10_000 })
      .toBe('0 message(s)');
    expect((await queueDepth(d.dlq)).visible).toBe(0);
    expect(problems).toEqual([]);
  });
});
