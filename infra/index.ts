/**
 * `flotilla/cdk`: the constructs and stacks a user composes into their own CDK app. aws-cdk-lib
 * and constructs are peer dependencies: the app and Flotilla share the app's one copy.
 */
export type {
  Access,
  ExtraBucketDeclaration,
  Grants,
  PrefixDeclaration,
  Principal,
  StorageDeclaration,
} from '../core/layout.js';
export {
  CONFIG_CONTEXT_KEY,
  ConfigError,
  DEFAULT_ENVIRONMENT,
  ENV_CONTEXT_KEY,
  type FlotillaConfig,
  resolveConfig,
} from './config.js';
export { DataStore, type DataStoreProps } from './constructs/data-store.js';
export {
  DRAIN_LIFECYCLE_HOOK_NAME,
  Ec2WorkerFleet,
  type Ec2WorkerFleetProps,
} from './constructs/ec2-worker-fleet.js';
export {
  FargateWorkerFleet,
  type FargateWorkerFleetProps,
  workerImageFromRepository,
} from './constructs/fargate-worker-fleet.js';
export { JobQueue, type JobQueueProps } from './constructs/job-queue.js';
export { Monitoring, type MonitoringProps } from './constructs/monitoring.js';
export {
  WORKER_FLEET_DEFAULTS,
  WorkerFleetBase,
  type WorkerFleetBaseProps,
} from './constructs/worker-fleet-base.js';
export {
  type BucketDefinition,
  DEFAULT_BUCKET,
  DEFAULT_DEPLOYMENT,
  DEFAULT_JOB_QUEUES,
  DEFAULT_QUEUE,
  type DeploymentDefinition,
  type JobQueueDeclaration,
  type JobQueueDefinition,
  jobQueues,
  type QueueDefinition,
  resolveDeployment,
  resourceNames,
  STACK_OUTPUTS,
} from './definitions.js';
export { DEFAULT_SCALING, resolveScaling, type ScalingPolicy } from './scaling.js';
export { DataPlaneStack, type DataPlaneStackProps } from './stacks/data-plane-stack.js';
export { PrimaryStack, type PrimaryStackProps } from './stacks/primary-stack.js';
