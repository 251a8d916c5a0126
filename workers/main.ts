/**
 * The worker the fleets ship: `runBundledWorker(handlers)` is all the bundle's entry does (the
 * prebuilt dist/worker.js with the built-in handlers, or a fleet's `handlers` bundled at synth
 * time, infra/constructs/worker-bundle.ts). The only place the worker runtime reads
 * process.env. Everything is configured by environment variables so one image serves every
 * deployment.
 *
 *   FLOTILLA_QUEUE_URL      job queue (required; the 'default' one when FLOTILLA_QUEUES is set)
 *   FLOTILLA_BUCKET         data bucket (required)
 *   FLOTILLA_DLQ_URL        dead-letter queue (default: the queue's redrive target)
 *   FLOTILLA_QUEUES         every queue to serve, highest priority first: a JSON array of
 *                           { name, url, dlqUrl?, weight? } (default: FLOTILLA_QUEUE_URL alone)
 *   FLOTILLA_QUEUE_MODE     priority | weighted: how a free slot picks a queue (default priority)
 *   FLOTILLA_QUEUE_WAIT_SECONDS with several queues, the wait on each once all are empty (default 1)
 *   FLOTILLA_CONCURRENCY    jobs at once in this process (default 16)
 *   FLOTILLA_DRAIN_SECONDS  how long SIGTERM waits for running jobs (default 90)
 *   FLOTILLA_WAIT_SECONDS   long-poll wait (default 20)
 *   FLOTILLA_RETRY_BASE_MS  first retry delay, doubling per attempt (default 5000)
 *   FLOTILLA_MAX_ATTEMPTS   failed attempts before the DLQ (default: the queue's maxReceiveCount)
 *   FLOTILLA_RESULT_PACKING write the results of small jobs finishing together as one object:
 *                           'on', or some of maxJobs=N,maxDelayMs=N,maxBytes=N (default off;
 *                           see docs/workers.md, "Result packing")
 *   FLOTILLA_DLQ_CHECK_SECONDS how often the DLQ is checked for jobs without a final record (default 60)
 *   FLOTILLA_ISOLATION      where jobs run: 'suspects' (default), 'always' or 'never', for every
 *                           type or as TYPE=MODE,... (see docs/workers.md, "Isolation")
 *   FLOTILLA_MEMORY_LIMIT_MB heap limit of the child processes of the types FLOTILLA_ISOLATION names
 *   FLOTILLA_MAX_JOBS_PER_CHILD jobs a child runs before it is replaced (default 100)
 *   FLOTILLA_EXEC           job types bound to commands, as JSON: {"thumbnail": "python3 thumbnail.py"}
 *                           or {"ocr": {"command": "./bin/ocr", "timeoutSeconds": 300}}
 *                           (cdk.json `exec`; see docs/workers.md, "Command handlers")
 *   FLOTILLA_HANDLER_CHILD  set by the worker itself when it starts this bundle as a handler child
 *   FLOTILLA_LOG_LEVEL      debug | info | warn | error (default info)
 *   FLOTILLA_METRICS        emf | json: the stats lines as CloudWatch EMF or plain JSON
 *                           (default emf inside an ECS task, json elsewhere)
 *   FLOTILLA_STATS_SECONDS  how often the stats lines are written (default 30)
 *   FLOTILLA_SCALE_IN_GUARD none | ecs | asg: take scale-in protection while busy (default none)
 *   FLOTILLA_ASG_NAME       the Auto Scaling group, for 'asg' (default: found through IMDS)
 *   FLOTILLA_SPOT_NOTICE    imds | none: drain on the EC2 Spot interruption notice
 *                           (default imds with the 'asg' guard, i.e. on the EC2 fleet)
 *   AWS_EC2_METADATA_SERVICE_ENDPOINT  IMDS (default http://169.254.169.254)
 *   FLOTILLA_STORAGE        the deployment's own prefixes and buckets (JSON, cdk.json `storage`),
 *                           merged into the bucket layout the store enforces (default: none)
 *   ECS_AGENT_URI           set by ECS in every task, for 'ecs'
 *   AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID...
 */
