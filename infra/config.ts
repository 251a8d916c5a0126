/**
 * Environment configuration for the CDK app: one schema, one set of defaults, validated once at
 * the app entry. Configuration lives in CDK context (cdk.json, or `-c`), under the key
 * `flotilla`:
 *
 *   "flotilla": { "environments": { "dev": { "fleet": "fargate", "scaling": { "maxWorkers": 4 } } } }
 *
 * and `cdk deploy -c env=dev` picks one. Queue, bucket and scaling defaults are not repeated
 * here: they come from infra/definitions.ts and infra/scaling.ts, which validate them too.
 */
import { z } from 'zod';
import { TYPE_PATTERN } from '../core/envelope.js';
import { type StorageDeclaration, validateStorage } from '../core/layout.js';
import { resolveResultPacking } from '../core/result-packs.js';
import {
  DEFAULT_BUCKET,
  DEFAULT_QUEUE,
  type DeploymentDefinition,
  resolveDeployment,
} from './definitions.js';
import { DEFAULT_SCALING, resolveScaling, type ScalingPolicy } from './scaling.js';

/** The context key holding Flotilla's configuration. */
export const CONFIG_CONTEXT_KEY = 'flotilla';
/** The context key choosing the environment (`-c env=prod`). */
export const ENV_CONTEXT_KEY = 'env';
export const DEFAULT_ENVIRONMENT = 'dev';

const account = z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id');
const region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be a region name like 'eu-west-1'");
const positiveInt = z.number().int().positive();

