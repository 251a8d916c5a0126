import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { DataStore } from '../constructs/data-store.js';
import { Ec2WorkerFleet } from '../constructs/ec2-worker-fleet.js';
import { FargateWorkerFleet } from '../constructs/fargate-worker-fleet.js';
import { JobQueue } from '../constructs/job-queue.js';
import { Monitoring } from '../constructs/monitoring.js';
import type { WorkerFleetBase } from '../constructs/worker-fleet-base.js';
import { DEFAULT_DEPLOYMENT, type DeploymentDefinition, PREFIXES, STACK_OUTPUTS } from '../definitions.js';
import { DEFAULT_SCALING, type ScalingPolicy } from '../scaling.js';

export interface PrimaryStackProps extends StackProps {
  /**
   * Which compute runs the workers.
   * @default 'fargate'
   */
  readonly fleet?: 'fargate' | 'ec2';
  /**
   * Queue and bucket settings.
   * @default DEFAULT_DEPLOYMENT from infra/definitions.ts
   */
  readonly deployment?: DeploymentDefinition;
  /**
   * Fleet bounds and scaling target inputs.
   * @default DEFAULT_SCALING from infra/scaling.ts
   */
  readonly scaling?: ScalingPolicy;
  /**
   * Share of workers on Spot.
   * @default 0.7
   */
  readonly spotShare?: number;
  /**
   * Seconds a worker gets to drain after SIGTERM.
   * @default 90
   */
  readonly drainSeconds?: number;
  /**
   * Fargate task size and image.
   * @default - 512 CPU units, 1024 MiB, x86_64, image built from workers/Dockerfile
   */
  readonly fargate?: {
    readonly cpu?: number;
    readonly memoryLimitMiB?: number;
    readonly cpuArchitecture?: ecs.CpuArchitecture;
    readonly image?: ecs.ContainerImage;
  };
  /**
   * EC2 instance types, volume size and bundle path.
   * @default - see Ec2WorkerFleetProps
   */
  readonly ec2?: {
    readonly instanceTypes?: readonly string[];
    readonly rootVolumeGiB?: number;
    readonly bundlePath?: string;
  };
  /**
   * E-mail address for alarm notifications.
   * @default - none
   */
  readonly alarmEmail?: string;
  /**
   * Delete the data bucket with the stack.
   * @default false
   */
  readonly removeDataOnDelete?: boolean;
}

/** Queues, data store, worker fleet and monitoring: what `cdk deploy` gives a user. */
export class PrimaryStack extends Stack {
  readonly jobQueue: JobQueue;
  readonly dataStore: DataStore;
  readonly fleet: WorkerFleetBase;
  readonly monitoring: Monitoring;
  /** A role that can only submit jobs (send, upload claim-check payloads) and read results. */
  readonly submitterRole: iam.Role;

  constructor(scope: Construct, id: string, props: PrimaryStackProps = {}) {
    super(scope, id, props);
    const deployment = props.deployment ?? DEFAULT_DEPLOYMENT;
    this.monitoring = new Monitoring(this, 'Monitoring', {
      ...(props.alarmEmail ? { alarmEmail: props.alarmEmail } : {}),
    });
    this.jobQueue = new JobQueue(this, 'JobQueue', {
      definition: deployment.queue,
      alarmTopic: this.monitoring.alarmTopic,
    });
    this.dataStore = new DataStore(this, 'DataStore', {
      definition: deployment.bucket,
      removeOnDelete: props.removeDataOnDelete ?? false,
    });
    const common = {
      jobQueue: this.jobQueue,
      dataStore: this.dataStore,
      scaling: props.scaling ?? DEFAULT_SCALING,
      ...(props.spotShare !== undefined ? { spotShare: props.spotShare } : {}),
      ...(props.drainSeconds !== undefined ? { drainTime: Duration.seconds(props.drainSeconds) } : {}),
    };
    this.fleet =
      (props.fleet ?? 'fargate') === 'fargate'
        ? new FargateWorkerFleet(this, 'FargateFleet', { ...common, ...props.fargate })
        : new Ec2WorkerFleet(this, 'Ec2Fleet', { ...common, ...props.ec2 });
    this.monitoring.addFleet(this.jobQueue, this.fleet);

    this.submitterRole = new iam.Role(this, 'SubmitterRole', {
      assumedBy: new iam.AccountRootPrincipal(),
      description: 'Submit Flotilla jobs, cancel them and read their results; nothing else',
    });
    this.jobQueue.queue.grantSendMessages(this.submitterRole);
    // Payloads and batch manifests at submit; cancel requests (no deletes, no results of its own).
    this.dataStore.grantWritePrefixes(this.submitterRole, this.submitterRole, [
      PREFIXES.payloads,
      PREFIXES.batches,
      PREFIXES.cancel,
    ]);
    this.dataStore.grantReadPrefixes(this.submitterRole, this.submitterRole, [
      PREFIXES.results,
      PREFIXES.errors,
      PREFIXES.progress,
      PREFIXES.cancelled,
      PREFIXES.batches,
    ]);

    new CfnOutput(this, STACK_OUTPUTS.queueUrl, {
      value: this.jobQueue.queue.queueUrl,
      description: 'flotilla submit --stack reads this',
    });
    new CfnOutput(this, STACK_OUTPUTS.dlqUrl, { value: this.jobQueue.deadLetterQueue.queueUrl });
    new CfnOutput(this, STACK_OUTPUTS.bucket, { value: this.dataStore.bucket.bucketName });
    new CfnOutput(this, STACK_OUTPUTS.dashboard, { value: this.monitoring.dashboardUrl });
    new CfnOutput(this, 'SubmitterRoleArn', { value: this.submitterRole.roleArn });
  }
}
