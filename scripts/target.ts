/**
 * Where a command points: endpoint configuration plus the job queue, DLQ and data bucket,
 * from explicit flags, FLOTILLA_* environment variables, or a deployed stack's outputs.
 */
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { S3Store } from '../core/adapters/s3-store.js';
import { findDeadLetterQueue, SqsQueue } from '../core/adapters/sqs-queue.js';
import { clientConfig, type EndpointConfig, endpointFromEnv, s3Client, sqsClient } from '../core/aws.js';
import { UsageError } from '../core/errors.js';
import { parseRedrivePolicy } from '../core/ports/queue.js';
import { type NamedQueue, parseQueuesJson } from '../core/queue-list.js';
import {
  CHANGES_QUEUE_OUTPUT,
  DEFAULT_JOB_QUEUES,
  DEFAULT_QUEUE_NAME,
  QUEUE_NAMES_OUTPUT,
  queueOutputKeys,
  STACK_OUTPUTS,
  siblingQueueName,
} from '../infra/definitions.js';

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

/** One of a deployment's job queues, by name. */
export type TargetQueue = NamedQueue;

export interface Target {
  readonly endpoint: EndpointConfig;
  readonly sqs: SQSClient;
  readonly s3: S3Client;
  /** The 'default' job queue. */
  readonly queueUrl?: string;
  /**
   * Every job queue, highest priority first, where a stack's outputs or FLOTILLA_QUEUES name
   * them. @default - found beside `queueUrl` by name on first use (queuesOf)
   */
  readonly queues?: readonly TargetQueue[];
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
  queues?: TargetQueue[];
}> {
  const cfn = await cloudFormationClient(cfg);
  const { DescribeStacksCommand } = await cloudFormation();
  try {
    const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = out.Stacks?.[0];
    if (!stack) throw new UsageError(`stack '${stackName}' was not found`);
    const get = (key: string) => stack.Outputs?.find((o) => o.OutputKey === key)?.OutputValue;
    // A stack from before there were several queues has no JobQueueNames: its one queue is 'default'.
    const queues = (get(QUEUE_NAMES_OUTPUT) ?? '')
      .split(',')
      .filter(Boolean)
      .flatMap((name) => {
        const keys = queueOutputKeys(name);
        const url = get(keys.queueUrl);
        const dlqUrl = get(keys.dlqUrl);
        return url ? [{ name, url, ...(dlqUrl ? { dlqUrl } : {}) }] : [];
      });
    return {
      ...(queues.length > 0 ? { queues } : {}),
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
  let queues: readonly TargetQueue[] | undefined = fromStack.queues;
  if (env.FLOTILLA_QUEUES) {
    try {
      queues = parseQueuesJson(env.FLOTILLA_QUEUES);
    } catch (err) {
      throw new UsageError(`FLOTILLA_QUEUES ${(err as Error).message}`);
    }
  }
  return {
    ...(queues ? { queues } : {}),
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
  const url = t.queueUrl ?? t.queues?.find((q) => q.name === DEFAULT_QUEUE_NAME)?.url;
  if (url) return url;
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

/**
 * Every job queue of the target, highest priority first: as the stack or FLOTILLA_QUEUES name
 * them, or else the default queue and those of DEFAULT_JOB_QUEUES found beside it by name
 * (`X-jobs-urgent` beside `X-jobs`, as `flotilla local` creates them).
 */
export async function queuesOf(t: Target): Promise<TargetQueue[]> {
  if (t.queues) return [...t.queues];
  return queuesBeside(t.sqs, requireQueue(t), t.dlqUrl);
}

/**
 * The default job queue `url` and those of DEFAULT_JOB_QUEUES that exist beside it under the
 * names provisioning gives them (`X-jobs-urgent` beside `X-jobs`), highest priority first.
 */
export async function queuesBeside(sqs: SQSClient, url: string, dlqUrl?: string): Promise<NamedQueue[]> {
  const base = url.slice(0, url.lastIndexOf('/') + 1);
  const defaultName = decodeURIComponent(url.slice(base.length));
  const found: NamedQueue[] = [];
  for (const decl of DEFAULT_JOB_QUEUES) {
    if (decl.name === DEFAULT_QUEUE_NAME) {
      found.push({ name: decl.name, url, ...(dlqUrl ? { dlqUrl } : {}) });
      continue;
    }
    const name = siblingQueueName(defaultName, decl.name);
    if (!name) continue;
    // A queue's URL is its account's path plus its name; asking for its ARN tells whether it
    // exists, with the grant every role that uses the queue has (GetQueueAttributes on it).
    const sibling = `${base}${encodeURIComponent(name)}`;
    try {
      const got = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: sibling, AttributeNames: ['RedrivePolicy'] }),
      );
      // Its DLQ sits beside it too (provisioning makes both): its name is the redrive ARN's last part.
      const dlqName = parseRedrivePolicy(got.Attributes?.RedrivePolicy)?.deadLetterTargetArn.split(':')[5];
      found.push({
        name: decl.name,
        url: sibling,
        ...(dlqName ? { dlqUrl: `${base}${encodeURIComponent(dlqName)}` } : {}),
      });
    } catch (err) {
      if (!/NonExistentQueue|QueueDoesNotExist/.test((err as Error).name)) throw err;
    }
  }
  return found;
}

/** The job queue called `name` ('default' without a lookup); a usage error naming the known ones if there is none. */
export async function queueNamed(t: Target, name: string): Promise<TargetQueue> {
  if (name === DEFAULT_QUEUE_NAME && !t.queues)
    return { name, url: requireQueue(t), ...(t.dlqUrl ? { dlqUrl: t.dlqUrl } : {}) };
  const all = await queuesOf(t);
  const q = all.find((x) => x.name === name);
  if (!q)
    throw new UsageError(
      `no job queue named '${name}' here; this deployment has: ${all.map((x) => x.name).join(', ')}`,
    );
  return q;
}

/** A named queue's DLQ: the one given for it, or its redrive target. */
export async function dlqOf(t: Target, q: TargetQueue): Promise<SqsQueue> {
  if (q.dlqUrl) return new SqsQueue(t.sqs, q.dlqUrl);
  const found = await findDeadLetterQueue(t.sqs, new SqsQueue(t.sqs, q.url));
  if (!found) throw new UsageError(`queue ${q.url} has no redrive policy; pass --dlq-url`);
  return found;
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
