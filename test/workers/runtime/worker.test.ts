/**
 * The worker against a real SQS/S3 emulator over HTTP (fauxqs in-process): long polling,
 * concurrency, heartbeats, retries and the DLQ, poison messages, claim checks, duplicates.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Submitter } from '../../../client/submit.js';
import { ACTIVE_SIDE_KEY, type ActiveSideRecord, writeActiveSide } from '../../../core/active-side.js';
import { errorKey, resultKey } from '../../../core/envelope.js';
import { UnrecoverableError } from '../../../core/errors.js';
import { builtinHandlers } from '../../../workers/handlers/index.js';
import { HandlerRegistry } from '../../../workers/handlers/registry.js';
import { jsonLogger } from '../../../workers/runtime/logger.js';
import { Worker } from '../../../workers/runtime/worker.js';
import type { WorkerOptions } from '../../../workers/runtime/worker-options.js';
import { eventually, freshDeployment, queueDepth } from '../../support/deployment.js';
import { uniqueName } from '../../support/emulators.js';
import { workerSuite } from '../../support/worker-suite.js';

/**
 * The queue ends empty. Deletes are batched: the last one may land a moment after the result or
 * error record that fan-in waits for, so this waits for it (a few seconds at most).
 */
async function expectDrained(queue: Parameters<typeof queueDepth>[0]): Promise<void> {
  const depth = await eventually(async () => {
    const q = await queueDepth(queue);
    return q.visible === 0 && q.inFlight === 0 ? q : undefined;
  }, 5_000).catch(async () => queueDepth(queue));
  expect(depth).toEqual({ visible: 0, inFlight: 0 });
}

const suite = workerSuite();

type Deployment = Awaited<ReturnType<typeof freshDeployment>>;

function startWorker(d: Deployment, handlers: HandlerRegistry, opts: Partial<WorkerOptions> = {}) {
  const lines: Record<string, unknown>[] = [];
  const worker = new Worker({
    queue: d.queue,
    dlq: d.dlq,
    store: d.store,
    handlers,
    waitTimeSeconds: 1,
    visibilityTimeoutSeconds: d.definition.queue.visibilityTimeoutSeconds,
    maxReceiveCount: d.definition.queue.maxReceiveCount,
    drainTimeoutMs: 5000,
    log: jsonLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l)) }),
    ...opts,
  });
  suite.workers.push(worker);
  void worker.start();
  return { worker, lines };
}

async function dlqMessages(d: Deployment, expected: number) {
  const got: Awaited<ReturnType<Deployment['dlq']['receive']>> = [];
  await eventually(async () => {
    got.push(...(await d.dlq.receive({ maxMessages: 10, waitTimeSeconds: 1, visibilityTimeoutSeconds: 30 })));
    return got.length >= expected;
  }, 15_000);
  return got;
}

