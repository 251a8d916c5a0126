/**
 * The definitions half of a deployment: read queues, buckets and stack templates from a live
 * source into a Description, and bring a target to that Description through the SQS and S3 APIs
 * (scripts/provision.ts), which works on endpoints without CloudFormation.
 */
import {
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketTaggingCommand,
  GetBucketVersioningCommand,
  HeadBucketCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { queueNameOf } from '../../core/active-side.js';
import { S3Store } from '../../core/adapters/s3-store.js';
import { findDeadLetterQueue, SqsQueue } from '../../core/adapters/sqs-queue.js';
import type { EndpointConfig } from '../../core/aws.js';
import { classifyError, errorText, UsageError } from '../../core/errors.js';
import { parseRedrivePolicy } from '../../core/ports/queue.js';
import type { NamedQueue } from '../../core/queue-list.js';
import { tagSetOf, xmlField } from '../../core/transport/s3-xml.js';
import { ensureBucket, ensureQueue, queueArn } from '../provision.js';
import { cloudFormation, cloudFormationClient, queuesBeside } from '../target.js';
import type { BucketDescription, QueueDescription } from './folder.js';
import { checkBucketName } from './keys.js';
import { leanReader } from './object-reader.js';
import { type Listed, sortByKey } from './plan.js';
import { collect } from './pool.js';

/** A live deployment to read from or write to. */
export interface LiveSide {
  readonly endpoint: EndpointConfig;
  readonly sqs: SQSClient;
  readonly s3: S3Client;
}

export const where = (side: LiveSide) =>
  side.endpoint.endpoint ?? `AWS${side.endpoint.region ? ` ${side.endpoint.region}` : ''}`;

export { queueNameOf };

/**
 * Every job queue and its DLQ (given, or found from the redrive policy), every attribute of
 * each: the queues named in `queues` (a stack's outputs, FLOTILLA_QUEUES), else the default
 * queue `queueUrl` and the job queues found beside it by name.
 */
export async function describeQueues(
  side: LiveSide,
  queueUrl: string | undefined,
  dlqUrl: string | undefined,
  queues?: readonly NamedQueue[],
): Promise<QueueDescription[]> {
  const out: QueueDescription[] = [];
  const read = async (url: string, role: QueueDescription['role'], jobQueue: string) => {
    try {
      const res = await side.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
      );
      out.push({ name: queueNameOf(url), url, role, jobQueue, attributes: res.Attributes ?? {} });
    } catch (err) {
      if (classifyError(err) === 'missing') {
        throw new UsageError(`queue ${url} does not exist at ${where(side)}; check --queue-url or --stack`);
      }
      throw err;
    }
  };
  const found = queues ?? (queueUrl ? await queuesBeside(side.sqs, queueUrl, dlqUrl) : []);
  // The default queue first: readers from before there were several take the first 'jobs' queue.
  const all = [...found].sort((a, b) => Number(b.name === 'default') - Number(a.name === 'default'));
  for (const q of all) {
    await read(q.url, 'jobs', q.name);
    const dlq = q.dlqUrl ?? (await findDeadLetterQueue(side.sqs, new SqsQueue(side.sqs, q.url)))?.url;
    if (dlq && dlq !== q.url) await read(dlq, 'dlq', q.name);
  }
  if (all.length === 0 && dlqUrl) await read(dlqUrl, 'dlq', 'default');
  return out;
}

const SETTING_ABSENT = new Set([
  'NoSuchLifecycleConfiguration',
  'ServerSideEncryptionConfigurationNotFoundError',
  'NoSuchTagSet',
  'NoSuchTagSetError',
]);

