/** A fresh queue, DLQ and bucket on an emulator, from the shared definitions, per test. */

import { S3Store } from '../../core/adapters/s3-store.js';
import { SqsQueue } from '../../core/adapters/sqs-queue.js';
import { resolveDeployment } from '../../infra/definitions.js';
import { provisionDeployment } from '../../scripts/provision.js';
import { type Emulator, uniqueName } from './emulators.js';

export async function freshDeployment(
  emu: Emulator,
  queue: { visibilityTimeoutSeconds?: number; maxReceiveCount?: number } = {},
) {
  const name = uniqueName('t');
  const def = resolveDeployment({ queue });
  const p = await provisionDeployment({ sqs: emu.sqs, s3: emu.s3 }, name, def);
  return {
    name,
    definition: def,
    ...p,
    queue: new SqsQueue(emu.sqs, p.queueUrl),
    dlq: new SqsQueue(emu.sqs, p.dlqUrl),
    store: new S3Store(emu.s3, p.bucket),
    /** Every job queue by name ('urgent', 'default', 'bulk'), with its DLQ. */
    jobQueues: Object.fromEntries(
      p.queues.map((q) => [
        q.name,
        { queue: new SqsQueue(emu.sqs, q.url), dlq: new SqsQueue(emu.sqs, q.dlqUrl!) },
      ]),
    ),
  };
}

/** Poll `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually<T>(fn: () => Promise<T> | T, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function queueDepth(q: SqsQueue): Promise<{ visible: number; inFlight: number }> {
  const a = await q.attributes(['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']);
  return {
    visible: Number(a.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}
