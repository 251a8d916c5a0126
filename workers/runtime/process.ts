/**
 * Runs one worker as a process: builds the ports from an endpoint configuration, reads the
 * queue's own settings (visibility timeout, maxReceiveCount, DLQ), handles SIGTERM/SIGINT
 * (first: drain; second: exit at once), and reports counters. Called by workers/main.ts (the
 * bundle) and by `flotilla worker`; neither this module nor anything below it reads process.env.
 */

import { S3Store } from '../../core/adapters/s3-store.js';
import { deadLetterQueueOf, SqsQueue } from '../../core/adapters/sqs-queue.js';
import { type EndpointConfig, s3Client, sqsClient } from '../../core/aws.js';
import { describeError } from '../../core/errors.js';
import type { BucketLayout } from '../../core/layout.js';
import { parseRedrivePolicy } from '../../core/ports/queue.js';
import type { ScaleInGuard } from '../../core/ports/scale-in-guard.js';
import type { NamedQueue } from '../../core/queue-list.js';
import type { HandlerRegistry } from '../handlers/registry.js';
import { workerLayoutStore } from './layout-store.js';
import type { Logger } from './logger.js';
import { JobTimings, type MetricsFormat, StatsReporter } from './metrics.js';
import { Worker } from './worker.js';
import type { WorkerOptions, WorkerQueue } from './worker-options.js';

export interface WorkerProcessConfig {
  readonly endpoint: EndpointConfig;
  /** The 'default' job queue (its name files the worker's metrics). */
  readonly queueUrl: string;
  readonly bucket: string;
  /** @default - the queue's redrive target */
  readonly dlqUrl?: string;
  /** Every queue to serve, highest priority first. @default - `queueUrl` alone */
  readonly queues?: readonly NamedQueue[];
  readonly handlers: HandlerRegistry;
  /** What the worker's role may touch in the bucket; the store refuses the rest. @default DATA_LAYOUT */
  readonly layout?: BucketLayout;
  readonly log: Logger;
  readonly scaleInGuard?: ScaleInGuard;
  /** Options passed to the Worker; queue settings read from SQS fill what is not given. */
  readonly worker?: Partial<
    Omit<WorkerOptions, 'queue' | 'dlq' | 'queues' | 'store' | 'handlers' | 'log' | 'scaleInGuard'>
  >;
  /** Log the counters this often. @default 30000 */
  readonly statsIntervalMs?: number;
  /** The stats lines as CloudWatch Embedded Metric Format or plain JSON (metrics.ts). @default 'json' */
  readonly metrics?: MetricsFormat;
  /** Install SIGTERM/SIGINT handlers. @default true */
  readonly handleSignals?: boolean;
  /** Starts a watch that calls `drain` on an interruption notice (spot-interruption.ts). @default - none */
  readonly watchInterruption?: (drain: (reason: Record<string, unknown>) => void) => { stop(): void };
}

/** Runs until a signal drains it. Resolves with the process exit code. */
export async function runWorkerProcess(config: WorkerProcessConfig): Promise<number> {
  const { log } = config;
  const sqs = sqsClient(config.endpoint);
  const s3 = s3Client(config.endpoint);
  // The queues' and the bucket's calls go out as signed requests on each client's pool (core/transport).
  // Held to the bucket layout: a key the role would not be granted is refused here, as on AWS.
  const store = workerLayoutStore(new S3Store(s3, config.bucket), config.handlers, config.layout);
  // A missing or unreadable bucket would fail every job, one retry at a time: say so now, once.
  // Checked while the queues' settings are read, not after: start-up waits for one round trip.
  const bucketChecked = (async () => {
    for await (const _ of store.list('results/')) break;
  })().then(
    () => undefined,
    (err: unknown) => err,
  );
  const given = config.queues ?? [
    { name: 'default', url: config.queueUrl, ...(config.dlqUrl ? { dlqUrl: config.dlqUrl } : {}) },
  ];
  const queues: WorkerQueue[] = [];
  let visibilityTimeoutSeconds = Number.POSITIVE_INFINITY;
  let maxReceiveCount = Number.POSITIVE_INFINITY;
  // Every queue's settings at once: start-up waits for one round trip, not one per queue.
  const settings = await Promise.all(
    given.map(async (q) => {
      const queue = new SqsQueue(sqs, q.url);
      try {
        return { q, queue, attrs: await queue.attributes(['VisibilityTimeout', 'RedrivePolicy']) };
      } catch (err) {
        return { q, queue, err };
      }
    }),
  );
  for (const { q, queue, attrs, err } of settings) {
    if (!attrs) {
      log.error('cannot read the job queue', {
        queue: q.url,
        error: describeError(err, { endpoint: config.endpoint.endpoint, resource: `queue ${q.url}` }),
      });
      return 1;
    }
    // The attributes read above serve for the DLQ too: no second GetQueueAttributes before polling.
    const redrive = parseRedrivePolicy(attrs.RedrivePolicy);
    const dlq = q.dlqUrl
      ? new SqsQueue(sqs, q.dlqUrl)
      : redrive
        ? await deadLetterQueueOf(sqs, redrive)
        : undefined;
    if (!dlq)
      log.warn('the job queue has no DLQ; failed jobs stay on the queue until it expires them', {
        queue: q.name,
      });
    // One lease length and one receive limit for the worker: the strictest of its queues'.
    visibilityTimeoutSeconds = Math.min(visibilityTimeoutSeconds, Number(attrs.VisibilityTimeout ?? 60));
    if (redrive?.maxReceiveCount) maxReceiveCount = Math.min(maxReceiveCount, redrive.maxReceiveCount);
    queues.push({ name: q.name, queue, ...(dlq ? { dlq } : {}), ...(q.weight ? { weight: q.weight } : {}) });
  }
  const bucketError = await bucketChecked;
  if (bucketError !== undefined) {
    log.error('cannot read the data bucket', {
      bucket: config.bucket,
      error: describeError(bucketError, {
        endpoint: config.endpoint.endpoint,
        resource: `bucket ${config.bucket}`,
      }),
    });
    return 1;
  }
  const timings = new JobTimings();
  const queueName = config.queueUrl.split('/').pop() ?? config.queueUrl;
  const reporter = new StatsReporter({ format: config.metrics ?? 'json', log, queueName, timings });
  const worker = new Worker({
    onJobEnd: (type, ms, ok) => timings.record(type, ms, ok),
    queues,
    store,
    handlers: config.handlers,
    log,
    ...(config.scaleInGuard ? { scaleInGuard: config.scaleInGuard } : {}),
    visibilityTimeoutSeconds: Math.max(1, visibilityTimeoutSeconds),
    ...(Number.isFinite(maxReceiveCount) ? { maxReceiveCount } : {}),
    ...config.worker,
  });

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      log.info('signal received; draining (send it again to exit at once)', { signal: sig });
      void worker.stop();
    } else {
      log.warn('second signal; exiting without draining', { signal: sig, running: worker.inFlight });
      process.exit(1);
    }
  };
  const interruption = config.watchInterruption?.((reason) => {
    if (signals++ > 0) return;
    log.warn('interruption notice; draining as on SIGTERM', reason);
    void worker.stop();
  });
  if (config.handleSignals !== false) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  const stats = setInterval(
    () => reporter.report(worker.counters, worker.inFlight),
    config.statsIntervalMs ?? 30_000,
  );
  stats.unref();
  try {
    await worker.start();
  } finally {
    clearInterval(stats);
    interruption?.stop();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    sqs.destroy();
    s3.destroy();
  }
  return 0;
}