/** A bucket's settings; a setting the endpoint cannot report is listed in `unavailable`. */
export async function describeBucket(
  side: LiveSide,
  bucket: string,
): Promise<Omit<BucketDescription, 'objects' | 'bytes'>> {
  checkBucketName(bucket);
  await requireBucketExists(side, bucket);
  const unavailable: string[] = [];
  const get = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      if (SETTING_ABSENT.has((err as Error).name)) return undefined;
      if (classifyError(err) === 'connection' || classifyError(err) === 'credentials') throw err;
      unavailable.push(name);
      return undefined;
    }
  };
  // The lean reader reads each setting's XML and looks for what the setting is made of; an
  // endpoint that answers with another document (fauxqs sends the bucket's listing, hundreds of
  // KB) has no such setting, and the SDK is not made to parse it. Versioning and tags are read
  // from the XML directly; lifecycle and encryption rules (deep structures, kept as the SDK
  // shapes them) through the SDK, when there are rules.
  const lean = await leanReader(side.s3, bucket);
  const xmlOf = async (name: string): Promise<string | undefined> =>
    lean ? lean.subresource(name) : undefined;
  // Four independent reads, at once: an unchanged re-export spends most of its time waiting.
  let settings: [string | undefined, unknown[] | undefined, unknown, Record<string, string> | undefined];
  try {
    settings = await Promise.all([
      get('versioning', async () => {
        const xml = await xmlOf('versioning');
        if (xml !== undefined) return xmlField(xml, 'Status');
        return (await side.s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status;
      }),
      get('lifecycle', async () => {
        const xml = await xmlOf('lifecycle');
        if (xml !== undefined && !xml.includes('<Rule>')) return undefined;
        const r = await side.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
        return r.Rules && r.Rules.length > 0 ? (r.Rules as unknown[]) : undefined;
      }),
      get('encryption', async () => {
        const xml = await xmlOf('encryption');
        if (xml !== undefined && !xml.includes('<Rule>')) return undefined;
        const r = await side.s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
        const rules = r.ServerSideEncryptionConfiguration?.Rules;
        return rules && rules.length > 0 ? { Rules: rules } : undefined;
      }),
      get('tags', async () => {
        const xml = await xmlOf('tagging');
        const set =
          xml !== undefined
            ? tagSetOf(xml)
            : ((await side.s3.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet ?? []);
        return set.length > 0 ? Object.fromEntries(set.map((t) => [t.Key ?? '', t.Value ?? ''])) : undefined;
      }),
    ]);
  } finally {
    lean?.close();
  }
  const [versioning, lifecycleRules, encryption, tags] = settings;
  unavailable.sort();
  return {
    name: bucket,
    ...(versioning ? { versioning } : {}),
    ...(lifecycleRules ? { lifecycleRules } : {}),
    ...(encryption ? { encryption } : {}),
    ...(tags ? { tags } : {}),
    ...(unavailable.length > 0 ? { unavailable } : {}),
  };
}

export async function requireBucketExists(side: LiveSide, bucket: string): Promise<void> {
  try {
    await side.s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || classifyError(err) === 'missing' || (err as Error).name === 'NotFound') {
      throw new UsageError(`bucket '${bucket}' does not exist at ${where(side)}; check --bucket or --stack`);
    }
    if (status === 403) {
      throw new UsageError(
        `access to bucket '${bucket}' at ${where(side)} was denied; check the credentials`,
      );
    }
    throw err;
  }
}

/** A target bucket's objects, sorted by key; on a dry run, a bucket not made yet holds none. */
export async function targetListing(side: LiveSide, name: string, dryRun: boolean): Promise<Listed[]> {
  try {
    if (dryRun) await requireBucketExists(side, name);
    return sortByKey(await collect(new S3Store(side.s3, name).list()));
  } catch (err) {
    if (dryRun && err instanceof UsageError) return [];
    throw err;
  }
}

/** The stack's template as deployed (JSON parsed; YAML kept as text). */
export async function stackTemplate(side: LiveSide, stack: string): Promise<unknown> {
  const cfn = await cloudFormationClient(side.endpoint);
  const { GetTemplateCommand } = await cloudFormation();
  try {
    const out = await cfn.send(new GetTemplateCommand({ StackName: stack, TemplateStage: 'Original' }));
    const body = out.TemplateBody ?? '';
    try {
      return JSON.parse(body);
    } catch {
      return body;
    }
  } finally {
    cfn.destroy();
  }
}

/** Account and region from a queue ARN (no STS call: emulators answer it differently). */
export function accountOf(queues: readonly QueueDescription[]): { account?: string; region?: string } {
  const arn = queues.find((q) => q.attributes.QueueArn)?.attributes.QueueArn;
  if (!arn) return {};
  const parts = arn.split(':');
  return { ...(parts[3] ? { region: parts[3] } : {}), ...(parts[4] ? { account: parts[4] } : {}) };
}

