/**
 * The dashboard's JSON API over the embedded emulator, seen through a recording proxy: correct
 * counts for a seeded deployment, working actions, and never a receive on the job queue.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { SqsQueue } from '../../../core/adapters/sqs-queue.js';
import { s3Client, sqsClient } from '../../../core/aws.js';
import { type BatchManifest, manifestKey, resultKey } from '../../../core/envelope.js';
import { packBody, packKey } from '../../../core/result-packs.js';
import { Dashboard } from '../../../scripts/ui/dashboard.js';
import { type DashboardServer, startDashboardServer } from '../../../scripts/ui/server.js';
import { freshDeployment } from '../../support/deployment.js';
import { type Emulator, startEmbedded } from '../../support/emulators.js';
import { recordingProxy, seedBatch } from './support.js';

let emu: Emulator & { server: Awaited<ReturnType<typeof startEmbedded>>['server'] };
let proxy: Awaited<ReturnType<typeof recordingProxy>>;
let d: Awaited<ReturnType<typeof freshDeployment>>;
let batch: string;
let server: DashboardServer;
let clients: { sqs: ReturnType<typeof sqsClient>; s3: ReturnType<typeof s3Client> };

beforeAll(async () => {
  emu = await startEmbedded();
  d = await freshDeployment(emu);
  batch = await seedBatch(d);
  // Beside the seeded batch on the default queue: two jobs waiting on 'urgent', one dead on 'bulk'.
  await d.jobQueues.urgent!.queue.sendBatch([
    { id: '0', body: '{}' },
    { id: '1', body: '{}' },
  ]);
  await d.jobQueues.bulk!.dlq.send({ body: '{}' });
  proxy = await recordingProxy(emu.endpoint);
  const cfg = { ...emu.config, endpoint: proxy.endpoint };
  clients = { sqs: sqsClient(cfg), s3: s3Client(cfg) };
  const dashboard = new Dashboard({
    queues: d.queues.map((q) => ({
      name: q.name,
      queue: new SqsQueue(clients.sqs, q.url),
      dlq: new SqsQueue(clients.sqs, q.dlqUrl!),
    })),
    store: new S3Store(clients.s3, d.bucket),
    stateTtlMs: 0,
  });
  server = await startDashboardServer({ dashboard });
});

afterAll(async () => {
  await server?.stop();
  clients?.sqs.destroy();
  clients?.s3.destroy();
  await proxy?.stop();
  await emu?.stop();
});

async function api<T = Record<string, unknown>>(
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(new URL(path, server.url), {
    method: init.method ?? 'GET',
    headers: {
      ...(init.method && init.method !== 'GET'
        ? { 'x-flotilla-action': '1', 'content-type': 'application/json' }
        : {}),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

interface QueueRow {
  name: string;
  visible: number;
  inFlight: number;
  dlq: { visible: number } | null;
}
/** Each job queue's visible count and its DLQ's, by name. */
const depths = (queues: QueueRow[]) =>
  Object.fromEntries(queues.map((q) => [q.name, [q.visible, q.dlq?.visible ?? null]]));

interface Summary {
  batch: string;
  total: number;
  counts: Record<string, number>;
  cancelRequested: string | number;
}

