/**
 * Whether a delivery's job is already done, asking the bucket only when it may be. Job ids are
 * idempotency keys, but a HEAD of the result before every job doubled the S3 requests of the
 * whole path (and S3 requests are most of a job's bill). So:
 * - a job finished in this process is remembered (the last few thousand): a copy delivered here
 *   later is dropped without a request;
 * - a redelivery (receive count above 1), a message its sender marked as sent before
 *   (RESENT_ATTRIBUTE: a batch id re-used, a redrive, a restore, the timer), and any delivery of
 *   a batch this process has seen marked, get one HEAD of the result;
 * - any other first delivery runs without one. It can still be of a finished job only where SQS
 *   handed a duplicate copy to another worker: the handler then runs twice, and the result
 *   write (conditional, If-None-Match) keeps the first result on stores that honour it.
 * A worker that packs results (`resultPacking`) looks in the batch's packs too when the HEAD
 * finds no record of the job's own: a listing of the packs (at most one per batch every few
 * seconds) and a GET of each pack not read before.
 */
import { RESENT_ATTRIBUTE } from '../../core/envelope.js';
import type { ObjectStore } from '../../core/ports/object-store.js';
import type { QueueMessage } from '../../core/ports/queue.js';
import type { PackReader } from '../../core/result-packs.js';

/** How many finished jobs, and how many re-sent batches, a process remembers. */
export const REMEMBERED_JOBS = 4096;
const REMEMBERED_BATCHES = 256;
/** How long a listing of a batch's packs serves the done-checks of its jobs. */
export const PACK_LISTING_MS = 5000;

/** Why a delivery need not run: its job finished in this process, or its result exists. */
export type AlreadyDone = 'finished here' | 'result exists' | undefined;

export class ResultCheck {
  private readonly finishedJobs = new Set<string>();
  private readonly resentBatches = new Set<string>();
  /** The last listing of each batch's packs (a packing worker's), and when it was made. */
  private readonly packListings = new Map<string, { at: number; index: Promise<Map<string, string>> }>();

  constructor(
    private readonly store: ObjectStore,
    private readonly capacity = REMEMBERED_JOBS,
    /** Where this worker's packed results are read. @default - none: the HEAD alone */
    private readonly packs?: PackReader,
  ) {}

  /** `jobKey` is batch/id; `resultKey` where its result would be. */
  async alreadyDone(
    msg: QueueMessage,
    batch: string,
    jobKey: string,
    resultKey: string,
  ): Promise<AlreadyDone> {
    if (this.finishedJobs.has(jobKey)) {
      this.finished(jobKey);
      return 'finished here';
    }
    if (msg.attributes[RESENT_ATTRIBUTE] !== undefined)
      remember(this.resentBatches, batch, REMEMBERED_BATCHES);
    if (msg.receiveCount <= 1 && !this.resentBatches.has(batch)) return undefined;
    if (!(await this.store.head(resultKey)) && !(await this.inPack(batch, jobKey))) return undefined;
    this.finished(jobKey);
    return 'result exists';
  }

  /**
   * Whether the job is in one of its batch's packs. The batch's packs are listed at most once per
   * PACK_LISTING_MS, shared by the checks in between (a re-sent batch checks every job): a pack
   * written since by another worker can be missed, and its job then runs again, as a duplicate
   * delivery would; its result still counts once.
   */
  private async inPack(batch: string, jobKey: string): Promise<boolean> {
    const packs = this.packs;
    if (!packs) return false;
    let listed = this.packListings.get(batch);
    if (!listed || Date.now() - listed.at > PACK_LISTING_MS) {
      listed = { at: Date.now(), index: packs.batchIndex(batch) };
      this.packListings.delete(batch);
      this.packListings.set(batch, listed);
      if (this.packListings.size > REMEMBERED_BATCHES)
        this.packListings.delete(this.packListings.keys().next().value as string);
      // A failed listing is not kept: the next check lists again.
      listed.index.catch(() => this.packListings.delete(batch));
    }
    return (await listed.index).has(jobKey.slice(batch.length + 1));
  }

  /** The job's result is written (by this process or, as a conditional write found, another). */
  finished(jobKey: string): void {
    remember(this.finishedJobs, jobKey, this.capacity);
  }
}

/** Add `key` to an insertion-ordered set holding at most `capacity`, forgetting the oldest. */
function remember(set: Set<string>, key: string, capacity: number): void {
  set.delete(key);
  set.add(key);
  if (set.size > capacity) set.delete(set.values().next().value as string);
}
