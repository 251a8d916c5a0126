/**
 * The visibility keeper through fake queues (ports): which leases a heartbeat extends, by how
 * much, and on which queue. Against a real queue, the worker tests show a job outliving its
 * visibility timeout and running once.
 */
import { describe, expect, it } from 'vitest';
import type { QueueMessage, QueuePort } from '../../../core/ports/queue.js';
import { newCounters } from '../../../workers/runtime/counters.js';
import { DeleteBatcher } from '../../../workers/runtime/delete-batcher.js';
import { silentLogger } from '../../../workers/runtime/logger.js';
import type { JobSource, RunningJob } from '../../../workers/runtime/running-job.js';
import { VisibilityKeeper } from '../../../workers/runtime/visibility-keeper.js';

type Change = { id: string; receiptHandle: string; seconds: number };

function fakeQueue(url: string, refuse: (c: Change) => boolean = () => false) {
  const calls: Change[][] = [];
  const queue = {
    url,
    async changeVisibilityBatch(entries: readonly Change[]) {
      calls.push([...entries]);
      return entries
        .filter(refuse)
        .map((e) => ({ id: e.id, code: 'ReceiptHandleIsInvalid', message: '', senderFault: true }));
    },
  } as unknown as QueuePort;
  const source: JobSource = {
    name: 'default',
    queue,
    dlq: undefined,
    deletes: new DeleteBatcher(queue, silentLogger),
  };
  return { source, calls };
}

function held(source: JobSource, handle: string, over: Partial<RunningJob> = {}): RunningJob {
  const now = Date.now();
  const msg = {
    messageId: handle,
    receiptHandle: handle,
    body: '{}',
    receiveCount: 1,
    sentAtMs: now,
    attributes: {},
  };
  return { msg: msg as QueueMessage, source, receivedAtMs: now, visibleAtMs: now + 1000, ...over };
}

function keeperOf(jobs: RunningJob[], intervalMs = 1000) {
  const running = new Map(jobs.map((j) => [j.msg.messageId, j]));
  const counters = newCounters();
  return { keeper: new VisibilityKeeper(running, 30, intervalMs, counters, silentLogger), counters };
}

describe('VisibilityKeeper', () => {
  it("extends each due job's lease on the queue it came from, ten to a call", async () => {
    const a = fakeQueue('http://q/a');
    const b = fakeQueue('http://q/b');
    const jobs = [...Array.from({ length: 12 }, (_, i) => held(a.source, `a${i}`)), held(b.source, 'b0')];
    const { keeper, counters } = keeperOf(jobs);
    await keeper.heartbeat();
    expect(a.calls.map((c) => c.length)).toEqual([10, 2]);
    expect(a.calls.flat().map((c) => c.receiptHandle)).toEqual(
      jobs.slice(0, 12).map((j) => j.msg.receiptHandle),
    );
    expect(b.calls).toEqual([[{ id: '0', receiptHandle: 'b0', seconds: 30 }]]);
    expect(counters.heartbeats).toBe(13);
    expect(jobs.every((j) => j.visibleAtMs > Date.now() + 25_000)).toBe(true);
  });

  it('leaves alone a job far from reappearing, and one already cut short', async () => {
    const q = fakeQueue('http://q/a');
    const far = held(q.source, 'far', { visibleAtMs: Date.now() + 60_000 });
    const aborted = held(q.source, 'aborted', { abortReason: new Error('shutting down') });
    const due = held(q.source, 'due');
    const { keeper } = keeperOf([far, aborted, due]);
    await keeper.heartbeat();
    expect(q.calls.flat().map((c) => c.receiptHandle)).toEqual(['due']);
  });

  it('never extends a lease past the 12 hours SQS allows from the receipt', async () => {
    const q = fakeQueue('http://q/a');
    const old = held(q.source, 'old', { receivedAtMs: Date.now() - 43_190_000 });
    const { keeper } = keeperOf([old]);
    await keeper.heartbeat();
    expect(q.calls[0]?.[0]?.seconds).toBeLessThanOrEqual(9);
  });

  it('counts only the extensions the queue accepted', async () => {
    const q = fakeQueue('http://q/a', (c) => c.receiptHandle === 'stale');
    const stale = held(q.source, 'stale');
    const { keeper, counters } = keeperOf([stale, held(q.source, 'fresh')]);
    const before = stale.visibleAtMs;
    await keeper.heartbeat();
    expect(counters.heartbeats).toBe(1);
    expect(stale.visibleAtMs).toBe(before);
  });

  it('releases stopped jobs at once, each on its own queue', async () => {
    const a = fakeQueue('http://q/a');
    const b = fakeQueue('http://q/b');
    const { keeper } = keeperOf([]);
    await keeper.releaseJobs([held(a.source, 'a0'), held(b.source, 'b0'), held(a.source, 'a1')]);
    expect(a.calls).toEqual([
      [
        { id: '0', receiptHandle: 'a0', seconds: 0 },
        { id: '1', receiptHandle: 'a1', seconds: 0 },
      ],
    ]);
    expect(b.calls).toEqual([[{ id: '0', receiptHandle: 'b0', seconds: 0 }]]);
  });
});
