import { join } from 'node:path';
import { type CfnElement, Duration, IgnoreMode, Stack, Validations } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import {
  type MetricRef,
  type ResolvedFleetProps,
  WorkerFleetBase,
  type WorkerFleetBaseProps,
} from './worker-fleet-base.js';

/** The most ECS waits between SIGTERM and SIGKILL on Fargate. */
const FARGATE_MAX_STOP_TIMEOUT_SECONDS = 120;
/** Time kept between the runtime's drain deadline and ECS's SIGKILL, for the last result write. */
const STOP_MARGIN_SECONDS = 10;

export interface FargateWorkerFleetProps extends WorkerFleetBaseProps {
  /**
   * The worker image (not with `handlers`, whose bundle the image is built from).
   * @default - `workerImageFromRepository(...)` of the `handlers` bundle, else of the package:
   * workers/Dockerfile with dist/worker.js, built by Docker at deploy time (synth needs no Docker)
   */
  readonly image?: ecs.ContainerImage;
  /**
   * Task CPU units.
   * @default 512
   */
  readonly cpu?: number;
  /**
   * Task memory in MiB.
   * @default 1024
   */
  readonly memoryLimitMiB?: number;
  /**
   * CPU architecture of the task.
   * @default ecs.CpuArchitecture.X86_64
   */
  readonly cpuArchitecture?: ecs.CpuArchitecture;
}

/**
 * The default worker image: workers/Dockerfile with the esbuild bundle dist/worker.js, from a
 * folder laid out as the package is at `repoRoot` (a checkout, the installed package, a fleet's
 * staged `handlers` bundle). Only those two files enter the Docker build context.
 */
export function workerImageFromRepository(
  repoRoot: string,
  architecture: ecs.CpuArchitecture = ecs.CpuArchitecture.X86_64,
): ecs.ContainerImage {
  return ecs.ContainerImage.fromAsset(repoRoot, {
    file: join('workers', 'Dockerfile'),
    ignoreMode: IgnoreMode.DOCKER,
    exclude: ['*', '!dist/worker.js', '!workers/Dockerfile'],
    platform: architecture === ecs.CpuArchitecture.ARM64 ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
  });
}

/**
 * Workers as an ECS service on Fargate, mixing FARGATE_SPOT and FARGATE capacity, scaled on
 * backlog per worker from zero to maxWorkers. Each task takes ECS task scale-in protection
 * while it holds a job, and gets up to 120 s after SIGTERM to drain.
 */
export class FargateWorkerFleet extends WorkerFleetBase {
  readonly cluster: ecs.Cluster;
  readonly service: ecs.FargateService;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly logGroup: logs.LogGroup;
  readonly scalableTarget: appscaling.ScalableTarget;
  readonly runningWorkersMetric: MetricRef;
  readonly desiredWorkersMetric: MetricRef;

