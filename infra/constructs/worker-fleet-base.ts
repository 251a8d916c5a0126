import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { type CommandBindingConfig, execBindings } from '../../core/command-bindings.js';
import { type BucketLayout, DATA_LAYOUT, extendLayout, type StorageDeclaration } from '../../core/layout.js';
import {
  type ResultPackingOptions,
  resolveResultPacking,
  resultPackingText,
} from '../../core/result-packs.js';
import {
  backlogPerWorkerTarget,
  DEFAULT_SCALING,
  resolveScaling,
  type ScalingPolicy,
  surgeSteps,
} from '../scaling.js';
import { PACKAGE_ROOT } from '../worker-build.js';
import { type DataStore, grantBucketAccess } from './data-store.js';
import type { JobQueue } from './job-queue.js';
import { stageWorkerBundle } from './worker-bundle.js';

/** Props shared by every worker-fleet flavour (as aws-ecs-patterns shares its base props). */
export interface WorkerFleetBaseProps {
  /** The 'default' job queue: where the worker's metrics are filed, and the only queue served unless `jobQueues` says more. */
  readonly jobQueue: JobQueue;
  /**
   * Every job queue the workers serve (at most 4: the backlog metric sums two metrics per
   * queue, and a scaling policy's metric math takes 10). Workers take from them by priority
   * (or weight, with `queueMode: 'weighted'`), and the backlog the fleet scales on is their sum.
   * @default - `[jobQueue]`
   */
  readonly jobQueues?: readonly JobQueue[];
  /**
   * How a worker's free job slot picks a queue: 'priority' takes from the highest non-empty
   * queue first, 'weighted' gives each queue its weight's share while all have jobs.
   * @default 'priority'
   */
  readonly queueMode?: 'priority' | 'weighted';
  /** The bucket the workers read payloads from and write results to. */
  readonly dataStore: DataStore;
  /**
   * The network the workers run in. Workers only make outbound HTTPS calls (SQS, S3, logs).
   * @default - a new VPC: two AZs, public subnets only (no NAT gateway to pay for while idle),
   * an S3 gateway endpoint, flow logs to CloudWatch Logs
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Fleet bounds, cooldowns and the two numbers the scaling target comes from (acceptable
   * latency and average job duration).
   * @default DEFAULT_SCALING from infra/scaling.ts
   */
  readonly scaling?: ScalingPolicy;
  /**
   * Share of workers on Spot capacity, from 0 (all on-demand) to 1 (all Spot).
   * @default 0.7
   */
  readonly spotShare?: number;
  /**
   * How long a worker gets to finish its jobs after SIGTERM.
   * @default Duration.seconds(90)
   */
  readonly drainTime?: Duration;
  /**
   * How long worker logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Extra environment variables for the worker (never secrets: they are visible in the template).
   * @default - only the variables the fleet injects (queue, bucket, concurrency, drain, guard)
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * The deployment's own key prefixes and buckets, and who may use them (cdk.json `storage`):
   * merged into the bucket layout (core/layout.ts) that both the worker's grants and its
   * `ctx.store` checks follow, and passed to the worker as FLOTILLA_STORAGE.
   * @default - the built-in layout only
   */
  readonly storage?: StorageDeclaration;
  /**
   * Job types bound to commands in the worker image (cdk.json `exec`), e.g.
   * `{ thumbnail: 'python3 /app/thumbnail.py' }` or `{ ocr: { command: './ocr', timeoutSeconds: 300 } }`:
   * passed to the worker as FLOTILLA_EXEC (docs/workers.md, "Command handlers").
   * @default - no command handlers: the built-in and bundled handlers only
   */
  readonly exec?: Readonly<Record<string, CommandBindingConfig>>;
  /**
   * Write the results of small jobs of a batch that finish together as one object (cdk.json
   * `resultPacking`; docs/workers.md, "Result packing"): passed to the worker as
   * FLOTILLA_RESULT_PACKING. `{}` takes the defaults (50 jobs, 50 ms, 64 KiB).
   * @default - off: one conditional PUT per result
   */
  readonly resultPacking?: ResultPackingOptions;
  /**
   * Your handlers file (TypeScript or JavaScript, e.g. `'./src/handlers.ts'`, resolved from the
   * current directory), as `flotilla worker --handlers` takes it: its default export is a
   * function `(registry) => void` or an array of handler definitions, importing what it needs
   * from `flotilla/worker`. At synth time esbuild bundles it with the worker runtime into the
   * one file the fleet ships (as NodejsFunction bundles a Lambda; esbuild is an optional peer
   * dependency: `npm install --save-dev esbuild`), beside the built-in job types. Synth stays
   * offline and needs no Docker: the Fargate image is built at deploy time from that bundle
   * and a Dockerfile alone.
   * @default - the built-in job types only: the package's prebuilt dist/worker.js
   */
  readonly handlers?: string;
}

