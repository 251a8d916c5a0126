/**
 * Every job in the DLQ gets a final error record, whoever moved it. The worker moves a failing
 * job itself and writes its record then; but a job whose workers kept dying never comes back to
 * a live one, and the queue's redrive policy moves it with no word said. Now and then a worker
 * looks at the DLQ, reads (never deletes, never alters) what is there, and writes
 * errors/<batch>/<job>.json with `final: true` and why for a job that has no final record yet,
 * so `--wait` and `results` count it as dead-lettered instead of pending forever. `dlq redrive`
 * still finds every message where it was.
 */
import { type ErrorRecord, errorKey, peekIds } from '../../core/envelope.js';
import { describeError } from '../../core/errors.js';
import type { ObjectStore } from '../../core/ports/object-store.js';
import type { QueueMessage, QueuePort } from '../../core/ports/queue.js';
import { hasResult, PackReader } from '../../core/result-packs.js';
import { lostSince, WORKER_LOST } from './isolation/suspects.js';
import type { Logger } from './logger.js';

export interface DeadLetterWatchOptions {
  readonly dlq: QueuePort;
  readonly store: ObjectStore;
  /** The job queue's maxReceiveCount: what the redrive policy waited for. */
  readonly maxReceiveCount: number;
  readonly workerId: string;
  readonly log: Logger;
  /** Messages looked at per check. @default 100 */
  readonly maxPerCheck?: number;
}

/** The attribute the runtime sets when it moves a job itself (with its record already written). */
const MOVED_BY_RUNTIME = 'flotilla-error';

export class DeadLetterWatch {
  /** DLQ messages already accounted for by this worker: each is looked at once per process. */
  private readonly seen = new Set<string>();
  private checking?: Promise<number>;
  /**
   * A moved job may have its result in a pack (a worker packed it, then died before deleting its
   * message): looked for whether or not this worker packs, since the path is rare.
   */
  private readonly packs: PackReader;

  constructor(private readonly opts: DeadLetterWatchOptions) {
    this.packs = new PackReader(opts.store, { maxIndexedPacks: 1000, maxPacks: 8 });
  }

  /** Look at the DLQ once; resolves with the number of final records written. Never rejects. */
  check(): Promise<number> {
    this.checking ??= this.sweep()
      .catch((err) => {
        this.opts.log.warn('could not check the DLQ', { error: describeError(err) });
        return 0;
      })
      .finally(() => {
        this.checking = undefined;
      });
    return this.checking;
  }

  private async sweep(): Promise<number> {
    const { dlq, maxPerCheck = 100 } = this.opts;
    const fresh: QueueMessage[] = [];
    let looked = 0;
    while (looked < maxPerCheck) {
      // Hidden for a moment so one check does not see a message twice, then shown again at once.
      const got = await dlq.receive({
        maxMessages: 10,
        waitTimeSeconds: 0,
        visibilityTimeoutSeconds: 30,
        messageAttributes: true,
      });
      if (got.length === 0) break;
      looked += got.length;
      await dlq
        .changeVisibilityBatch(
          got.map((m, i) => ({ id: String(i), receiptHandle: m.receiptHandle, seconds: 0 })),
        )
        .catch(() => {});
      const unseen = got.filter((m) => !this.seen.has(m.messageId));
      if (unseen.length === 0) break;
      fresh.push(...unseen);
    }
    let written = 0;
    for (const m of fresh) {
      if (await this.account(m)) written++;
      this.seen.add(m.messageId);
    }
    if (this.seen.size > 100_000) this.seen.clear();
    return written;
  }

  /** Write the final record for one DLQ message if it has none; true when one was written. */
  private async account(m: QueueMessage): Promise<boolean> {
    if (m.attributes[MOVED_BY_RUNTIME] !== undefined) return false;
    const ids = peekIds(m.body);
    if (!ids.id || !ids.batch) return false;
    const { store } = this.opts;
    let last: ErrorRecord | undefined;
    try {
      last = JSON.parse((await store.get(errorKey(ids.batch, ids.id))).toString('utf8')) as ErrorRecord;
    } catch {
      last = undefined;
    }
    if (last?.final) return false;
    if (await hasResult(store, ids.batch, ids.id, this.packs)) return false;
    const record = movedRecord(ids as { id: string; batch: string; type?: string }, last, this.opts, m);
    await store.put(errorKey(ids.batch, ids.id), JSON.stringify(record), { contentType: 'application/json' });
    this.opts.log.warn('job found in the DLQ without a final record; recorded why', {
      jobId: ids.id,
      batch: ids.batch,
      type: ids.type,
      error: record.error.message,
    });
    return true;
  }
}

/** The final record of a job the queue's redrive policy moved: the reason, and where it was last seen. */
export function movedRecord(
  ids: { id: string; batch: string; type?: string },
  last: ErrorRecord | undefined,
  opts: { maxReceiveCount: number; workerId: string },
  m: QueueMessage,
): ErrorRecord {
  const n = opts.maxReceiveCount;
  let where: string;
  if (!last) where = 'no worker recorded a failure';
  else if (last.error.name === WORKER_LOST)
    where = `last seen on worker ${last.worker} at ${last.at}, starting it alone in a child process`;
  else
    where = `last failure recorded on worker ${last.worker} at ${last.at}: ${last.error.name}: ${last.error.message}`;
  return {
    v: 1,
    jobId: ids.id,
    batch: ids.batch,
    ...(ids.type ? { type: ids.type } : {}),
    status: 'failed',
    final: true,
    error: {
      name: 'MovedByQueueError',
      message: `moved to the DLQ by the queue after ${n} receives without a result; ${where} (worker lost: crash, OOM or kill)`,
    },
    attempt: last?.attempt ?? 1,
    receiveCount: n,
    // Every receive after the last record ended without one: lost with its worker.
    lostDeliveries: (last?.lostDeliveries ?? 0) + lostSince(last, n + 1),
    at: new Date().toISOString(),
    worker: opts.workerId,
    messageId: m.messageId,
  };
}
