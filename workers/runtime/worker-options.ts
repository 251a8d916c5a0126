/**
 * The worker's options in one place: what each one means, its default, and the checks a value
 * must pass. `resolveWorkerOptions` merges the defaults once and reports every problem in one
 * error, so a misconfigured worker says all that is wrong before it receives anything.
 */
import { hostname } from 'node:os';
import type { ObjectStore } from '../../core/ports/object-store.js';
import type { QueuePort } from '../../core/ports/queue.js';
import { NO_SCALE_IN_GUARD, type ScaleInGuard } from '../../core/ports/scale-in-guard.js';
import {
  type ResolvedResultPacking,
  type ResultPackingOptions,
  resolveResultPacking,
} from '../../core/result-packs.js';
import type { HandlerRegistry } from '../handlers/registry.js';
import type { ChildEntry } from './isolation/handler-pool.js';
import { type Logger, silentLogger } from './logger.js';
import type { QueueMode } from './queue-picker.js';

/** One of the queues a worker serves. */
export interface WorkerQueue {
  /** Its name among the deployment's job queues ('urgent', 'default', ...). */
  readonly name: string;
  readonly queue: QueuePort;
  /** Where its poison messages go with their reason. @default - none: they stay for the queue's redrive policy */
  readonly dlq?: QueuePort;
  /** Its share of the job slots in weighted mode. @default 1 */
  readonly weight?: number;
}

export interface WorkerOptions {
  /** The job queue, when the worker serves one. Give `queue` or `queues`. */
  readonly queue?: QueuePort;
  /** Where `queue`'s poison messages go with their reason. @default - none: they stay for the queue's redrive policy */
  readonly dlq?: QueuePort;
  /** The job queues the worker serves, highest priority first. @default - `queue` alone, named 'default' */
  readonly queues?: readonly WorkerQueue[];
  /**
   * How a free job slot picks among `queues`: 'priority' takes from the highest non-empty
   * queue, 'weighted' gives each queue its weight's share while all have jobs. @default 'priority'
   */
  readonly queueMode?: QueueMode;
  /**
   * With several queues, the long-poll wait on each queue of a receive sweep once every queue
   * was found empty: a job arriving on a higher queue waits at most this times the number of
   * queues below it. 1..20. @default 1
   */
  readonly queueWaitSeconds?: number;
  /** The data bucket: claim-checked payloads, results and error records. */
  readonly store: ObjectStore;
  readonly handlers: HandlerRegistry;
  /** Jobs run at once in this process. @default 16 */
  readonly concurrency?: number;
  /** Long-poll wait per receive, 0..20. @default 20 */
  readonly waitTimeSeconds?: number;
  /** The queue's visibility timeout: each heartbeat extends a running job by this much. @default 60 */
  readonly visibilityTimeoutSeconds?: number;
  /** How often running jobs are checked for a lease extension. @default - a third of the visibility timeout, at least 1000 */
  readonly heartbeatIntervalMs?: number;
  /** Receives after which a failing job goes to the DLQ (the queue's maxReceiveCount). @default 5 */
  readonly maxReceiveCount?: number;
  /**
   * Failed attempts after which a job goes to the DLQ. Deliveries lost with their worker (a
   * crash beside the job) are not attempts, but SQS counts them as receives: a queue whose
   * maxReceiveCount is above this leaves that much room for them. @default - maxReceiveCount
   */
  readonly maxAttempts?: number;
  /**
   * How to start this program again as a handler child (see isolation/handler-pool.ts), for
   * jobs that run isolated. @default - none: every job runs in this process, suspects too
   */
  readonly childEntry?: ChildEntry;
  /** How often the DLQ is checked for jobs the queue moved without a final record. @default 60000 */
  readonly deadLetterCheckMs?: number;
  /** First retry delay; doubles each attempt, with jitter. @default 5000 */
  readonly retryBaseDelayMs?: number;
  /** The longest retry delay. @default 900000 (15 minutes) */
  readonly retryMaxDelayMs?: number;
  /** How long stop() lets running jobs finish before releasing them. @default 90000 */
  readonly drainTimeoutMs?: number;
  /** Concurrent receive calls. @default - one per 10 jobs of concurrency */
  readonly pollers?: number;
  /** Back-off bounds while the queue cannot be reached. @default { baseMs: 500, maxMs: 20000 } */
  readonly outageBackoff?: { readonly baseMs: number; readonly maxMs: number };
  /** Takes scale-in protection while jobs run. @default - none (NO_SCALE_IN_GUARD) */
  readonly scaleInGuard?: ScaleInGuard;
  /** @default - silent */
  readonly log?: Logger;
  /** Names this worker in logs and records. @default - hostname and pid */
  readonly workerId?: string;
  /** Called as each job ends, done (`ok`) or failed, for metrics (metrics.ts). @default - nothing */
  readonly onJobEnd?: JobEndListener;
  /** A job's progress reports are written to the bucket at most once per this long. @default 5000 */
  readonly progressIntervalMs?: number;
  /** How often this worker writes its status record (alive, and what it runs). @default 15000 */
  readonly statusIntervalMs?: number;
  /**
   * Write the results of jobs of one batch that finish close together as one object (a pack)
   * instead of one each, and delete their messages once it is written (docs/workers.md,
   * "Result packing"). Fields not given take RESULT_PACKING_DEFAULTS (core/result-packs.ts).
   * @default - off: each result is its own object, written with one conditional PUT
   */
  readonly resultPacking?: ResultPackingOptions;
}

