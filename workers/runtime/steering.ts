/**
 * Seeing and steering running work from outside the worker, through the bucket:
 *   - progress: `ctx.progress(fraction, note?)` goes to a ProgressWriter per job (made on first
 *     use, at most one write per `progressIntervalMs`);
 *   - cancel: a CancelIndex read once at start and once per heartbeat interval; a job found in it
 *     is dropped before it runs, or aborted (JobCancelledError on its signal) while it runs, and
 *     ends with a `cancelled` final record and its message deleted;
 *   - status: a record per `statusIntervalMs` saying this worker is alive and what it runs;
 *   - the active side (core/active-side.ts), read with the cancel requests: while the record
 *     names another side, the poller takes no new jobs (running ones finish).
 * None of it costs a request per job when nothing is cancelled and no handler reports progress.
 */
import { type ActiveSideRecord, isActive, readActiveSide } from '../../core/active-side.js';
import type { Envelope } from '../../core/envelope.js';
import { errorText, JobCancelledError } from '../../core/errors.js';
import type { ObjectStore } from '../../core/ports/object-store.js';
import { CancelIndex, recordCancelled } from './cancel-index.js';
import type { WorkerCounters } from './counters.js';
import type { Logger } from './logger.js';
import { ProgressWriter } from './progress-writer.js';
import { abortJob, type RunningJob } from './running-job.js';
import { StatusReporter } from './status-reporter.js';
import { within } from './within.js';

export interface SteeringOptions {
  readonly store: ObjectStore;
  readonly workerId: string;
  readonly queueUrl: string;
  readonly concurrency: number;
  readonly types: string[];
  /** How often cancel requests are read again. */
  readonly cancelCheckIntervalMs: number;
  readonly progressIntervalMs: number;
  readonly statusIntervalMs: number;
  readonly running: ReadonlyMap<string, RunningJob>;
  readonly counters: WorkerCounters;
  readonly log: Logger;
}

export class JobSteering {
  private readonly cancels: CancelIndex;
  private readonly status: StatusReporter;
  private readonly writers = new Map<RunningJob, ProgressWriter>();
  private timer?: NodeJS.Timeout;
  private activeSide?: ActiveSideRecord;
  private activeSideUnreadable = false;

  constructor(private readonly opts: SteeringOptions) {
    this.cancels = new CancelIndex(opts.store, opts.log);
    this.status = new StatusReporter({
      store: opts.store,
      worker: opts.workerId,
      queue: opts.queueUrl,
      concurrency: opts.concurrency,
      types: opts.types,
      intervalMs: opts.statusIntervalMs,
      log: opts.log,
      snapshot: () => ({
        running: [...opts.running.values()].flatMap((r) =>
          r.job
            ? [
                {
                  batch: r.job.batch,
                  jobId: r.job.id,
                  type: r.job.type,
                  attempt: r.msg.receiveCount,
                  startedAt: new Date(r.receivedAtMs).toISOString(),
                },
              ]
            : [],
        ),
        counters: { ...opts.counters },
      }),
    });
  }

  /**
   * Before the first receive, read the active-side record, however long that takes: a worker on
   * a side that a failover left must not take a job first (an unreadable record, once the store's
   * retries give up, leaves the side active). Read the cancel requests too, waiting at most one
   * check interval for them, so a slow bucket does not hold the worker up. Then keep both fresh,
   * and start reporting.
   */
  async start(): Promise<void> {
    await Promise.all([
      within(this.cancels.refresh(), this.opts.cancelCheckIntervalMs),
      this.checkActiveSide(),
    ]);
    this.timer = setInterval(() => {
      void this.checkCancels();
      void this.checkActiveSide();
    }, this.opts.cancelCheckIntervalMs);
    this.timer.unref();
    this.status.start();
  }

  /** False while the active-side record names another side: take no new jobs. */
  get active(): boolean {
    return isActive(this.activeSide, this.opts.queueUrl);
  }

