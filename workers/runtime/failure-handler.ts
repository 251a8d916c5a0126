/**
 * Acts on the failure policy's decision for a failed job: records the error next to the
 * results (final or not), gives the message back to its queue with the retry delay, or moves
 * it to its queue's DLQ with the reason in its attributes. Messages that cannot be run at all
 * (not an envelope, an unknown job type) are dead-lettered here too.
 */
import { type Envelope, type ErrorRecord, errorKey } from '../../core/envelope.js';
import { errorText } from '../../core/errors.js';
import type { ObjectStore } from '../../core/ports/object-store.js';
import type { WorkerCounters } from './counters.js';
import { decideFailure, type RetryPolicy } from './failure-policy.js';
import type { Logger } from './logger.js';
import type { RunningJob } from './running-job.js';
import type { JobEndListener } from './worker-options.js';

/** What is known of a job whose envelope may not have parsed. */
type JobIds = { readonly id?: string; readonly batch?: string; readonly type?: string };

export class FailureHandler {
  constructor(
    private readonly store: ObjectStore,
    private readonly policy: RetryPolicy,
    private readonly counters: WorkerCounters,
    private readonly log: Logger,
    private readonly workerId: string,
    private readonly isStopping: () => boolean,
    private readonly onJobEnd: JobEndListener,
  ) {}

  /** The handler of `envelope` failed (threw, timed out, or its result could not be written). */
  async jobFailed(
    entry: RunningJob,
    envelope: Envelope,
    err: Error,
    fields: Record<string, unknown>,
    durationMs: number,
  ): Promise<void> {
    const { msg } = entry;
    const attempt = entry.attempt ?? msg.receiveCount;
    const decision = decideFailure(
      {
        error: err,
        attempt,
        receiveCount: msg.receiveCount,
        heldMs: Date.now() - entry.receivedAtMs,
        stopping: this.isStopping(),
        cutShort: entry.abortReason !== undefined,
      },
      this.policy,
    );
    if (decision.action === 'leave') return;
    this.onJobEnd(envelope.type, durationMs, false);
    this.counters.failed++;
    if (decision.action === 'dead-letter') {
      await this.deadLetter(entry, err, envelope, attempt);
      return;
    }
    this.counters.retried++;
    this.log.warn('job failed; will retry', {
      ...fields,
      durationMs,
      error: errorText(err),
      errorName: err.name,
      retryInSeconds: decision.delaySeconds,
    });
    await this.writeError(envelope, err, attempt, false, entry);
    try {
      await entry.source.queue.changeVisibility(msg.receiptHandle, decision.delaySeconds);
    } catch (e) {
      this.log.warn('could not set the retry delay; the job reappears after the visibility timeout', {
        ...fields,
        error: errorText(e),
      });
    }
  }

  /** Move a message to its queue's DLQ with its reason, and record the failure next to the results. */
  async deadLetter(entry: RunningJob, err: Error, ids: JobIds, attempt: number): Promise<void> {
    const { msg, source } = entry;
    const fields = { jobId: ids.id, type: ids.type, batch: ids.batch, attempt, messageId: msg.messageId };
    await this.writeError(ids, err, attempt, true, entry);
    if (!source.dlq) {
      this.log.error('job failed for good, but the queue has no DLQ; leaving it to the redrive policy', {
        ...fields,
        error: errorText(err),
      });
      return;
    }
    try {
      await source.dlq.send({
        body: msg.body,
        attributes: {
          'flotilla-error': errorText(err).slice(0, 1000),
          'flotilla-error-name': err.name,
          'flotilla-attempts': String(attempt),
          'flotilla-source-queue': source.queue.url,
          'flotilla-failed-at': new Date().toISOString(),
        },
      });
    } catch (e) {
      this.log.error('could not send to the DLQ; the message stays on the queue', {
        ...fields,
        error: errorText(e),
      });
      return;
    }
    source.deletes.add(msg.receiptHandle);
    this.counters.deadLettered++;
    this.log.error('job sent to the DLQ', { ...fields, error: errorText(err), errorName: err.name });
  }

  private async writeError(
    ids: JobIds,
    err: Error,
    attempt: number,
    final: boolean,
    entry: RunningJob,
  ): Promise<void> {
    if (!ids.id || !ids.batch) return;
    const record: ErrorRecord = {
      v: 1,
      jobId: ids.id,
      batch: ids.batch,
      ...(ids.type ? { type: ids.type } : {}),
      status: 'failed',
      final,
      error: { name: err.name, message: errorText(err) },
      attempt,
      receiveCount: entry.msg.receiveCount,
      ...(entry.lostDeliveries ? { lostDeliveries: entry.lostDeliveries } : {}),
      at: new Date().toISOString(),
      worker: this.workerId,
      messageId: entry.msg.messageId,
    };
    try {
      await this.store.put(errorKey(ids.batch, ids.id), JSON.stringify(record), {
        contentType: 'application/json',
      });
    } catch (e) {
      this.log.warn('could not write the error record', { jobId: ids.id, error: errorText(e) });
    }
  }
}
