/**
 * Job handlers: async functions `(job, ctx)`. Register one per job type; the worker looks the
 * type up when a message arrives and sends unknown types to the DLQ.
 */
import type { ObjectStore } from '../../core/ports/object-store.js';
import type { CommandSpec } from '../runtime/isolation/command-handler.js';
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
  /**
   * The data bucket, held to its layout (core/layout.ts): a key outside what the worker's role is
   * granted is refused with a LayoutViolationError naming the prefix and the setting that grants
   * it. Read job inputs under `inputs/`, write what you produce under `outputs/`; declare more in
   * cdk.json (`storage.prefixes`).
   */
  readonly store: ObjectStore;
  /**
   * Another bucket your handlers use, declared in cdk.json (`storage.buckets`, with what the
   * worker may do there): the stack grants exactly that, and this store refuses the rest the
   * same way `store` does. A bucket not declared is refused on first use, naming the setting.
   */
  bucket(name: string): ObjectStore;
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
  /**
   * Where the handler runs. 'suspects': in the worker's process, except a job whose last
   * delivery was lost with its worker (a crash, an OOM kill), which runs alone in a child process
   * so that if it kills that too, only it pays. 'always': every job in a child process (a pool
   * of them, see maxJobsPerChild). 'never': always in the worker's process.
   * @default 'suspects' ('always' when memoryLimitMb is set)
   */
  readonly isolation?: Isolation;
  /** Heap limit of the child process a job runs in; a job over it fails with "out of memory". @default - Node's own */
  readonly memoryLimitMb?: number;
  /** Jobs a child process runs before it is replaced, for leaky handlers. @default 100 ('always'); suspects get a child each */
  readonly maxJobsPerChild?: number;
  /**
   * The key prefixes the handler reads, writes and lists through `ctx.store`. The worker checks
   * them against the bucket layout at start-up and refuses to start if the role would not grant
   * one, naming the cdk.json setting to add. @default - nothing declared, nothing checked at start
   */
  readonly storage?: HandlerStorage;
  /**
   * Run this program for each job instead of `handler` (a command handler, made by
   * `commandHandler`; docs/workers.md, "Command handlers"). @default - none: `handler` runs
   */
  readonly command?: CommandSpec;
  /**
   * Jobs of this type running at once in one worker process. A job over the limit waits in
   * the worker (its message kept invisible, not given back, so no receive is spent on it)
   * until one of its type ends. For a fleet-wide cap, see docs/queues.md.
   * @default - no limit but the worker's concurrency
   */
  readonly maxConcurrency?: number;
}

/** Where a handler reads, writes and lists in the data bucket: key prefixes ending in '/'. */
export interface HandlerStorage {
  readonly reads?: readonly string[];
  readonly writes?: readonly string[];
  readonly lists?: readonly string[];
}

export type Isolation = 'suspects' | 'always' | 'never';

export const DEFAULT_JOB_TIMEOUT_MS = 10 * 60 * 1000;
export const DEFAULT_MAX_JOBS_PER_CHILD = 100;

/** How a job type runs: its isolation options with their defaults. */
export function isolationOf(def: HandlerDefinition): {
  isolation: Isolation;
  memoryLimitMb?: number;
  maxJobsPerChild: number;
} {
  return {
    isolation: def.isolation ?? (def.memoryLimitMb !== undefined ? 'always' : 'suspects'),
    ...(def.memoryLimitMb !== undefined ? { memoryLimitMb: def.memoryLimitMb } : {}),
    maxJobsPerChild: def.maxJobsPerChild ?? DEFAULT_MAX_JOBS_PER_CHILD,
  };
}

export class HandlerRegistry {
  private readonly handlers = new Map<string, HandlerDefinition>();

  register<P, R>(def: HandlerDefinition<P, R>): this {
    if (this.handlers.has(def.type))
      throw new Error(`a handler for job type '${def.type}' is already registered`);
    const problems: string[] = [];
    if (def.timeoutMs !== undefined && !(def.timeoutMs > 0))
      problems.push('timeoutMs must be greater than 0');
    if (def.isolation !== undefined && !['suspects', 'always', 'never'].includes(def.isolation))
      problems.push(`isolation must be 'suspects', 'always' or 'never', not '${def.isolation}'`);
    if (def.memoryLimitMb !== undefined && !(Number.isInteger(def.memoryLimitMb) && def.memoryLimitMb >= 16))
      problems.push('memoryLimitMb must be a whole number >= 16');
    if (def.memoryLimitMb !== undefined && def.isolation === 'never')
      problems.push("memoryLimitMb needs a child process: isolation 'never' cannot enforce it");
    if (
      def.maxJobsPerChild !== undefined &&
      !(Number.isInteger(def.maxJobsPerChild) && def.maxJobsPerChild >= 1)
    )
      problems.push('maxJobsPerChild must be a whole number >= 1');
    if (
      def.maxConcurrency !== undefined &&
      !(Number.isInteger(def.maxConcurrency) && def.maxConcurrency >= 1)
    )
      problems.push('maxConcurrency must be a whole number >= 1');
    if (problems.length > 0) throw new Error(`job type '${def.type}': ${problems.join('; ')}`);
    this.handlers.set(def.type, def as HandlerDefinition);
    return this;
  }

  /**
   * Change where the types run (all of them, or those listed) without touching their code: the
   * deployed fleet's FLOTILLA_ISOLATION. Checked as `register` checks.
   */
  isolate(
    opts: Pick<HandlerDefinition, 'isolation' | 'memoryLimitMb' | 'maxJobsPerChild'>,
    types: readonly string[] = this.types(),
  ): this {
    for (const type of types) {
      const def = this.handlers.get(type);
      if (!def)
        throw new Error(`cannot set isolation for '${type}': no such job type (${this.types().join(', ')})`);
      this.handlers.delete(type);
      try {
        this.register({ ...def, ...opts });
      } catch (err) {
        this.handlers.set(type, def);
        throw err;
      }
    }
    return this;
  }

  get(type: string): HandlerDefinition | undefined {
    return this.handlers.get(type);
  }

  types(): string[] {
    return [...this.handlers.keys()].sort();
  }
}

/**
 * Apply an isolation setting written as text (FLOTILLA_ISOLATION): a mode for every type
 * ('always'), or `type=mode` pairs separated by commas ('wordcount=always,pi=never'). `extra`
 * (a memory limit, jobs per child) goes with each type named.
 */
export function applyIsolationSpec(
  registry: HandlerRegistry,
  spec: string,
  extra: Pick<HandlerDefinition, 'memoryLimitMb' | 'maxJobsPerChild'> = {},
): void {
  const modes = ['suspects', 'always', 'never'];
  const check = (mode: string) => {
    if (!modes.includes(mode)) throw new Error(`isolation '${mode}' is not one of ${modes.join(', ')}`);
    return mode as Isolation;
  };
  const text = spec.trim();
  if (!text.includes('=')) {
    registry.isolate({ ...extra, isolation: check(text) });
    return;
  }
  for (const pair of text.split(',')) {
    const [type, mode] = pair.split('=').map((s) => s.trim());
    if (!type || !mode) throw new Error(`'${pair}' is not TYPE=MODE`);
    registry.isolate({ ...extra, isolation: check(mode) }, [type]);
  }
}
