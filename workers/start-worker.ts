/**
 * A worker in a user's own process: their handlers, this runtime. The options are the ones the
 * bundled worker reads from FLOTILLA_* variables (workers/main.ts); the caller reads its own
 * environment, if it wants to.
 *
 *   const handlers = builtinHandlers().register({ type: 'resize', handler: resize });
 *   process.exitCode = await startWorker({ queueUrl, bucket, handlers });
 */
import type { EndpointConfig } from '../core/aws.js';
import { jsonLogger } from './runtime/logger.js';
import { runWorkerProcess, type WorkerProcessConfig } from './runtime/process.js';

export interface StartWorkerOptions extends Omit<WorkerProcessConfig, 'endpoint' | 'log'> {
  /** Where and as whom to connect. @default - AWS, with the SDK's region and credential chain */
  readonly endpoint?: EndpointConfig;
  /** @default - JSON lines on stdout at level info */
  readonly log?: WorkerProcessConfig['log'];
}

/**
 * Polls the queue and runs jobs until SIGTERM or SIGINT drains it (unless `handleSignals` is
 * false). Resolves with the exit code to use: 0 after a drain, 1 if the queue or bucket cannot
 * be read.
 */
export function startWorker(options: StartWorkerOptions): Promise<number> {
  return runWorkerProcess({ ...options, endpoint: options.endpoint ?? {}, log: options.log ?? jsonLogger() });
}
