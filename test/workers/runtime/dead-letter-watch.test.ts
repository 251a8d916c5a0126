/**
 * The DLQ watch against fauxqs over HTTP: a job the queue's redrive policy moved (its workers
 * lost) gets a final error record with the reason, so a waiting client counts it as
 * dead-lettered; the DLQ message itself stays where it was, and `dlq redrive` still moves it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redrive } from '../../../client/dlq.js';
import { Submitter } from '../../../client/submit.js';
import { type ErrorRecord, errorKey, resultKey } from '../../../core/envelope.js';
import { DeadLetterWatch } from '../../../workers/runtime/dead-letter-watch.js';
import { historyFrom, lostRecord } from '../../../workers/runtime/isolation/suspects.js';
import { silentLogger } from '../../../workers/runtime/logger.js';
import { eventually, freshDeployment, queueDepth } from '../../support/deployment.js';
import { type Emulator, startEmbedded } from '../../support/emulators.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmbedded();
});
afterAll(async () => emu?.stop());

type Deployment = Awaited<ReturnType<typeof freshDeployment>>;

/** Receive the job's message and let it go unanswered, as a worker that died would, until the queue moves it. */
async function loseUntilMoved(d: Deployment): Promise<void> {
  await eventually(
    async () => {
      await d.queue.receive({ maxMessages: 10, waitTimeSeconds: 0, visibilityTimeoutSeconds: 1 });
      const dlq = await queueDepth(d.dlq);
      return dlq.visible + dlq.inFlight > 0;
    },
    20_000,
    300,
  );
}

const watchOf = (d: Deployment) =>
  new DeadLetterWatch({
    dlq: d.dlq,
    store: d.store,
    maxReceiveCount: 2,
    workerId: 'w-test',
    log: silentLogger,
  });

describe('DeadLetterWatch', () => {
  it('records why the queue moved a job whose workers were lost, and a waiting client counts it as dead-lettered', async () => {
    const d = await freshDeployment(emu, { maxReceiveCount: 2, visibilityTimeoutSeconds: 1 });
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const handle = await sub.submit('echo', { n: 1 }, { id: 'lost' });
    // A suspect run was recorded on worker w-2 before that worker was lost too.
    const seen = lostRecord(
      { batch: handle.batch, id: 'lost', type: 'echo' },
      historyFrom(undefined, 2),
      2,
      'w-2',
      'm',
    );
    await d.store.put(errorKey(handle.batch, 'lost'), JSON.stringify(seen));
    await loseUntilMoved(d);

    expect(await watchOf(d).check()).toBe(1);
    const out = await handle.waitForAll({ timeoutMs: 5_000, pollMs: 50 });
    expect(out.complete).toBe(true);
    expect(out.deadLettered).toHaveLength(1);
    const rec = out.deadLettered[0]!;
    expect(rec.final).toBe(true);
    expect(rec.error.message).toMatch(
      /^moved to the DLQ by the queue after 2 receives without a result; last seen on worker w-2 at \S+, starting it alone in a child process \(worker lost: crash, OOM or kill\)$/,
    );
    // The message is still in the DLQ, visible, for `dlq list` and `dlq redrive`.
    expect(await queueDepth(d.dlq)).toEqual({ visible: 1, inFlight: 0 });
    expect(await redrive({ dlq: d.dlq, queue: d.queue, store: d.store, max: 10 })).toBe(1);
    expect(await queueDepth(d.queue)).toMatchObject({ visible: 1 });
  });

  it('writes nothing for jobs already accounted for: moved by the runtime, recorded already, or done', async () => {
    const d = await freshDeployment(emu, { maxReceiveCount: 2, visibilityTimeoutSeconds: 1 });
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const batch = await sub.submitMany('echo', [
      { payload: 1, id: 'done' },
      { payload: 2, id: 'lost' },
    ]);
    await d.store.put(resultKey(batch.batch, 'done'), '{}');
    await loseUntilMoved(d);
    await eventually(async () => (await queueDepth(d.dlq)).visible === 2, 10_000, 200);
    await d.dlq.send({
      body: JSON.stringify({ id: 'failed', batch: batch.batch }),
      attributes: { 'flotilla-error': 'x' },
    });
    const watch = watchOf(d);
    expect(await watch.check()).toBe(1);
    const rec = JSON.parse((await d.store.get(errorKey(batch.batch, 'lost'))).toString()) as ErrorRecord;
    expect(rec.error.message).toMatch(/after 2 receives without a result; no worker recorded a failure/);
    expect(rec.lostDeliveries).toBe(2);
    // A second look at the same DLQ writes nothing again, from this worker or another.
    expect(await watch.check()).toBe(0);
    expect(await watchOf(d).check()).toBe(0);
    expect(await queueDepth(d.dlq)).toEqual({ visible: 3, inFlight: 0 });
  });
});

describe('historyFrom', () => {
  const rec = (over: Partial<ErrorRecord>): ErrorRecord => ({
    v: 1,
    jobId: 'j',
    batch: 'b',
    status: 'failed',
    final: false,
    error: { name: 'Error', message: 'boom' },
    attempt: 1,
    at: '',
    worker: 'w',
    ...over,
  });

  it('calls a redelivery with no record a suspect, not an attempt', () => {
    expect(historyFrom(undefined, 2)).toEqual({ attempt: 1, lostDeliveries: 1, suspect: true });
  });

  it('calls a retry right after a recorded failure an ordinary next attempt', () => {
    expect(historyFrom(rec({ attempt: 1, receiveCount: 1 }), 2)).toMatchObject({
      attempt: 2,
      suspect: false,
    });
  });

  it('reads a record without receiveCount (older workers) as written on receive `attempt`', () => {
    expect(historyFrom(rec({ attempt: 2 }), 3)).toMatchObject({
      attempt: 3,
      suspect: false,
      lostDeliveries: 0,
    });
  });

  it('calls a job lost again after its recorded failure a suspect, keeping its attempt', () => {
    expect(historyFrom(rec({ attempt: 1, receiveCount: 1 }), 3)).toMatchObject({
      attempt: 2,
      lostDeliveries: 1,
      suspect: true,
    });
  });

  it('keeps isolating a job whose isolated run died, and counts only failures as attempts', () => {
    const lost = rec({
      error: { name: 'WorkerLostError', message: '' },
      attempt: 1,
      receiveCount: 2,
      lostDeliveries: 1,
    });
    expect(historyFrom(lost, 3)).toMatchObject({ attempt: 1, lostDeliveries: 2, suspect: true });
    const died = rec({ error: { name: 'ChildProcessDiedError', message: '' }, attempt: 1, receiveCount: 2 });
    expect(historyFrom(died, 3)).toMatchObject({ attempt: 2, suspect: true, lostDeliveries: 0 });
  });
});