const environmentSchema = z.strictObject({
  /** CloudFormation name of the primary stack; `flotilla submit --stack NAME` uses it. */
  stackName: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,100}$/, 'must start with a letter: letters, digits and - only')
    .optional(),
  account: account.optional(),
  region: region.optional(),
  /** Which compute runs the workers. */
  fleet: z.enum(['fargate', 'ec2']).default('fargate'),
  /** Share of workers on Spot capacity, 0 to 1. */
  spotShare: z.number().min(0).max(1).default(0.7),
  /** Overrides of infra/scaling.ts DEFAULT_SCALING. */
  scaling: z.record(z.string(), z.number()).default({}),
  /** Overrides of infra/definitions.ts DEFAULT_QUEUE. */
  queue: z.record(z.string(), z.number()).default({}),
  /**
   * The job queues, replacing infra/definitions.ts DEFAULT_JOB_QUEUES, e.g.
   * [{ "name": "urgent", "priority": 30 }, { "name": "default", "priority": 20 }].
   */
  queues: z
    .array(
      z.strictObject({
        name: z.string(),
        priority: z.number(),
        weight: z.number().optional(),
        attributes: z.record(z.string(), z.number()).optional(),
      }),
    )
    .optional(),
  /** How a worker's free slot picks a queue: 'priority' (highest first) or 'weighted'. */
  queueMode: z.enum(['priority', 'weighted']).default('priority'),
  /** Overrides of infra/definitions.ts DEFAULT_BUCKET. */
  bucket: z.record(z.string(), z.union([z.number(), z.boolean()])).default({}),
  /** Seconds a worker gets to finish its jobs after SIGTERM (Fargate allows at most 120 s in all). */
  drainSeconds: z.number().int().min(5).max(110).default(90),
  fargate: z
    .strictObject({
      cpu: z
        .union([z.literal(256), z.literal(512), z.literal(1024), z.literal(2048), z.literal(4096)])
        .default(512),
      memoryMiB: positiveInt.default(1024),
      architecture: z.enum(['x86_64', 'arm64']).default('x86_64'),
      /** A prebuilt image (e.g. 'ghcr.io/me/flotilla-worker:1.2'); by default the image is built from workers/Dockerfile. */
      image: z.string().min(1).optional(),
      /**
       * A directory with a Dockerfile, built by Docker at deploy time: an image `FROM` the worker
       * image with your command handlers' runtime and code (docs/workers.md, "Shipping").
       */
      imageDirectory: z.string().min(1).optional(),
    })
    .prefault({}),
  ec2: z
    .strictObject({
      /** Instance types the Spot/on-demand mix may use; more types, fewer Spot interruptions. */
      instanceTypes: z
        .array(z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "must be an instance type like 't3.small'"))
        .min(1)
        .default(['t3.small', 't3a.small', 't2.small']),
      rootVolumeGiB: z.number().int().min(8).max(1024).default(8),
      /** A directory with your command handlers' code, unpacked to /opt/flotilla/app (the working directory). */
      codePath: z.string().min(1).optional(),
      /** Extra dnf packages installed at boot for your command handlers. */
      packages: z
        .array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.+:-]*$/, 'must be a package name'))
        .optional(),
    })
    .prefault({}),
  /** Email address subscribed to the alarm topic. */
  alarmEmail: z.email().optional(),
  /**
   * The deployment's own key prefixes and buckets, and who may use them, e.g.
   * { "prefixes": { "images/": { "worker": ["read"], "submitter": ["write"] } },
   *   "buckets": { "shared-reference-data": { "worker": ["read", "list"] } } }.
   * Merged into the bucket layout (core/layout.ts): the roles' grants and the worker's
   * `ctx.store` checks both follow it.
   */
  storage: z
    .strictObject({
      prefixes: z.record(z.string(), z.record(z.string(), z.array(z.string()))).optional(),
      buckets: z.record(z.string(), z.record(z.string(), z.array(z.string()))).optional(),
    })
    .optional(),
  /**
   * Job types bound to commands in the worker image, e.g. { "thumbnail": "python3 /app/thumbnail.py",
   * "ocr": { "command": "/app/ocr", "timeoutSeconds": 300 } }: the fleet's workers get them as
   * FLOTILLA_EXEC (docs/workers.md, "Command handlers").
   */
  exec: z
    .record(
      z
        .string()
        .regex(TYPE_PATTERN, 'job type must be a letter followed by up to 63 letters, digits or _.:-'),
      z.union([
        z.string().min(1),
        z.strictObject({ command: z.string().min(1), timeoutSeconds: positiveInt.optional() }),
      ]),
    )
    .optional(),
  /**
   * Result packing for the fleet's workers (docs/workers.md, "Result packing"): `true` for the
   * defaults, or some of { "maxJobs": 50, "maxDelayMs": 50, "maxBytes": 65536 }. Off by default.
   */
  resultPacking: z
    .union([
      z.boolean(),
      z.strictObject({
        maxJobs: z.number().optional(),
        maxDelayMs: z.number().optional(),
        maxBytes: z.number().optional(),
      }),
    ])
    .optional(),
  /**
   * Your handlers file, e.g. "src/handlers.ts" (relative to where `cdk` runs): bundled with the
   * worker runtime at synth time into what the fleet ships, beside the built-in job types
   * (WorkerFleetBaseProps.handlers). By default the fleet ships the built-in job types only.
   */
  handlers: z.string().min(1).optional(),
  /**
   * Deploy the primary stack without `cdk bootstrap`: its file assets (the EC2 worker bundle,
   * custom-resource code) go to this existing bucket, uploaded with the deploying credentials.
   * By default the stack uses the bootstrapped environment's asset bucket and roles.
   */
  assetBucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a bucket name')
    .optional(),
  /** Delete the data bucket (and its objects) with the stack. By default it is retained. */
  removeDataOnDelete: z.boolean().default(false),
  /** Send the data bucket's object events to a changes queue for `flotilla mirror --follow`. */
  changeNotifications: z.boolean().default(false),
  /** Days to keep worker logs. */
  logRetentionDays: positiveInt.default(30),
  /** Where the data-plane copy goes (a secondary region or account). */
  dataPlane: z
    .strictObject({
      stackName: z.string().optional(),
      account: account.optional(),
      region: region.optional(),
      /** Deploy without `cdk bootstrap` (the stack has no assets); needed for moto. */
      bootstrapless: z.boolean().default(true),
    })
    .prefault({}),
});