/** Attributes a target can take as they are; Policy and RedriveAllowPolicy name the source account. */
const PORTABLE_ATTRIBUTES = [
  'DelaySeconds',
  'MaximumMessageSize',
  'MessageRetentionPeriod',
  'ReceiveMessageWaitTimeSeconds',
  'VisibilityTimeout',
  'SqsManagedSseEnabled',
  'KmsMasterKeyId',
  'KmsDataKeyReusePeriodSeconds',
  'FifoQueue',
  'ContentBasedDeduplication',
  'DeduplicationScope',
  'FifoThroughputLimit',
];

export interface AppliedQueues {
  /** Source queue name → URL at the target. */
  readonly urls: Map<string, string>;
  readonly warnings: string[];
}

/**
 * Create each queue at the target with the source's attributes, DLQs first, each redrive policy
 * pointed at the target's copy of its DLQ.
 */
export async function applyQueues(
  side: LiveSide,
  queues: readonly QueueDescription[],
): Promise<AppliedQueues> {
  const warnings: string[] = [];
  const urls = new Map<string, string>();
  const dlqNameOf = (q: QueueDescription) =>
    parseRedrivePolicy(q.attributes.RedrivePolicy)?.deadLetterTargetArn.split(':')[5];
  const ordered = [...queues].sort((a, b) => Number(Boolean(dlqNameOf(a))) - Number(Boolean(dlqNameOf(b))));
  for (const q of ordered) {
    const attrs: Record<string, string> = {};
    for (const k of PORTABLE_ATTRIBUTES) if (q.attributes[k] !== undefined) attrs[k] = q.attributes[k];
    if (attrs.KmsMasterKeyId && !attrs.KmsMasterKeyId.startsWith('alias/aws/')) {
      warnings.push(
        `queue ${q.name}: customer KMS key ${attrs.KmsMasterKeyId} not carried over; SSE-SQS used`,
      );
      delete attrs.KmsMasterKeyId;
      delete attrs.KmsDataKeyReusePeriodSeconds;
      attrs.SqsManagedSseEnabled = 'true';
    }
    const dlqName = dlqNameOf(q);
    if (dlqName) {
      const dlqUrl = urls.get(dlqName);
      if (dlqUrl) {
        const policy = JSON.parse(q.attributes.RedrivePolicy ?? '{}') as Record<string, unknown>;
        attrs.RedrivePolicy = JSON.stringify({
          ...policy,
          deadLetterTargetArn: await queueArn(side.sqs, dlqUrl),
        });
      } else {
        warnings.push(`queue ${q.name}: its DLQ ${dlqName} is not in the export; redrive policy left off`);
      }
    }
    if (q.attributes.Policy)
      warnings.push(`queue ${q.name}: access policy names the source account; not copied`);
    urls.set(q.name, await ensureQueue(side.sqs, q.name, attrs));
  }
  return { urls, warnings };
}

/** Create the bucket and apply the settings the target accepts; returns a warning per refusal. */
export async function applyBucket(
  side: LiveSide,
  b: Omit<BucketDescription, 'objects' | 'bytes'>,
  name = b.name,
) {
  checkBucketName(name);
  const warnings: string[] = [];
  const versioned = b.versioning === 'Enabled';
  const ok = await ensureBucket(side.s3, name, versioned);
  if (versioned && !ok) warnings.push(`bucket ${name}: the target does not support versioning`);
  const tryPut = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      if (classifyError(err) === 'connection' || classifyError(err) === 'credentials') throw err;
      warnings.push(`bucket ${name}: ${what} not applied (${errorText(err)})`);
    }
  };
  if (b.lifecycleRules) {
    await tryPut('lifecycle', () =>
      side.s3.send(
        new PutBucketLifecycleConfigurationCommand({
          Bucket: name,
          LifecycleConfiguration: { Rules: b.lifecycleRules as never },
        }),
      ),
    );
  }
  if (b.encryption) {
    await tryPut('encryption', () =>
      side.s3.send(
        new PutBucketEncryptionCommand({
          Bucket: name,
          ServerSideEncryptionConfiguration: b.encryption as never,
        }),
      ),
    );
  }
  if (b.tags) {
    const tags = b.tags;
    await tryPut('tags', () =>
      side.s3.send(
        new PutBucketTaggingCommand({
          Bucket: name,
          Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
        }),
      ),
    );
  }
  return warnings;
}
