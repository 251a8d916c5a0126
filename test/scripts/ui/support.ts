/**
 * For the dashboard's tests: a recording HTTP proxy in front of the emulator (the spy that sees
 * every SQS action and S3 request the dashboard makes), and a seeded deployment with a batch in
 * every state, written as the workers would write it.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Submitter } from '../../../client/submit.js';
import {
  type CancelledRecord,
  cancelledKey,
  type ErrorRecord,
  errorKey,
  type ProgressRecord,
  progressKey,
  type ResultRecord,
  resultKey,
  type WorkerStatusRecord,
  workerStatusKey,
} from '../../../core/envelope.js';
import type { ObjectStore } from '../../../core/ports/object-store.js';
import type { freshDeployment } from '../../support/deployment.js';

export interface Seen {
  /** SQS: the action (ReceiveMessage...) and the queue URL it named; S3: the method and path. */
  readonly service: 'sqs' | 's3';
  readonly action: string;
  readonly target: string;
}

/** Forward everything to `endpoint`, remembering what was asked. */
export async function recordingProxy(
  endpoint: string,
): Promise<{ endpoint: string; seen: Seen[]; stop(): Promise<void> }> {
  const upstream = new URL(endpoint);
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const amzTarget = req.headers['x-amz-target'];
      if (typeof amzTarget === 'string' && amzTarget.startsWith('AmazonSQS.')) {
        const q = (JSON.parse(body.toString('utf8') || '{}') as { QueueUrl?: string }).QueueUrl ?? '';
        seen.push({ service: 'sqs', action: amzTarget.slice('AmazonSQS.'.length), target: q });
      } else {
        seen.push({ service: 's3', action: req.method ?? '', target: req.url ?? '' });
      }
      const fwd = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      fwd.on('error', () => res.destroy());
      fwd.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const json = (store: ObjectStore, key: string, value: unknown) =>
  store.put(key, JSON.stringify(value), { contentType: 'application/json' });

/**
 * A batch of 10 jobs of type `seed`: j000000-j000003 done, j000004 cancelled, j000005 failed for
 * good (and its message in the DLQ), j000006 retrying, j000007 running at 40% on worker w1,
 * j000008-j000009 queued (their messages still on the job queue).
 */
export async function seedBatch(d: Awaited<ReturnType<typeof freshDeployment>>): Promise<string> {
  const submitter = new Submitter({ queue: d.queue, store: d.store });
  const handle = await submitter.submitMany(
    'seed',
    Array.from({ length: 10 }, (_, i) => ({ payload: { n: i } })),
    { batch: `seed-${d.name}` },
  );
  const batch = handle.batch;
  const now = new Date().toISOString();
  const base = { v: 1 as const, batch, type: 'seed', worker: 'w1' };
  for (let i = 0; i < 4; i++) {
    const rec: ResultRecord = {
      ...base,
      jobId: `j00000${i}`,
      status: 'done',
      result: { doubled: i * 2 },
      attempt: 1,
      startedAt: now,
      finishedAt: now,
      durationMs: 100 + i,
    };
    await json(d.store, resultKey(batch, rec.jobId), rec);
  }
  const cancelled: CancelledRecord = {
    ...base,
    jobId: 'j000004',
    status: 'cancelled',
    wasRunning: false,
    attempt: 1,
    requestedAt: now,
    at: now,
  };
  await json(d.store, resultKey(batch, 'j000004'), cancelled);
  await json(d.store, cancelledKey(batch, 'j000004'), cancelled);
  const failed = (jobId: string, final: boolean): ErrorRecord => ({
    ...base,
    jobId,
    status: 'failed',
    final,
    error: { name: 'Error', message: `boom ${jobId}` },
    attempt: final ? 5 : 2,
    at: now,
  });
  await json(d.store, errorKey(batch, 'j000005'), failed('j000005', true));
  await json(d.store, errorKey(batch, 'j000006'), failed('j000006', false));
  await d.dlq.send({
    body: JSON.stringify({ v: 1, id: 'j000005', type: 'seed', batch, submittedAt: now, payload: { n: 5 } }),
  });
  const progress: ProgressRecord = {
    ...base,
    jobId: 'j000007',
    fraction: 0.4,
    note: 'step 2/5',
    attempt: 1,
    at: now,
  };
  await json(d.store, progressKey(batch, 'j000007'), progress);
  const worker: WorkerStatusRecord = {
    v: 1,
    worker: 'w1',
    queue: d.queueUrl,
    at: now,
    startedAt: now,
    concurrency: 4,
    types: ['seed'],
    running: [{ batch, jobId: 'j000007', type: 'seed', attempt: 1, startedAt: now }],
    counters: { done: 4, failed: 2 },
  };
  await json(d.store, workerStatusKey('w1'), worker);
  return batch;
}