import { S3Store } from '../core/adapters/s3-store.js';
import { endpointFromEnv, s3Client } from '../core/aws.js';
import { parseExecConfig } from '../core/command-bindings.js';
import { type BucketLayout, DATA_LAYOUT, extendLayout } from '../core/layout.js';
import { type NamedQueue, parseQueuesJson } from '../core/queue-list.js';
import { parseResultPacking, type ResultPackingOptions } from '../core/result-packs.js';
import { addHandlers, type HandlersModule } from './handlers/handlers-module.js';
import { applyIsolationSpec, builtinHandlers } from './handlers/index.js';
import { Imds } from './runtime/imds.js';
import { registerCommands } from './runtime/isolation/command-handler.js';
import { runHandlerChild } from './runtime/isolation/handler-child.js';
import { thisProgram } from './runtime/isolation/handler-pool.js';
import { CHILD_ENV } from './runtime/isolation/protocol.js';
import { LayoutStore } from './runtime/layout-store.js';
import { jsonLogger, type LogLevel } from './runtime/logger.js';
import { metricsFormat } from './runtime/metrics.js';
import { runWorkerProcess } from './runtime/process.js';
import type { QueueMode } from './runtime/queue-picker.js';
import { createScaleInGuard, parseScaleInGuardKind } from './runtime/scale-in-guard.js';
import { watchSpotInterruption } from './runtime/spot-interruption.js';

function num(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    process.stderr.write(`worker: ${name} must be a number >= 0, got '${raw}'\n`);
    process.exit(2);
  }
  return n;
}

