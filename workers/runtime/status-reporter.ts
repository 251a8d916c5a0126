/**
 * Each worker says it is alive, and what it runs, with one small record per interval
 * (workers/<id>.json): the dashboard lists the workers that reported recently and shows which
 * jobs are running, without a write per job.
 */
import { type WorkerStatusRecord, workerStatusKey } from '../../core/envelope.js';
import { errorText } from '../../core/errors.js';
import type { ObjectStore } from '../../core/ports/object-store.js';
import type { Logger } from './logger.js';

export type StatusSnapshot = Pick<WorkerStatusRecord, 'running' | 'counters'>;

export interface StatusReporterOptions {
  readonly store: ObjectStore;
  readonly worker: string;
  readonly queue: string;
  readonly concurrency: number;
  readonly types: string[];
  /** One write per this long. */
  readonly intervalMs: number;
  readonly snapshot: () => StatusSnapshot;
  readonly log: Logger;
}

export class StatusReporter {
  private timer?: NodeJS.Timeout;
  private readonly startedAt = new Date().toISOString();
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly opts: StatusReporterOptions) {}

  start(): void {
    this.write(false);
    this.timer = setInterval(() => this.write(false), this.opts.intervalMs);
    this.timer.unref();
  }

  /** The last report, marked stopped. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.write(true);
    await this.writing;
  }

  private write(stopped: boolean): void {
    const record: WorkerStatusRecord = {
      v: 1,
      worker: this.opts.worker,
      queue: this.opts.queue,
      at: new Date().toISOString(),
      startedAt: this.startedAt,
      concurrency: this.opts.concurrency,
      types: this.opts.types,
      ...this.opts.snapshot(),
      ...(stopped ? { stopped: true } : {}),
    };
    this.writing = this.writing.then(async () => {
      try {
        await this.opts.store.put(workerStatusKey(this.opts.worker), JSON.stringify(record), {
          contentType: 'application/json',
        });
      } catch (err) {
        this.opts.log.warn('could not write the worker status', { error: errorText(err) });
      }
    });
  }
}
