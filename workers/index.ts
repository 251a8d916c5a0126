/**
 * `flotilla/worker`: handlers and the runtime that runs them: what a handlers file imports (the
 * types, UnrecoverableError), `startWorker` for a worker from a user's own entry point, and
 * `runBundledWorker`, the entry of the bundle a fleet ships with the user's `handlers`.
 */
export type { EndpointConfig } from '../core/aws.js';
export { FlotillaError, JobTimeoutError, UnrecoverableError } from '../core/errors.js';
export type { ObjectHead, ObjectInfo, ObjectStore, PutOptions } from '../core/ports/object-store.js';
export { echo, noop, sleep } from './handlers/diagnostics.js';
export { addHandlers, type HandlersModule } from './handlers/handlers-module.js';
export {
  builtinHandlers,
  DEFAULT_JOB_TIMEOUT_MS,
  type HandlerContext,
  type HandlerDefinition,
  HandlerRegistry,
  type Job,
  type JobHandler,
} from './handlers/index.js';
export { type PiPayload, type PiResult, pi } from './handlers/pi.js';
export {
  countWords,
  type MergePayload,
  type MergeResult,
  type WordcountPayload,
  type WordcountResult,
  wordcount,
  wordcountMerge,
} from './handlers/wordcount.js';
export { runBundledWorker } from './main.js';
export { jsonLogger, type Logger, type LogLevel, silentLogger } from './runtime/logger.js';
export { type StartWorkerOptions, startWorker } from './start-worker.js';
