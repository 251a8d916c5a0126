/**
 * The CDK app: reads the configuration once (CDK context `flotilla`, environment chosen with
 * `-c env=NAME`), and builds the primary stack and the data-plane stack from it.
 *
 *   npx cdk synth                      # env 'dev'
 *   npx cdk deploy -c env=prod flotilla-prod
 */
import { fileURLToPath } from 'node:url';
import {
  App,
  BootstraplessSynthesizer,
  CliCredentialsStackSynthesizer,
  type Environment,
  Tags,
} from 'aws-cdk-lib';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
// Through the package's public entry (flotilla/cdk): this app composes what a user's app can.
import {
  CONFIG_CONTEXT_KEY,
  ConfigError,
  DataPlaneStack,
  DEFAULT_ENVIRONMENT,
  ENV_CONTEXT_KEY,
  type FlotillaConfig,
  PrimaryStack,
  resolveConfig,
  type StorageDeclaration,
} from './index.js';

/**
 * The stack's environment: only what the configuration pins. Without an account and region
 * the stack is environment-agnostic: synth needs no credentials, does no lookups (offline),
 * and deploys to whatever account and region the deploying credentials point at.
 */
function environmentOf(account: string | undefined, region: string | undefined): Environment {
  return { ...(account ? { account } : {}), ...(region ? { region } : {}) };
}

/** Where the worker code comes from, when not from this checkout (tests, custom builds). */
export interface WorkerSource {
  /** The bundle file the EC2 fleet ships. @default - dist/worker.js in this repository */
  readonly bundlePath?: string;
  /** The Fargate image. @default - the config's `fargate.image`, else built from workers/Dockerfile */
  readonly image?: ecs.ContainerImage;
}

/** Build both stacks of one environment into `app`. Tests call this with their own App. */
export function buildApp(
  app: App,
  worker: WorkerSource = {},
): { config: FlotillaConfig; primary: PrimaryStack; dataPlane: DataPlaneStack } {
  const envName = String(app.node.tryGetContext(ENV_CONTEXT_KEY) ?? DEFAULT_ENVIRONMENT);
  const config = resolveConfig(app.node.tryGetContext(CONFIG_CONTEXT_KEY), envName);
  const arch =
    config.fargate.architecture === 'arm64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64;

  const primary = new PrimaryStack(app, config.stackName, {
    env: environmentOf(config.account, config.region),
    description: `Flotilla job system (${config.environment}): queues, data store, ${config.fleet} workers, monitoring`,
    fleet: config.fleet,
    deployment: config.deployment,
    queueMode: config.queueMode,
    scaling: config.scaling,
    spotShare: config.spotShare,
    drainSeconds: config.drainSeconds,
    fargate: {
      cpu: config.fargate.cpu,
      memoryLimitMiB: config.fargate.memoryMiB,
      cpuArchitecture: arch,
      ...(worker.image
        ? { image: worker.image }
        : config.fargate.image
          ? { image: ecs.ContainerImage.fromRegistry(config.fargate.image) }
          : config.fargate.imageDirectory
            ? {
                image: ecs.ContainerImage.fromAsset(config.fargate.imageDirectory, {
                  platform: arch === ecs.CpuArchitecture.ARM64 ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
                }),
              }
            : {}),
    },
    ec2: {
      instanceTypes: config.ec2.instanceTypes,
      rootVolumeGiB: config.ec2.rootVolumeGiB,
      ...(worker.bundlePath ? { bundlePath: worker.bundlePath } : {}),
      ...(config.ec2.codePath ? { codePath: config.ec2.codePath } : {}),
      ...(config.ec2.packages ? { packages: config.ec2.packages } : {}),
    },
    ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}),
    removeDataOnDelete: config.removeDataOnDelete,
    changeNotifications: config.changeNotifications,
    ...(config.storage ? { storage: config.storage as StorageDeclaration } : {}),
    ...(config.exec ? { exec: config.exec } : {}),
    ...(config.resultPacking
      ? { resultPacking: config.resultPacking === true ? {} : config.resultPacking }
      : {}),
    ...(config.handlers ? { handlers: config.handlers } : {}),
    ...(config.assetBucket
      ? {
          synthesizer: new CliCredentialsStackSynthesizer({
            fileAssetsBucketName: config.assetBucket,
            bucketPrefix: `${config.stackName}/`,
          }),
        }
      : {}),
  });

  const dataPlane = new DataPlaneStack(app, config.dataPlane.stackName, {
    env: environmentOf(config.dataPlane.account ?? config.account, config.dataPlane.region ?? config.region),
    description: `Flotilla data plane (${config.environment}): queues and buckets only`,
    deployment: config.deployment,
    removeDataOnDelete: config.removeDataOnDelete,
    changeNotifications: config.changeNotifications,
    ...(config.dataPlane.bootstrapless ? { synthesizer: new BootstraplessSynthesizer() } : {}),
  });

  Tags.of(app).add('flotilla:environment', config.environment);
  return { config, primary, dataPlane };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const app = new App();
    buildApp(app);
    app.synth();
  } catch (err) {
    if (err instanceof ConfigError || process.env.FLOTILLA_DEBUG !== '1') {
      process.stderr.write(`flotilla: ${(err as Error).message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