async function main(extra: HandlersModule | undefined): Promise<number> {
  const env = process.env;
  const log = jsonLogger({ level: (env.FLOTILLA_LOG_LEVEL as LogLevel | undefined) ?? 'info' });
  const queueUrl = env.FLOTILLA_QUEUE_URL;
  const bucket = env.FLOTILLA_BUCKET;
  if (!queueUrl || !bucket) {
    log.error('FLOTILLA_QUEUE_URL and FLOTILLA_BUCKET must be set');
    return 2;
  }
  let endpoint: ReturnType<typeof endpointFromEnv>;
  try {
    endpoint = endpointFromEnv(env);
  } catch (err) {
    log.error((err as Error).message);
    return 2;
  }
  const handlers = builtinHandlers();
  if (extra) {
    try {
      addHandlers(handlers, extra);
    } catch (err) {
      log.error(`handlers: ${(err as Error).message}`);
      return 2;
    }
  }
  if (env.FLOTILLA_ISOLATION) {
    try {
      applyIsolationSpec(handlers, env.FLOTILLA_ISOLATION, {
        ...(env.FLOTILLA_MEMORY_LIMIT_MB ? { memoryLimitMb: num('FLOTILLA_MEMORY_LIMIT_MB', 0) } : {}),
        ...(env.FLOTILLA_MAX_JOBS_PER_CHILD
          ? { maxJobsPerChild: num('FLOTILLA_MAX_JOBS_PER_CHILD', 1) }
          : {}),
      });
    } catch (err) {
      log.error(`FLOTILLA_ISOLATION: ${(err as Error).message}`);
      return 2;
    }
  }
  // After FLOTILLA_ISOLATION: a command is a process of its own, never in a pool's child.
  if (env.FLOTILLA_EXEC) {
    try {
      registerCommands(handlers, parseExecConfig(env.FLOTILLA_EXEC), { bucket, endpoint, env });
    } catch (err) {
      log.error(`FLOTILLA_EXEC: ${(err as Error).message}`);
      return 2;
    }
  }
  let layout: BucketLayout;
  try {
    layout = extendLayout(DATA_LAYOUT, env.FLOTILLA_STORAGE ? JSON.parse(env.FLOTILLA_STORAGE) : {});
  } catch (err) {
    log.error(`FLOTILLA_STORAGE: ${(err as Error).message}`);
    return 2;
  }
  if (env[CHILD_ENV] === '1') {
    // Started again by the worker to run isolated jobs: the same handlers and layout, no polling.
    const store = new LayoutStore(new S3Store(s3Client(endpoint), bucket), layout, 'worker');
    return runHandlerChild({ handlers, store });
  }
  let guardKind: ReturnType<typeof parseScaleInGuardKind>;
  let metrics: ReturnType<typeof metricsFormat>;
  let spotNotice: string;
  try {
    guardKind = parseScaleInGuardKind(env.FLOTILLA_SCALE_IN_GUARD);
    // ECS sets its metadata endpoint in every task; its logs go to CloudWatch Logs.
    metrics = metricsFormat(env.FLOTILLA_METRICS, Boolean(env.ECS_CONTAINER_METADATA_URI_V4));
    spotNotice = (env.FLOTILLA_SPOT_NOTICE || (guardKind === 'asg' ? 'imds' : 'none')).toLowerCase();
    if (spotNotice !== 'imds' && spotNotice !== 'none')
      throw new Error(`FLOTILLA_SPOT_NOTICE must be imds or none; got '${env.FLOTILLA_SPOT_NOTICE}'`);
  } catch (err) {
    log.error((err as Error).message);
    return 2;
  }
  let queues: NamedQueue[] | undefined;
  try {
    queues = env.FLOTILLA_QUEUES ? parseQueuesJson(env.FLOTILLA_QUEUES) : undefined;
  } catch (err) {
    log.error(`FLOTILLA_QUEUES: ${(err as Error).message}`);
    return 2;
  }
  const queueMode = (env.FLOTILLA_QUEUE_MODE || 'priority') as QueueMode;
  if (queueMode !== 'priority' && queueMode !== 'weighted') {
    log.error(`FLOTILLA_QUEUE_MODE must be priority or weighted; got '${env.FLOTILLA_QUEUE_MODE}'`);
    return 2;
  }
  let resultPacking: ResultPackingOptions | undefined;
  try {
    resultPacking = parseResultPacking(env.FLOTILLA_RESULT_PACKING ?? '');
  } catch (err) {
    log.error(`FLOTILLA_RESULT_PACKING: ${(err as Error).message}`);
    return 2;
  }
  const imdsUrl = env.AWS_EC2_METADATA_SERVICE_ENDPOINT || undefined;
  const scaleInGuard = createScaleInGuard({
    kind: guardKind,
    endpoint,
    ...(imdsUrl ? { imdsUrl } : {}),
    ...(env.ECS_AGENT_URI ? { ecsAgentUri: env.ECS_AGENT_URI } : {}),
    ...(env.FLOTILLA_ASG_NAME ? { asgName: env.FLOTILLA_ASG_NAME } : {}),
    log: (msg, fields) => log.warn(msg, fields),
  });
  return runWorkerProcess({
    endpoint,
    scaleInGuard,
    queueUrl,
    bucket,
    ...(env.FLOTILLA_DLQ_URL ? { dlqUrl: env.FLOTILLA_DLQ_URL } : {}),
    ...(queues ? { queues } : {}),
    handlers,
    layout,
    log,
    metrics,
    ...(spotNotice === 'imds'
      ? {
          watchInterruption: (drain: (reason: Record<string, unknown>) => void) =>
            watchSpotInterruption({
              imds: new Imds(imdsUrl ? { url: imdsUrl } : {}),
              onNotice: (notice) => drain({ spot: notice.action, at: notice.time }),
              log: (msg, fields) => log.warn(msg, fields),
            }),
        }
      : {}),
    statsIntervalMs: Math.max(1, num('FLOTILLA_STATS_SECONDS', 30)) * 1000,
    worker: {
      concurrency: num('FLOTILLA_CONCURRENCY', 16),
      drainTimeoutMs: num('FLOTILLA_DRAIN_SECONDS', 90) * 1000,
      waitTimeSeconds: num('FLOTILLA_WAIT_SECONDS', 20),
      queueMode,
      queueWaitSeconds: num('FLOTILLA_QUEUE_WAIT_SECONDS', 1),
      retryBaseDelayMs: num('FLOTILLA_RETRY_BASE_MS', 5000),
      deadLetterCheckMs: num('FLOTILLA_DLQ_CHECK_SECONDS', 60) * 1000,
      ...(env.FLOTILLA_MAX_ATTEMPTS ? { maxAttempts: num('FLOTILLA_MAX_ATTEMPTS', 1) } : {}),
      ...(resultPacking ? { resultPacking } : {}),
      childEntry: thisProgram(),
    },
  });
}

/**
 * Runs the worker configured by the FLOTILLA_* variables above, with the built-in handlers and
 * `handlers` (a handlers file's default export), and exits the process with its code: 0 after a
 * drain, 2 on bad configuration. The entry of the bundle a fleet ships; to run a worker from
 * your own entry file with options of your own, use `startWorker`.
 */
export function runBundledWorker(handlers?: HandlersModule): void {
  main(handlers).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`worker: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
