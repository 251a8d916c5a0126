/**
 * How a handler is run once the job runner has everything it needs: the seam where another
 * way of running it (in a child process, say) plugs in, chosen per job. An executor settles
 * with the handler's result, or rejects with its error; when the job is cut short (its
 * timeout, the drain deadline: `abortJob`) it rejects with the reason at once, even if the
 * handler never looks at its signal. It sets `entry.interrupt` to learn of that.
 */
import type { HandlerContext, HandlerDefinition, Job } from '../handlers/registry.js';
import type { RunningJob } from './running-job.js';

export type JobExecutor = (
  def: HandlerDefinition,
  job: Job,
  ctx: HandlerContext,
  entry: RunningJob,
) => Promise<unknown>;

/** Runs the handler in this process, on this event loop. */
export const runInProcess: JobExecutor = (def, job, ctx, entry) =>
  new Promise<unknown>((resolve, reject) => {
    if (entry.abortReason) return reject(entry.abortReason);
    entry.interrupt = reject;
    Promise.resolve(def.handler(job, ctx)).then(resolve, reject);
  });
