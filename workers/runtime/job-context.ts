/**
 * What a handler gets besides its job: the data bucket, an abort signal, a logger carrying the
 * job's ids, and progress reports. The signal and the child logger are made on first use: an
 * AbortSignal and a child logger together cost about as much CPU as everything else the
 * runtime does for a job, so a handler that uses neither should not pay for them.
 */
import type { ObjectStore } from '../../core/ports/object-store.js';
import type { HandlerContext } from '../handlers/registry.js';
import type { Logger } from './logger.js';
import type { RunningJob } from './running-job.js';

/** Where a job's progress is stored (JobSteering.report, bound to the job); throws on a bad fraction. */
export type ProgressSink = (fraction: number, note?: string) => void;

/**
 * Where every progress report goes, whoever makes it (the handler here, or one running
 * elsewhere on this job's behalf): checked and stored through the sink (throttled there), and
 * logged.
 */
export function reportProgress(
  log: Logger,
  sink: ProgressSink | undefined,
  fraction: number,
  note?: string,
): void {
  sink?.(fraction, note);
  log.info('job progress', { progress: fraction, ...(note === undefined ? {} : { note }) });
}

export class JobContext implements HandlerContext {
  private childLog?: Logger;

  constructor(
    readonly store: ObjectStore,
    private readonly entry: RunningJob,
    private readonly parentLog: Logger,
    private readonly fields: Record<string, unknown>,
    private readonly sink?: ProgressSink,
  ) {}

  get signal(): AbortSignal {
    const entry = this.entry;
    if (!entry.controller) {
      entry.controller = new AbortController();
      if (entry.abortReason) entry.controller.abort(entry.abortReason);
    }
    return entry.controller.signal;
  }

  get log(): Logger {
    this.childLog ??= this.parentLog.child(this.fields);
    return this.childLog;
  }

  progress(fraction: number, note?: string): void {
    reportProgress(this.log, this.sink, fraction, note);
  }

  bucket(name: string): ObjectStore {
    return otherBucket(this.store, name);
  }
}

/** `ctx.bucket(name)`: the extra bucket through the data bucket's store (held to the layout there). */
export function otherBucket(store: ObjectStore, name: string): ObjectStore {
  if (!store.forBucket)
    throw new Error(`ctx.bucket('${name}'): this worker's store cannot open other buckets`);
  return store.forBucket(name);
}
