/**
 * Which batches and jobs were asked to cancel, as this worker last saw it: one LIST of cancel/
 * when the worker starts and once per heartbeat interval (not a request per job), so a job is
 * checked against it in memory when it is received and while it runs. A request made less than
 * one interval before a job is received can miss that receive; the job then starts, and is
 * aborted at the next refresh.
 */
import {
  type CancelledRecord,
  cancelledKey,
  type Envelope,
  parseCancelKey,
  resultKey,
} from '../../core/envelope.js';
import { errorText } from '../../core/errors.js';
import type { ObjectStore } from '../../core/ports/object-store.js';
import type { Logger } from './logger.js';

export class CancelIndex {
  /** Batch → when the whole batch was asked to cancel. */
  private batches = new Map<string, string>();
  /** "batch/job" → when that job was asked to cancel. */
  private jobs = new Map<string, string>();
  private refreshing?: Promise<void>;

  constructor(
    private readonly store: ObjectStore,
    private readonly log: Logger,
  ) {}

  /** True when nothing is cancelled: the common case, checked first. */
  get empty(): boolean {
    return this.batches.size === 0 && this.jobs.size === 0;
  }

  /** When the job was asked to cancel; undefined when it was not. */
  requestedAt(batch: string, jobId: string): string | undefined {
    if (this.empty) return undefined;
    return this.batches.get(batch) ?? this.jobs.get(`${batch}/${jobId}`);
  }

  /** Read cancel/ again (a LIST per 1,000 requests); on failure keep what was known. */
  refresh(): Promise<void> {
    this.refreshing ??= this.load().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async load(): Promise<void> {
    const batches = new Map<string, string>();
    const jobs = new Map<string, string>();
    try {
      for await (const o of this.store.list('cancel/')) {
        const req = parseCancelKey(o.key);
        if (!req) continue;
        const at = new Date(o.lastModifiedMs || Date.now()).toISOString();
        if (req.jobId) jobs.set(`${req.batch}/${req.jobId}`, at);
        else batches.set(req.batch, at);
      }
    } catch (err) {
      this.log.warn('could not read the cancel requests; keeping the last ones seen', {
        error: errorText(err),
      });
      return;
    }
    this.batches = batches;
    this.jobs = jobs;
  }
}

/**
 * Record a job's end as cancelled: its final record, written only if it has none (If-None-Match),
 * so a cancel racing a finishing job leaves exactly one; then a marker under cancelled/ so a
 * listing can count it. Returns false when another final record was there first.
 */
export async function recordCancelled(
  store: ObjectStore,
  job: Pick<Envelope, 'id' | 'batch' | 'type'>,
  details: { attempt: number; requestedAt: string; wasRunning: boolean; worker: string },
): Promise<boolean> {
  const record: CancelledRecord = {
    v: 1,
    jobId: job.id,
    batch: job.batch,
    type: job.type,
    status: 'cancelled',
    wasRunning: details.wasRunning,
    attempt: details.attempt,
    requestedAt: details.requestedAt,
    at: new Date().toISOString(),
    worker: details.worker,
  };
  const body = JSON.stringify(record);
  const won = await store.put(resultKey(job.batch, job.id), body, {
    contentType: 'application/json',
    ifAbsent: true,
  });
  if (won) await store.put(cancelledKey(job.batch, job.id), body, { contentType: 'application/json' });
  return won;
}
