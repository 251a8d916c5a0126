/**
 * The executor (see ../executor.ts) for a job that runs isolated: its handler runs in a child
 * process from the pool, and the runtime stays in this one. The handler's log lines, progress and
 * printed output come back under the job's ids; a cut-short job (its timeout, the drain deadline)
 * stops its child; a child that dies fails only its own job, with the cause.
 */
import { isolationOf } from '../../handlers/registry.js';
import type { JobExecutor } from '../executor.js';
import type { HandlerPool } from './handler-pool.js';

/**
 * Run in a child of the pool. A child runs one job at a time, so a suspect there is alone: if it
 * kills its child, only it pays. A child whose job succeeded goes back to the pool (a cold start
 * per suspect would cost more than the suspect's own work, see docs/performance.md).
 */
export function inChild(pool: HandlerPool): JobExecutor {
  return (def, job, ctx, entry) => {
    if (entry.abortReason) return Promise.reject(entry.abortReason);
    const { memoryLimitMb, maxJobsPerChild } = isolationOf(def);
    const stop = new AbortController();
    entry.interrupt = (reason) => stop.abort(reason);
    return pool.run(job, {
      maxJobsPerChild,
      ...(memoryLimitMb !== undefined ? { memoryLimitMb } : {}),
      signal: stop.signal,
      onLog: (level, msg, fields) => ctx.log[level](msg, fields),
      onProgress: (fraction, note) => ctx.progress(fraction, note),
      onOutput: (line) => ctx.log.info('handler output', { line }),
    });
  };
}
