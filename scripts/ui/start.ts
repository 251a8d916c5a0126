/** Start a dashboard for one deployment: the `ui` command, `local --serve` and `mirror --to local` call this. */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { S3Store } from '../../core/adapters/s3-store.js';
import { findDeadLetterQueue, SqsQueue } from '../../core/adapters/sqs-queue.js';
import type { QueuePort } from '../../core/ports/queue.js';
import { Dashboard } from './dashboard.js';
import { type DashboardServer, startDashboardServer } from './server.js';

export interface StartDashboardOptions {
  readonly sqs: SQSClient;
  readonly s3: S3Client;
  readonly queueUrl: string;
  readonly bucket: string;
  /** @default - the job queue's redrive target */
  readonly dlqUrl?: string;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
}

export async function startDashboard(opts: StartDashboardOptions): Promise<DashboardServer> {
  const queue = new SqsQueue(opts.sqs, opts.queueUrl);
  const dlq: QueuePort | undefined = opts.dlqUrl
    ? new SqsQueue(opts.sqs, opts.dlqUrl)
    : await findDeadLetterQueue(opts.sqs, queue);
  const dashboard = new Dashboard({
    queue,
    ...(dlq ? { dlq } : {}),
    store: new S3Store(opts.s3, opts.bucket),
  });
  return startDashboardServer({
    dashboard,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.host ? { host: opts.host } : {}),
  });
}