/** The defaults of WorkerFleetBaseProps, in one place. */
export const WORKER_FLEET_DEFAULTS: {
  readonly scaling: ScalingPolicy;
  readonly spotShare: number;
  readonly drainTime: Duration;
  readonly logRetention: logs.RetentionDays;
} = Object.freeze({
  scaling: DEFAULT_SCALING,
  spotShare: 0.7,
  drainTime: Duration.seconds(90),
  logRetention: logs.RetentionDays.ONE_MONTH,
});

/** Props after defaults are merged in. */
export type ResolvedFleetProps = WorkerFleetBaseProps & typeof WORKER_FLEET_DEFAULTS;

/** A CloudWatch metric as scaling policies and alarms name it. */
export interface MetricRef {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly statistic: string;
}

/** One entry of a target-tracking `CustomizedMetricSpecification.Metrics` list (same shape for ECS and ASG). */
export interface MetricDataQuery {
  readonly id: string;
  readonly label?: string;
  readonly expression?: string;
  readonly metricStat?: {
    readonly metric: {
      readonly namespace: string;
      readonly metricName: string;
      readonly dimensions: { readonly name: string; readonly value: string }[];
    };
    readonly stat: string;
  };
  readonly returnData: boolean;
}

/** Metric-math ids of one queue's visible and in-flight counts (`visible_urgent`, `inflight_bulk_import`). */
export function queueMetricIds(queueName: string): { visible: string; inflight: string } {
  const id = queueName.replace(/-/g, '_');
  return { visible: `visible_${id}`, inflight: `inflight_${id}` };
}

/**
 * Backlog per worker over every queue the fleet serves: visible + in flight, summed (each
 * filled with 0, so a queue with no datapoint does not blank the sum), over running workers,
 * guarded so zero running workers never divides by zero.
 */
export function backlogPerWorkerExpression(queueNames: readonly string[]): string {
  const terms = queueNames.flatMap((n) => {
    const ids = queueMetricIds(n);
    return [`FILL(${ids.visible}, 0)`, `FILL(${ids.inflight}, 0)`];
  });
  return `(${terms.join(' + ')}) / IF(FILL(running, 0) > 0, FILL(running, 0), 1)`;
}

/** 1 while no worker is wanted and a job is visible on any of the queues: the wake-from-zero alarm's expression. */
export function wakeFromZeroExpression(queueNames: readonly string[]): string {
  const visible = queueNames.map((n) => `FILL(${queueMetricIds(n).visible}, 0)`).join(' + ');
  return `IF(FILL(desired, 0) < 1 AND (${visible}) >= 1, 1, 0)`;
}

/** Most queues one fleet serves: two metrics each plus running workers fit the 10 of a metric-math policy. */
export const MAX_FLEET_QUEUES = 4;

/**
 * What every worker fleet shares: resolved and validated props, the network, the worker's
 * grants (consume jobs, read payloads, write results and errors, nothing else), the
 * environment the runtime reads, and the scaling design:
 *
 * - target tracking on backlog per worker, (visible + in-flight) / running workers, with the
 *   target `backlogPerWorkerTarget(scaling)` (L1 policies: L2 target tracking refuses math);
 * - a step policy that sets the fleet to `wakeWorkers` when it is at zero and a job is visible
 *   (target tracking multiplies the current capacity, so it can never leave zero by itself);
 * - a surge step policy (percent change, one datapoint) for backlogs far above target, which
 *   target tracking would take three minutes to notice.
 *
 * Subclasses supply the compute, the running/desired metrics and the two L1 policies.
 */
