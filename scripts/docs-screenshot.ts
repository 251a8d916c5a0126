/**
 * `npm run docs:screenshot`: regenerate docs/img/dashboard.png, the README's picture of the
 * dashboard. A deployment on the embedded emulator, a worker in this process, a finished batch,
 * a running one (sleep jobs reporting progress) and a job in the DLQ; then the page in headless
 * Chromium (Debian's package, see scripts/ui/chromium.ts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Submitter } from '../client/submit.js';
import { S3Store } from '../core/adapters/s3-store.js';
import { SqsQueue } from '../core/adapters/sqs-queue.js';
import { EMULATOR_CREDENTIALS, s3Client, sqsClient } from '../core/aws.js';
import { builtinHandlers } from '../workers/handlers/index.js';
import { Worker } from '../workers/runtime/worker.js';
import { startEmbeddedEmulator } from './emulator.js';
import { provisionDeployment } from './provision.js';
import { launchChromium } from './ui/chromium.js';
import { startDashboard } from './ui/start.js';

const OUT = join(import.meta.dirname, '..', 'docs', 'img', 'dashboard.png');

async function main(): Promise<void> {
  const emu = await startEmbeddedEmulator(0);
  const cfg = { endpoint: emu.endpoint, region: 'us-east-1', credentials: { ...EMULATOR_CREDENTIALS } };
  const sqs = sqsClient(cfg);
  const s3 = s3Client(cfg);
  const p = await provisionDeployment({ sqs, s3 }, 'demo');
  const queue = new SqsQueue(sqs, p.queueUrl);
  const store = new S3Store(s3, p.bucket);
  const submitter = new Submitter({ queue, store });
  const worker = new Worker({
    queue,
    dlq: new SqsQueue(sqs, p.dlqUrl),
    store,
    handlers: builtinHandlers(),
    concurrency: 6,
    waitTimeSeconds: 1,
    heartbeatIntervalMs: 1000,
    progressIntervalMs: 500,
    statusIntervalMs: 1000,
    workerId: 'worker-1',
  });
  const server = await startDashboard({ sqs, s3, queueUrl: p.queueUrl, bucket: p.bucket });
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    await page.goto(`${server.url}?refresh=1000`); // open from the start: the chart fills as work arrives
    await submitter.submitMany(
      'echo',
      Array.from({ length: 40 }, (_, i) => ({ payload: { n: i } })),
    );
    await submitter.submit('sleep', { ms: -1 }, { id: 'bad-input' }); // refused at once: to the DLQ
    void worker.start();
    await sleep(1500);
    const running = await submitter.submitMany(
      'sleep',
      Array.from({ length: 24 }, (_, i) => ({ payload: { ms: 4000 + 700 * (i % 5) } })),
    );
    await sleep(9000);
    await page.locator(`#batches tr[data-batch="${running.batch}"] a`).click();
    await page.locator('#jobs tr[data-status="running"]').first().waitFor();
    await sleep(2500); // a few chart points
    mkdirSync(join(OUT, '..'), { recursive: true });
    await page.screenshot({ path: OUT, fullPage: true });
    process.stdout.write(`wrote ${OUT}\n`);
  } finally {
    await browser.close();
    await server.stop();
    await worker.stop();
    sqs.destroy();
    s3.destroy();
    await emu.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`docs:screenshot: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
