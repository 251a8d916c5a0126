/**
 * What happens to a job whose run failed, decided from facts alone (no I/O, no clock, the
 * jitter's randomness given): retry it after a growing delay, move it to the DLQ, or leave it
 * to the queue because the worker gave it back while stopping. failure-handler.ts acts on the
 * decision. New facts (say, that this delivery followed a lost worker) extend `FailureFacts`.
 */
import { JobTimeoutError, UnrecoverableError } from '../../core/errors.js';
import { backoffMs } from './backoff.js';
import { visibilityLeftSeconds } from './running-job.js';

export interface FailureFacts {
  readonly error: Error;
  /** The attempt that failed: 1 + the failures recorded before it (deliveries lost with a worker do not count). */
  readonly attempt: number;
  /** The message's receive count: SQS's own count, lost deliveries included. @default - attempt */
  readonly receiveCount?: number;
  /** How long this process has held the message. */
  readonly heldMs: number;
  /** The worker is stopping. */
  readonly stopping: boolean;
  /** The run was cut short (its timeout, or the drain deadline). */
  readonly cutShort: boolean;
}

export interface RetryPolicy {
  /** The queue's maxReceiveCount: on that receive a failing job goes to the DLQ, whatever its attempt. */
  readonly maxReceiveCount: number;
  /** Failed attempts after which a job goes to the DLQ. @default - maxReceiveCount */
  readonly maxAttempts?: number;
  readonly retryBaseDelayMs: number;
  readonly retryMaxDelayMs: number;
}

export type FailureDecision =
  /** The drain cut the run short and released the message: not a failure of the job. */
  | { readonly action: 'leave' }
  /** Failed for good: the handler said so, or this was the last attempt (or receive) allowed. */
  | { readonly action: 'dead-letter' }
  /** Make the message visible again after this long. */
  | { readonly action: 'retry'; readonly delaySeconds: number };

const LEAVE: FailureDecision = Object.freeze({ action: 'leave' });
const DEAD_LETTER: FailureDecision = Object.freeze({ action: 'dead-letter' });

export function decideFailure(
  facts: FailureFacts,
  policy: RetryPolicy,
  random: () => number = Math.random,
): FailureDecision {
  const { error, attempt } = facts;
  if (facts.stopping && facts.cutShort && !(error instanceof JobTimeoutError)) return LEAVE;
  // The queue would move the message on its next receive: say why now, while we can.
  const lastReceive = (facts.receiveCount ?? attempt) >= policy.maxReceiveCount;
  if (
    error instanceof UnrecoverableError ||
    attempt >= (policy.maxAttempts ?? policy.maxReceiveCount) ||
    lastReceive
  )
    return DEAD_LETTER;
  const delayMs = backoffMs(attempt, policy.retryBaseDelayMs, policy.retryMaxDelayMs, random);
  // SQS counts a message's visibility from its receipt: the delay cannot reach past 12 hours.
  const delaySeconds = Math.min(Math.ceil(delayMs / 1000), visibilityLeftSeconds(facts.heldMs));
  return { action: 'retry', delaySeconds };
}
