/**
 * Telling a redelivery after a lost worker from a retry after a recorded failure. SQS counts
 * receives; the runtime records every failure it sees (errors/<batch>/<job>.json, with the
 * receive it was written on). A receive after which neither a result nor a record appeared was
 * lost with its worker (a crash, an OOM kill, a SIGKILL): a job redelivered after one is a
 * suspect, and runs alone in a child process. A first delivery costs nothing here; a redelivery
 * costs one GET of the job's error record.
 */
import { type ErrorRecord, errorKey } from '../../../core/envelope.js';
import type { ObjectStore } from '../../../core/ports/object-store.js';

/** The name of the record written when a suspect starts (its last delivery was lost with its worker). */
export const WORKER_LOST = 'WorkerLostError';

/** Error names that mean "the job's process died": a job that did this once stays isolated. */
const DIED = new Set([WORKER_LOST, 'ChildProcessDiedError', 'OutOfMemoryError']);

/** What the bucket says about a job's earlier deliveries. */
export interface JobHistory {
  /** This run's attempt: 1 + the failures recorded so far (lost deliveries do not count). */
  readonly attempt: number;
  /** Deliveries lost with their worker so far, this one's predecessors included. */
  readonly lostDeliveries: number;
  /** The last delivery was lost, or an earlier isolated run died: run this one isolated. */
  readonly suspect: boolean;
  /** The last record, if any. */
  readonly last?: ErrorRecord;
}

const FIRST: JobHistory = { attempt: 1, lostDeliveries: 0, suspect: false };

/**
 * Deliveries lost with their worker since `last` was written, before delivery `receiveCount`: the
 * receives after a failure record, and a suspect's own receive too (its record is written when it
 * starts, so a receive after it means that run was lost as well). An older record without
 * `receiveCount` was written on receive `attempt`.
 */
export function lostSince(last: ErrorRecord | undefined, receiveCount: number): number {
  if (!last) return receiveCount - 1;
  const seen = (last.receiveCount ?? last.attempt) - (last.error.name === WORKER_LOST ? 1 : 0);
  return Math.max(0, receiveCount - 1 - seen);
}

/** Read the job's history for delivery `receiveCount`. The first delivery reads nothing. */
export async function jobHistory(
  store: ObjectStore,
  batch: string,
  jobId: string,
  receiveCount: number,
): Promise<JobHistory> {
  if (receiveCount <= 1) return FIRST;
  let last: ErrorRecord | undefined;
  try {
    last = JSON.parse((await store.get(errorKey(batch, jobId))).toString('utf8')) as ErrorRecord;
  } catch {
    last = undefined; // no record (or unreadable): every earlier delivery was lost
  }
  return historyFrom(last, receiveCount);
}

/** The rule, on its own: what a job's last record says about delivery `receiveCount`. */
export function historyFrom(last: ErrorRecord | undefined, receiveCount: number): JobHistory {
  if (!last) return { attempt: 1, lostDeliveries: receiveCount - 1, suspect: receiveCount > 1 };
  const lost = lostSince(last, receiveCount);
  const failures = last.error.name === WORKER_LOST ? last.attempt - 1 : last.attempt;
  return {
    attempt: failures + 1,
    lostDeliveries: (last.lostDeliveries ?? 0) + lost,
    suspect: lost > 0 || DIED.has(last.error.name),
    last,
  };
}

/** The record a suspect's run starts with: the fleet (and `--wait`) can see it was lost, where, and when. */
export function lostRecord(
  ids: { batch: string; id: string; type: string },
  history: JobHistory,
  receiveCount: number,
  worker: string,
  messageId: string,
): ErrorRecord {
  const n = history.lostDeliveries;
  return {
    v: 1,
    jobId: ids.id,
    batch: ids.batch,
    type: ids.type,
    status: 'failed',
    final: false,
    error: {
      name: WORKER_LOST,
      message:
        `${n === 1 ? 'a delivery' : `${n} deliveries`} of this job ended without a result or a recorded failure: ` +
        'its worker was lost (a crash, an OOM kill, or a stop that handed it back unstarted); running it alone in a child process',
    },
    attempt: history.attempt,
    receiveCount,
    lostDeliveries: n,
    at: new Date().toISOString(),
    worker,
    messageId,
  };
}
