/**
 * Where a command points: endpoint configuration plus the job queue, DLQ and data bucket,
 * from explicit flags, FLOTILLA_* environment variables, or a deployed stack's outputs.
 */
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { S3Store } from '../core/adapters/s3-store.js';
import { findDeadLetterQueue, SqsQueue } from '../core/adapters/sqs-queue.js';
import { clientConfig, type EndpointConfig, endpointFromEnv, s3Client, sqsClient } from '../core/aws.js';
import { UsageError } from '../core/errors.js';
import { CHANGES_QUEUE_OUTPUT, STACK_OUTPUTS } from '../infra/definitions.js';

/** The flags that say where a command connects; each command takes the ones it uses. */
export interface CommonFlags {
  endpoint?: string;
  region?: string;
  profile?: string;
  'queue-url'?: string;
  'dlq-url'?: string;
  bucket?: string;
  stack?: string;
  debug?: boolean;
}

/** Each flag's parseArgs spec and its line in --help. */
export const WHERE_FLAGS = {
  endpoint: {
    type: 'string',
    help: '--endpoint URL      a non-AWS endpoint (LocalStack, moto, fauxqs, MinIO...); or AWS_ENDPOINT_URL',
  },
  region: { type: 'string', help: '--region NAME       or AWS_REGION' },
  profile: { type: 'string', help: '--profile NAME      or AWS_PROFILE' },
  stack: {
    type: 'string',
    help: "--stack NAME        read queue, DLQ and bucket from a deployed stack's outputs",
  },
  'queue-url': { type: 'string', help: '--queue-url URL     or FLOTILLA_QUEUE_URL' },
  'dlq-url': {
    type: 'string',
    help: "--dlq-url URL       or FLOTILLA_DLQ_URL (default: from the queue's redrive policy)",
  },
  bucket: { type: 'string', help: '--bucket NAME       or FLOTILLA_BUCKET' },
} as const;

export type WhereFlag = keyof typeof WHERE_FLAGS;

/** An endpoint and credentials, no resources (local, restore). */
export const CONNECTION: readonly WhereFlag[] = ['endpoint', 'region', 'profile'];
/** A deployment: where it is, and its queue, DLQ and bucket (submit, export, mirror...). */
export const DEPLOYMENT: readonly WhereFlag[] = [...CONNECTION, 'stack', 'queue-url', 'dlq-url', 'bucket'];

/** Flags every command takes, whatever it connects to. */
export const ALWAYS_OPTIONS = {
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;
export const ALWAYS_HELP = `  --debug             print stack traces
  -h, --help          this help`;

export interface Target {
  readonly endpoint: EndpointConfig;
  readonly sqs: SQSClient;
  readonly s3: S3Client;
  readonly queueUrl?: string;
  readonly dlqUrl?: string;
  readonly bucket?: string;
  readonly stack?: string;
  /** The bucket's object-event queue (the stack output ChangesQueueUrl, when it has one). */
  readonly changesQueueUrl?: string;
}

/** Loaded on first use: only --stack needs CloudFormation, and its client costs every command start-up. */
export async function cloudFormation(): Promise<typeof import('@aws-sdk/client-cloudformation')> {
  const mod = await import('@aws-sdk/client-cloudformation');
  // A CommonJS package: Node's loader lists its names, the CLI bundle only its `default`.
  return (mod as unknown as { default?: typeof mod }).default ?? mod;
}

export async function cloudFormationClient(cfg: EndpointConfig): Promise<CloudFormationClient> {
  const { CloudFormationClient } = await cloudFormation();
  return new CloudFormationClient(clientConfig(cfg));
}

/** The queue, DLQ and bucket a deployed stack exports (see STACK_OUTPUTS). */
export async function stackOutputs(
  cfg: EndpointConfig,
  stackName: string,
): Promise<{
  queueUrl?: string;
  dlqUrl?: string;
  bucket?: string;
  dashboard?: string;
  changesQueueUrl?: string;
}> {
  const cfn = await cloudFormationClient(cfg);
  const { DescribeStacksCommand } = await cloudFormation();
  try {
    const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = out.Stacks?.[0];
    if (!stack) throw new UsageError(`stack '${stackName}' was not found`);
    const get = (key: string) => stack.Outputs?.find((o) => o.OutputKey === key)?.OutputValue;
    return {
      queueUrl: get(STACK_OUTPUTS.queueUrl),
      dlqUrl: get(STACK_OUTPUTS.dlqUrl),
      bucket: get(STACK_OUTPUTS.bucket),
      dashboard: get(STACK_OUTPUTS.dashboard),
      changesQueueUrl: get(CHANGES_QUEUE_OUTPUT),
    };
  } catch (err) {
    if ((err as Error).name === 'ValidationError') {
      throw new UsageError(
        `stack '${stackName}' does not exist in this account and region; deploy it or check --region/--profile`,
      );
    }
    throw err;
  } finally {
    cfn.destroy();
  }
}

/** Resolve flags and environment into clients and resource names. Only entry points call this. */
export async function resolveTarget(flags: CommonFlags, env: NodeJS.ProcessEnv): Promise<Target> {
  let endpoint: EndpointConfig;
  try {
    endpoint = endpointFromEnv(env, {
      ...(flags.endpoint ? { endpoint: flags.endpoint } : {}),
      ...(flags.region ? { region: flags.region } : {}),
      ...(flags.profile ? { profile: flags.profile } : {}),
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const stack = flags.stack ?? env.FLOTILLA_STACK;
  const fromStack = stack ? await stackOutputs(endpoint, stack) : {};
  const queueUrl = flags['queue-url'] ?? env.FLOTILLA_QUEUE_URL ?? fromStack.queueUrl;
  const dlqUrl = flags['dlq-url'] ?? env.FLOTILLA_DLQ_URL ?? fromStack.dlqUrl;
  const bucket = flags.bucket ?? env.FLOTILLA_BUCKET ?? fromStack.bucket;
  return {
    endpoint,
    sqs: sqsClient(endpoint),
    s3: s3Client(endpoint),
    ...(queueUrl ? { queueUrl } : {}),
    ...(dlqUrl ? { dlqUrl } : {}),
    ...(bucket ? { bucket } : {}),
    ...(stack ? { stack } : {}),
    ...(fromStack.changesQueueUrl ? { changesQueueUrl: fromStack.changesQueueUrl } : {}),
  };
}

export function requireQueue(t: Target): string {
  if (!t.queueUrl)
    throw new UsageError(
      'no job queue given: pass --queue-url URL or --stack NAME (or set FLOTILLA_QUEUE_URL)',
    );
  return t.queueUrl;
}

export function requireBucket(t: Target): string {
  if (!t.bucket)
    throw new UsageError('no data bucket given: pass --bucket NAME or --stack NAME (or set FLOTILLA_BUCKET)');
  return t.bucket;
}

export function openQueue(t: Target): SqsQueue {
  return new SqsQueue(t.sqs, requireQueue(t));
}

export function openStore(t: Target): S3Store {
  return new S3Store(t.s3, requireBucket(t));
}

/** The DLQ: --dlq-url, the stack's output, or the job queue's redrive target. */
export async function openDlq(t: Target): Promise<SqsQueue> {
  if (t.dlqUrl) return new SqsQueue(t.sqs, t.dlqUrl);
  const found = await findDeadLetterQueue(t.sqs, openQueue(t));
  if (!found) throw new UsageError(`queue ${t.queueUrl} has no redrive policy; pass --dlq-url`);
  return found;
}

export function closeTarget(t: Target): void {
  t.sqs.destroy();
  t.s3.destroy();
}
