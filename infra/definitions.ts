/**
 * Queue and bucket definitions as plain data: the one source of truth read by the CDK
 * constructs, by local provisioning (`flotilla local`, the demo), by restore and by tests.
 * Change a default here and every one of them changes with it.
 *
 * Nothing in this module imports CDK, so scripts can read it without loading aws-cdk-lib.
 */

/** What a job queue and its dead-letter queue look like, whatever creates them. */
export interface QueueDefinition {
  /** How long a received message stays hidden before another worker may receive it. */
  readonly visibilityTimeoutSeconds: number;
  /** How long an unconsumed job is kept. */
  readonly retentionSeconds: number;
  /** Receives before SQS moves a message to the DLQ. */
  readonly maxReceiveCount: number;
  /** How long the DLQ keeps a message (the SQS maximum, so failures are not lost quietly). */
  readonly dlqRetentionSeconds: number;
  /** Default long-poll wait set on the queue itself. */
  readonly receiveWaitTimeSeconds: number;
  /** Largest message body SQS accepts; the submitter switches to a claim check well below it. */
  readonly maximumMessageSizeBytes: number;
}

/** What the data bucket looks like, whatever creates it. */
export interface BucketDefinition {
  readonly versioned: boolean;
  /** Days after which results, and the per-job bookkeeping that expires with them (core/layout.ts `expires`), expire. 0 keeps them forever. */
  readonly resultsExpireDays: number;
  /** Days after which non-current object versions expire. */
  readonly noncurrentVersionExpireDays: number;
  /** Days after which incomplete multipart uploads are aborted. */
  readonly abortIncompleteMultipartUploadDays: number;
}

/**
 * A recurring job declared with the stack: on AWS an EventBridge Scheduler cron schedule sends
 * its envelope to the queue; elsewhere `flotilla schedule add` writes the same fields to the
 * bucket for `flotilla scheduler`. See docs/scheduling.md.
 */
export interface ScheduleDefinition {
  /** 1-63 of a-z, 0-9 and '-'; the jobs' batch is `sched-NAME`. */
  readonly name: string;
  /** Five fields: minute hour day-of-month month day-of-week (not both day fields). */
  readonly cron: string;
  /** IANA time zone the pattern is read in. @default 'UTC' */
  readonly timezone?: string;
  readonly type: string;
  /** @default null */
  readonly payload?: unknown;
  /** The job queue the jobs go to. @default 'default' */
  readonly queue?: string;
}

/**
 * The recurring jobs every stack built from these definitions declares (none by default): add
 * yours here, or pass `schedules` on a deployment definition to override them.
 */
export const DEFAULT_SCHEDULES: readonly ScheduleDefinition[] = Object.freeze([]);

export interface DeploymentDefinition {
  readonly queue: QueueDefinition;
  readonly bucket: BucketDefinition;
  /** Recurring jobs the stack creates EventBridge schedules for. @default DEFAULT_SCHEDULES */
  readonly schedules?: readonly ScheduleDefinition[];
}

export const DEFAULT_QUEUE: QueueDefinition = Object.freeze({
  visibilityTimeoutSeconds: 60,
  retentionSeconds: 4 * 24 * 3600,
  maxReceiveCount: 5,
  dlqRetentionSeconds: 14 * 24 * 3600,
  receiveWaitTimeSeconds: 20,
  maximumMessageSizeBytes: 256 * 1024,
});

export const DEFAULT_BUCKET: BucketDefinition = Object.freeze({
  versioned: true,
  resultsExpireDays: 30,
  noncurrentVersionExpireDays: 30,
  abortIncompleteMultipartUploadDays: 7,
});

export const DEFAULT_DEPLOYMENT: DeploymentDefinition = Object.freeze({
  queue: DEFAULT_QUEUE,
  bucket: DEFAULT_BUCKET,
});

/**
 * The data bucket's layout (prefixes, and who reads, writes, lists and deletes under each) is
 * declared in core/layout.ts, where the worker runtime can read it too; the stacks' grants
 * derive from it.
 */
export { type BucketLayout, DATA_LAYOUT, PREFIXES } from '../core/layout.js';

