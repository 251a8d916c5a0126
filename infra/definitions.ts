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

/**
 * One of a deployment's job queues: its name, where it stands among the others, and its own
 * attributes over the deployment's `queue` settings. Every job queue has a DLQ of its own.
 * See docs/queues.md.
 */
export interface JobQueueDeclaration {
  /** 1-20 of a-z, 0-9 and '-', starting with a letter: what `--queue NAME` takes. */
  readonly name: string;
  /** Higher goes first: in strict-priority mode a free job slot takes from the highest non-empty queue. */
  readonly priority: number;
  /** This queue's share of the job slots in weighted mode, relative to the others'. @default 1 */
  readonly weight?: number;
  /** Attributes of this queue (and its DLQ) that differ from the deployment's `queue`. @default - none */
  readonly attributes?: Partial<QueueDefinition>;
}

/** A job queue with its attributes resolved: what the stacks, provisioning and the CLI read. */
export interface JobQueueDefinition {
  readonly name: string;
  readonly priority: number;
  readonly weight: number;
  readonly definition: QueueDefinition;
}

/** The queue jobs go to when no `--queue` is given: the stack's `JobQueueUrl`, `NAME-jobs` locally. */
export const DEFAULT_QUEUE_NAME = 'default';

/**
 * The job queues every deployment built from these definitions has: `urgent` overtakes
 * `default`, which overtakes `bulk` (strict priority); in weighted mode they share slots 6:3:1.
 */
export const DEFAULT_JOB_QUEUES: readonly JobQueueDeclaration[] = Object.freeze([
  { name: 'urgent', priority: 30, weight: 6 },
  { name: DEFAULT_QUEUE_NAME, priority: 20, weight: 3 },
  { name: 'bulk', priority: 10, weight: 1 },
]);

export interface DeploymentDefinition {
  /** The attributes every job queue starts from. */
  readonly queue: QueueDefinition;
  readonly bucket: BucketDefinition;
  /** The job queues, each with its DLQ; one must be named 'default'. @default DEFAULT_JOB_QUEUES */
  readonly queues?: readonly JobQueueDeclaration[];
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
  queues: DEFAULT_JOB_QUEUES,
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

/** The output keys of a job queue's URL and its DLQ's: STACK_OUTPUTS for 'default', `JobQueueUrgentUrl`... */
export function queueOutputKeys(queueName: string): { queueUrl: string; dlqUrl: string } {
  if (queueName === DEFAULT_QUEUE_NAME)
    return { queueUrl: STACK_OUTPUTS.queueUrl, dlqUrl: STACK_OUTPUTS.dlqUrl };
  const pascal = pascalCase(queueName);
  return { queueUrl: `JobQueue${pascal}Url`, dlqUrl: `DeadLetterQueue${pascal}Url` };
}

/** Output key listing the stack's job queue names, highest priority first, comma-separated. */
export const QUEUE_NAMES_OUTPUT = 'JobQueueNames';

/** `bulk-import` → `BulkImport`: a queue name as part of a construct id or an output key. */
export function pascalCase(name: string): string {
  return name
    .split('-')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

/** SQS names of one job queue and its DLQ. */
export interface QueueNames {
  readonly queue: string;
  readonly dlq: string;
}

/**
 * Resource names for a deployment called `name` (used where no CloudFormation names them):
 * `queue`/`dlq` are the default job queue's (`NAME-jobs`), `queues` every job queue's
 * (`NAME-jobs-urgent`, ...).
 */
export function resourceNames(
  name: string,
  queues: readonly JobQueueDeclaration[] = DEFAULT_JOB_QUEUES,
): QueueNames & { bucket: string; queues: Readonly<Record<string, QueueNames>> } {
  if (!/^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$/.test(name)) {
    throw new Error(
      `deployment name '${name}' must be 3-42 characters of lowercase letters, digits and '-', not starting or ending with '-'`,
    );
  }
  const of = (q: string): QueueNames => {
    const base = q === DEFAULT_QUEUE_NAME ? `${name}-jobs` : `${name}-jobs-${q}`;
    return { queue: base, dlq: `${base}-dlq` };
  };
  return {
    ...of(DEFAULT_QUEUE_NAME),
    bucket: `${name}-data`,
    queues: Object.fromEntries(queues.map((q) => [q.name, of(q.name)])),
  };
}

/**
 * The SQS name of job queue `queueName` beside the default queue `defaultName` (`X-jobs` →
 * `X-jobs-urgent`), as provisioning names them; undefined when the default's name is not of that form.
 */
export function siblingQueueName(defaultName: string, queueName: string): string | undefined {
  if (queueName === DEFAULT_QUEUE_NAME) return defaultName;
  return defaultName.endsWith('-jobs') ? `${defaultName}-${queueName}` : undefined;
}

/** Merge overrides over the defaults and check the result; throws one error listing every problem. */
export function resolveDeployment(overrides: {
  queue?: Partial<QueueDefinition>;
  bucket?: Partial<BucketDefinition>;
  queues?: readonly JobQueueDeclaration[];
}): DeploymentDefinition {
  const queue = { ...DEFAULT_QUEUE, ...overrides.queue };
  const bucket = { ...DEFAULT_BUCKET, ...overrides.bucket };
  const queues = overrides.queues ?? DEFAULT_JOB_QUEUES;
  const problems = [...validateQueue(queue), ...validateBucket(bucket)];
  try {
    jobQueues({ queue, bucket, queues });
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (problems.length > 0) throw new Error(`invalid deployment definition: ${problems.join('; ')}`);
  return { queue, bucket, queues };
}

const QUEUE_NAME = /^[a-z][a-z0-9-]{0,19}$/;

/**
 * A deployment's job queues with their attributes resolved, highest priority first (ties keep
 * the declared order). Throws one error listing every problem (names, priorities, weights,
 * attributes, a missing 'default').
 */
export function jobQueues(deployment: DeploymentDefinition): JobQueueDefinition[] {
  const declared = deployment.queues ?? DEFAULT_JOB_QUEUES;
  const problems: string[] = [];
  const seen = new Set<string>();
  const resolved = declared.map((d) => {
    if (!QUEUE_NAME.test(d.name))
      problems.push(`queue name '${d.name}' must be 1-20 of a-z, 0-9 and '-', starting with a letter`);
    if (seen.has(d.name)) problems.push(`queue '${d.name}' is declared twice`);
    seen.add(d.name);
    const weight = d.weight ?? 1;
    if (!Number.isFinite(d.priority)) problems.push(`queue '${d.name}': priority must be a number`);
    if (!(weight > 0)) problems.push(`queue '${d.name}': weight must be greater than 0, got ${weight}`);
    const definition = { ...deployment.queue, ...d.attributes };
    for (const p of validateQueue(definition)) problems.push(`queue '${d.name}': ${p}`);
    return { name: d.name, priority: d.priority, weight, definition };
  });
  if (!seen.has(DEFAULT_QUEUE_NAME))
    problems.push(`the job queues must include one named '${DEFAULT_QUEUE_NAME}' (where jobs go by default)`);
  if (problems.length > 0) throw new Error(problems.join('; '));
  return resolved
    .map((q, i) => ({ q, i }))
    .sort((a, b) => b.q.priority - a.q.priority || a.i - b.i)
    .map(({ q }) => q);
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
