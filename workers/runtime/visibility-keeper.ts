/**
 * Keeps running jobs invisible: every heartbeat interval, extends the lease of each running
 * job whose message would soon become visible again (ChangeMessageVisibilityBatch, 10 at a
 * time, on the message's own queue), never past the 12 hours SQS allows from its receipt. And
 * gives messages back at once (visibility 0) when a stopping worker will not run them.
 */
import { describeError } from '../../core/errors.js';
import type { QueueMessage, QueuePort } from '../../core/ports/queue.js';
import type { WorkerCounters } from './counters.js';
import type { Logger } from './logger.js';
import { type RunningJob, visibilityLeftSeconds } from './running-job.js';

/** `pick(r)` for each running job, grouped by the job's queue; undefined picks are left out. */
function byQueue<T>(
  entries: Iterable<RunningJob>,
  pick: (r: RunningJob) => T | undefined,
): Map<QueuePort, T[]> {
  const groups = new Map<QueuePort, T[]>();
  for (const r of entries) {
    const item = pick(r);
    if (item === undefined) continue;
    const group = groups.get(r.source.queue);
    if (group) group.push(item);
    else groups.set(r.source.queue, [item]);
  }
  return groups;
}

export class VisibilityKeeper {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly running: ReadonlyMap<string, RunningJob>,
    private readonly visibilityTimeoutSeconds: number,
    private readonly heartbeatIntervalMs: number,
    private readonly counters: WorkerCounters,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.heartbeat(), this.heartbeatIntervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Extend the lease of every running job that is close to becoming visible again. */
  async heartbeat(): Promise<void> {
    const now = Date.now();
    const due = byQueue(this.running.values(), (r) =>
      r.abortReason || r.visibleAtMs - now >= 2 * this.heartbeatIntervalMs
        ? undefined
        : {
            r,
            seconds: Math.min(this.visibilityTimeoutSeconds, visibilityLeftSeconds(now - r.receivedAtMs)),
          },
    );
    for (const [queue, jobs] of due) {
      for (let i = 0; i < jobs.length; i += 10) await this.extend(queue, jobs.slice(i, i + 10));
    }
  }

  private async extend(queue: QueuePort, chunk: { r: RunningJob; seconds: number }[]): Promise<void> {
    try {
      const failed = await queue.changeVisibilityBatch(
        chunk.map(({ r, seconds }, j) => ({ id: String(j), receiptHandle: r.msg.receiptHandle, seconds })),
      );
      const failedIds = new Set(failed.map((f) => f.id));
      chunk.forEach(({ r, seconds }, j) => {
        if (failedIds.has(String(j))) {
          this.log.warn('heartbeat refused for a running job', {
            jobId: r.job?.id,
            messageId: r.msg.messageId,
          });
        } else {
          r.visibleAtMs = Date.now() + seconds * 1000;
          this.counters.heartbeats++;
          this.log.debug('heartbeat', { jobId: r.job?.id, extendedBySeconds: seconds });
        }
      });
    } catch (err) {
      this.log.warn('heartbeat failed', { error: describeError(err), jobs: chunk.length });
    }
  }

  /** Make running jobs' messages visible again at once, each on its own queue. */
  async releaseJobs(entries: readonly RunningJob[]): Promise<void> {
    for (const [queue, msgs] of byQueue(entries, (r) => r.msg)) await this.release(queue, msgs);
  }

  /** Make messages of `queue` visible again at once. */
  async release(queue: QueuePort, msgs: readonly QueueMessage[]): Promise<void> {
    for (let i = 0; i < msgs.length; i += 10) {
      const chunk = msgs.slice(i, i + 10);
      try {
        await queue.changeVisibilityBatch(
          chunk.map((m, j) => ({ id: String(j), receiptHandle: m.receiptHandle, seconds: 0 })),
        );
      } catch (err) {
        this.log.warn('could not release messages; they reappear after the visibility timeout', {
          error: describeError(err),
          count: chunk.length,
        });
      }
    }
  }
}
