/**
 * `flotilla/client`: submit jobs, wait for their results, inspect and redrive the dead-letter
 * queue, from a user's own code. Everything here talks to any S3/SQS-compatible endpoint.
 */
export { type ActiveSideRecord, readActiveSide, type SideAddress } from '../core/active-side.js';
export { EMULATOR_CREDENTIALS, type EndpointConfig, endpointFromEnv } from '../core/aws.js';
export type { ErrorRecord, ResultRecord } from '../core/envelope.js';
export { EndpointAnswerError, FlotillaError, PayloadTooLargeError, UsageError } from '../core/errors.js';
export type { ObjectStore } from '../core/ports/object-store.js';
export type { QueueMessage, QueuePort } from '../core/ports/queue.js';
export { type Connection, type ConnectOptions, connect } from './connect.js';
export { peekMessages, redrive } from './dlq.js';
export {
  BatchHandle,
  type BatchOutcome,
  type BatchStatus,
  type JobSpec,
  newBatchId,
  type SubmitManyOptions,
  Submitter,
  type SubmitterOptions,
  type WaitOptions,
} from './submit.js';
