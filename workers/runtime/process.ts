/**
 * Runs one worker as a process: builds the ports from an endpoint configuration, reads the
 * queue's own settings (visibility timeout, maxReceiveCount, DLQ), handles SIGTERM/SIGINT
 * (first: drain; second: exit at once), and reports counters. Called by workers/main.ts (the
 * bundle) and by `flotilla worker`; neither this module nor anything below it reads process.env.
 */
import { type EndpointConfig, s3Client, sqsClient } from '../../core/aws.js';
import { describeError } from '../../core/errors.js';
import type { BucketLayout } from '../../core/layout.js';
import { deadLetterQueueOf, parseRedrivePolicy, type ScaleInGuard, SqsQueue } from '../../core/ports.js';
import { workerStore } from '../../core/transport/s3-lean.js';
import { workerQueue } from '../../core/transport/sqs-http.js';
import type { HandlerRegistry } from '../handlers/registry.js';
import { Worker, type WorkerOptions } from './consumer.js';
import { workerLayoutStore } from './layout-store.js';
import type { Logger } from './logger.js';

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
  /** Install SIGTERM/SIGINT handlers. @default true */
  readonly handleSignals?: boolean;
}

/** Runs until a signal drains it. Resolves with the process exit code. */
export async function runWorkerProcess(config: WorkerProcessConfig): Promise<number> {
  const { log } = config;
  const sqs = sqsClient(config.endpoint);
  const s3 = s3Client(config.endpoint);
  // Receives and deletes, the calls made per message, skip the SDK's middleware (sqs-http.ts).
  const queue = await workerQueue(sqs, config.queueUrl);
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
  // The result checks and writes, two calls per job, skip the SDK's middleware too (s3-lean.ts).
  // Held to the bucket layout: a key the role would not be granted is refused here, as on AWS.
  const store = workerLayoutStore(await workerStore(s3, config.bucket), config.handlers, config.layout);
  try {
    // A missing or unreadable bucket would fail every job, one retry at a time: say so now, once.
    for await (const _ of store.list('results/')) break;
  } catch (err) {
    log.error('cannot read the data bucket', {
      bucket: config.bucket,
      error: describeError(err, { endpoint: config.endpoint.endpoint, resource: `bucket ${config.bucket}` }),
    });
    return 1;
  }
  const worker = new Worker({
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
  if (config.handleSignals !== false) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  const stats = setInterval(
    () => log.info('worker stats', { ...worker.counters, running: worker.inFlight }),
    config.statsIntervalMs ?? 30_000,
  );
  stats.unref();
  try {
    await worker.start();
  } finally {
    clearInterval(stats);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    sqs.destroy();
    s3.destroy();
  }
  return 0;
}
