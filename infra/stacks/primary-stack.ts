import { CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { CommandBindingConfig } from '../../core/command-bindings.js';
import type { StorageDeclaration } from '../../core/layout.js';
import type { ResultPackingOptions } from '../../core/result-packs.js';
import { DataStore } from '../constructs/data-store.js';
import { Ec2WorkerFleet } from '../constructs/ec2-worker-fleet.js';
import { FargateWorkerFleet } from '../constructs/fargate-worker-fleet.js';
import { addQueueOutputs, defaultQueueOf, JobQueue } from '../constructs/job-queue.js';
import { JobScheduler } from '../constructs/job-scheduler.js';
import { Monitoring } from '../constructs/monitoring.js';
import type { WorkerFleetBase } from '../constructs/worker-fleet-base.js';
import {
  CHANGES_QUEUE_OUTPUT,
  DEFAULT_DEPLOYMENT,
  DEFAULT_SCHEDULES,
  type DeploymentDefinition,
  STACK_OUTPUTS,
} from '../definitions.js';
import { DEFAULT_SCALING, type ScalingPolicy } from '../scaling.js';

export interface PrimaryStackProps extends StackProps {
  /**
   * Send the data bucket's object events to a changes queue (output `ChangesQueueUrl`), which
   * `flotilla mirror --follow` reads instead of listing the bucket every second.
   * @default false
   */
  readonly changeNotifications?: boolean;
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
   * How a worker's free job slot picks among the queues: strict priority, or each queue's
   * weight's share while all have jobs (docs/queues.md).
   * @default 'priority'
   */
  readonly queueMode?: 'priority' | 'weighted';
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
   * EC2 instance types, volume size, bundle path, and your command handlers' code and packages.
   * @default - see Ec2WorkerFleetProps
   */
  readonly ec2?: {
    readonly instanceTypes?: readonly string[];
    readonly rootVolumeGiB?: number;
    readonly bundlePath?: string;
    readonly codePath?: string;
    readonly packages?: readonly string[];
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
  /**
   * The deployment's own key prefixes and buckets (cdk.json `storage`), merged into the bucket
   * layout that every role's grants follow.
   * @default - the built-in layout (core/layout.ts) only
   */
  readonly storage?: StorageDeclaration;
  /**
   * Job types bound to commands in the worker image (cdk.json `exec`), passed to the fleet.
   * @default - no command handlers
   */
  readonly exec?: Readonly<Record<string, CommandBindingConfig>>;
  /**
   * Result packing for the fleet's workers (cdk.json `resultPacking`).
   * @default - off: one conditional PUT per result
   */
  readonly resultPacking?: ResultPackingOptions;
  /**
   * Your handlers file, bundled with the worker runtime into what the fleet ships
   * (WorkerFleetBaseProps.handlers).
   * @default - the built-in job types only
   */
  readonly handlers?: string;
}

/** Queues, data store, worker fleet and monitoring: what `cdk deploy` gives a user. */
export class PrimaryStack extends Stack {
  /** The 'default' job queue. */
  readonly jobQueue: JobQueue;
  /** Every job queue (each with its DLQ and alarms), highest priority first. */
  readonly jobQueues: JobQueue[];
  readonly dataStore: DataStore;
  readonly fleet: WorkerFleetBase;
  readonly monitoring: Monitoring;
  /** EventBridge Scheduler: the group, the send-only role and the declared recurring jobs. */
  readonly jobScheduler: JobScheduler;
  /**
   * A role that submits jobs (send, upload inputs and claim-check payloads), reads results,
   * errors and outputs, and redrives the DLQ; nothing else.
   */
  readonly submitterRole: iam.Role;
  /** A role that exports the deployment to a folder and restores the bucket's objects into it. */
  readonly exporterRole: iam.Role;

  constructor(scope: Construct, id: string, props: PrimaryStackProps = {}) {
    super(scope, id, props);
    const deployment = props.deployment ?? DEFAULT_DEPLOYMENT;
    this.monitoring = new Monitoring(this, 'Monitoring', {
      ...(props.alarmEmail ? { alarmEmail: props.alarmEmail } : {}),
    });
    this.jobQueues = JobQueue.forDeployment(this, deployment, { alarmTopic: this.monitoring.alarmTopic });
    this.jobQueue = defaultQueueOf(this.jobQueues);
    this.dataStore = new DataStore(this, 'DataStore', {
      definition: deployment.bucket,
      changeNotifications: props.changeNotifications ?? false,
      removeOnDelete: props.removeDataOnDelete ?? false,
    });
    this.jobScheduler = new JobScheduler(this, 'JobScheduler', {
      queues: Object.fromEntries(this.jobQueues.map((q) => [q.name, q.queue])),
      schedules: deployment.schedules ?? DEFAULT_SCHEDULES,
    });
    const common = {
      jobQueue: this.jobQueue,
      jobQueues: this.jobQueues,
      ...(props.queueMode ? { queueMode: props.queueMode } : {}),
      dataStore: this.dataStore,
      scaling: props.scaling ?? DEFAULT_SCALING,
      ...(props.spotShare !== undefined ? { spotShare: props.spotShare } : {}),
      ...(props.drainSeconds !== undefined ? { drainTime: Duration.seconds(props.drainSeconds) } : {}),
      ...(props.storage ? { storage: props.storage } : {}),
      ...(props.exec ? { exec: props.exec } : {}),
      ...(props.resultPacking ? { resultPacking: props.resultPacking } : {}),
      ...(props.handlers ? { handlers: props.handlers } : {}),
    };
    this.fleet =
      (props.fleet ?? 'fargate') === 'fargate'
        ? new FargateWorkerFleet(this, 'FargateFleet', { ...common, ...props.fargate })
        : new Ec2WorkerFleet(this, 'Ec2Fleet', { ...common, ...props.ec2 });
    this.monitoring.addFleet(this.jobQueues, this.fleet);
    const layout = this.fleet.layout;
    // `--stack NAME` reads the queue, DLQ and bucket from this stack's outputs.
    const thisStack = this.formatArn({
      service: 'cloudformation',
      resource: 'stack',
      resourceName: `${this.stackName}/*`,
    });

    this.submitterRole = new iam.Role(this, 'SubmitterRole', {
      assumedBy: new iam.AccountRootPrincipal(),
      description:
        'Submit Flotilla jobs, cancel them, read their results and progress, redrive the DLQ; nothing else',
    });
    for (const { queue, deadLetterQueue } of this.jobQueues) {
      queue.grantSendMessages(this.submitterRole);
      // `flotilla dlq list | redrive`: receive, unhide or delete DLQ messages.
      deadLetterQueue.grantConsumeMessages(this.submitterRole);
    }
    this.dataStore.grantLayout(this.submitterRole, this.submitterRole, layout, 'submitter');
    iam.Grant.addToPrincipal({
      grantee: this.submitterRole,
      actions: ['cloudformation:DescribeStacks'],
      resourceArns: [thisStack],
    });

    this.exporterRole = new iam.Role(this, 'ExporterRole', {
      assumedBy: new iam.AccountRootPrincipal(),
      description:
        "Export this deployment to a folder (objects, settings, DLQ) and restore the bucket's objects",
    });
    this.dataStore.grantLayout(this.exporterRole, this.exporterRole, layout, 'exporter');
    // The follower (`flotilla mirror --follow`) reads the bucket's object events.
    this.dataStore.changesQueue?.grantConsumeMessages(this.exporterRole);
    // The bucket's settings, saved with the export (versioning, lifecycle, encryption, tags).
    iam.Grant.addToPrincipal({
      grantee: this.exporterRole,
      actions: [
        's3:GetBucketVersioning',
        's3:GetLifecycleConfiguration',
        's3:GetEncryptionConfiguration',
        's3:GetBucketTagging',
      ],
      resourceArns: [this.dataStore.bucket.bucketArn],
    });
    // Every queue's attributes; the DLQs' messages read and made visible again (--include-dlq),
    // and sent back on restore.
    iam.Grant.addToPrincipal({
      grantee: this.exporterRole,
      actions: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
      resourceArns: this.jobQueues.flatMap((q) => [q.queue.queueArn, q.deadLetterQueue.queueArn]),
    });
    iam.Grant.addToPrincipal({
      grantee: this.exporterRole,
      actions: ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:SendMessage'],
      resourceArns: this.jobQueues.map((q) => q.deadLetterQueue.queueArn),
    });
    iam.Grant.addToPrincipal({
      grantee: this.exporterRole,
      actions: ['cloudformation:DescribeStacks', 'cloudformation:GetTemplate'],
      resourceArns: [thisStack],
    });
    for (const role of [this.submitterRole, this.exporterRole]) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/${this.stackName}/*]`,
        reason: "This stack only; the '*' is the stack id CloudFormation assigns at creation.",
      });
    }

    addQueueOutputs(this, this.jobQueues);
    new CfnOutput(this, STACK_OUTPUTS.bucket, { value: this.dataStore.bucket.bucketName });
    if (this.dataStore.changesQueue)
      new CfnOutput(this, CHANGES_QUEUE_OUTPUT, { value: this.dataStore.changesQueue.queueUrl });
    new CfnOutput(this, STACK_OUTPUTS.dashboard, { value: this.monitoring.dashboardUrl });
    new CfnOutput(this, 'SubmitterRoleArn', { value: this.submitterRole.roleArn });
    new CfnOutput(this, 'ExporterRoleArn', { value: this.exporterRole.roleArn });
  }
}