describe('polling', () => {
  it('takes no jobs while a failover record names another side, and takes them once this side is active', async () => {
    const d = await freshDeployment(suite.emu);
    const record = (queueUrl: string): ActiveSideRecord => ({
      v: 1,
      active: { bucket: d.bucket, queues: { jobs: queueUrl } },
      state: 'active',
      at: new Date().toISOString(),
    });
    await writeActiveSide(d.store, record('http://standby.example/000000000000/jobs'));
    const { lines } = startWorker(d, builtinHandlers(), { heartbeatIntervalMs: 200 });
    const handle = await new Submitter({ queue: d.queue, store: d.store }).submit('echo', { n: 1 });
    await sleep(1500);
    expect(await queueDepth(d.queue)).toEqual({ visible: 1, inFlight: 0 });
    await writeActiveSide(d.store, record(d.queue.url));
    expect((await handle.waitForAll({ timeoutMs: 10_000, pollMs: 50 })).done).toBe(1);
    expect(lines.map((l) => l.msg)).toContain('this side is active again; taking jobs');
  });

  it('takes no job before it has read the failover record, however slowly the bucket answers', async () => {
    const d = await freshDeployment(suite.emu);
    await writeActiveSide(d.store, {
      v: 1,
      active: { bucket: d.bucket, queues: { jobs: 'http://standby.example/000000000000/jobs' } },
      state: 'active',
      at: new Date().toISOString(),
    });
    // The bucket takes 1 s to answer for the record: five of the worker's 200 ms check intervals.
    const slowRecord = new Proxy(d.store, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (typeof v !== 'function') return v;
        if (prop !== 'head' && prop !== 'get') return v.bind(target);
        return async (key: string, ...rest: unknown[]) => {
          if (key === ACTIVE_SIDE_KEY) await sleep(1000);
          return v.call(target, key, ...rest);
        };
      },
    });
    await new Submitter({ queue: d.queue, store: d.store }).submit('echo', { n: 1 });
    const { lines } = startWorker(d, builtinHandlers(), { store: slowRecord, heartbeatIntervalMs: 200 });
    await eventually(
      async () => lines.some((l) => l.msg === 'this side is no longer active; taking no new jobs'),
      10_000,
    );
    await sleep(1500);
    expect(await queueDepth(d.queue)).toEqual({ visible: 1, inFlight: 0 });
    expect(lines.filter((l) => l.msg === 'job done')).toEqual([]);
  });

  it('returns from a long poll as soon as a message arrives', async () => {
    const d = await freshDeployment(suite.emu);
    startWorker(d, builtinHandlers(), { waitTimeSeconds: 20 });
    await sleep(300); // the worker is now inside a 20 s long poll on an empty queue
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const sentAt = Date.now();
    const out = await (await sub.submit('echo', { hello: 'world' })).waitForAll({
      timeoutMs: 15_000,
      pollMs: 50,
    });
    expect(out.complete).toBe(true);
    expect([...out.results.values()][0]?.result).toEqual({ hello: 'world' });
    // Well inside the 20 s poll: the receive returned with the message, not at the end of its wait.
    expect(Date.now() - sentAt).toBeLessThan(10_000);
  });

  it('runs more than 10 jobs at once in one worker', async () => {
    const d = await freshDeployment(suite.emu);
    let now = 0;
    let peak = 0;
    const handlers = new HandlerRegistry().register({
      type: 'hold',
      async handler() {
        now++;
        peak = Math.max(peak, now);
        await sleep(400);
        now--;
        return null;
      },
    });
    startWorker(d, handlers, { concurrency: 16 });
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const batch = await sub.submitMany(
      'hold',
      Array.from({ length: 40 }, () => ({ payload: {} })),
    );
    const out = await batch.waitForAll({ timeoutMs: 20_000, fetchResults: false });
    expect(out.complete).toBe(true);
    expect(peak).toBeGreaterThan(10);
    expect(peak).toBeLessThanOrEqual(16);
  });
});

describe('leases', () => {
  it('keeps a job longer than the visibility timeout invisible with heartbeats, and runs it once', async () => {
    const d = await freshDeployment(suite.emu, { visibilityTimeoutSeconds: 2 });
    let runs = 0;
    const handlers = new HandlerRegistry().register({
      type: 'long',
      async handler() {
        runs++;
        await sleep(5000);
        return { ok: true };
      },
    });
    const a = startWorker(d, handlers, { heartbeatIntervalMs: 500 });
    const b = startWorker(d, handlers, { heartbeatIntervalMs: 500 }); // a second worker that would steal it
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const out = await (await sub.submit('long', {})).waitForAll({ timeoutMs: 20_000 });
    expect(out.complete).toBe(true);
    expect(runs).toBe(1);
    expect(a.worker.counters.heartbeats + b.worker.counters.heartbeats).toBeGreaterThanOrEqual(3);
    await eventually(async () => (await queueDepth(d.queue)).inFlight === 0);
    await expectDrained(d.queue);
  });

  it('aborts a handler that runs past its timeout and retries it', async () => {
    const d = await freshDeployment(suite.emu, { maxReceiveCount: 2 });
    let runs = 0;
    let sawAbort = 0;
    const handlers = new HandlerRegistry().register({
      type: 'hang',
      timeoutMs: 300,
      async handler(_job, ctx) {
        runs++;
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        sawAbort++;
        throw ctx.signal.reason;
      },
    });
    startWorker(d, handlers, { retryBaseDelayMs: 200 });
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const out = await (await sub.submit('hang', {}, { id: 'stuck' })).waitForAll({ timeoutMs: 15_000 });
    expect(out.complete).toBe(true);
    expect(out.results.size).toBe(0);
    expect(runs).toBe(2);
    expect(sawAbort).toBe(2);
    expect(out.deadLettered[0]?.error.name).toBe('JobTimeoutError');
    expect(out.deadLettered[0]?.attempt).toBe(2);
  });
});