  /** Read the active-side record again; an unreadable one leaves the last answer standing. */
  private async checkActiveSide(): Promise<void> {
    try {
      const was = this.active;
      this.activeSide = await readActiveSide(this.opts.store);
      if (was !== this.active) {
        const where = this.activeSide?.active.endpoint ?? 'AWS';
        if (this.active) this.opts.log.info('this side is active again; taking jobs');
        else this.opts.log.info('this side is no longer active; taking no new jobs', { activeAt: where });
      }
      this.activeSideUnreadable = false;
    } catch (err) {
      // Said once, not every interval: an outage of the bucket is reported where it hurts.
      if (!this.activeSideUnreadable)
        this.opts.log.warn('could not read the active-side record', { error: errorText(err) });
      this.activeSideUnreadable = true;
    }
  }

  /** Stop checking; the last status report gets a short while, never the drain's whole deadline. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await within(this.status.stop(), 2000);
  }

  /**
   * Before a job runs: when it was asked to cancel, record it cancelled, delete its message and
   * return true. Costs nothing (an in-memory check) when nothing is cancelled.
   */
  async dropIfCancelled(entry: RunningJob, job: Envelope): Promise<boolean> {
    const requestedAt = this.cancels.requestedAt(job.batch, job.id);
    if (!requestedAt) return false;
    await this.finish(entry, job, requestedAt, false);
    return true;
  }

  /** A run that ended with `err`: true when it was a cancellation, now recorded. */
  async finishIfCancelled(entry: RunningJob, job: Envelope, err: unknown): Promise<boolean> {
    if (!(err instanceof JobCancelledError)) return false;
    await this.finish(entry, job, err.requestedAt, true);
    return true;
  }

  report(entry: RunningJob, fraction: unknown, note?: unknown): void {
    let w = this.writers.get(entry);
    if (!w) {
      const job = entry.job!;
      w = new ProgressWriter({
        store: this.opts.store,
        job: { batch: job.batch, id: job.id, attempt: entry.msg.receiveCount },
        worker: this.opts.workerId,
        intervalMs: this.opts.progressIntervalMs,
        log: this.opts.log,
      });
      this.writers.set(entry, w);
    }
    w.report(fraction, note);
  }

  /** The job is over: its progress writer (if it had one) stops. */
  async jobEnded(entry: RunningJob): Promise<void> {
    const w = this.writers.get(entry);
    if (!w) return;
    this.writers.delete(entry);
    await w.close();
  }

  private async finish(
    entry: RunningJob,
    job: Envelope,
    requestedAt: string,
    wasRunning: boolean,
  ): Promise<void> {
    const fields = { jobId: job.id, batch: job.batch, type: job.type, wasRunning };
    try {
      const won = await recordCancelled(this.opts.store, job, {
        attempt: entry.msg.receiveCount,
        requestedAt,
        wasRunning,
        worker: this.opts.workerId,
      });
      if (won) {
        this.opts.counters.cancelled++;
        this.opts.log.info('job cancelled', fields);
      } else
        this.opts.log.info('job was cancelled, but its final record was already written; kept it', fields);
    } catch (err) {
      // Not recorded: the message stays, so the next delivery tries again.
      this.opts.log.warn('could not record a cancelled job', { ...fields, error: errorText(err) });
      return;
    }
    entry.source.deletes.add(entry.msg.receiptHandle);
  }

  /** Read the requests again; abort the running jobs they name. */
  private async checkCancels(): Promise<void> {
    await this.cancels.refresh();
    if (this.cancels.empty) return;
    for (const r of this.opts.running.values()) {
      if (!r.job || r.abortReason) continue;
      const at = this.cancels.requestedAt(r.job.batch, r.job.id);
      if (at) abortJob(r, new JobCancelledError(r.job.batch, r.job.id, at));
    }
  }
}