export abstract class WorkerFleetBase extends Construct {
  readonly scaling: ScalingPolicy;
  readonly spotShare: number;
  readonly drainTime: Duration;
  readonly logRetention: logs.RetentionDays;
  readonly vpc: ec2.IVpc;
  readonly jobQueue: JobQueue;
  /** The queues the workers serve, highest priority first. */
  readonly jobQueues: readonly JobQueue[];
  readonly queueMode: 'priority' | 'weighted';
  readonly dataStore: DataStore;
  /** Jobs per worker that target tracking holds the fleet at. */
  readonly backlogPerWorkerTarget: number;
  /** Security group of the workers: no ingress, HTTPS egress only. */
  readonly securityGroup: ec2.SecurityGroup;
  /** The bucket layout the worker's grants and its store's checks follow. */
  readonly layout: BucketLayout;
  /**
   * The folder the worker is shipped from, laid out as the package is (dist/worker.js,
   * workers/Dockerfile): the bundle of `handlers` staged at synth time, else the package itself.
   */
  protected readonly workerSource: string;
  protected readonly extraEnvironment: Readonly<Record<string, string>>;
  private readonly storage: StorageDeclaration;
  private readonly exec: Readonly<Record<string, CommandBindingConfig>>;
  private readonly resultPacking: ResultPackingOptions | undefined;

  protected constructor(scope: Construct, id: string, props: WorkerFleetBaseProps) {
    super(scope, id);
    const merged = { ...WORKER_FLEET_DEFAULTS, ...stripUndefined(props) } as ResolvedFleetProps;
    const problems: string[] = [];
    let scaling = merged.scaling;
    try {
      scaling = resolveScaling(merged.scaling);
    } catch (err) {
      problems.push((err as Error).message);
    }
    if (!(merged.spotShare >= 0 && merged.spotShare <= 1)) {
      problems.push(`spotShare must be between 0 and 1, got ${merged.spotShare}`);
    }
    problems.push(...this.validate(merged));
    try {
      execBindings(props.exec ?? {});
    } catch (err) {
      problems.push(`exec: ${(err as Error).message}`);
    }
    if (props.resultPacking) {
      // The worker refuses a wait longer than half its queues' visibility timeout: say so here.
      const shortest = Math.min(
        ...[...(props.jobQueues ?? [props.jobQueue])].map((q) => q.definition.visibilityTimeoutSeconds),
      );
      resolveResultPacking(props.resultPacking, problems, {
        seconds: shortest,
        name: "the job queues' visibility timeout",
      });
    }
    const jobQueues = [...(props.jobQueues ?? [props.jobQueue])].sort((a, b) => b.priority - a.priority);
    if (!jobQueues.includes(props.jobQueue)) problems.push('jobQueues must include jobQueue');
    if (jobQueues.length > MAX_FLEET_QUEUES)
      problems.push(`a fleet serves at most ${MAX_FLEET_QUEUES} job queues, got ${jobQueues.length}`);
    if (new Set(jobQueues.map((q) => q.name)).size !== jobQueues.length)
      problems.push('jobQueues must have distinct names');
    let layout = DATA_LAYOUT;
    try {
      layout = extendLayout(DATA_LAYOUT, props.storage);
    } catch (err) {
      problems.push((err as Error).message);
    }
    if (props.handlers !== undefined && !existsSync(resolve(props.handlers)))
      problems.push(`handlers: no file at ${resolve(props.handlers)}`);
    if (problems.length > 0) {
      throw new Error(`${this.node.path}: invalid worker fleet props: ${problems.join('; ')}`);
    }
    this.scaling = scaling;
    this.spotShare = merged.spotShare;
    this.drainTime = merged.drainTime;
    this.logRetention = merged.logRetention;
    this.jobQueue = props.jobQueue;
    this.jobQueues = jobQueues;
    this.queueMode = props.queueMode ?? 'priority';
    this.dataStore = props.dataStore;
    this.extraEnvironment = props.environment ?? {};
    this.layout = layout;
    this.storage = props.storage ?? {};
    this.exec = props.exec ?? {};
    this.resultPacking = props.resultPacking;
    this.backlogPerWorkerTarget = backlogPerWorkerTarget(scaling);
    this.workerSource = props.handlers
      ? stageWorkerBundle(this, 'HandlersBundle', props.handlers)
      : PACKAGE_ROOT;
    this.vpc = props.vpc ?? this.createVpc();
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: this.vpc,
      description: 'Flotilla workers: no inbound traffic, outbound HTTPS to AWS APIs only',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to SQS, S3, CloudWatch');
  }

  /** Flavour-specific checks on the merged props; return problems rather than throwing. */
  protected validate(merged: ResolvedFleetProps): string[] {
    const drain = merged.drainTime.toSeconds();
    return drain >= 5 ? [] : [`drainTime must be at least 5 seconds, got ${drain}`];
  }

  /** Workers running now (ECS RunningTaskCount, ASG GroupInServiceInstances). */
  abstract readonly runningWorkersMetric: MetricRef;
  /** Workers wanted now (ECS DesiredTaskCount, ASG GroupDesiredCapacity). */
  abstract readonly desiredWorkersMetric: MetricRef;