describe('handler context', () => {
  it('cuts short a handler that never looks at its signal when its timeout passes', async () => {
    const d = await freshDeployment(suite.emu, { maxReceiveCount: 1 });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const seen: { aborted: boolean; reason: string }[] = [];
    const handlers = new HandlerRegistry().register({
      type: 'deaf',
      timeoutMs: 200,
      async handler(_job, ctx) {
        await gate; // ignores the signal; reads it only once the test lets it go on
        seen.push({ aborted: ctx.signal.aborted, reason: (ctx.signal.reason as Error).name });
        return 'too late';
      },
    });
    startWorker(d, handlers);
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const out = await (await sub.submit('deaf', {}, { id: 'deaf' })).waitForAll({ timeoutMs: 15_000 });
    // The job failed at its timeout while its handler was still stuck.
    expect(out.results.size).toBe(0);
    expect(out.deadLettered[0]?.error.name).toBe('JobTimeoutError');
    expect(seen).toHaveLength(0);
    // A signal first read after the timeout is already aborted, with the timeout as its reason.
    release();
    await eventually(() => seen.length === 1, 5000);
    expect(seen[0]).toEqual({ aborted: true, reason: 'JobTimeoutError' });
  });

  it("gives the handler a logger and progress reports that carry the job's ids", async () => {
    const d = await freshDeployment(suite.emu);
    const handlers = new HandlerRegistry().register({
      type: 'chatty',
      async handler(_job, ctx) {
        ctx.log.info('halfway there', { rows: 5 });
        ctx.progress(0.5);
        return null;
      },
    });
    const { lines } = startWorker(d, handlers);
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const batch = await sub.submit('chatty', {}, { id: 'talker' });
    expect((await batch.waitForAll({ timeoutMs: 10_000 })).complete).toBe(true);
    const ids = { jobId: 'talker', type: 'chatty', batch: batch.batch, attempt: 1 };
    expect(lines.find((l) => l.msg === 'halfway there')).toMatchObject({ ...ids, rows: 5 });
    expect(lines.find((l) => l.msg === 'job progress')).toMatchObject({ ...ids, progress: 0.5 });
  });
});

