/**
 * Progress and cancellation end to end, over the wire: a real Worker in this process, the
 * Submitter and BatchHandle, the `flotilla` command, and fauxqs (with its spy counting writes)
 * or moto (which honours If-None-Match, for the race).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BatchHandle, Submitter } from '../../client/submit.js';
import { type CancelledRecord, cancelledKey, progressKey, resultKey } from '../../core/envelope.js';
import { JobCancelledError } from '../../core/errors.js';
import { sleep as sleepHandler } from '../../workers/handlers/diagnostics.js';
import { HandlerRegistry } from '../../workers/handlers/registry.js';
import { Worker } from '../../workers/runtime/worker.js';
import { flotilla } from '../support/cli.js';
import { eventually, freshDeployment, queueDepth } from '../support/deployment.js';
import { type Emulator, startEmbedded, startMoto } from '../support/emulators.js';

type Deployment = Awaited<ReturnType<typeof freshDeployment>>;

let emu: Awaited<ReturnType<typeof startEmbedded>>;
const workers: Worker[] = [];

beforeAll(async () => {
  emu = await startEmbedded({ messageSpies: { bufferSize: 20_000 } });
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await emu?.stop();
});

function startWorker(d: Deployment, handlers: HandlerRegistry, heartbeatIntervalMs = 1000): Worker {
  const w = new Worker({
    queue: d.queue,
    dlq: d.dlq,
    store: d.store,
    handlers,
    concurrency: 8,
    waitTimeSeconds: 1,
    visibilityTimeoutSeconds: 30,
    heartbeatIntervalMs,
    progressIntervalMs: 400,
    statusIntervalMs: 1000,
  });
  workers.push(w);
  void w.start();
  return w;
}

async function finalOf(handle: BatchHandle, jobId: string, timeoutMs = 15_000) {
  return eventually(() => handle.final(jobId), timeoutMs, 100);
}

describe('progress', () => {
  it('shows BatchHandle a handler reporting 0.25, 0.5, 1 in order, with one store write per interval at most', async () => {
    const d = await freshDeployment(emu);
    const handlers = new HandlerRegistry().register({
      type: 'steps',
      async handler(_job, ctx) {
        for (const f of [0.25, 0.5, 1]) {
          for (let i = 0; i < 50; i++) ctx.progress(f, `at ${f}`); // many calls, few writes
          await sleep(700);
        }
        return 'ok';
      },
    });
    const submitter = new Submitter({ queue: d.queue, store: d.store });
    const handle = await submitter.submit('steps', {}, { id: 'job1' });
    const started = Date.now();
    startWorker(d, handlers);
    const seen: number[] = [];
    while (!(await handle.final('job1'))) {
      const p = (await handle.status()).progress.get('job1');
      if (p && seen.at(-1) !== p.fraction) seen.push(p.fraction);
      await sleep(50);
    }
    const ranFor = Date.now() - started;
    expect(seen).toEqual([0.25, 0.5, 1]);
    const writes = emu.server.spy
      .getAllMessages()
      .filter(
        (m) => m.service === 's3' && m.status === 'uploaded' && m.key === progressKey(handle.batch, 'job1'),
      );
    expect(writes.length).toBeGreaterThanOrEqual(3);
    expect(writes.length).toBeLessThanOrEqual(Math.ceil(ranFor / 400) + 1);
    expect((await handle.result('job1'))?.result).toBe('ok');
  });
});

describe('cancel', () => {
  it('never starts a queued job of a cancelled batch, and records it cancelled', async () => {
    const d = await freshDeployment(emu);
    const ran: string[] = [];
    const handlers = new HandlerRegistry().register({
      type: 'record',
      async handler(job) {
        ran.push(job.id);
        return null;
      },
    });
    const submitter = new Submitter({ queue: d.queue, store: d.store });
    const handle = await submitter.submitMany('record', [{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
    await submitter.cancel(handle.batch);
    startWorker(d, handlers);
    const outcome = await handle.waitForAll({ pollMs: 100, timeoutMs: 20_000 });
    expect(outcome.complete).toBe(true);
    expect(outcome.cancelled.sort()).toEqual(['j000000', 'j000001', 'j000002']);
    expect(ran).toEqual([]);
    const rec = (await handle.cancelled('j000000')) as CancelledRecord;
    expect(rec).toMatchObject({ status: 'cancelled', wasRunning: false });
    await eventually(async () => {
      const q = await queueDepth(d.queue);
      return q.visible === 0 && q.inFlight === 0;
    });
  });

  it("aborts a running sleep job's signal within one heartbeat interval and deletes its message", async () => {
    const d = await freshDeployment(emu);
    let reason: unknown;
    const handlers = new HandlerRegistry().register<{ ms: number }, { sleptMs: number }>({
      ...sleepHandler,
      async handler(job, ctx) {
        ctx.signal.addEventListener('abort', () => {
          reason = ctx.signal.reason;
        });
        return sleepHandler.handler(job, ctx);
      },
    });
    const submitter = new Submitter({ queue: d.queue, store: d.store });
    const handle = await submitter.submit('sleep', { ms: 60_000 }, { id: 'long' });
    startWorker(d, handlers, 1000);
    await eventually(async () => (await queueDepth(d.queue)).inFlight === 1);
    await sleep(300); // it is running
    const asked = Date.now();
    await submitter.cancel(handle.batch, ['long']);
    await eventually(() => reason !== undefined, 5000, 20);
    expect(Date.now() - asked).toBeLessThanOrEqual(1000 + 500);
    expect(reason).toBeInstanceOf(JobCancelledError);
    const rec = await finalOf(handle, 'long');
    expect(rec).toMatchObject({ status: 'cancelled', wasRunning: true });
    await eventually(async () => {
      const q = await queueDepth(d.queue);
      return q.visible === 0 && q.inFlight === 0;
    });
  });

  it('ends `flotilla submit --wait` when its job is cancelled', async () => {
    const d = await freshDeployment(emu);
    startWorker(d, new HandlerRegistry().register(sleepHandler), 500);
    const batch = 'waited-on';
    const run = flotilla(
      ['submit', 'sleep', '--payload', '{"ms":60000}', '--id', 'j1', '--batch', batch, '--wait'],
      { AWS_ENDPOINT_URL: emu.endpoint, FLOTILLA_QUEUE_URL: d.queueUrl, FLOTILLA_BUCKET: d.bucket },
    );
    const submitter = new Submitter({ queue: d.queue, store: d.store });
    await eventually(async () => (await queueDepth(d.queue)).inFlight === 1, 30_000);
    await submitter.cancel(batch);
    const r = await run;
    expect(r.stdout).toContain('1 cancelled');
    expect(r.code).toBe(1);
    const results = await flotilla(['results', batch], {
      AWS_ENDPOINT_URL: emu.endpoint,
      FLOTILLA_BUCKET: d.bucket,
    });
    expect(results.stdout).toMatch(/j1\s+cancelled while running/);
  });
});

describe('cancel racing completion (moto: conditional writes honoured)', () => {
  let moto: Emulator;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it('leaves each job of a batch cancelled mid-run with exactly one final status', async () => {
    const d = await freshDeployment(moto);
    const handlers = new HandlerRegistry().register({
      type: 'short',
      async handler(job, ctx) {
        await sleep((job.payload as number) * 37, undefined, { signal: ctx.signal });
        return job.payload;
      },
    });
    const submitter = new Submitter({ queue: d.queue, store: d.store });
    const handle = await submitter.submitMany(
      'short',
      Array.from({ length: 24 }, (_, i) => ({ payload: i })),
    );
    startWorker(d, handlers, 200);
    await eventually(async () => (await handle.status()).done.size >= 3, 20_000, 50);
    await submitter.cancel(handle.batch);
    const outcome = await handle.waitForAll({ pollMs: 200, timeoutMs: 30_000 });
    expect(outcome.complete).toBe(true);
    expect(outcome.done + outcome.cancelled.length).toBe(24);
    expect(outcome.done).toBeGreaterThanOrEqual(3);
    expect(outcome.cancelled.length).toBeGreaterThan(0);
    for (const id of handle.jobIds ?? []) {
      const rec = await handle.final(id);
      const marker = await d.store.head(cancelledKey(handle.batch, id));
      expect(rec?.status === 'cancelled').toBe(Boolean(marker));
      expect(await d.store.head(resultKey(handle.batch, id))).toBeTruthy();
    }
  });
});
