import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { DataStore } from '../constructs/data-store.js';
import { addQueueOutputs, defaultQueueOf, JobQueue } from '../constructs/job-queue.js';
import {
  CHANGES_QUEUE_OUTPUT,
  DEFAULT_DEPLOYMENT,
  type DeploymentDefinition,
  STACK_OUTPUTS,
} from '../definitions.js';

export interface DataPlaneStackProps extends StackProps {
  /**
   * Send the data bucket's object events to a changes queue (output `ChangesQueueUrl`), which
   * `flotilla mirror --follow` reads instead of listing the bucket every second.
   * @default false
   */
  readonly changeNotifications?: boolean;
  /**
   * Queue and bucket settings; the same data the primary stack uses.
   * @default DEFAULT_DEPLOYMENT from infra/definitions.ts
   */
  readonly deployment?: DeploymentDefinition;
  /**
   * Delete the buckets with the stack (they must be empty: this stack carries no
   * object-deleting Lambda, so that it needs no assets).
   * @default false
   */
  readonly removeDataOnDelete?: boolean;
}

/**
 * Queues (every job queue, each with its DLQ) and buckets only, from the same definitions as the primary stack: the scaled-down
 * copy in a second region, account or emulator that `flotilla mirror` fills. No compute, no
 * alarms, no assets (so it deploys without `cdk bootstrap` when given a BootstraplessSynthesizer).
 */
export class DataPlaneStack extends Stack {
  /** The 'default' job queue. */
  readonly jobQueue: JobQueue;
  /** Every job queue, highest priority first. */
  readonly jobQueues: JobQueue[];
  readonly dataStore: DataStore;

  constructor(scope: Construct, id: string, props: DataPlaneStackProps = {}) {
    super(scope, id, props);
    const deployment = props.deployment ?? DEFAULT_DEPLOYMENT;
    this.jobQueues = JobQueue.forDeployment(this, deployment, { alarms: false });
    this.jobQueue = defaultQueueOf(this.jobQueues);
    this.dataStore = new DataStore(this, 'DataStore', {
      definition: deployment.bucket,
      changeNotifications: props.changeNotifications ?? false,
      removeOnDelete: props.removeDataOnDelete ?? false,
      autoDeleteObjects: false,
    });
    addQueueOutputs(this, this.jobQueues);
    new CfnOutput(this, STACK_OUTPUTS.bucket, { value: this.dataStore.bucket.bucketName });
    if (this.dataStore.changesQueue)
      new CfnOutput(this, CHANGES_QUEUE_OUTPUT, { value: this.dataStore.changesQueue.queueUrl });
  }
}