  /**
   * Grant what a worker does and nothing else: receive, delete and extend jobs on each queue it
   * serves (ReceiveMessage, DeleteMessage, ChangeMessageVisibility, GetQueueAttributes), send
   * to each one's DLQ (a job that must not be retried), and the worker's part of the bucket
   * layout (core/layout.ts), the deployment's own prefixes and buckets included.
   */
  protected grantWorker(role: iam.IRole): void {
    for (const { queue, deadLetterQueue } of this.jobQueues) {
      queue.grantConsumeMessages(role);
      deadLetterQueue.grantSendMessages(role);
    }
    this.dataStore.grantLayout(role, role, this.layout, 'worker');
    this.layout.extraBuckets.forEach((b, i) => {
      const access = b.grants.worker ?? [];
      if (access.length === 0) return;
      grantBucketAccess(role, s3.Bucket.fromBucketName(this, `ExtraBucket${i}`, b.name), access);
    });
  }

  /** The environment the runtime reads in workers/main.ts. */
  protected workerEnvironment(guard: 'ecs' | 'asg'): Record<string, string> {
    return {
      ...this.extraEnvironment,
      FLOTILLA_QUEUE_URL: this.jobQueue.queue.queueUrl,
      FLOTILLA_DLQ_URL: this.jobQueue.deadLetterQueue.queueUrl,
      ...(this.jobQueues.length > 1
        ? {
            // Highest priority first, as workers/main.ts reads it (FLOTILLA_QUEUES).
            FLOTILLA_QUEUES: Stack.of(this).toJsonString(
              this.jobQueues.map((q) => ({
                name: q.name,
                url: q.queue.queueUrl,
                dlqUrl: q.deadLetterQueue.queueUrl,
                weight: q.weight,
              })),
            ),
            FLOTILLA_QUEUE_MODE: this.queueMode,
          }
        : {}),
      FLOTILLA_BUCKET: this.dataStore.bucket.bucketName,
      FLOTILLA_CONCURRENCY: String(this.scaling.jobsPerWorker),
      FLOTILLA_DRAIN_SECONDS: String(this.drainTime.toSeconds()),
      FLOTILLA_SCALE_IN_GUARD: guard,
      AWS_REGION: Stack.of(this).region,
      ...(Object.keys(this.storage).length > 0 ? { FLOTILLA_STORAGE: JSON.stringify(this.storage) } : {}),
      ...(Object.keys(this.exec).length > 0 ? { FLOTILLA_EXEC: JSON.stringify(this.exec) } : {}),
      ...(this.resultPacking ? { FLOTILLA_RESULT_PACKING: resultPackingText(this.resultPacking) } : {}),
    };
  }

  private queueMetric(q: JobQueue, metricName: string): MetricRef {
    return {
      namespace: 'AWS/SQS',
      metricName,
      dimensions: { QueueName: q.queue.queueName },
      statistic: 'Sum',
    };
  }

  private get queueNames(): string[] {
    return this.jobQueues.map((q) => q.name);
  }

  /** The metric queries of the target-tracking policy; the last one is returned. */
  protected backlogPerWorkerQueries(): MetricDataQuery[] {
    const stat = (id: string, m: MetricRef): MetricDataQuery => ({
      id,
      metricStat: {
        metric: {
          namespace: m.namespace,
          metricName: m.metricName,
          dimensions: Object.entries(m.dimensions).map(([name, value]) => ({ name, value })),
        },
        stat: m.statistic,
      },
      returnData: false,
    });
    return [
      ...this.jobQueues.flatMap((q) => {
        const ids = queueMetricIds(q.name);
        return [
          stat(ids.visible, this.queueMetric(q, 'ApproximateNumberOfMessagesVisible')),
          stat(ids.inflight, this.queueMetric(q, 'ApproximateNumberOfMessagesNotVisible')),
        ];
      }),
      stat('running', this.runningWorkersMetric),
      {
        id: 'backlogPerWorker',
        label: 'Jobs queued or running per worker, all queues',
        expression: backlogPerWorkerExpression(this.queueNames),
        returnData: true,
      },
    ];
  }

