import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import * as metrics from '../../core/worker-metrics.js';
import { FargateWorkerFleet } from './fargate-worker-fleet.js';
import type { JobQueue } from './job-queue.js';
import type { WorkerFleetBase } from './worker-fleet-base.js';

export interface MonitoringProps {
  /**
   * An e-mail address subscribed to the alarm topic.
   * @default - no subscription; subscribe to the topic yourself
   */
  readonly alarmEmail?: string;
  /**
   * Name of the dashboard.
   * @default - the stack name
   */
  readonly dashboardName?: string;
}

/**
 * The alarm topic and the dashboard. Create it first (so the queue's alarms can notify the
 * topic), then `addFleet` once the queue and fleet exist.
 */
export class Monitoring extends Construct {
  readonly alarmTopic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  /** Fires when worker tasks keep exiting abnormally (a crash loop); set by `addFleet` for a Fargate fleet. */
  workerExitAlarm?: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: MonitoringProps = {}) {
    super(scope, id);
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'Flotilla alarms',
      enforceSSL: true,
    });
    Validations.of(this.alarmTopic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason:
        'Alarm notifications carry no job data. CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed key would add a monthly charge to an idle deployment.',
    });
    if (props.alarmEmail)
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName ?? Stack.of(this).stackName,
      defaultInterval: Duration.hours(3),
    });
  }

  /** Console address of the dashboard (a stack output). */
  get dashboardUrl(): string {
    const region = Stack.of(this).region;
    return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.dashboard.dashboardName}`;
  }

  /** Backlog, in flight, age of oldest, workers, jobs/s, failures, DLQ depth: a line per job queue. */
  addFleet(jobQueues: readonly JobQueue[], fleet: WorkerFleetBase): void {
    const minute = { period: Duration.minutes(1) };
    const each = <T>(f: (q: JobQueue, n: string) => T[]): T[] => jobQueues.flatMap((q) => f(q, q.name));
    // Math expression ids must be unique on a graph and start with a lowercase letter.
    const id = (q: JobQueue) => q.name.replace(/-/g, '_');
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Backlog',
        left: each(({ queue }, n) => [
          queue.metricApproximateNumberOfMessagesVisible({ ...minute, label: `Waiting (${n})` }),
          queue.metricApproximateNumberOfMessagesNotVisible({ ...minute, label: `In flight (${n})` }),
        ]),
        right: [fleet.metricBacklogPerWorker()],
        rightAnnotations: [{ value: fleet.backlogPerWorkerTarget, label: 'Target per worker' }],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Workers',
        left: [fleet.metricRunningWorkers(), fleet.metricDesiredWorkers()],
        leftYAxis: { min: 0 },
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Jobs per second',
        left: each((q, n) => [
          new cloudwatch.MathExpression({
            expression: `done_${id(q)} / PERIOD(done_${id(q)})`,
            usingMetrics: { [`done_${id(q)}`]: q.queue.metricNumberOfMessagesDeleted(minute) },
            label: `Completed /s (${n})`,
            period: Duration.minutes(1),
          }),
          new cloudwatch.MathExpression({
            expression: `sent_${id(q)} / PERIOD(sent_${id(q)})`,
            usingMetrics: { [`sent_${id(q)}`]: q.queue.metricNumberOfMessagesSent(minute) },
            label: `Submitted /s (${n})`,
            period: Duration.minutes(1),
          }),
        ]),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Age of oldest job (s)',
        left: each(({ queue }, n) => [
          queue.metricApproximateAgeOfOldestMessage({ ...minute, statistic: 'Maximum', label: n }),
        ]),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Failures',
        left: each(({ deadLetterQueue }, n) => [
          deadLetterQueue.metricNumberOfMessagesSent({ ...minute, label: `Sent to DLQ (${n})` }),
        ]),
        right: each(({ deadLetterQueue }, n) => [
          deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            ...minute,
            statistic: 'Maximum',
            label: `DLQ depth (${n})`,
          }),
        ]),
        width: 8,
      }),
      ...this.workerMetricWidgets(fleet.jobQueue.queue.queueName),
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms: [...each((q) => q.alarms), ...this.addWorkerExitAlarm(fleet)],
        width: 24,
        height: 3,
      }),
    );
  }

  /**
   * What the workers report themselves, as Embedded Metric Format in their stats lines: jobs by
   * outcome across the fleet, and duration and failures per job type (a search, since the job
   * types are only known at run time).
   */
  private workerMetricWidgets(queueName: string): cloudwatch.IWidget[] {
    const period = Duration.minutes(1);
    const fleet = (metricName: string, label: string, statistic = 'Sum') =>
      new cloudwatch.Metric({
        namespace: metrics.METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { [metrics.DIMENSION.queue]: queueName },
        statistic,
        period,
        label,
      });
    const perType = (metricName: string, statistic: string, label: string) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${metrics.METRICS_NAMESPACE},${metrics.DIMENSION.queue},${metrics.DIMENSION.jobType}} MetricName="${metricName}" ${metrics.DIMENSION.queue}="${queueName}"', '${statistic}', 60)`,
        usingMetrics: {},
        label,
        period,
      });
    return [
      new cloudwatch.GraphWidget({
        title: 'Jobs by outcome (reported by the workers)',
        left: [
          fleet(metrics.COUNTER_METRICS.received, 'Received'),
          fleet(metrics.COUNTER_METRICS.done, 'Done'),
          fleet(metrics.COUNTER_METRICS.retried, 'Retried'),
          fleet(metrics.COUNTER_METRICS.deadLettered, 'Dead-lettered'),
        ],
        right: [fleet(metrics.RUNNING_METRIC, 'Running (sum of workers)')],
        leftYAxis: { min: 0 },
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Job duration by type (ms)',
        left: [perType(metrics.JOB_TYPE_METRICS.duration, 'Average', '')],
        right: [perType(metrics.JOB_TYPE_METRICS.durationMax, 'Maximum', 'max ')],
        leftYAxis: { min: 0 },
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Job failures by type',
        left: [perType(metrics.JOB_TYPE_METRICS.failed, 'Sum', '')],
        leftYAxis: { min: 0 },
        width: 8,
      }),
    ];
  }

  /**
   * A crash loop made visible: ECS reports every task that stops; a worker that drains exits 0,
   * so a stopped task whose container exited otherwise (a crash, `process.abort()`, an OOM kill's
   * 137) is abnormal. An EventBridge rule counts them (its MatchedEvents metric; the rule needs no
   * target), and the alarm fires at 3 within 10 minutes. The runtime isolates the job that caused
   * it, so a loop that goes on means something beyond one job: the image, the host, the limits.
   */
  private addWorkerExitAlarm(fleet: WorkerFleetBase): cloudwatch.Alarm[] {
    if (!(fleet instanceof FargateWorkerFleet)) return [];
    const rule = new events.Rule(this, 'WorkerTaskExitRule', {
      description: 'Flotilla worker tasks that stopped with a non-zero exit code',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: {
          clusterArn: [fleet.cluster.clusterArn],
          lastStatus: ['STOPPED'],
          containers: { exitCode: [{ 'anything-but': 0 }] },
        },
      },
    });
    const alarm = new cloudwatch.Alarm(this, 'WorkerTaskExitAlarm', {
      alarmDescription:
        'Worker tasks keep exiting abnormally (crash, abort or OOM kill). Jobs that lost their worker run isolated and are recorded under errors/; see the workers\' logs ("lostWorker" in the stats line).',
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Events',
        metricName: 'MatchedEvents',
        dimensionsMap: { RuleName: rule.ruleName },
        statistic: 'Sum',
        period: Duration.minutes(10),
      }),
      threshold: 3,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new cloudwatchActions.SnsAction(this.alarmTopic));
    this.workerExitAlarm = alarm;
    return [alarm];
  }
}
