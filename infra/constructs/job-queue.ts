import { CfnOutput, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  DEFAULT_QUEUE,
  DEFAULT_QUEUE_NAME,
  type DeploymentDefinition,
  jobQueues,
  pascalCase,
  QUEUE_NAMES_OUTPUT,
  type QueueDefinition,
  queueOutputKeys,
  validateQueue,
} from '../definitions.js';

export interface JobQueueProps {
  /**
   * The queue's name among the deployment's job queues (what `--queue NAME` takes).
   * @default 'default'
   */
  readonly name?: string;
  /**
   * Higher is served first by workers in strict-priority mode.
   * @default 0
   */
  readonly priority?: number;
  /**
   * Share of job slots in weighted mode.
   * @default 1
   */
  readonly weight?: number;
  /**
   * Visibility timeout, retention, maxReceiveCount and the rest, as plain data shared with
   * local provisioning and restore.
   * @default DEFAULT_QUEUE from infra/definitions.ts
   */
  readonly definition?: QueueDefinition;
  /**
   * Alarm when the oldest job has waited this long.
   * @default Duration.minutes(15)
   */
  readonly maxJobAge?: Duration;
  /**
   * Create the DLQ-depth and oldest-job alarms.
   * @default true
   */
  readonly alarms?: boolean;
  /**
   * Where the alarms notify.
   * @default - alarms change state without notifying anyone
   */
  readonly alarmTopic?: sns.ITopic;
}

/**
 * The job queue and its dead-letter queue: SQS-managed encryption, TLS-only policies, and
 * alarms on DLQ depth and on the age of the oldest job.
 */
export class JobQueue extends Construct {
  /**
   * Every job queue of `deployment` (each with its DLQ and, unless `alarms: false`, its
   * alarms), highest priority first. The 'default' queue keeps the construct id `JobQueue`
   * (the single queue's id before there were several), the others are `JobQueueUrgent`, ...
   */
  static forDeployment(
    scope: Construct,
    deployment: DeploymentDefinition,
    props: Omit<JobQueueProps, 'definition' | 'name' | 'priority' | 'weight'> = {},
  ): JobQueue[] {
    return jobQueues(deployment).map(
      (q) =>
        new JobQueue(scope, q.name === DEFAULT_QUEUE_NAME ? 'JobQueue' : `JobQueue${pascalCase(q.name)}`, {
          ...props,
          name: q.name,
          priority: q.priority,
          weight: q.weight,
          definition: q.definition,
        }),
    );
  }

  /** The queue's name among the deployment's job queues. */
  readonly name: string;
  readonly priority: number;
  readonly weight: number;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly definition: QueueDefinition;
  /** Alarms this construct created (empty when `alarms: false`). */
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: JobQueueProps = {}) {
    super(scope, id);
    const definition = props.definition ?? DEFAULT_QUEUE;
    const maxJobAge = props.maxJobAge ?? Duration.minutes(15);
    const problems = validateQueue(definition);
    if (maxJobAge.toSeconds() < 60) problems.push('maxJobAge must be at least one minute');
    if (problems.length > 0)
      throw new Error(`${this.node.path}: invalid JobQueue props: ${problems.join('; ')}`);
    this.definition = definition;
    this.name = props.name ?? DEFAULT_QUEUE_NAME;
    this.priority = props.priority ?? 0;
    this.weight = props.weight ?? 1;

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.seconds(definition.dlqRetentionSeconds),
      maxMessageSizeBytes: definition.maximumMessageSizeBytes,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(definition.visibilityTimeoutSeconds),
      retentionPeriod: Duration.seconds(definition.retentionSeconds),
      receiveMessageWaitTime: Duration.seconds(definition.receiveWaitTimeSeconds),
      maxMessageSizeBytes: definition.maximumMessageSizeBytes,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: definition.maxReceiveCount },
    });

    if (props.alarms ?? true) {
      const dlqDepth = new cloudwatch.Alarm(this, 'DeadLetterQueueDepthAlarm', {
        alarmDescription: `Jobs are failing: the dead-letter queue of the '${this.name}' queue holds messages. Inspect with \`flotilla dlq list --queue ${this.name}\`.`,
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      const oldest = new cloudwatch.Alarm(this, 'OldestJobAgeAlarm', {
        alarmDescription: `A job of the '${this.name}' queue has waited more than ${maxJobAge.toHumanString()}: the fleet is not keeping up or not running.`,
        metric: this.queue.metricApproximateAgeOfOldestMessage({
          period: Duration.minutes(1),
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        threshold: maxJobAge.toSeconds(),
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      this.alarms.push(dlqDepth, oldest);
      if (props.alarmTopic) {
        for (const alarm of this.alarms) alarm.addAlarmAction(new cwActions.SnsAction(props.alarmTopic));
      }
    }
  }
}

/**
 * The outputs `--stack NAME` reads: each job queue's URL and its DLQ's (the 'default' queue's
 * as `JobQueueUrl` and `DeadLetterQueueUrl`, as before there were several), and the queue
 * names in priority order.
 */
export function addQueueOutputs(scope: Construct, queues: readonly JobQueue[]): void {
  for (const q of queues) {
    const keys = queueOutputKeys(q.name);
    new CfnOutput(scope, keys.queueUrl, {
      value: q.queue.queueUrl,
      description: `The '${q.name}' job queue (flotilla submit --queue ${q.name})`,
    });
    new CfnOutput(scope, keys.dlqUrl, { value: q.deadLetterQueue.queueUrl });
  }
  new CfnOutput(scope, QUEUE_NAMES_OUTPUT, {
    value: queues.map((q) => q.name).join(','),
    description: 'The job queues, highest priority first',
  });
}

/** The 'default' job queue of a list built by `JobQueue.forDeployment`. */
export function defaultQueueOf(queues: readonly JobQueue[]): JobQueue {
  const q = queues.find((x) => x.name === DEFAULT_QUEUE_NAME);
  if (!q) throw new Error(`no job queue named '${DEFAULT_QUEUE_NAME}'`);
  return q;
}
