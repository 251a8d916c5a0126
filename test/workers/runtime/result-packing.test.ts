/**
 * Result packing (worker option `resultPacking`) against the embedded emulator: what a user sees
 * is the same results through the client, from far fewer objects and PUTs; a job whose result is
 * in a pack is not run again; nothing is deleted before its result is stored.
 */
import { describe, expect, it } from 'vitest';
import { Submitter } from '../../../client/submit.js';
import { resultKey } from '../../../core/envelope.js';
import type { ObjectStore } from '../../../core/ports/object-store.js';
import { isPackKey, packKey, parseResultPacking } from '../../../core/result-packs.js';
import { builtinHandlers } from '../../../workers/handlers/index.js';
import { HandlerRegistry } from '../../../workers/handlers/registry.js';
import { Worker } from '../../../workers/runtime/worker.js';
import { resolveWorkerOptions, type WorkerOptions } from '../../../workers/runtime/worker-options.js';
import { eventually, freshDeployment, queueDepth } from '../../support/deployment.js';
import { workerSuite } from '../../support/worker-suite.js';

const suite = workerSuite();

type Deployment = Awaited<ReturnType<typeof freshDeployment>>;

/** The deployment's store, with every PUT's key recorded (and a hook to fail some). */
function spiedStore(d: Deployment, failPut?: (key: string) => boolean) {
  const puts: string[] = [];
  const store = new Proxy(d.store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop !== 'put') return typeof v === 'function' ? v.bind(target) : v;
      return async (key: string, ...rest: unknown[]) => {
        if (failPut?.(key)) throw Object.assign(new Error('connection reset'), { name: 'TimeoutError' });
        puts.push(key);
        return (v as (...a: unknown[]) => unknown).call(target, key, ...rest);
      };
    },
  }) as ObjectStore;
  return { store, puts };
}

/** An echo type that counts its runs per job id. */
function counting() {
  const runs = new Map<string, number>();
  const handlers = new HandlerRegistry().register({
    type: 'count',
    async handler(job) {
      runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
      return { id: job.id, payload: job.payload };
    },
  });
  return { runs, handlers };
}

function startWorker(d: Deployment, handlers: HandlerRegistry, opts: Partial<WorkerOptions> = {}) {
  const worker = new Worker({
    queue: d.queue,
    dlq: d.dlq,
    store: d.store,
    handlers,
    concurrency: 32,
    waitTimeSeconds: 1,
    visibilityTimeoutSeconds: d.definition.queue.visibilityTimeoutSeconds,
    maxReceiveCount: d.definition.queue.maxReceiveCount,
    drainTimeoutMs: 5000,
    ...opts,
  });
  suite.workers.push(worker);
  void worker.start();
  return worker;
}

async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