  private cwMetric(m: MetricRef, label: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: m.namespace,
      metricName: m.metricName,
      dimensionsMap: { ...m.dimensions },
      statistic: m.statistic,
      period: Duration.minutes(1),
      label,
    });
  }

  /** Backlog per worker as a dashboard can plot it (the same expression the policy tracks). */
  metricBacklogPerWorker(): cloudwatch.MathExpression {
    const usingMetrics: Record<string, cloudwatch.IMetric> = {
      running: this.cwMetric(this.runningWorkersMetric, 'Running'),
    };
    for (const q of this.jobQueues) {
      const ids = queueMetricIds(q.name);
      usingMetrics[ids.visible] = this.cwMetric(
        this.queueMetric(q, 'ApproximateNumberOfMessagesVisible'),
        `Visible (${q.name})`,
      );
      usingMetrics[ids.inflight] = this.cwMetric(
        this.queueMetric(q, 'ApproximateNumberOfMessagesNotVisible'),
        `In flight (${q.name})`,
      );
    }
    return new cloudwatch.MathExpression({
      expression: backlogPerWorkerExpression(this.queueNames),
      usingMetrics,
      label: 'Backlog per worker',
      period: Duration.minutes(1),
    });
  }

  metricRunningWorkers(): cloudwatch.Metric {
    return this.cwMetric(this.runningWorkersMetric, 'Workers running');
  }

  metricDesiredWorkers(): cloudwatch.Metric {
    return this.cwMetric(this.desiredWorkersMetric, 'Workers wanted');
  }

  /**
   * Both scaling policies. `stepPolicyArn` is the ARN (Ref) of a step policy, built by the
   * subclass, that sets capacity to exactly `wakeWorkers`; it is triggered by an alarm on
   * "no workers wanted and a job visible". Skipped when minWorkers > 0.
   */
  protected addWakeFromZeroAlarm(stepPolicyArn: string): cloudwatch.Alarm {
    const usingMetrics: Record<string, cloudwatch.IMetric> = {
      desired: this.cwMetric({ ...this.desiredWorkersMetric, statistic: 'Maximum' }, 'Wanted'),
    };
    for (const q of this.jobQueues) {
      usingMetrics[queueMetricIds(q.name).visible] = this.cwMetric(
        { ...this.queueMetric(q, 'ApproximateNumberOfMessagesVisible'), statistic: 'Maximum' },
        `Visible (${q.name})`,
      );
    }
    const alarm = new cloudwatch.Alarm(this, 'WakeFromZeroAlarm', {
      alarmDescription: `Jobs are waiting on a queue and no worker is wanted: start ${this.scaling.wakeWorkers} worker(s).`,
      metric: new cloudwatch.MathExpression({
        expression: wakeFromZeroExpression(this.queueNames),
        usingMetrics,
        label: 'Idle fleet with work waiting',
        period: Duration.minutes(1),
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction({ bind: () => ({ alarmActionArn: stepPolicyArn }) });
    return alarm;
  }

  /**
   * The surge policy's steps, relative to its alarm's threshold (the first step): at 3, 6 and
   * 12 times the target backlog per worker, add 100%, 300% and 700% of the fleet after one
   * 1-minute datapoint, where target tracking waits for three (infra/scaling.ts `surgeSteps`).
   */
  protected surgeStepAdjustments(): {
    metricIntervalLowerBound: number;
    metricIntervalUpperBound?: number;
    scalingAdjustment: number;
  }[] {
    const steps = surgeSteps(this.scaling);
    const base = steps[0]!.backlogPerWorkerAtLeast;
    return steps.map((s, i) => {
      const next = steps[i + 1];
      return {
        metricIntervalLowerBound: s.backlogPerWorkerAtLeast - base,
        ...(next ? { metricIntervalUpperBound: next.backlogPerWorkerAtLeast - base } : {}),
        scalingAdjustment: s.percentChange,
      };
    });
  }

  /** The alarm that triggers the surge step policy `stepPolicyArn`: backlog per worker, one datapoint. */
  protected addSurgeAlarm(stepPolicyArn: string): cloudwatch.Alarm {
    const threshold = surgeSteps(this.scaling)[0]!.backlogPerWorkerAtLeast;
    const alarm = new cloudwatch.Alarm(this, 'SurgeAlarm', {
      alarmDescription: `Backlog per worker is ${threshold} or more (3x target): grow the fleet without waiting for target tracking.`,
      metric: this.metricBacklogPerWorker(),
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction({ bind: () => ({ alarmActionArn: stepPolicyArn }) });
    return alarm;
  }

  /** Should the wake-from-zero policy exist at all? */
  protected get needsWakeFromZero(): boolean {
    return this.scaling.minWorkers === 0;
  }

  private createVpc(): ec2.Vpc {
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogGroup', { retention: this.logRetention }),
      ),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
    return vpc;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
