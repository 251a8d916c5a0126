import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_QUEUE, type QueueDefinition, validateQueue } from '../definitions.js';

export interface JobQueueProps {
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
        alarmDescription:
          'Jobs are failing: the dead-letter queue holds messages. Inspect with `flotilla dlq`.',
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
        alarmDescription: `A job has waited more than ${maxJobAge.toHumanString()}: the fleet is not keeping up or not running.`,
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