  constructor(scope: Construct, id: string, props: FargateWorkerFleetProps) {
    super(scope, id, props);
    const architecture = props.cpuArchitecture ?? ecs.CpuArchitecture.X86_64;

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
      enableFargateCapacityProviders: true,
    });

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: props.cpu ?? 512,
      memoryLimitMiB: props.memoryLimitMiB ?? 1024,
      runtimePlatform: {
        cpuArchitecture: architecture,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    this.logGroup = new logs.LogGroup(this, 'LogGroup', { retention: this.logRetention });
    const image = props.image ?? workerImageFromRepository(this.workerSource, architecture);
    const container = this.taskDefinition.addContainer('Worker', {
      image,
      environment: this.workerEnvironment('ecs'),
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'worker', logGroup: this.logGroup }),
      stopTimeout: Duration.seconds(this.drainTime.toSeconds() + STOP_MARGIN_SECONDS),
      readonlyRootFilesystem: true,
      user: '1000',
    });
    // The root file system is read-only: /tmp is the task's ephemeral storage, writable, for
    // command handlers' scratch files and the payload files the runtime hands them.
    this.taskDefinition.addVolume({ name: 'scratch' });
    container.addMountPoints({ sourceVolume: 'scratch', containerPath: '/tmp', readOnly: false });

    const spotWeight = Math.round(this.spotShare * 100);
    const strategies: ecs.CapacityProviderStrategy[] = [];
    if (spotWeight > 0) strategies.push({ capacityProvider: 'FARGATE_SPOT', weight: spotWeight });
    if (spotWeight < 100) strategies.push({ capacityProvider: 'FARGATE', weight: 100 - spotWeight });

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: this.scaling.minWorkers,
      capacityProviderStrategies: strategies,
      // Without private subnets (the default VPC has none, to avoid a NAT gateway) tasks need a
      // public IP to reach AWS APIs; the security group still admits no inbound traffic.
      assignPublicIp: this.vpc.privateSubnets.length === 0,
      vpcSubnets: {
        subnets: this.vpc.privateSubnets.length === 0 ? this.vpc.publicSubnets : this.vpc.privateSubnets,
      },
      securityGroups: [this.securityGroup],
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
    });

    this.grantWorker(this.taskDefinition.taskRole);
    // ECS task scale-in protection, for this cluster's tasks only: the runtime PUTs the ECS
    // agent's task-protection endpoint, which calls UpdateTaskProtection with the task role.
    this.taskDefinition.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ecs:UpdateTaskProtection'],
        resources: [
          Stack.of(this).formatArn({
            service: 'ecs',
            resource: 'task',
            resourceName: `${this.cluster.clusterName}/*`,
          }),
        ],
      }),
    );

    const clusterId = Stack.of(this).getLogicalId(this.cluster.node.defaultChild as CfnElement);
    Validations.of(this.taskDefinition.taskRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<${clusterId}>/*]`,
      reason:
        'Task scale-in protection for tasks of this cluster only; task ids are not known before the tasks start.',
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds resource names and tuning (queue URL, bucket, concurrency), never secrets; the runtime reads no secret from it.',
    });

    const dimensions = { ClusterName: this.cluster.clusterName, ServiceName: this.service.serviceName };
    this.runningWorkersMetric = {
      namespace: 'ECS/ContainerInsights',
      metricName: 'RunningTaskCount',
      dimensions,
      statistic: 'Average',
    };
    this.desiredWorkersMetric = {
      namespace: 'ECS/ContainerInsights',
      metricName: 'DesiredTaskCount',
      dimensions,
      statistic: 'Average',
    };

    this.scalableTarget = new appscaling.ScalableTarget(this, 'ScalableTarget', {
      serviceNamespace: appscaling.ServiceNamespace.ECS,
      resourceId: `service/${this.cluster.clusterName}/${this.service.serviceName}`,
      scalableDimension: 'ecs:service:DesiredCount',
      minCapacity: this.scaling.minWorkers,
      maxCapacity: this.scaling.maxWorkers,
    });

    new appscaling.CfnScalingPolicy(this, 'BacklogPerWorkerPolicy', {
      policyName: `${Stack.of(this).stackName}-backlog-per-worker`,
      policyType: 'TargetTrackingScaling',
      scalingTargetId: this.scalableTarget.scalableTargetId,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: this.backlogPerWorkerTarget,
        scaleOutCooldown: this.scaling.scaleOutCooldownSeconds,
        scaleInCooldown: this.scaling.scaleInCooldownSeconds,
        customizedMetricSpecification: { metrics: this.backlogPerWorkerQueries() },
      },
    });

    const surge = new appscaling.CfnScalingPolicy(this, 'SurgePolicy', {
      policyName: `${Stack.of(this).stackName}-surge`,
      policyType: 'StepScaling',
      scalingTargetId: this.scalableTarget.scalableTargetId,
      stepScalingPolicyConfiguration: {
        adjustmentType: 'PercentChangeInCapacity',
        metricAggregationType: 'Average',
        cooldown: this.scaling.scaleOutCooldownSeconds,
        minAdjustmentMagnitude: 1,
        stepAdjustments: this.surgeStepAdjustments(),
      },
    });
    this.addSurgeAlarm(surge.ref);

    if (this.needsWakeFromZero) {
      const wake = new appscaling.CfnScalingPolicy(this, 'WakeFromZeroPolicy', {
        policyName: `${Stack.of(this).stackName}-wake-from-zero`,
        policyType: 'StepScaling',
        scalingTargetId: this.scalableTarget.scalableTargetId,
        stepScalingPolicyConfiguration: {
          adjustmentType: 'ExactCapacity',
          metricAggregationType: 'Maximum',
          cooldown: this.scaling.scaleOutCooldownSeconds,
          stepAdjustments: [{ metricIntervalLowerBound: 0, scalingAdjustment: this.scaling.wakeWorkers }],
        },
      });
      this.addWakeFromZeroAlarm(wake.ref);
    }
  }

  protected override validate(merged: ResolvedFleetProps): string[] {
    const problems = super.validate(merged);
    if ((merged as FargateWorkerFleetProps).image && merged.handlers)
      problems.push('give image or handlers, not both: the image is built from the handlers bundle');
    const drain = merged.drainTime.toSeconds();
    if (drain + STOP_MARGIN_SECONDS > FARGATE_MAX_STOP_TIMEOUT_SECONDS) {
      problems.push(
        `drainTime must be at most ${FARGATE_MAX_STOP_TIMEOUT_SECONDS - STOP_MARGIN_SECONDS} seconds on Fargate (ECS stops a task at most ${FARGATE_MAX_STOP_TIMEOUT_SECONDS} s after SIGTERM), got ${drain}`,
      );
    }
    return problems;
  }
}
