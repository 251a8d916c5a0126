/**
 * What a worker counts: one object, shared by its parts (each adds what it sees), read by
 * `runWorkerProcess`'s stats line and by tests.
 */
export interface WorkerCounters {
  /** Messages received. */
  received: number;
  /** ReceiveMessage calls made. */
  receives: number;
  /** ReceiveMessage calls that returned nothing (each is billed on SQS: see docs/queues.md). */
  emptyReceives: number;
  /** Jobs that finished (their result written, if they write one). */
  done: number;
  /** Handler runs that failed (each retry counts). */
  failed: number;
  /** Failed runs given back to the queue with a delay. */
  retried: number;
  /** Messages moved to the DLQ. */
  deadLettered: number;
  /** Deliveries of a job already running here or already done, dropped. */
  duplicates: number;
  /** Messages handed back to the queue by a stopping worker. */
  released: number;
  /** Lease extensions that SQS accepted. */
  heartbeats: number;
  /** Deliveries whose previous delivery was lost with its worker (a crash, an OOM kill): a crash loop shows here. */
  lostWorker: number;
  /** Jobs run in a child process (suspects, and types with isolation 'always'). */
  isolated: number;
  /** Jobs found in the DLQ, moved there by the queue, and given their final error record. */
  accounted: number;
  /** Jobs that ended cancelled (dropped before they ran, or aborted while running). */
  cancelled: number;
}

export function newCounters(): WorkerCounters {
  return {
    received: 0,
    receives: 0,
    emptyReceives: 0,
    done: 0,
    failed: 0,
    retried: 0,
    deadLettered: 0,
    duplicates: 0,
    released: 0,
    heartbeats: 0,
    lostWorker: 0,
    isolated: 0,
    accounted: 0,
    cancelled: 0,
  };
}
