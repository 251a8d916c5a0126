/**
 * A worker serving several job queues (fauxqs in-process, over HTTP): strict priority lets
 * urgent jobs overtake a bulk backlog, weighted mode shares the slots by weight, and a type's
 * maxConcurrency holds its jobs in the worker without spending a receive.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Submitter } from '../../../client/submit.js';
import { resultKey } from '../../../core/envelope.js';
import { HandlerRegistry } from '../../../workers/handlers/registry.js';
import { Worker } from '../../../workers/runtime/worker.js';
import type { WorkerOptions } from '../../../workers/runtime/worker-options.js';
import { eventually, freshDeployment, queueDepth } from '../../support/deployment.js';
import { workerSuite } from '../../support/worker-suite.js';

const suite = workerSuite();

type Deployment = Awaited<ReturnType<typeof freshDeployment>>;

/** Jobs whose payload names their queue; each records its end in `ended`. */
function recordingHandlers(ended: string[], ms: number): HandlerRegistry {
  return new HandlerRegistry().register<{ q: string }, null>({
    type: 'rec',
    handler: async (job) => {
      if (ms > 0) await sleep(ms);
      ended.push(job.payload.q);
      return null;
    },
  });
}

function startWorker(d: Deployment, handlers: HandlerRegistry, opts: Partial<WorkerOptions> = {}): Worker {
  const worker = new Worker({
    queues: ['urgent', 'default', 'bulk'].map((name) => ({
      name,
      ...d.jobQueues[name]!,
      weight: { urgent: 6, default: 3, bulk: 1 }[name]!,
    })),
    store: d.store,
    handlers,
    visibilityTimeoutSeconds: d.definition.queue.visibilityTimeoutSeconds,
    maxReceiveCount: d.definition.queue.maxReceiveCount,
    drainTimeoutMs: 5000,
    ...opts,
  });
  suite.workers.push(worker);
  void worker.start();
  return worker;
}

async function submitTo(d: Deployment, name: string, count: number): Promise<void> {
  const sub = new Submitter({ queue: d.jobQueues[name]!.queue, store: d.store, queueName: name });
  await sub.submitMany(
    'rec',
    Array.from({ length: count }, () => ({ payload: { q: name } })),
  );
}

describe('strict priority', () => {
  it('runs urgent jobs submitted behind a bulk backlog before the next 20 bulk jobs', async () => {
    // The figure is 200 bulk jobs; 50 keep the test at a few seconds and still leave
    // 35+ bulk jobs queued when the urgent ones arrive, so first-come order would fail this.
    const d = await freshDeployment(suite.emu);
    const ended: string[] = [];
    await submitTo(d, 'bulk', 50);
    startWorker(d, recordingHandlers(ended, 80), { concurrency: 2 });
    await eventually(() => ended.length >= 10, 10_000);
    const before = ended.length;
    await submitTo(d, 'urgent', 10);
    await eventually(() => ended.filter((q) => q === 'urgent').length === 10, 10_000);
    const after = ended.slice(before);
    const lastUrgent = after.lastIndexOf('urgent');
    const bulkBeforeLastUrgent = after.slice(0, lastUrgent).filter((q) => q === 'bulk').length;
    expect(bulkBeforeLastUrgent).toBeLessThan(20);
    // And bulk resumes once the urgent queue is empty.
    await eventually(() => ended.length === 60, 15_000);
  }, 30_000);
});

describe('weighted share', () => {
  it('gives each queue its weighted share of the jobs while all have jobs, within 10%', async () => {
    const d = await freshDeployment(suite.emu);
    const ended: string[] = [];
    await Promise.all([submitTo(d, 'urgent', 150), submitTo(d, 'default', 100), submitTo(d, 'bulk', 50)]);
    startWorker(d, recordingHandlers(ended, 0), { concurrency: 2, queueMode: 'weighted' });
    // 200 jobs at 6:3:1 take 120, 60 and 20: no queue runs dry before the 200th.
    await eventually(() => ended.length >= 200, 20_000);
    const first = ended.slice(0, 200);
    const share = (q: string) => first.filter((x) => x === q).length;
    for (const [q, want] of [
      ['urgent', 120],
      ['default', 60],
      ['bulk', 20],
    ] as const) {
      expect(Math.abs(share(q) - want) / want, `${q}: ${share(q)} of 200, want ${want}`).toBeLessThanOrEqual(
        0.1,
      );
    }
  }, 30_000);
});

describe('maxConcurrency', () => {
  it('never runs more of a type at once than its limit, and spends no receive on the jobs it holds back', async () => {
    // Every receive beyond the first sends a job to the DLQ (maxReceiveCount 1), and the held
    // jobs wait longer than the visibility timeout: only a kept lease gets them through.
    const d = await freshDeployment(suite.emu, { visibilityTimeoutSeconds: 2, maxReceiveCount: 1 });
    let running = 0;
    let most = 0;
    const handlers = new HandlerRegistry().register({
      type: 'limited',
      maxConcurrency: 2,
      handler: async () => {
        running++;
        most = Math.max(most, running);
        await sleep(400);
        running--;
        return null;
      },
    });
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const batch = await sub.submitMany(
      'limited',
      Array.from({ length: 12 }, (_, i) => ({ payload: { i } })),
    );
    startWorker(d, handlers, { concurrency: 6, visibilityTimeoutSeconds: 2, maxReceiveCount: 1 });
    const out = await batch.waitForAll({ timeoutMs: 20_000, pollMs: 100 });
    expect(out.done).toBe(12);
    expect(most).toBe(2);
    expect(out.deadLettered).toEqual([]);
    for (const r of out.results.values()) expect(r.attempt).toBe(1);
    expect(await queueDepth(d.dlq)).toEqual({ visible: 0, inFlight: 0 });
    expect(await d.store.head(resultKey(batch.batch, 'j000011'))).toBeTruthy();
  }, 30_000);
});
