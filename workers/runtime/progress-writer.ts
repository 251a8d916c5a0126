/**
 * `ctx.progress(fraction, note?)` made visible to the submitter, cheaply: at most one store write
 * per job per interval, whatever the handler calls. The first report is written at once; later
 * ones within the interval replace each other in memory, and the latest is written when the
 * interval ends. A job that never reports costs nothing (the writer is made on first use).
 */
import { type ProgressRecord, parseProgress, progressKey } from '../../core/envelope.js';
import { errorText } from '../../core/errors.js';
import type { ObjectStore } from '../../core/ports/object-store.js';
import type { Logger } from './logger.js';

export interface ProgressWriterOptions {
  readonly store: ObjectStore;
  readonly job: { readonly batch: string; readonly id: string; readonly attempt: number };
  readonly worker: string;
  /** At most one write per this long. */
  readonly intervalMs: number;
  readonly log: Logger;
}

export class ProgressWriter {
  private latest?: { fraction: number; note?: string };
  private lastWriteMs = 0;
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: ProgressWriterOptions) {}

  /** Record a report; throws RangeError for a fraction outside 0..1 (a handler bug, shown at once). */
  report(fraction: unknown, note?: unknown): void {
    const p = parseProgress(fraction, note);
    if (this.closed) return;
    this.latest = p;
    if (this.timer) return; // the interval's end writes the latest
    const wait = this.lastWriteMs + this.opts.intervalMs - Date.now();
    if (wait <= 0) this.flush();
    else {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, wait);
      this.timer.unref();
    }
  }

  /**
   * The job is over: nothing more is written. The record stays (workers may not delete); the
   * job's final record, or a newer error record, supersedes it for every reader.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.writing;
  }

  private get key(): string {
    return progressKey(this.opts.job.batch, this.opts.job.id);
  }

  private flush(): void {
    const p = this.latest;
    if (!p || this.closed) return;
    this.latest = undefined;
    this.lastWriteMs = Date.now();
    const record: ProgressRecord = {
      v: 1,
      jobId: this.opts.job.id,
      batch: this.opts.job.batch,
      ...p,
      attempt: this.opts.job.attempt,
      at: new Date().toISOString(),
      worker: this.opts.worker,
    };
    // One write at a time per job, in order.
    this.writing = this.writing.then(async () => {
      try {
        await this.opts.store.put(this.key, JSON.stringify(record), { contentType: 'application/json' });
      } catch (err) {
        this.opts.log.warn('could not write job progress', { jobId: record.jobId, error: errorText(err) });
      }
    });
  }
}