describe('result packing', () => {
  it('writes the results of many small jobs as a few objects, each readable as if written alone', async () => {
    const d = await freshDeployment(suite.emu);
    const { store, puts } = spiedStore(d);
    const { runs, handlers } = counting();
    startWorker(d, handlers, { store, resultPacking: { maxJobs: 50, maxDelayMs: 200 } });
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const jobs = Array.from({ length: 200 }, (_, i) => ({ payload: { i } }));
    const batch = await sub.submitMany('count', jobs);
    const out = await batch.waitForAll({ timeoutMs: 30_000, pollMs: 100 });
    expect(out.complete).toBe(true);
    expect(out.done).toBe(200);
    expect(out.results.size).toBe(200);
    for (const [id, rec] of out.results) {
      expect(rec.status).toBe('done');
      expect(rec.jobId).toBe(id);
      expect(rec.result).toEqual({ id, payload: { i: Number(id.slice(1)) } });
    }
    // One job's result, asked for alone, from a fresh handle that has never listed the batch.
    expect((await sub.batch(batch.batch).result('j000123'))?.result).toEqual({
      id: 'j000123',
      payload: { i: 123 },
    });
    const resultPuts = puts.filter((k) => k.startsWith(`results/${batch.batch}/`));
    expect(resultPuts.every(isPackKey)).toBe(true);
    // 200 results in packs of at most 50: at least 4 PUTs, and far fewer than one per job.
    expect(resultPuts.length).toBeGreaterThanOrEqual(4);
    expect(resultPuts.length).toBeLessThanOrEqual(40);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    await eventually(async () => {
      const q = await queueDepth(d.queue);
      return q.visible + q.inFlight === 0;
    }, 5000);
  });

  it('does not run again a redelivered job whose result is in a pack', async () => {
    const d = await freshDeployment(suite.emu);
    const { runs, handlers } = counting();
    const packing = { resultPacking: { maxJobs: 10, maxDelayMs: 100 } };
    const first = startWorker(d, handlers, packing);
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const batch = await sub.submitMany('count', [{ id: 'once', payload: {} }]);
    expect((await batch.waitForAll({ timeoutMs: 10_000, pollMs: 50 })).done).toBe(1);
    await first.stop();
    expect(await keysUnder(d.store, `results/${batch.batch}/`)).toEqual([
      expect.stringMatching(/\/packs\/.+\.json$/),
    ]);
    // The same job's message again, received once and let go (a delivery whose worker was lost):
    // its next delivery is a redelivery, which a packing worker checks in the batch's packs.
    await d.queue.send({
      body: JSON.stringify({
        v: 1,
        id: 'once',
        type: 'count',
        batch: batch.batch,
        submittedAt: new Date().toISOString(),
        payload: {},
      }),
    });
    await d.queue.receive({ maxMessages: 1, waitTimeSeconds: 1, visibilityTimeoutSeconds: 0 });
    const again = startWorker(d, handlers, packing);
    await eventually(() => again.counters.duplicates >= 1);
    expect(runs.get('once')).toBe(1);
    expect((await sub.batch(batch.batch).result('once'))?.attempt).toBe(1);
  });

  it('runs a job delivered twice once, and lets the second copy go only once the pack is stored', async () => {
    const d = await freshDeployment(suite.emu);
    const { runs, handlers } = counting();
    const { store, puts } = spiedStore(d);
    const body = JSON.stringify({
      v: 1,
      id: 'twice',
      type: 'count',
      batch: 'dup',
      submittedAt: new Date().toISOString(),
      payload: {},
    });
    await d.queue.send({ body });
    await d.queue.send({ body });
    // A second's wait in the pack: the second copy arrives while the first's result waits there.
    const worker = startWorker(d, handlers, { store, resultPacking: { maxDelayMs: 1000 } });
    await eventually(() => worker.counters.duplicates >= 1 && worker.counters.done >= 1);
    await eventually(async () => {
      const q = await queueDepth(d.queue);
      return q.visible + q.inFlight === 0;
    }, 5000);
    expect(runs.get('twice')).toBe(1);
    expect(puts.filter((k) => k.startsWith('results/dup/'))).toHaveLength(1);
    expect(
      (await new Submitter({ queue: d.queue, store: d.store }).batch('dup').result('twice'))?.jobId,
    ).toBe('twice');
  });

  it('writes the open pack when it drains, before the pack would have been due', async () => {
    const d = await freshDeployment(suite.emu);
    const { handlers } = counting();
    // Ten seconds' wait for more results: the drain must not wait for it, nor leave the results out.
    const worker = startWorker(d, handlers, { resultPacking: { maxJobs: 1000, maxDelayMs: 10_000 } });
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const batch = await sub.submitMany(
      'count',
      Array.from({ length: 5 }, () => ({ payload: {} })),
    );
    await eventually(() => worker.counters.received >= 5);
    await eventually(async () => (await queueDepth(d.queue)).visible === 0);
    await worker.stop();
    // Stopped: the five results are there now, in one pack, and their messages are gone.
    const out = await batch.waitForAll({ timeoutMs: 0 });
    expect(out.done).toBe(5);
    expect((await keysUnder(d.store, `results/${batch.batch}/`)).filter(isPackKey)).toHaveLength(1);
    expect(await queueDepth(d.queue)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('writes each result alone when its pack cannot be written', async () => {
    const d = await freshDeployment(suite.emu);
    const { store, puts } = spiedStore(d, (key) => isPackKey(key));
    const { handlers } = counting();
    startWorker(d, handlers, { store, resultPacking: { maxJobs: 5, maxDelayMs: 50 } });
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const batch = await sub.submitMany(
      'count',
      Array.from({ length: 12 }, () => ({ payload: {} })),
    );
    const out = await batch.waitForAll({ timeoutMs: 15_000, pollMs: 50 });
    expect(out.done).toBe(12);
    const written = puts.filter((k) => k.startsWith(`results/${batch.batch}/`)).sort();
    expect(written).toEqual([...out.results.keys()].map((id) => resultKey(batch.batch, id)).sort());
  });

  it('counts a job found in two packs once, taking the record that finished first', async () => {
    const d = await freshDeployment(suite.emu);
    const rec = (worker: string, finishedAt: string) => ({
      v: 1,
      jobId: 'twice',
      batch: 'bp',
      type: 'count',
      status: 'done',
      result: { worker },
      attempt: 1,
      startedAt: finishedAt,
      finishedAt,
      durationMs: 1,
      worker,
    });
    const pack = (worker: string, records: object[]) =>
      JSON.stringify({ v: 1, batch: 'bp', worker, at: new Date().toISOString(), results: records });
    await d.store.put(packKey('bp', 'a-1'), pack('late', [rec('late', '2026-01-01T00:00:02.000Z')]));
    await d.store.put(
      packKey('bp', 'b-1'),
      pack('early', [
        rec('early', '2026-01-01T00:00:01.000Z'),
        { ...rec('early', '2026-01-01T00:00:01.000Z'), jobId: 'other' },
      ]),
    );
    const handle = new Submitter({ queue: d.queue, store: d.store }).batch('bp');
    const out = await handle.waitForAll({ timeoutMs: 1000 });
    expect(out.done).toBe(2);
    expect(out.results.get('twice')?.result).toEqual({ worker: 'early' });
    expect((await handle.result('twice'))?.worker).toBe('early');
  });
});

describe('wordcount-merge over packed results', () => {
  it('sums the map results of a batch whose results are in packs, listed or named', async () => {
    const d = await freshDeployment(suite.emu);
    startWorker(d, builtinHandlers(), { resultPacking: { maxJobs: 10, maxDelayMs: 100 } });
    await d.store.put('inputs/a.txt', 'the cat and the dog');
    await d.store.put('inputs/b.txt', 'the end');
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const map = await sub.submitMany('wordcount', [
      { payload: { key: 'inputs/a.txt' } },
      { payload: { key: 'inputs/b.txt' } },
    ]);
    expect((await map.waitForAll({ timeoutMs: 10_000, pollMs: 50 })).done).toBe(2);
    expect((await keysUnder(d.store, `results/${map.batch}/`)).every(isPackKey)).toBe(true);
    for (const payload of [{ batch: map.batch }, { batch: map.batch, jobIds: ['j000000', 'j000001'] }]) {
      const merge = await sub.submit('wordcount-merge', payload);
      const [rec] = (await merge.waitForAll({ timeoutMs: 10_000, pollMs: 50 })).results.values();
      const result = rec?.result as { inputs: number; words: number; top: [string, number][] } | undefined;
      expect(result).toMatchObject({ inputs: 2, words: 7, distinct: 5 });
      expect(result?.top[0]).toEqual(['the', 3]);
    }
  });
});

describe('the resultPacking option', () => {
  it("reads 'on', 'off' and limits, and says what is wrong in one line", () => {
    expect(parseResultPacking('on')).toEqual({});
    expect(parseResultPacking('off')).toBeUndefined();
    expect(parseResultPacking('')).toBeUndefined();
    expect(parseResultPacking('maxJobs=20, maxDelayMs=100')).toEqual({ maxJobs: 20, maxDelayMs: 100 });
    expect(() => parseResultPacking('yes')).toThrow(/'on', 'off' or some of maxJobs=N/);
    expect(() => parseResultPacking('maxJobs=0')).toThrow(
      'resultPacking.maxJobs must be a whole number 1..1000',
    );
    expect(() => parseResultPacking('maxBytes=12')).toThrow(/maxBytes/);
  });

  it('refuses a pack wait longer than half the visibility timeout', () => {
    const base = { queue: {} as never, store: {} as never, handlers: new HandlerRegistry() };
    expect(() =>
      resolveWorkerOptions({ ...base, visibilityTimeoutSeconds: 10, resultPacking: { maxDelayMs: 6000 } }),
    ).toThrow('resultPacking.maxDelayMs must be at most half the visibility timeout');
    expect(resolveWorkerOptions({ ...base, resultPacking: {} }).resultPacking).toEqual({
      maxJobs: 50,
      maxDelayMs: 50,
      maxBytes: 65536,
    });
    expect(resolveWorkerOptions(base).resultPacking).toBeUndefined();
  });
});