/** CloudFormation output keys that the CLI reads for `--stack NAME`. */
export const STACK_OUTPUTS = Object.freeze({
  queueUrl: 'JobQueueUrl',
  dlqUrl: 'DeadLetterQueueUrl',
  bucket: 'DataBucketName',
  dashboard: 'DashboardUrl',
});

/** The output of a stack built with `changeNotifications`: the bucket's object-event queue. */
export const CHANGES_QUEUE_OUTPUT = 'ChangesQueueUrl';

/** Resource names for a deployment called `name` (used where no CloudFormation names them). */
export function resourceNames(name: string): { queue: string; dlq: string; bucket: string } {
  if (!/^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$/.test(name)) {
    throw new Error(
      `deployment name '${name}' must be 3-42 characters of lowercase letters, digits and '-', not starting or ending with '-'`,
    );
  }
  return { queue: `${name}-jobs`, dlq: `${name}-jobs-dlq`, bucket: `${name}-data` };
}

/** Merge overrides over the defaults and check the result; throws one error listing every problem. */
export function resolveDeployment(overrides: {
  queue?: Partial<QueueDefinition>;
  bucket?: Partial<BucketDefinition>;
}): DeploymentDefinition {
  const queue = { ...DEFAULT_QUEUE, ...overrides.queue };
  const bucket = { ...DEFAULT_BUCKET, ...overrides.bucket };
  const problems = [...validateQueue(queue), ...validateBucket(bucket)];
  if (problems.length > 0) throw new Error(`invalid deployment definition: ${problems.join('; ')}`);
  return { queue, bucket };
}

export function validateQueue(q: QueueDefinition): string[] {
  const problems: string[] = [];
  const range = (name: string, v: number, lo: number, hi: number) => {
    if (!Number.isInteger(v) || v < lo || v > hi)
      problems.push(`${name} must be a whole number from ${lo} to ${hi}, got ${v}`);
  };
  range('visibilityTimeoutSeconds', q.visibilityTimeoutSeconds, 0, 43_200);
  range('retentionSeconds', q.retentionSeconds, 60, 1_209_600);
  range('dlqRetentionSeconds', q.dlqRetentionSeconds, 60, 1_209_600);
  range('maxReceiveCount', q.maxReceiveCount, 1, 1000);
  range('receiveWaitTimeSeconds', q.receiveWaitTimeSeconds, 0, 20);
  range('maximumMessageSizeBytes', q.maximumMessageSizeBytes, 1024, 1_048_576);
  if (q.dlqRetentionSeconds < q.retentionSeconds) {
    problems.push(
      'dlqRetentionSeconds must be at least retentionSeconds, or messages expire before they reach the DLQ',
    );
  }
  return problems;
}

export function validateBucket(b: BucketDefinition): string[] {
  const problems: string[] = [];
  for (const [name, v] of Object.entries({
    resultsExpireDays: b.resultsExpireDays,
    noncurrentVersionExpireDays: b.noncurrentVersionExpireDays,
    abortIncompleteMultipartUploadDays: b.abortIncompleteMultipartUploadDays,
  })) {
    if (!Number.isInteger(v) || v < 0)
      problems.push(`${name} must be a whole number of days (0 or more), got ${v}`);
  }
  return problems;
}

/** The SQS API attributes of the DLQ, as CreateQueue / SetQueueAttributes take them. */
export function dlqAttributes(q: QueueDefinition): Record<string, string> {
  return {
    MessageRetentionPeriod: String(q.dlqRetentionSeconds),
    MaximumMessageSize: String(q.maximumMessageSizeBytes),
    SqsManagedSseEnabled: 'true',
  };
}

/** The SQS API attributes of the job queue, pointing its redrive at `dlqArn`. */
export function queueAttributes(q: QueueDefinition, dlqArn: string): Record<string, string> {
  return {
    VisibilityTimeout: String(q.visibilityTimeoutSeconds),
    MessageRetentionPeriod: String(q.retentionSeconds),
    ReceiveMessageWaitTimeSeconds: String(q.receiveWaitTimeSeconds),
    MaximumMessageSize: String(q.maximumMessageSizeBytes),
    SqsManagedSseEnabled: 'true',
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: q.maxReceiveCount }),
  };
}
