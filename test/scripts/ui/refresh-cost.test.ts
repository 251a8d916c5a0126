/**
 * What one refresh of the dashboard costs in requests, counted by the recording proxy in front
 * of the emulator: no receive, and a LIST per 1,000 keys. The batch has 2,500 jobs here (three
 * pages of results); FLOTILLA_TEST_REFRESH_JOBS=10000 gives the figure in docs/dashboard.md
 * (seeding 10,000 records takes a minute).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pool } from '../../../client/submit.js';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { SqsQueue } from '../../../core/adapters/sqs-queue.js';
import { s3Client, sqsClient } from '../../../core/aws.js';
import {
  type BatchManifest,
  errorKey,
  manifestKey,
  progressKey,
  resultKey,
  workerStatusKey,
} from '../../../core/envelope.js';
import { Dashboard } from '../../../scripts/ui/dashboard.js';
import { freshDeployment } from '../../support/deployment.js';
import { startEmbedded } from '../../support/emulators.js';
import { recordingProxy, type Seen } from './support.js';

const JOBS = Number(process.env.FLOTILLA_TEST_REFRESH_JOBS ?? 2_500);
const DONE = JOBS * 0.9;
const FAILED = 100;
const RUNNING = 50;
const WORKERS = 4;

let emu: Awaited<ReturnType<typeof startEmbedded>>;
let proxy: Awaited<ReturnType<typeof recordingProxy>>;
let dashboard: Dashboard;
let clients: { sqs: ReturnType<typeof sqsClient>; s3: ReturnType<typeof s3Client> };
const batch = 'big';

beforeAll(async () => {
  emu = await startEmbedded();
  const d = await freshDeployment(emu);
  const ids = Array.from({ length: JOBS }, (_, i) => `j${String(i).padStart(6, '0')}`);
  const manifest: BatchManifest = {
    v: 1,
    batch,
    type: 't',
    queue: d.queueUrl,
    submittedAt: new Date().toISOString(),
    total: JOBS,
    jobIds: ids,
  };
  const now = new Date().toISOString();
  const writes: [string, unknown][] = [[manifestKey(batch), manifest]];
  ids.forEach((id, i) => {
    if (i < DONE)
      writes.push([
        resultKey(batch, id),
        { v: 1, jobId: id, batch, status: 'done', attempt: 1, durationMs: 5 },
      ]);
    else if (i < DONE + FAILED)
      writes.push([
        errorKey(batch, id),
        {
          v: 1,
          jobId: id,
          batch,
          status: 'failed',
          final: true,
          error: { name: 'E', message: 'x' },
          attempt: 5,
          at: now,
        },
      ]);
    else if (i < DONE + FAILED + RUNNING)
      writes.push([
        progressKey(batch, id),
        { v: 1, jobId: id, batch, fraction: 0.5, attempt: 1, at: now, worker: 'w' },
      ]);
  });
  for (let w = 0; w < WORKERS; w++)
    writes.push([
      workerStatusKey(`w${w}`),
      {
        v: 1,
        worker: `w${w}`,
        queue: d.queueUrl,
        at: now,
        startedAt: now,
        concurrency: 16,
        types: ['t'],
        running: [],
        counters: {},
      },
    ]);
  await pool(writes, 64, async ([key, value]) => {
    await d.store.put(key, JSON.stringify(value));
  });
  proxy = await recordingProxy(emu.endpoint);
  const cfg = { ...emu.config, endpoint: proxy.endpoint };
  clients = { sqs: sqsClient(cfg), s3: s3Client(cfg) };
  dashboard = new Dashboard({
    // The default queue alone: each other job queue adds its pair of GetQueueAttributes.
    queues: [
      {
        name: 'default',
        queue: new SqsQueue(clients.sqs, d.queueUrl),
        dlq: new SqsQueue(clients.sqs, d.dlqUrl),
      },
    ],
    store: new S3Store(clients.s3, d.bucket),
    // One refresh's calls share their listings however long they take; forget() starts the next.
    stateTtlMs: 600_000,
    sampleEveryMs: 0,
    settledTtlMs: 600_000,
  });
}, 180_000);

afterAll(async () => {
  clients?.sqs.destroy();
  clients?.s3.destroy();
  await proxy?.stop();
  await emu?.stop();
});

/** What the page asks for on each refresh: the overview, the open batch's first 100 jobs, the DLQ view. */
async function refresh(): Promise<Seen[]> {
  dashboard.forget();
  const from = proxy.seen.length;
  await dashboard.overview(Date.now());
  await dashboard.jobs(batch, { offset: 0, limit: 100 });
  await dashboard.deadLettered();
  return proxy.seen.slice(from);
}

const tally = (seen: Seen[]) => {
  const out: Record<string, number> = {};
  for (const s of seen) {
    const kind =
      s.service === 'sqs'
        ? s.action
        : s.action === 'GET' && s.target.includes('list-type=2')
          ? 'LIST'
          : s.action;
    out[kind] = (out[kind] ?? 0) + 1;
  }
  return out;
};

describe('one dashboard refresh on a big batch', () => {
  it('costs two GetQueueAttributes and a LIST per 1,000 keys once its records are known', async () => {
    const first = tally(await refresh());
    const second = tally(await refresh());
    // LISTs: workers/ 1, batches/ 1, and under the batch results/ 9, cancelled/ 1, errors/ 1,
    // progress/ 1, cancel/ 1: the same on every refresh (the state is shared by the three calls).
    const lists = 2 + Math.ceil(DONE / 1000) + 4;
    expect(second).toEqual({ GetQueueAttributes: 2, LIST: lists });
    // The first also reads each record once: the manifest, the worker reports, the error records
    // (failed for good, or retrying?) and the records behind the first page of jobs.
    expect(first).toEqual({ GetQueueAttributes: 2, LIST: lists, GET: 1 + WORKERS + FAILED + 100 });
    expect(first.ReceiveMessage).toBeUndefined();
    process.stdout.write(
      `dashboard refresh, ${JOBS} jobs: first ${JSON.stringify(first)}, then ${JSON.stringify(second)}\n`,
    );
  });
});