describe('failures', () => {
  it('retries a failing job with growing delays, then moves it to the DLQ with its reason', async () => {
    const d = await freshDeployment(suite.emu, { maxReceiveCount: 4 });
    const attempts: number[] = [];
    const handlers = new HandlerRegistry().register({
      type: 'flaky',
      async handler() {
        attempts.push(Date.now());
        throw new Error('disk on fire');
      },
    });
    const { lines } = startWorker(d, handlers, { retryBaseDelayMs: 1000 });
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const batch = await sub.submit('flaky', { n: 1 }, { id: 'doomed' });
    const out = await batch.waitForAll({ timeoutMs: 30_000, pollMs: 100 });
    expect(out.complete).toBe(true);
    expect(attempts).toHaveLength(4);
    // The delays the worker chose double per attempt (jitter stays within each doubling)...
    const delays = lines
      .filter((l) => l.msg === 'job failed; will retry')
      .map((l) => Number(l.retryInSeconds));
    expect(delays).toHaveLength(3);
    expect(delays[1]!).toBeGreaterThanOrEqual(delays[0]!);
    expect(delays[2]!).toBeGreaterThanOrEqual(delays[1]!);
    expect(delays[2]!).toBeGreaterThan(delays[0]!);
    // ...and the queue honoured them: no retry came back before its delay was up.
    attempts.slice(1).forEach((t, i) => {
      expect(t - attempts[i]!).toBeGreaterThanOrEqual(delays[i]! * 1000 - 250);
    });
    const [msg] = await dlqMessages(d, 1);
    expect(msg?.attributes['flotilla-error']).toContain('disk on fire');
    expect(msg?.attributes['flotilla-attempts']).toBe('4');
    expect(JSON.parse(msg!.body).id).toBe('doomed');
    const rec = JSON.parse((await d.store.get(errorKey(batch.batch, 'doomed'))).toString());
    expect(rec).toMatchObject({ final: true, attempt: 4, error: { message: 'disk on fire' } });
    await expectDrained(d.queue);
  });

  it('sends a job whose handler says "do not retry" to the DLQ on the first failure', async () => {
    const d = await freshDeployment(suite.emu);
    let runs = 0;
    const handlers = new HandlerRegistry().register({
      type: 'bad-input',
      async handler() {
        runs++;
        throw new UnrecoverableError('row 3 has no date');
      },
    });
    startWorker(d, handlers);
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const out = await (await sub.submit('bad-input', {})).waitForAll({ timeoutMs: 10_000 });
    expect(runs).toBe(1);
    expect(out.deadLettered[0]?.error).toEqual({ name: 'UnrecoverableError', message: 'row 3 has no date' });
  });

  it('sends malformed, schema-invalid and unknown-type messages to the DLQ and keeps serving', async () => {
    const d = await freshDeployment(suite.emu);
    const { worker } = startWorker(d, builtinHandlers());
    await d.queue.send({ body: '{"v":1, "id": "x", oops' });
    await d.queue.send({ body: JSON.stringify({ v: 1, id: '../../etc', type: 'echo', batch: 'b1' }) });
    await d.queue.send({
      body: JSON.stringify({
        v: 1,
        id: 'j1',
        type: 'launch-rockets',
        batch: 'b1',
        submittedAt: new Date().toISOString(),
        payload: {},
      }),
    });
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const ok = await (await sub.submit('echo', 'still here')).waitForAll({ timeoutMs: 10_000 });
    expect([...ok.results.values()][0]?.result).toBe('still here');
    const msgs = await dlqMessages(d, 3);
    const reasons = msgs
      .map((m) => `${m.attributes['flotilla-error-name']}: ${m.attributes['flotilla-error']}`)
      .sort();
    expect(reasons).toHaveLength(3);
    expect(reasons[0]).toMatch(/^InvalidEnvelopeError: message body is not JSON/);
    expect(reasons[1]).toMatch(
      /^InvalidEnvelopeError: message is not a valid job envelope.*(id|submittedAt)/,
    );
    expect(reasons[2]).toMatch(/^UnknownJobTypeError: unknown job type 'launch-rockets'/);
    expect(worker.isStopping).toBe(false);
    expect(worker.counters.deadLettered).toBe(3);
    const rec = JSON.parse((await d.store.get(errorKey('b1', 'j1'))).toString());
    expect(rec).toMatchObject({
      final: true,
      type: 'launch-rockets',
      error: { name: 'UnknownJobTypeError' },
    });
  });
});