const configSchema = z.strictObject({
  environments: z.record(z.string().regex(/^[a-z][a-z0-9-]*$/), environmentSchema),
});

type RawEnvironment = z.infer<typeof environmentSchema>;

/** One environment's configuration, resolved and validated. */
export interface FlotillaConfig
  extends Omit<RawEnvironment, 'scaling' | 'queue' | 'queues' | 'bucket' | 'stackName' | 'dataPlane'> {
  /** The environment's name, e.g. 'dev'. */
  readonly environment: string;
  readonly stackName: string;
  readonly scaling: ScalingPolicy;
  readonly deployment: DeploymentDefinition;
  readonly dataPlane: RawEnvironment['dataPlane'] & { readonly stackName: string };
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Resolve environment `envName` from the raw context value: defaults filled in, every problem
 * collected into one error whose lines name the offending path.
 */
export function resolveConfig(raw: unknown, envName: string = DEFAULT_ENVIRONMENT): FlotillaConfig {
  const where = `cdk context '${CONFIG_CONTEXT_KEY}'`;
  let value = raw ?? { environments: { [envName]: {} } };
  if (typeof value === 'string') {
    // `cdk deploy -c flotilla='{...}'` passes the value as a string.
    try {
      value = JSON.parse(value);
    } catch (err) {
      throw new ConfigError(`${where} is not valid JSON: ${(err as Error).message}`);
    }
  }
  const parsed = configSchema.safeParse(value);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid ${where}:\n${lines.join('\n')}`);
  }
  const env = parsed.data.environments[envName];
  if (!env) {
    const known = Object.keys(parsed.data.environments);
    throw new ConfigError(
      `environment '${envName}' is not in ${where}.environments; known: ${known.join(', ') || '(none)'} (choose with -c ${ENV_CONTEXT_KEY}=NAME)`,
    );
  }
  const problems: string[] = [];
  const attempt = <T>(label: string, f: () => T): T | undefined => {
    try {
      return f();
    } catch (err) {
      problems.push(`  environments.${envName}.${label}: ${(err as Error).message}`);
      return undefined;
    }
  };
  const unknownKeys = (label: string, given: object, known: object) => {
    for (const k of Object.keys(given)) {
      if (!(k in known)) problems.push(`  environments.${envName}.${label}.${k}: unknown setting`);
    }
  };
  const scaling = attempt('scaling', () => resolveScaling(env.scaling as Partial<ScalingPolicy>));
  unknownKeys('scaling', env.scaling, DEFAULT_SCALING);
  const deployment = attempt('queue/bucket', () =>
    resolveDeployment({
      queue: env.queue,
      bucket: env.bucket,
      ...(env.queues ? { queues: env.queues } : {}),
    } as Parameters<typeof resolveDeployment>[0]),
  );
  unknownKeys('queue', env.queue, DEFAULT_QUEUE);
  unknownKeys('bucket', env.bucket, DEFAULT_BUCKET);
  for (const p of validateStorage((env.storage ?? {}) as StorageDeclaration))
    problems.push(`  environments.${envName}.${p}`);
  if (typeof env.resultPacking === 'object') {
    const found: string[] = [];
    resolveResultPacking(env.resultPacking, found);
    for (const p of found) problems.push(`  environments.${envName}.${p}`);
  }
  if (problems.length > 0 || !scaling || !deployment) {
    throw new ConfigError(`invalid ${where}:\n${problems.join('\n')}`);
  }
  const stackName = env.stackName ?? `flotilla-${envName}`;
  return {
    ...env,
    environment: envName,
    stackName,
    scaling,
    deployment,
    dataPlane: { ...env.dataPlane, stackName: env.dataPlane.stackName ?? `${stackName}-data-plane` },
  };
}
