/** Reading and redriving a dead-letter queue, as library functions the CLI calls. */
import { errorKey, peekIds, RESENT_ATTRIBUTE } from '../core/envelope.js';
import type { ObjectStore } from '../core/ports/object-store.js';
import type { QueueMessage, QueuePort } from '../core/ports/queue.js';

/**
 * Read up to `max` messages without removing them: each is received (hidden for a while so the
 * same one is not returned twice) and then made visible again.
 */
export async function peekMessages(dlq: QueuePort, max: number): Promise<QueueMessage[]> {
  const seen = new Map<string, QueueMessage>();
  let emptyPolls = 0;
  try {
    while (seen.size < max && emptyPolls < 2) {
      const got = await dlq.receive({
        maxMessages: Math.min(10, max - seen.size),
        waitTimeSeconds: 1,
        visibilityTimeoutSeconds: 60,
      });
      if (got.length === 0) emptyPolls++;
      for (const m of got) seen.set(m.messageId, m);
    }
  } finally {
    const all = [...seen.values()];
    for (let i = 0; i < all.length; i += 10) {
      await dlq.changeVisibilityBatch(
        all.slice(i, i + 10).map((m, j) => ({ id: String(j), receiptHandle: m.receiptHandle, seconds: 0 })),
      );
    }
  }
  return [...seen.values()];
}

/**
 * Move messages from the DLQ back to the job queue. For each: clear the job's failure record
 * (so waiting submitters stop counting it as failed), send the original body, then delete it
 * from the DLQ. A crash midway leaves at worst a duplicate, which the worker's result check drops.
 */
export async function redrive(opts: {
  dlq: QueuePort;
  queue: QueuePort;
  store?: ObjectStore | undefined;
  max: number;
  onProgress?: (moved: number) => void;
  /** How long a message being moved stays hidden; one left by a crash comes back after it. @default 60 */
  visibilityTimeoutSeconds?: number;
  /** Each receive's long poll. @default 1 */
  waitTimeSeconds?: number;
  /** Stop after this many receives in a row find nothing. @default 2 */
  emptyPolls?: number;
}): Promise<number> {
  let moved = 0;
  let emptyPolls = 0;
  while (moved < opts.max && emptyPolls < (opts.emptyPolls ?? 2)) {
    const msgs = await opts.dlq.receive({
      maxMessages: Math.min(10, opts.max - moved),
      waitTimeSeconds: opts.waitTimeSeconds ?? 1,
      visibilityTimeoutSeconds: opts.visibilityTimeoutSeconds ?? 60,
    });
    if (msgs.length === 0) {
      emptyPolls++;
      continue;
    }
    emptyPolls = 0;
    if (opts.store) {
      for (const m of msgs) {
        const ids = peekIds(m.body);
        if (ids.id && ids.batch) await opts.store.delete(errorKey(ids.batch, ids.id));
      }
    }
    // Marked as sent before: a dead-lettered job may have a result (a worker wrote it and lost
    // its delete), and the worker checks for it before running the job again.
    const failed = await opts.queue.sendBatch(
      msgs.map((m, i) => ({ id: String(i), body: m.body, attributes: { [RESENT_ATTRIBUTE]: '1' } })),
    );
    if (failed.length > 0) {
      throw new Error(
        `the job queue refused ${failed.length} message(s): ${failed[0]?.code} ${failed[0]?.message}`,
      );
    }
    const notDeleted = await opts.dlq.deleteBatch(
      msgs.map((m, i) => ({ id: String(i), receiptHandle: m.receiptHandle })),
    );
    if (notDeleted.length > 0)
      throw new Error(`could not delete ${notDeleted.length} redriven message(s) from the DLQ`);
    moved += msgs.length;
    opts.onProgress?.(moved);
  }
  return moved;
}
