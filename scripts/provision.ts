/**
 * Create a deployment's queues and bucket straight through the SQS and S3 APIs, from the same
 * definitions the CDK stack uses. For endpoints without CloudFormation (fauxqs, MinIO,
 * ElasticMQ) and for the local demo. Idempotent: existing resources are brought to the
 * definition's attributes.
 */
import {
  CreateBucketCommand,
  GetBucketVersioningCommand,
  PutBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { NamedQueue } from '../core/queue-list.js';
import {
  DEFAULT_DEPLOYMENT,
  DEFAULT_QUEUE_NAME,
  type DeploymentDefinition,
  dlqAttributes,
  jobQueues,
  queueAttributes,
  resourceNames,
} from '../infra/definitions.js';

export interface Provisioned {
  /** The 'default' job queue. */
  readonly queueUrl: string;
  readonly dlqUrl: string;
  /** Every job queue with its DLQ, highest priority first (FLOTILLA_QUEUES). */
  readonly queues: readonly NamedQueue[];
  readonly bucket: string;
  /** False where the endpoint does not support bucket versioning (fauxqs); recorded, not fatal. */
  readonly versioning: boolean;
}

export async function ensureQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<string> {
  let url: string | undefined;
  try {
    url = (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl;
  } catch (err) {
    // A queue that exists with other attributes: CreateQueue refuses; set them instead.
    // SQS answers QueueNameExists (QueueAlreadyExists in the JSON protocol; some emulators prefix
    // the query-protocol code, AWS.SimpleQueueService.QueueNameExists).
    if (!/QueueNameExists|QueueAlreadyExists/.test((err as Error).name)) throw err;
    url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
    if (url) await setSupportedAttributes(sqs, url, attributes);
  }
  if (!url) throw new Error(`CreateQueue returned no URL for ${name}`);
  return url;
}

/**
 * SetQueueAttributes, leaving out attributes the endpoint says it does not know (fauxqs has no
 * SqsManagedSseEnabled on this call, for one): encryption is AWS's to give, the rest must match.
 */
async function setSupportedAttributes(
  sqs: SQSClient,
  url: string,
  attributes: Record<string, string>,
): Promise<void> {
  const attrs = { ...attributes };
  for (;;) {
    try {
      await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: attrs }));
      return;
    } catch (err) {
      const unknown = /InvalidAttributeName/.test((err as Error).name)
        ? /attribute:?\s*(\w+)/i.exec((err as Error).message)?.[1]
        : undefined;
      if (!unknown || !(unknown in attrs) || unknown === 'RedrivePolicy' || unknown === 'VisibilityTimeout')
        throw err;
      delete attrs[unknown];
    }
  }
}

export async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  const arn = out.Attributes?.QueueArn;
  if (!arn) throw new Error(`no ARN for queue ${url}`);
  return arn;
}

export async function ensureBucket(s3: S3Client, bucket: string, versioned: boolean): Promise<boolean> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as Error).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  }
  if (!versioned) return false;
  try {
    await s3.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    // Some endpoints accept the call and keep no versions: believe what they report back.
    const got = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
    return got.Status === 'Enabled';
  } catch {
    return false;
  }
}

/** Create (or update) every job queue with its DLQ, and the data bucket, for deployment `name`. */
export async function provisionDeployment(
  clients: { sqs: SQSClient; s3: S3Client },
  name: string,
  definition: DeploymentDefinition = DEFAULT_DEPLOYMENT,
): Promise<Provisioned> {
  const defs = jobQueues(definition);
  const names = resourceNames(name, defs);
  const queues: NamedQueue[] = [];
  for (const q of defs) {
    const n = names.queues[q.name]!;
    const dlqUrl = await ensureQueue(clients.sqs, n.dlq, dlqAttributes(q.definition));
    const dlqArn = await queueArn(clients.sqs, dlqUrl);
    const url = await ensureQueue(clients.sqs, n.queue, queueAttributes(q.definition, dlqArn));
    queues.push({ name: q.name, url, dlqUrl, weight: q.weight });
  }
  const versioning = await ensureBucket(clients.s3, names.bucket, definition.bucket.versioned);
  const main = queues.find((q) => q.name === DEFAULT_QUEUE_NAME)!;
  return { queueUrl: main.url, dlqUrl: main.dlqUrl!, queues, bucket: names.bucket, versioning };
}
