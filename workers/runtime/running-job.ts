/**
 * A message this process holds, from its receipt until its slot is given back: the queue it
 * came from (so that its delete, its visibility changes and its dead-lettering go back there),
 * its lease, and how it may be cut short. The poller makes one, the job runner, the visibility
 * keeper and the drain read it.
 */

import type { Envelope } from '../../core/envelope.js';
import type { QueueMessage, QueuePort } from '../../core/ports/queue.js';
import type { DeleteBatcher } from './delete-batcher.js';

/** SQS will not keep a message invisible longer than 12 hours from its receipt. */
export const MAX_VISIBILITY_SECONDS = 43_200;

/** A queue the worker takes jobs from, with what belongs to it. */
export interface JobSource {
  /** The queue's name among the deployment's job queues ('default' when the worker serves one). */
  readonly name: string;
  readonly queue: QueuePort;
  /** Where its poison messages go; unset: they stay for the queue's redrive policy. */
  readonly dlq: QueuePort | undefined;
  /** Deletes its finished messages in batches. */
  readonly deletes: DeleteBatcher;
}

export interface RunningJob {
  readonly msg: QueueMessage;
  readonly source: JobSource;
  readonly receivedAtMs: number;
  /** When the message would become visible again unless its lease is extended. */
  visibleAtMs: number;
  /** Why the job was cut short (its timeout, or the drain deadline); unset while it may run. */
  abortReason?: Error;
  /** Made the first time the handler reads `ctx.signal` (see JobContext). */
  controller?: AbortController;
  /** Ends the handler's run early: set by the executor while the handler runs. */
  interrupt?: (reason: Error) => void;
  /** The parsed envelope, once it is known. */
  job?: Envelope;
  /**
   * The job's attempt, once its history is read: 1 + the failures recorded for it. Deliveries
   * lost with their worker do not count. @default - the receive count
   */
  attempt?: number;
  /** Deliveries of this job lost with their worker so far. */
  lostDeliveries?: number;
  /** Settles when the job is over and its slot given back. */
  done?: Promise<void>;
}

/** Cut a running job short: its signal (if the handler asked for one) and its run, once. */
export function abortJob(entry: RunningJob, reason: Error): void {
  if (entry.abortReason) return;
  entry.abortReason = reason;
  entry.controller?.abort(reason);
  entry.interrupt?.(reason);
}

/** The longest visibility SQS still allows a message held for `heldMs` (≥ 0). */
export function visibilityLeftSeconds(heldMs: number): number {
  return Math.max(0, MAX_VISIBILITY_SECONDS - Math.ceil(heldMs / 1000) - 1);
}
