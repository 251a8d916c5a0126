/** Start a dashboard for one deployment: the `ui` command, `local --serve` and `mirror --to local` call this. */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { S3Store } from '../../core/adapters/s3-store.js';
import { findDeadLetterQueue, SqsQueue } from '../../core/adapters/sqs-queue.js';
import type { NamedQueue } from '../../core/queue-list.js';
import { queuesBeside } from '../target.js';
import { Dashboard, type DashboardQueue } from './dashboard.js';
import { type DashboardServer, startDashboardServer } from './server.js';

export interface StartDashboardOptions {
  readonly sqs: SQSClient;
  readonly s3: S3Client;
  /** The default job queue. */
  readonly queueUrl: string;
  readonly bucket: string;
  /** The default queue's DLQ. @default - the job queue's redrive target */
  readonly dlqUrl?: string;
  /**
   * Every job queue of the deployment, highest priority first (scripts/target.ts queuesOf).
   * @default - `queueUrl` and the job queues found beside it by name
   */
  readonly queues?: readonly NamedQueue[];
  /** @default 0 (a free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
}

export async function startDashboard(opts: StartDashboardOptions): Promise<DashboardServer> {
  const named = opts.queues ?? (await queuesBeside(opts.sqs, opts.queueUrl, opts.dlqUrl));
  const queues = await Promise.all(
    named.map(async (q): Promise<DashboardQueue> => {
      const queue = new SqsQueue(opts.sqs, q.url);
      const dlqUrl = q.dlqUrl ?? (q.url === opts.queueUrl ? opts.dlqUrl : undefined);
      const dlq = dlqUrl ? new SqsQueue(opts.sqs, dlqUrl) : await findDeadLetterQueue(opts.sqs, queue);
      return { name: q.name, queue, ...(dlq ? { dlq } : {}) };
    }),
  );
  const dashboard = new Dashboard({ queues, store: new S3Store(opts.s3, opts.bucket) });
  return startDashboardServer({
    dashboard,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.host ? { host: opts.host } : {}),
  });
}