describe('flotilla ui API', () => {
  it('counts every job queue and its DLQ, the workers and every state of a seeded batch', async () => {
    const { status, body } = await api<{
      queues: QueueRow[];
      workers: { worker: string; running: unknown[] }[];
      batches: Summary[];
      history: unknown[];
    }>('/api/overview');
    expect(status).toBe(200);
    // Highest priority first, as the deployment declares them.
    expect(body.queues.map((q) => q.name)).toEqual(['urgent', 'default', 'bulk']);
    expect(depths(body.queues)).toEqual({ urgent: [2, 0], default: [10, 1], bulk: [0, 1] });
    expect(body.queues.every((q) => q.inFlight === 0)).toBe(true);
    expect(body.history.length).toBeGreaterThanOrEqual(1);
    expect(body.workers.map((w) => w.worker)).toEqual(['w1']);
    const b = body.batches.find((x) => x.batch === batch);
    expect(b?.total).toBe(10);
    expect(b?.counts).toEqual({
      queued: 2,
      running: 1,
      cancelling: 0,
      retrying: 1,
      done: 4,
      failed: 1,
      cancelled: 1,
    });
  });

  it("pages a batch's jobs by status and shows one job's payload and result", async () => {
    const all = await api<{
      total: number;
      rows: { jobId: string; status: string; durationMs: number | null }[];
    }>(`/api/batches/${batch}/jobs?limit=4&offset=2`);
    expect(all.body.total).toBe(10);
    expect(all.body.rows.map((r) => `${r.jobId}:${r.status}`)).toEqual([
      'j000002:done',
      'j000003:done',
      'j000004:cancelled',
      'j000005:failed',
    ]);
    expect(all.body.rows[0]?.durationMs).toBe(102);
    const queued = await api<{ total: number; rows: { jobId: string }[] }>(
      `/api/batches/${batch}/jobs?status=queued`,
    );
    expect(queued.body.rows.map((r) => r.jobId)).toEqual(['j000008', 'j000009']);
    const running = await api<{ rows: { jobId: string; progress: number; note: string; worker: string }[] }>(
      `/api/batches/${batch}/jobs?status=running`,
    );
    expect(running.body.rows).toEqual([
      expect.objectContaining({ jobId: 'j000007', progress: 0.4, note: 'step 2/5', worker: 'w1' }),
    ]);
    const job = await api<{ payload: string; result: unknown }>(`/api/batches/${batch}/jobs/j000001`);
    expect(JSON.parse(job.body.payload)).toEqual({ n: 1 });
    expect(job.body.result).toEqual({ doubled: 2 });
    const bad = await api(`/api/batches/${batch}/jobs?status=lost`);
    expect(bad.status).toBe(400);
  });

  it('counts and shows results written in a pack as it does results written alone', async () => {
    const packed = `packed-${d.name}`;
    // Its manifest alone (nothing on a queue: the other tests count the queues).
    const manifest: BatchManifest = {
      v: 1,
      batch: packed,
      type: 'seed',
      queue: d.queue.url,
      submittedAt: new Date().toISOString(),
      total: 3,
      jobIds: ['j000000', 'j000001', 'j000002'],
    };
    await d.store.put(manifestKey(packed), JSON.stringify(manifest));
    const now = new Date().toISOString();
    const rec = (jobId: string, n: number) => ({
      v: 1,
      jobId,
      batch: packed,
      type: 'seed',
      status: 'done',
      result: { doubled: n * 2 },
      attempt: 1,
      startedAt: now,
      finishedAt: now,
      durationMs: 7,
      worker: 'w2',
    });
    await d.store.put(
      packKey(packed, 'w2-1'),
      packBody(
        packed,
        'w2',
        [rec('j000000', 1), rec('j000001', 2)].map((r) => JSON.stringify(r)),
      ),
    );
    await d.store.put(resultKey(packed, 'j000002'), JSON.stringify(rec('j000002', 3)));
    const { body } = await api<{ batches: Summary[] }>('/api/overview');
    const b = body.batches.find((x) => x.batch === packed);
    expect(b?.total).toBe(3);
    expect(b?.counts.done).toBe(3);
    const job = await api<{ result: unknown; worker: string }>(`/api/batches/${packed}/jobs/j000001`);
    expect(job.body).toMatchObject({ result: { doubled: 4 }, worker: 'w2' });
  });

  it('lists the dead-lettered jobs with their reasons', async () => {
    const { body } = await api<{ entries: { jobId: string; reason: string; attempt: number }[] }>('/api/dlq');
    expect(body.entries).toEqual([
      expect.objectContaining({ jobId: 'j000005', reason: 'Error: boom j000005', attempt: 5 }),
    ]);
  });

  it('never receives from the job queue, however often the page refreshes', async () => {
    for (let i = 0; i < 3; i++) {
      await api('/api/overview');
      await api(`/api/batches/${batch}/jobs`);
      await api(`/api/batches/${batch}/jobs/j000008`);
      await api('/api/dlq');
    }
    const sqs = proxy.seen.filter((s) => s.service === 'sqs');
    expect(sqs.length).toBeGreaterThan(0);
    expect(sqs.filter((s) => s.action === 'ReceiveMessage')).toEqual([]);
    expect(new Set(sqs.map((s) => s.action))).toEqual(new Set(['GetQueueAttributes']));
    const inspected = emu.server.inspectQueue(`${d.name}-jobs`);
    expect(inspected?.messages.ready.length).toBe(10);
    expect(inspected?.messages.inflight.length).toBe(0);
  });

  it('refuses an action without its header, and one from a page under another host name', async () => {
    const noHeader = await api(`/api/batches/${batch}/cancel`, {
      method: 'POST',
      body: {},
      headers: { 'x-flotilla-action': '' },
    });
    expect(noHeader.status).toBe(403);
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(server.url);
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: '/api/overview',
          headers: { host: `evil.example:${u.port}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(421);
  });

  it('cancels a job, submits one and redrives the DLQ', async () => {
    const c = await api<{ requested: number }>(`/api/batches/${batch}/cancel`, {
      method: 'POST',
      body: { jobIds: ['j000008'] },
    });
    expect(c.body.requested).toBe(1);
    const after = await api<{ rows: { jobId: string }[] }>(`/api/batches/${batch}/jobs?status=cancelling`);
    expect(after.body.rows.map((r) => r.jobId)).toEqual(['j000008']);

    const s = await api<{ batch: string }>('/api/jobs', {
      method: 'POST',
      body: { type: 'seed', payload: { n: 99 } },
    });
    expect(s.status).toBe(200);
    const submitted = await api<{ total: number; rows: { jobId: string; status: string }[] }>(
      `/api/batches/${s.body.batch}/jobs`,
    );
    expect(submitted.body.rows.map((r) => r.status)).toEqual(['queued']);
    const badPayload = await api('/api/jobs', { method: 'POST', body: { payload: {} } });
    expect(badPayload.status).toBe(400);
    const urgent = await api('/api/jobs', {
      method: 'POST',
      body: { type: 'seed', payload: {}, queue: 'urgent' },
    });
    expect(urgent.status).toBe(200);
    const noSuchQueue = await api<{ error: string }>('/api/jobs', {
      method: 'POST',
      body: { type: 'seed', payload: {}, queue: 'nope' },
    });
    expect(noSuchQueue.status).toBe(400);
    expect(noSuchQueue.body.error).toContain("no job queue named 'nope'");

    // Every DLQ goes back to its own queue.
    const r = await api<{ moved: number }>('/api/dlq/redrive', { method: 'POST', body: {} });
    expect(r.body.moved).toBe(2);
    const o = await api<{ queues: QueueRow[] }>('/api/overview');
    expect(depths(o.body.queues)).toEqual({ urgent: [3, 0], default: [12, 0], bulk: [1, 0] });
  });
});

describe('flotilla ui off loopback', () => {
  it('answers the API only with its token', async () => {
    const dashboard = new Dashboard({
      queues: [{ name: 'default', queue: new SqsQueue(emu.sqs, d.queueUrl) }],
      store: new S3Store(emu.s3, d.bucket),
    });
    const s = await startDashboardServer({ dashboard, host: '127.0.0.1', token: 'sekrit-token' });
    try {
      expect(s.url).toContain('?token=sekrit-token');
      const without = await fetch(new URL('/api/overview', s.url));
      expect(without.status).toBe(401);
      const withToken = await fetch(new URL('/api/overview', s.url), {
        headers: { 'x-flotilla-token': 'sekrit-token' },
      });
      expect(withToken.status).toBe(200);
    } finally {
      await s.stop();
    }
  });
});