describe('payloads and results', () => {
  it('carries a 1 MiB payload through S3 (claim check) and back', async () => {
    const d = await freshDeployment(suite.emu);
    startWorker(d, builtinHandlers());
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const big = { blob: 'x'.repeat(1024 * 1024), tail: 'end' };
    const batch = await sub.submit('echo', big, { id: 'big' });
    const stored = await d.store.head(`payloads/${batch.batch}/big.json`);
    expect(stored?.size).toBeGreaterThan(1024 * 1024);
    const out = await batch.waitForAll({ timeoutMs: 15_000 });
    expect(out.results.get('big')?.result).toEqual(big);
  });

  it('refuses a payload over the hard limit at submit, sending nothing', async () => {
    const d = await freshDeployment(suite.emu);
    const sub = new Submitter({ queue: d.queue, store: d.store, maxPayloadBytes: 512 * 1024 });
    await expect(sub.submit('echo', 'y'.repeat(600 * 1024))).rejects.toThrow(/over the 512 KiB limit/);
    await expectDrained(d.queue);
  });

  it('leaves one result, from one run, when the same job is delivered twice', async () => {
    const d = await freshDeployment(suite.emu);
    let runs = 0;
    const handlers = new HandlerRegistry().register({
      type: 'count',
      async handler(job) {
        runs++;
        await sleep(300);
        return { job: job.id };
      },
    });
    const body = JSON.stringify({
      v: 1,
      id: 'once',
      type: 'count',
      batch: 'dup',
      submittedAt: new Date().toISOString(),
      payload: {},
    });
    await d.queue.send({ body });
    await d.queue.send({ body });
    const { worker } = startWorker(d, handlers);
    await eventually(
      async () => (await queueDepth(d.queue)).visible + (await queueDepth(d.queue)).inFlight === 0,
    );
    await eventually(() => worker.counters.duplicates >= 1);
    await worker.stop();
    // and a redelivery later, after the result exists (handed out once before, never deleted)
    await d.queue.send({ body });
    const [first] = await d.queue.receive({
      maxMessages: 1,
      waitTimeSeconds: 1,
      visibilityTimeoutSeconds: 0,
    });
    expect(first?.receiveCount).toBe(1);
    const again = startWorker(d, handlers).worker;
    await eventually(() => again.counters.duplicates >= 1);
    expect(runs).toBe(1);
    // a copy of the finished job delivered again to the same worker (a new message, first
    // delivery, unmarked) is dropped too: the worker remembers the jobs it saw finished
    await d.queue.send({ body });
    await eventually(() => again.counters.duplicates >= 2);
    expect(runs).toBe(1);
    const keys: string[] = [];
    for await (const o of d.store.list('results/dup/')) keys.push(o.key);
    expect(keys).toEqual([resultKey('dup', 'once')]);
  });

  it('asks the bucket for a result only where the job may be done: not on a first delivery, but on a re-sent batch', async () => {
    const d = await freshDeployment(suite.emu);
    const requests: string[] = [];
    const store = new Proxy(d.store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop !== 'head' && prop !== 'put') return typeof v === 'function' ? v.bind(target) : v;
        return (key: string, ...rest: unknown[]) => {
          requests.push(`${prop} ${key}`);
          return (v as (...a: unknown[]) => unknown).call(target, key, ...rest);
        };
      },
    });
    let runs = 0;
    const handlers = new HandlerRegistry().register({
      type: 'count',
      async handler() {
        runs++;
        return null;
      },
    });
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const jobs = ['a', 'b', 'c'].map((id) => ({ id, payload: {} }));
    const batch = await sub.submitMany('count', jobs, { batch: uniqueName('named') });
    const first = startWorker(d, handlers, { store }).worker;
    await batch.waitForAll({ timeoutMs: 10_000, pollMs: 50 });
    await first.stop();
    const onResults = (method: string) =>
      requests.filter((r) => r.startsWith(`${method} results/${batch.batch}/`)).length;
    // A new batch (named, but never sent before): one request per job, the result's PUT.
    expect({ heads: onResults('head'), puts: onResults('put'), runs }).toEqual({
      heads: 0,
      puts: 3,
      runs: 3,
    });
    // The same batch sent again (as a resumed submit would, here without skipping the done jobs):
    // its messages say so, and a fresh worker checks each job's result and runs none of them.
    await sub.submitMany('count', jobs, { batch: batch.batch, skipDone: false });
    const second = startWorker(d, handlers, { store }).worker;
    await eventually(() => second.counters.duplicates === 3);
    await expectDrained(d.queue);
    expect({ heads: onResults('head'), puts: onResults('put'), runs }).toEqual({
      heads: 3,
      puts: 3,
      runs: 3,
    });
  });
});
