/**
 * Issue 5, cases 2, 3, 4, 6, 9 and 11: duplicate deliveries and stale receipt handles, a job
 * longer than its visibility timeout, a hung handler, a partly failing receive batch, a DLQ
 * redrive after a fix, and a bulk submit that crashes and is run again. Worker processes run the
 * fixture bundle (test/faults/fixtures/worker.ts) against fauxqs over HTTP.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { redrive } from '../../client/dlq.js';
import { Submitter } from '../../client/submit.js';
import {
  ENVELOPE_VERSION,
  type ErrorRecord,
  errorKey,
  type ResultRecord,
  resultKey,
} from '../../core/envelope.js';
import type { QueuePort, SendEntry } from '../../core/ports/queue.js';
import { eventually, freshDeployment, queueDepth } from '../support/deployment.js';
import { uniqueName } from '../support/emulators.js';
import {
  allWrittenOnce,
  countOutcome,
  deletedCount,
  effectCounts,
  faultSuite,
  logLines,
  printCounts,
  putCounts,
  runCli,
  spawnWorker,
  stopWorker,
} from '../support/fault-helpers.js';

const suite = faultSuite('fixture');

type Deployment = Awaited<ReturnType<typeof freshDeployment>>;

async function setup(queue: { visibilityTimeoutSeconds?: number; maxReceiveCount?: number } = {}) {
  const d = await freshDeployment(suite.emu, { visibilityTimeoutSeconds: 5, ...queue });
  const effects = join(suite.dir, `${d.name}-effects.log`);
  const env = {
    AWS_ENDPOINT_URL: suite.emu.endpoint,
    FLOTILLA_QUEUE_URL: d.queueUrl,
    FLOTILLA_BUCKET: d.bucket,
    FLOTILLA_WAIT_SECONDS: '1',
    FLOTILLA_DRAIN_SECONDS: '10',
    FAULT_EFFECTS_FILE: effects,
  };
  const start = (extra: Record<string, string> = {}) => {
    const w = spawnWorker(suite.bundle, { ...env, ...extra });
    suite.running.push(w);
    return w;
  };
  return { d, effects, start, sub: new Submitter({ queue: d.queue, store: d.store }) };
}

const envelope = (batch: string, id: string, type: string, payload: unknown) =>
  JSON.stringify({ v: ENVELOPE_VERSION, id, type, batch, submittedAt: new Date().toISOString(), payload });

async function settled(d: Deployment, timeoutMs = 15_000) {
  await eventually(
    async () => {
      const q = await queueDepth(d.queue);
      return q.visible === 0 && q.inFlight === 0;
    },
    timeoutMs,
    100,
  );
}

async function readJson<T>(d: Deployment, key: string): Promise<T> {
  return JSON.parse((await d.store.get(key)).toString('utf8')) as T;
}

describe('duplicate deliveries', () => {
  it('runs a job delivered three times once, and a delete with a stale receipt handle changes nothing', async () => {
    const { d, effects, start } = await setup();
    const batch = uniqueName('dup');
    const body = envelope(batch, 'once', 'effect', { ms: 1500 });
    // A slow consumer takes the first copy and lets its lease lapse: its receipt handle goes stale.
    await d.queue.send({ body });
    const [zombie] = await d.queue.receive({
      maxMessages: 1,
      waitTimeSeconds: 1,
      visibilityTimeoutSeconds: 1,
    });
    expect(zombie).toBeDefined();
    await new Promise((r) => setTimeout(r, 1500));
    // SQS hands out a second copy of the same job alongside.
    await d.queue.send({ body });
    const w = start({ FLOTILLA_CONCURRENCY: '16' });
    await eventually(() => logLines(w, 'job started').length > 0, 15_000);
    // The slow consumer deletes with its stale handle while the worker runs the job.
    const staleDelete = await d.queue.deleteBatch([{ id: '0', receiptHandle: zombie!.receiptHandle }]);
    await eventually(() => effectCounts(effects).size > 0 && logLines(w, 'job done').length > 0, 15_000);
    // A third copy arrives after the job is done (a late redelivery).
    await d.queue.send({ body });
    await eventually(
      () => w.lines.filter((l) => String(l.msg).includes('duplicate delivery')).length >= 2,
      15_000,
    );
    await settled(d);

    const counts = await countOutcome(suite.emu, d, batch, 1);
    const executions = effectCounts(effects).get(`${batch}/once`);
    const dropped = w.lines.filter((l) => String(l.msg).includes('duplicate delivery')).length;
    printCounts('Fault 2: one job delivered 3 times, plus a delete with a stale receipt handle', counts, {
      'copies sent': 3,
      'stale-handle delete refused by the emulator': staleDelete.length === 1,
      'side effects': executions,
      'duplicate deliveries dropped': dropped,
    });
    expect(counts).toEqual(allWrittenOnce(1));
    expect(executions).toBe(1);
    expect(logLines(w, 'job started')).toHaveLength(1);
    expect(dropped).toBe(2);
    expect(w.alive).toBe(true);
  });
});

describe('a job run by two workers', () => {
  it('keeps one result when two workers each run a copy of a job, and a fresh worker drops the re-sent finished job', async () => {
    const { d, effects, start, sub } = await setup();
    const batch = uniqueName('twice');
    const refusedBefore = suite.emu.shim.refused;
    // Two workers that take one job at a time, both polling before the copies arrive.
    const workers = [start({ FLOTILLA_CONCURRENCY: '1' }), start({ FLOTILLA_CONCURRENCY: '1' })];
    await eventually(() => workers.every((w) => logLines(w, 'worker started').length > 0), 15_000);
    // An SQS duplicate: two copies of one job's message, each a first delivery.
    const body = envelope(batch, 'dup', 'effect', { ms: 3000 });
    await d.queue.sendBatch([
      { id: '0', body },
      { id: '1', body },
    ]);
    await eventually(() => workers.every((w) => logLines(w, 'job started').length === 1), 15_000);
    await settled(d);
    const bothRan = effectCounts(effects).get(`${batch}/dup`);
    await Promise.all(workers.map(stopWorker));
    // The batch sent again under its id (as a resumed submit would): its messages say so, and a
    // worker that never saw the job checks for its result and drops it.
    const again = await sub.submitMany('effect', [{ id: 'dup', payload: { ms: 3000 } }], {
      batch,
      skipDone: false,
    });
    const fresh = start();
    await eventually(() => fresh.lines.some((l) => String(l.msg).includes('duplicate delivery')), 15_000);
    await settled(d);

    const counts = await countOutcome(suite.emu, d, batch, 1);
    const kept = workers.flatMap((w) =>
      logLines(w, 'result already written by another delivery; kept the first'),
    );
    printCounts('Two workers each receive a copy of one job; then the batch is sent again', counts, {
      'side effects (two workers)': bothRan,
      'result writes refused (If-None-Match)': suite.emu.shim.refused - refusedBefore,
      're-sent after it finished': again.submitted.sent,
      'side effects after the re-send': effectCounts(effects).get(`${batch}/dup`),
    });
    expect(counts).toEqual(allWrittenOnce(1));
    // Across workers a duplicate's side effects can happen twice; its result is written once.
    expect(bothRan).toBe(2);
    expect(kept).toHaveLength(1);
    expect(suite.emu.shim.refused - refusedBefore).toBe(1);
    expect(again.submitted.sent).toBe(1);
    expect(effectCounts(effects).get(`${batch}/dup`)).toBe(2);
    expect(logLines(fresh, 'job started')).toHaveLength(0);
  });
});

describe('leases', () => {
  it('runs a 16 s job on a 4 s visibility timeout once, extending its lease with heartbeats', async () => {
    const { d, effects, start, sub } = await setup({ visibilityTimeoutSeconds: 4 });
    const w = start({ FLOTILLA_LOG_LEVEL: 'debug' });
    const batch = await sub.submit('effect', { ms: 16_000 }, { id: 'long' });
    await eventually(() => effectCounts(effects).size > 0, 60_000, 200);
    await settled(d);

    const counts = await countOutcome(suite.emu, d, batch.batch, 1);
    const heartbeats = logLines(w, 'heartbeat').length;
    const result = await readJson<ResultRecord>(d, resultKey(batch.batch, 'long'));
    printCounts('Fault 3: a 16 s job, visibility timeout 4 s', counts, {
      executions: effectCounts(effects).get(`${batch.batch}/long`),
      heartbeats,
      'receives (attempt)': result.attempt,
      'duration (s)': (result.durationMs / 1000).toFixed(1),
    });
    expect(counts).toEqual(allWrittenOnce(1));
    expect(effectCounts(effects).get(`${batch.batch}/long`)).toBe(1);
    expect(logLines(w, 'job started')).toHaveLength(1);
    expect(result.attempt).toBe(1);
    // 16 s of work on 4 s leases needs at least 4 extensions.
    expect(heartbeats).toBeGreaterThanOrEqual(4);
  }, 90_000);

  it('aborts a hung handler at its timeout, retries it, and dead-letters it after exactly maxReceiveCount receives', async () => {
    const { d, start, sub } = await setup({ maxReceiveCount: 3 });
    const w = start({ FAULT_HANG_TIMEOUT_MS: '1000', FLOTILLA_RETRY_BASE_MS: '200' });
    const batch = await sub.submit('hang', {}, { id: 'stuck' });
    await eventually(async () => (await queueDepth(d.dlq)).visible === 1, 30_000, 200);
    await settled(d);

    const counts = await countOutcome(suite.emu, d, batch.batch, 1);
    const attempts = logLines(w, 'job started').map((l) => l.attempt);
    const [dead] = await d.dlq.receive({ maxMessages: 1, waitTimeSeconds: 1, visibilityTimeoutSeconds: 1 });
    const record = await readJson<ErrorRecord>(d, errorKey(batch.batch, 'stuck'));
    printCounts('Fault 4: a handler that hangs past its 1 s timeout, maxReceiveCount 3', counts, {
      'receives (attempts)': attempts.join(', '),
      'DLQ reason': dead?.attributes['flotilla-error'],
    });
    expect(counts).toEqual({
      submitted: 1,
      results: 0,
      writtenMoreThanOnce: 0,
      queued: 0,
      inFlight: 0,
      dlq: 1,
    });
    expect(attempts).toEqual([1, 2, 3]);
    expect(dead?.attributes['flotilla-error-name']).toBe('JobTimeoutError');
    expect(dead?.attributes['flotilla-attempts']).toBe('3');
    expect(dead?.attributes['flotilla-error']).toBe(
      "job of type 'hang' ran past its 1000 ms timeout and was aborted",
    );
    expect(record).toMatchObject({ final: true, attempt: 3, error: { name: 'JobTimeoutError' } });
    // What a user sees.
    const listed = await runCli(
      ['dlq', 'list', '--endpoint', suite.emu.endpoint, '--queue-url', d.queueUrl, '--bucket', d.bucket],
      { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' },
    );
    expect(listed.code).toBe(0);
    expect(listed.stdout).toBe(
      `default  ${batch.batch}/stuck (hang)  attempts 3  JobTimeoutError: job of type 'hang' ran past its 1000 ms timeout and was aborted\n`,
    );
  });
});

describe('partial failure of a receive batch', () => {
  it('deletes the eight jobs that succeeded and redelivers the two that threw', async () => {
    const { d, effects, start, sub } = await setup();
    const batch = await sub.submitMany(
      'fail-first',
      Array.from({ length: 10 }, (_, i) => ({ id: `j${i}`, payload: { fail: i === 3 || i === 7 } })),
    );
    const w = start({ FLOTILLA_CONCURRENCY: '10', FLOTILLA_RETRY_BASE_MS: '3000' });
    const queueName = d.queueUrl.slice(d.queueUrl.lastIndexOf('/') + 1);
    await eventually(() => deletedCount(suite.emu, queueName) >= 8, 15_000, 20);
    const afterFirstRound = { deleted: deletedCount(suite.emu, queueName), ...(await queueDepth(d.queue)) };
    await eventually(
      () => putCounts(suite.emu, d.bucket, `results/${batch.batch}/`).size === 10,
      30_000,
      100,
    );
    await settled(d);

    const counts = await countOutcome(suite.emu, d, batch.batch, 10);
    const starts = logLines(w, 'job started');
    const firstRetry = starts.findIndex((l) => l.attempt === 2);
    const attempts = new Map<string, number>();
    for (let i = 0; i < 10; i++) {
      attempts.set(`j${i}`, (await readJson<ResultRecord>(d, resultKey(batch.batch, `j${i}`))).attempt);
    }
    printCounts('Fault 6: a receive batch of 10, two handlers throw', counts, {
      'deleted after the first round': afterFirstRound.deleted,
      'in flight after the first round': afterFirstRound.inFlight,
      'redelivered (attempt 2)': [...attempts.values()].filter((a) => a === 2).length,
      'total deletes': deletedCount(suite.emu, queueName),
    });
    expect(counts).toEqual(allWrittenOnce(10));
    expect(afterFirstRound).toEqual({ deleted: 8, visible: 0, inFlight: 2 });
    // All ten first attempts came from one receive before any redelivery.
    expect(firstRetry).toBe(10);
    expect([...attempts].filter(([, a]) => a === 2).map(([id]) => id)).toEqual(['j3', 'j7']);
    expect(deletedCount(suite.emu, queueName)).toBe(10);
    expect([...effectCounts(effects).values()]).toEqual(Array(10).fill(1));
  });
});

describe('DLQ redrive', () => {
  it('after the handler is fixed, a redrive empties the DLQ and runs every job once', async () => {
    const { d, effects, start, sub } = await setup();
    const broken = new Set([2, 5, 11, 17]);
    const batch = await sub.submitMany(
      'fragile',
      Array.from({ length: 20 }, (_, i) => ({ payload: { broken: broken.has(i) } })),
    );
    const buggy = start({ FAULT_BROKEN: '1' });
    await eventually(async () => (await queueDepth(d.dlq)).visible === broken.size, 30_000, 100);
    await settled(d);
    const beforeFix = await countOutcome(suite.emu, d, batch.batch, 20);
    expect(await stopWorker(buggy)).toBe(0);

    const fixed = start();
    const moved = await redrive({ dlq: d.dlq, queue: d.queue, store: d.store, max: 1000 });
    const outcome = await batch.waitForAll({ timeoutMs: 30_000, pollMs: 100 });
    await settled(d);
    const counts = await countOutcome(suite.emu, d, batch.batch, 20);
    const executions = effectCounts(effects);
    printCounts('Fault 9: DLQ redrive after the handler is fixed', counts, {
      'results before the fix': beforeFix.results,
      'DLQ before the fix': beforeFix.dlq,
      redriven: moved,
      'jobs executed more than once': [...executions.values()].filter((n) => n > 1).length,
    });
    expect(beforeFix).toEqual({
      submitted: 20,
      results: 16,
      writtenMoreThanOnce: 0,
      queued: 0,
      inFlight: 0,
      dlq: 4,
    });
    expect(moved).toBe(4);
    expect(counts).toEqual(allWrittenOnce(20));
    expect(outcome).toMatchObject({ complete: true, deadLettered: [] });
    expect(executions.size).toBe(20);
    expect([...executions.values()].every((n) => n === 1)).toBe(true);
    expect(logLines(fixed, 'job done')).toHaveLength(4);
  });
});

/** A queue whose connection dies after `okCalls` SendMessageBatch calls, as a crashing submitter sees it. */
function crashingAfter(queue: QueuePort, okCalls: number): QueuePort {
  let calls = 0;
  return new Proxy(queue, {
    get(target, prop, receiver) {
      if (prop === 'sendBatch') {
        return async (entries: readonly SendEntry[]) => {
          if (++calls > okCalls) throw new Error('submitter crashed');
          return target.sendBatch(entries);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('bulk submit interrupted and run again', () => {
  it('produces each result once when the same batch id is submitted again', async () => {
    const { d, effects, start } = await setup();
    const JOBS = 300;
    const w = start({ FLOTILLA_CONCURRENCY: '16' });
    const jobs = Array.from({ length: JOBS }, () => ({ payload: { ms: 20 } }));
    const batchId = uniqueName('resume');
    const crashing = new Submitter({ queue: crashingAfter(d.queue, 15), store: d.store, parallelSends: 1 });
    await expect(crashing.submitMany('effect', jobs, { batch: batchId })).rejects.toThrow(
      'submitter crashed',
    );
    const firstSent = (await queueDepth(d.queue)).visible + (await queueDepth(d.queue)).inFlight;
    // The worker finishes some of what the crashed run sent before the submit is run again.
    await eventually(() => putCounts(suite.emu, d.bucket, `results/${batchId}/`).size >= 50, 30_000, 20);
    const doneAtRerun = putCounts(suite.emu, d.bucket, `results/${batchId}/`).size;
    const again = await new Submitter({ queue: d.queue, store: d.store }).submitMany('effect', jobs, {
      batch: batchId,
    });
    const outcome = await again.waitForAll({ timeoutMs: 60_000, pollMs: 100, fetchResults: false });
    await settled(d);

    const counts = await countOutcome(suite.emu, d, batchId, JOBS);
    const executions = effectCounts(effects);
    const dropped = w.lines.filter((l) => String(l.msg).includes('duplicate delivery')).length;
    printCounts('Fault 11: a bulk submit crashes after 150 of 300 jobs and is run again', counts, {
      'results when re-run': doneAtRerun,
      'sent by the re-run': again.submitted.sent,
      'skipped by the re-run (done)': again.submitted.skipped,
      'duplicate deliveries dropped': dropped,
      'jobs executed more than once': [...executions.values()].filter((n) => n > 1).length,
    });
    expect(firstSent).toBeLessThanOrEqual(150);
    expect(again.submitted.skipped).toBeGreaterThanOrEqual(doneAtRerun);
    expect(again.submitted.skipped + again.submitted.sent).toBe(JOBS);
    expect(outcome.complete).toBe(true);
    expect(counts).toEqual(allWrittenOnce(JOBS));
    expect(executions.size).toBe(JOBS);
    expect([...executions.values()].every((n) => n === 1)).toBe(true);
    expect(dropped).toBe(150 - again.submitted.skipped);
  });
});
