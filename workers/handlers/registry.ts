/**
 * Job handlers: async functions `(job, ctx)`. Register one per job type; the worker looks the
 * type up when a message arrives and sends unknown types to the DLQ.
 */
import type { ObjectStore } from '../../core/ports/object-store.js';
import type { Logger } from '../runtime/logger.js';

export interface Job<P = unknown> {
  readonly id: string;
  readonly type: string;
  readonly batch: string;
  readonly payload: P;
  readonly submittedAt: string;
  /** 1 on the first delivery, then 2, 3... */
  readonly attempt: number;
}

export interface HandlerContext {
  /** The data bucket. */
  readonly store: ObjectStore;
  /**
   * Aborted when the job times out, its batch or itself is cancelled (reason: JobCancelledError),
   * or the worker is forced to stop: stop work and throw.
   */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /**
   * Report how far the job is (0..1, and a short note): logged with the job's ids, and stored
   * for the submitter (`BatchHandle`, `flotilla submit --wait`, `results`, the dashboard) at
   * most once per few seconds however often it is called. Throws RangeError outside 0..1.
   */
  progress(fraction: number, note?: string): void;
}

export type JobHandler<P = unknown, R = unknown> = (job: Job<P>, ctx: HandlerContext) => Promise<R>;

export interface HandlerDefinition<P = unknown, R = unknown> {
  readonly type: string;
  readonly handler: JobHandler<P, R>;
  /** Abort the handler after this long. @default 600000 (10 minutes) */
  readonly timeoutMs?: number;
  /** Write the returned value to results/<batch>/<jobId>.json. @default true */
  readonly writeResult?: boolean;
}

export const DEFAULT_JOB_TIMEOUT_MS = 10 * 60 * 1000;

export class HandlerRegistry {
  private readonly handlers = new Map<string, HandlerDefinition>();

  register<P, R>(def: HandlerDefinition<P, R>): this {
    if (this.handlers.has(def.type))
      throw new Error(`a handler for job type '${def.type}' is already registered`);
    if (def.timeoutMs !== undefined && !(def.timeoutMs > 0)) {
      throw new Error(`timeoutMs for job type '${def.type}' must be greater than 0`);
    }
    this.handlers.set(def.type, def as HandlerDefinition);
    return this;
  }

  get(type: string): HandlerDefinition | undefined {
    return this.handlers.get(type);
  }

  types(): string[] {
    return [...this.handlers.keys()].sort();
  }
}
