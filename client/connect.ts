/**
 * The client factory: one call from "where is my deployment" to a ready Submitter, so a user's
 * code never builds SDK clients or ports by hand.
 *
 *   const flotilla = connect({ queueUrl, bucket });                       // AWS, the SDK's chain
 *   const local = connect({ endpoint: { endpoint: 'http://127.0.0.1:4566' }, queueUrl, bucket });
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { S3Store } from '../core/adapters/s3-store.js';
import { findDeadLetterQueue, SqsQueue } from '../core/adapters/sqs-queue.js';
import { type EndpointConfig, s3Client, sqsClient } from '../core/aws.js';
import type { ObjectStore } from '../core/ports/object-store.js';
import type { QueuePort } from '../core/ports/queue.js';
import { ActiveSideRouter, followingQueue, followingStore } from './active-side.js';
import { Submitter, type SubmitterOptions } from './submit.js';

export interface ConnectOptions {
  /** The 'default' job queue's URL (the stack output `JobQueueUrl`). */
  readonly queueUrl: string;
  /**
   * The other job queues' URLs by name (outputs `JobQueueUrgentUrl`, ...), for
   * `submit(type, payload, { queue: 'urgent' })`. @default - none: every job goes to `queueUrl`
   */
  readonly queueUrls?: Readonly<Record<string, string>>;
  /** The data bucket's name (the stack output `DataBucketName`). */
  readonly bucket: string;
  /** The dead-letter queue's URL. @default - the job queue's redrive target, looked up on first use */
  readonly dlqUrl?: string;
  /** Where and as whom to connect. @default - AWS, with the SDK's region and credential chain */
  readonly endpoint?: EndpointConfig;
  /** Submitter tuning (claim-check threshold, parallel sends). @default - the Submitter's defaults */
  readonly submitter?: Omit<SubmitterOptions, 'queue' | 'queues' | 'store'>;
  /**
   * Send jobs to whichever side `flotilla failover` made active (client/active-side.ts), reading
   * the record in the bucket at most every 2 s. @default true
   */
  readonly followActiveSide?: boolean;
}

export interface Connection {
  readonly submitter: Submitter;
  readonly queue: QueuePort;
  readonly store: ObjectStore;
  /** The DLQ (for `peekMessages`, `redrive`); undefined when the queue has none. */
  deadLetterQueue(): Promise<QueuePort | undefined>;
  /** Close the SDK clients' sockets. */
  close(): void;
}

export function connect(options: ConnectOptions): Connection {
  const endpoint = options.endpoint ?? {};
  const sqs: SQSClient = sqsClient(endpoint);
  const s3: S3Client = s3Client(endpoint);
  const queue = new SqsQueue(sqs, options.queueUrl);
  const store = new S3Store(s3, options.bucket);
  let dlq: Promise<QueuePort | undefined> | undefined;
  // One router for the deployment: it reads the active-side record for every queue at once.
  const router =
    options.followActiveSide === false
      ? undefined
      : new ActiveSideRouter({ endpoint, sqs, s3, bucket: options.bucket });
  const sendTo = (url: string): QueuePort => (router ? followingQueue(router, url) : new SqsQueue(sqs, url));
  return {
    submitter: new Submitter({
      ...options.submitter,
      queue: router ? followingQueue(router, options.queueUrl) : queue,
      store: router ? followingStore(router) : store,
      ...(options.queueUrls
        ? {
            queues: Object.fromEntries(
              Object.entries(options.queueUrls).map(([name, url]) => [name, sendTo(url)]),
            ),
          }
        : {}),
    }),
    queue,
    store,
    deadLetterQueue() {
      dlq ??= options.dlqUrl
        ? Promise.resolve(new SqsQueue(sqs, options.dlqUrl))
        : findDeadLetterQueue(sqs, queue);
      return dlq;
    },
    close() {
      router?.close();
      sqs.destroy();
      s3.destroy();
    },
  };
}
