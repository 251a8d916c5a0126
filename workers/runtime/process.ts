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
import type { HandlerRegistry } from '../handlers/registry.js';
import { workerLayoutStore } from './layout-store.js';
import type { Logger } from './logger.js';
import { JobTimings, type MetricsFormat, StatsReporter } from './metrics.js';
import { Worker } from './worker.js';
import type { WorkerOptions } from './worker-options.js';

export interface WorkerProcessConfig {
  readonly endpoint: EndpointConfig;
  readonly queueUrl: string;
  readonly bucket: string;
  /** @default - the queue's redrive target */
  readonly dlqUrl?: string;
  readonly handlers: HandlerRegistry;
  /** What the worker's role may touch in the bucket; the store refuses the rest. @default DATA_LAYOUT */
  readonly layout?: BucketLayout;
  readonly log: Logger;
  readonly scaleInGuard?: ScaleInGuard;
  /** Options passed to the Worker; queue settings read from SQS fill what is not given. */
  readonly worker?: Partial<
    Omit<WorkerOptions, 'queue' | 'dlq' | 'store' | 'handlers' | 'log' | 'scaleInGuard'>
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
  // The queue's and the bucket's calls go out as signed requests on each client's pool (core/transport).
  const queue = new SqsQueue(sqs, config.queueUrl);
  // Held to the bucket layout: a key the role would not be granted is refused here, as on AWS.
  const store = workerLayoutStore(new S3Store(s3, config.bucket), config.handlers, config.layout);
  // A missing or unreadable bucket would fail every job, one retry at a time: say so now, once.
  // Checked while the queue's settings are read, not after: start-up waits for one round trip.
  const bucketChecked = (async () => {
    for await (const _ of store.list('results/')) break;
  })().then(
    () => undefined,
    (err: unknown) => err,
  );
  let attrs: Record<string, string>;
  try {
    attrs = await queue.attributes(['VisibilityTimeout', 'RedrivePolicy']);
  } catch (err) {
    log.error('cannot read the job queue', {
      queue: config.queueUrl,
      error: describeError(err, { endpoint: config.endpoint.endpoint, resource: `queue ${config.queueUrl}` }),
    });
    return 1;
  }
  // The attributes read above serve for the DLQ too: no second GetQueueAttributes before polling.
  const redrive = parseRedrivePolicy(attrs.RedrivePolicy);
  const dlq = config.dlqUrl
    ? new SqsQueue(sqs, config.dlqUrl)
    : redrive
      ? await deadLetterQueueOf(sqs, redrive)
      : undefined;
  if (!dlq) log.warn('the job queue has no DLQ; failed jobs stay on the queue until it expires them');
  const err = await bucketChecked;
  if (err !== undefined) {
    log.error('cannot read the data bucket', {
      bucket: config.bucket,
      error: describeError(err, { endpoint: config.endpoint.endpoint, resource: `bucket ${config.bucket}` }),
    });
    return 1;
  }
  const timings = new JobTimings();
  const queueName = config.queueUrl.split('/').pop() ?? config.queueUrl;
  const reporter = new StatsReporter({ format: config.metrics ?? 'json', log, queueName, timings });
  const worker = new Worker({
    onJobEnd: (type, ms, ok) => timings.record(type, ms, ok),
    queue,
    ...(dlq ? { dlq } : {}),
    store,
    handlers: config.handlers,
    log,
    ...(config.scaleInGuard ? { scaleInGuard: config.scaleInGuard } : {}),
    visibilityTimeoutSeconds: Math.max(1, Number(attrs.VisibilityTimeout ?? 60)),
    ...(redrive?.maxReceiveCount ? { maxReceiveCount: redrive.maxReceiveCount } : {}),
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