/** Told of each job's end: its type, how long its handler ran, and whether it succeeded. */
export type JobEndListener = (type: string, durationMs: number, ok: boolean) => void;

export const WORKER_DEFAULTS = Object.freeze({
  queueMode: 'priority' as QueueMode,
  queueWaitSeconds: 1,
  concurrency: 16,
  waitTimeSeconds: 20,
  visibilityTimeoutSeconds: 60,
  maxReceiveCount: 5,
  retryBaseDelayMs: 5000,
  retryMaxDelayMs: 15 * 60 * 1000,
  drainTimeoutMs: 90_000,
  deadLetterCheckMs: 60_000,
  outageBackoff: Object.freeze({ baseMs: 500, maxMs: 20_000 }),
  scaleInGuard: NO_SCALE_IN_GUARD,
  log: silentLogger,
  onJobEnd: (() => {}) as JobEndListener,
  progressIntervalMs: 5000,
  statusIntervalMs: 15_000,
});

/** Every option with its value (`queue` and `dlq` folded into `queues`): only `childEntry` may be absent. */
export type ResolvedWorkerOptions = Required<
  Omit<WorkerOptions, 'queue' | 'dlq' | 'childEntry' | 'resultPacking'>
> &
  Pick<WorkerOptions, 'childEntry'> & { readonly resultPacking: ResolvedResultPacking | undefined };

const whole = (n: number, min: number) => Number.isInteger(n) && n >= min;

/** Merge the defaults, then check every value; throws once with every problem found. */
export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  const { queue, dlq, ...o } = { ...WORKER_DEFAULTS, ...options };
  const queues = o.queues ?? (queue ? [{ name: 'default', queue, ...(dlq ? { dlq } : {}) }] : []);
  const problems: string[] = [];
  const r: ResolvedWorkerOptions = {
    ...o,
    resultPacking:
      o.resultPacking &&
      resolveResultPacking(o.resultPacking, problems, {
        seconds: o.visibilityTimeoutSeconds,
        name: 'the visibility timeout',
      }),
    queues,
    heartbeatIntervalMs: o.heartbeatIntervalMs ?? Math.max(1000, (o.visibilityTimeoutSeconds * 1000) / 3),
    pollers: o.pollers ?? Math.max(1, Math.ceil(o.concurrency / 10)),
    workerId: o.workerId ?? `${hostname()}:${process.pid}`,
    maxAttempts: o.maxAttempts ?? o.maxReceiveCount,
  };
  if (queues.length === 0) problems.push('give the job queue (queue) or the queues (queues)');
  if (options.queue && options.queues) problems.push('give queue or queues, not both');
  if (new Set(queues.map((q) => q.name)).size !== queues.length)
    problems.push('queues must have distinct names');
  for (const q of queues)
    if (q.weight !== undefined && !(q.weight > 0)) problems.push(`queue '${q.name}': weight must be > 0`);
  if (r.queueMode !== 'priority' && r.queueMode !== 'weighted')
    problems.push(`queueMode must be 'priority' or 'weighted', not '${r.queueMode}'`);
  if (!whole(r.queueWaitSeconds, 1) || r.queueWaitSeconds > 20)
    problems.push('queueWaitSeconds must be a whole number 1..20');
  if (!whole(r.concurrency, 1)) problems.push('concurrency must be a whole number >= 1');
  if (!whole(r.pollers, 1)) problems.push('pollers must be a whole number >= 1');
  if (!(r.waitTimeSeconds >= 0 && r.waitTimeSeconds <= 20)) problems.push('waitTimeSeconds must be 0..20');
  if (!(r.visibilityTimeoutSeconds >= 1)) problems.push('visibilityTimeoutSeconds must be >= 1');
  if (!(r.heartbeatIntervalMs >= 1)) problems.push('heartbeatIntervalMs must be >= 1');
  if (!(r.maxReceiveCount >= 1)) problems.push('maxReceiveCount must be >= 1');
  if (options.maxAttempts !== undefined && !whole(r.maxAttempts, 1))
    problems.push('maxAttempts must be a whole number >= 1');
  if (!(r.deadLetterCheckMs >= 100)) problems.push('deadLetterCheckMs must be >= 100');
  if (!(r.retryBaseDelayMs >= 0)) problems.push('retryBaseDelayMs must be >= 0');
  if (!(r.retryMaxDelayMs >= 0)) problems.push('retryMaxDelayMs must be >= 0');
  if (!(r.drainTimeoutMs >= 0)) problems.push('drainTimeoutMs must be >= 0');
  if (!(r.progressIntervalMs >= 1)) problems.push('progressIntervalMs must be >= 1');
  if (!(r.statusIntervalMs >= 1)) problems.push('statusIntervalMs must be >= 1');
  if (!(r.outageBackoff.baseMs >= 1 && r.outageBackoff.maxMs >= r.outageBackoff.baseMs))
    problems.push('outageBackoff needs baseMs >= 1 and maxMs >= baseMs');
  if (problems.length > 0) throw new Error(`invalid worker options: ${problems.join('; ')}`);
  return r;
}
