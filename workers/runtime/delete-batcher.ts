/**
 * Deletes finished messages in batches of up to 10 (DeleteMessageBatch), flushing when a batch
 * is full or a few milliseconds after the first entry. Per-entry failures are retried once;
 * a message whose delete still fails comes back after its visibility timeout, and the result
 * check drops that second delivery. It holds receipt handles only, so a finished job's body is
 * not kept waiting for its delete.
 */
import { errorText } from '../../core/errors.js';
import type { QueuePort } from '../../core/ports/queue.js';
import type { Logger } from './logger.js';

export class DeleteBatcher {
  private pending: string[] = [];
  private timer?: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly queue: QueuePort,
    private readonly log: Logger,
    private readonly lingerMs = 10,
  ) {}

  add(receiptHandle: string): void {
    this.pending.push(receiptHandle);
    if (this.pending.length >= 10) this.send();
    else if (!this.timer) this.timer = setTimeout(() => this.send(), this.lingerMs);
  }

  async flush(): Promise<void> {
    while (this.pending.length > 0) this.send();
    await Promise.allSettled([...this.inFlight]);
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending.splice(0, 10);
    if (this.pending.length > 0) this.timer = setTimeout(() => this.send(), this.lingerMs);
    if (batch.length === 0) return;
    const p = this.deleteWithRetry(batch).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private async deleteWithRetry(batch: string[]): Promise<void> {
    let todo = batch;
    for (let attempt = 1; attempt <= 2 && todo.length > 0; attempt++) {
      try {
        const failed = await this.queue.deleteBatch(
          todo.map((receiptHandle, i) => ({ id: String(i), receiptHandle })),
        );
        const failedIdx = new Set(failed.map((f) => Number(f.id)));
        const next = todo.filter((_, i) => failedIdx.has(i));
        if (next.length > 0 && attempt === 2) {
          this.log.warn('delete refused; the message will be redelivered and dropped as a duplicate', {
            count: next.length,
            reasons: [...new Set(failed.map((f) => f.code))],
          });
        }
        todo = next;
      } catch (err) {
        if (attempt === 2) {
          this.log.warn('delete failed; messages will be redelivered and dropped as duplicates', {
            count: todo.length,
            error: errorText(err),
          });
        }
      }
    }
  }
}
