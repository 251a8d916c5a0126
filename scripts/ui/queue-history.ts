/**
 * Queue depths over time for the dashboard's chart, counted with GetQueueAttributes (never by
 * receiving). A sample is taken when asked and the last one is at least `minIntervalMs` old, so
 * any number of open pages cost one call per job queue and DLQ per interval.
 */
import type { QueuePort } from '../../core/ports/queue.js';

export interface QueueCounts {
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
}

/** One of the deployment's job queues, by name, with its DLQ. */
export interface CountedQueue {
  readonly name: string;
  readonly queue: QueuePort;
  /** @default - no DLQ counts (and no redrive) for this queue */
  readonly dlq?: QueuePort;
}

export interface QueueSample {
  /** Milliseconds since the epoch. */
  readonly t: number;
  /** Every job queue, in the order the dashboard was given them. */
  readonly queues: readonly {
    readonly name: string;
    readonly jobs: QueueCounts;
    readonly dlq: QueueCounts | null;
  }[];
}

const COUNT_ATTRIBUTES = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
] as const;

export async function queueCounts(queue: QueuePort): Promise<QueueCounts> {
  const a = await queue.attributes(COUNT_ATTRIBUTES);
  return {
    visible: Number(a.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

export class QueueHistory {
  private readonly samples: QueueSample[] = [];
  private pending?: Promise<QueueSample>;

  constructor(
    private readonly queues: readonly CountedQueue[],
    private readonly opts: { minIntervalMs: number; keep: number } = { minIntervalMs: 2000, keep: 900 },
  ) {}

  /** The latest sample, taking a new one if the last is too old. */
  async sample(): Promise<QueueSample> {
    const last = this.samples.at(-1);
    if (last && Date.now() - last.t < this.opts.minIntervalMs) return last;
    this.pending ??= this.take().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Samples newer than `sinceMs`, oldest first. */
  since(sinceMs = 0): QueueSample[] {
    return this.samples.filter((s) => s.t > sinceMs);
  }

  private async take(): Promise<QueueSample> {
    const queues = await Promise.all(
      this.queues.map(async (q) => {
        const [jobs, dlq] = await Promise.all([
          queueCounts(q.queue),
          q.dlq ? queueCounts(q.dlq) : Promise.resolve(null),
        ]);
        return { name: q.name, jobs, dlq };
      }),
    );
    const s = { t: Date.now(), queues };
    this.samples.push(s);
    if (this.samples.length > this.opts.keep) this.samples.splice(0, this.samples.length - this.opts.keep);
    return s;
  }
}
