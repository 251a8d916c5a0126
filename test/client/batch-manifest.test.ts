/**
 * A batch submitted in several calls under one batch id (a fan-out sent in chunks): a handle
 * opened later by the batch id waits for the jobs of every call, not only the last one's.
 */
import { describe, expect, it } from 'vitest';
import { mergeManifest, Submitter } from '../../client/submit.js';
import { builtinHandlers } from '../../workers/handlers/index.js';
import { Worker } from '../../workers/runtime/worker.js';
import { freshDeployment } from '../support/deployment.js';
import { workerSuite } from '../support/worker-suite.js';

const suite = workerSuite();

describe('a batch submitted in chunks', () => {
  it('is waited for as a whole by a handle opened by its id', async () => {
    const d = await freshDeployment(suite.emu);
    const sub = new Submitter({ queue: d.queue, store: d.store });
    await sub.submitMany(
      'echo',
      [
        { id: 'a1', payload: 1 },
        { id: 'a2', payload: 2 },
      ],
      { batch: 'chunked-1' },
    );
    await sub.submitMany('echo', [{ id: 'b1', payload: 3 }], { batch: 'chunked-1' });

    // Nothing has run: every job of both calls is pending.
    const before = await sub.batch('chunked-1').waitForAll({ timeoutMs: 0 });
    expect(before.complete).toBe(false);
    expect([...before.pending].sort()).toEqual(['a1', 'a2', 'b1']);

    const worker = new Worker({
      queue: d.queue,
      dlq: d.dlq,
      store: d.store,
      handlers: builtinHandlers(),
      waitTimeSeconds: 1,
    });
    suite.workers.push(worker);
    void worker.start();
    const after = await sub.batch('chunked-1').waitForAll({ timeoutMs: 30_000, pollMs: 100 });
    expect(after.complete).toBe(true);
    expect(new Map([...after.results].map(([id, r]) => [id, r.result]))).toEqual(
      new Map([
        ['a1', 1],
        ['a2', 2],
        ['b1', 3],
      ]),
    );
  });
});

describe('mergeManifest', () => {
  const base = { v: 1 as const, batch: 'b', type: 'echo', queue: 'q', submittedAt: 't0' };
  it("keeps the first call's jobs in order, appends new ones, and takes a re-sent job's new preview", () => {
    const merged = mergeManifest(
      { ...base, total: 2, jobIds: ['x', 'y'], payloadPreviews: ['1', '2'] },
      { ...base, submittedAt: 't1', total: 2, jobIds: ['y', 'z'], payloadPreviews: ['22', '3'] },
    );
    expect(merged).toEqual({ ...base, total: 3, jobIds: ['x', 'y', 'z'], payloadPreviews: ['1', '22', '3'] });
  });
});
