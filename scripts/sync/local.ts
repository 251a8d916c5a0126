/**
 * `flotilla mirror --to local`: the application off AWS in one command. Brings up the embedded
 * emulator (or uses LocalStack / moto / any endpoint given with --at), restores the latest export
 * (--from DIR) or mirrors the live source, then starts workers against it and runs until Ctrl-C.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { EMULATOR_CREDENTIALS, type EndpointConfig, s3Client, sqsClient } from '../../core/aws.js';
import { UsageError } from '../../core/errors.js';
import type { NamedQueue } from '../../core/queue-list.js';
import { DEFAULT_JOB_QUEUES } from '../../infra/definitions.js';
import { buildWorker } from '../build-worker.js';
import { intOption } from '../commands/args.js';
import type { CommandContext } from '../commands/types.js';
import { resolveTarget } from '../target.js';
import { startDashboard } from '../ui/start.js';
import type { LiveSide } from './describe.js';
import type { QueueDescription } from './folder.js';
import { mirrorDeployment } from './mirror.js';
import { restoreDeployment } from './restore.js';

const priorityOf = (name: string) =>
  DEFAULT_JOB_QUEUES.find((q) => q.name === name)?.priority ?? Number.NEGATIVE_INFINITY;

/**
 * The job queues a restore or a mirror made locally, highest priority first as the definitions
 * rank them (a name they lack goes last), and the first described one (the default) for the CLI.
 */
function jobQueues(
  described: readonly QueueDescription[],
  urls: ReadonlyMap<string, string>,
): { queueUrl: string | undefined; queues: NamedQueue[] } {
  const jobs = described.filter((q) => q.role === 'jobs');
  const queues = jobs
    .flatMap((q) => {
      const url = urls.get(q.name);
      return url ? [{ name: q.jobQueue ?? 'default', url }] : [];
    })
    .sort((a, b) => priorityOf(b.name) - priorityOf(a.name));
  return { queueUrl: jobs[0] ? urls.get(jobs[0].name) : undefined, queues };
}

export const LOCAL_USAGE = `usage: flotilla mirror --to local (--from DIR | [source flags]) [options]

  --from DIR        restore this export (else: mirror the live source given by the usual flags)
  --at URL          use this endpoint (LocalStack, moto, ...) instead of the embedded emulator
  --port N          port for the embedded emulator (default 4566; 0 picks a free one)
  --workers N       worker processes to start from the worker bundle, built if needed (default 1; 0 for none)`;

export async function main(
  ctx: CommandContext,
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  const { env, err, out } = ctx;
  if (values.help) {
    out.write(`${LOCAL_USAGE}\n`);
    return 0;
  }
  const workers = intOption(values.workers, 'workers', { max: 64 }) ?? 1;
  const port = intOption(values.port, 'port', { min: 0, max: 65535 }) ?? 4566;
  let stopEmulator: (() => Promise<void>) | undefined;
  let endpoint: string;
  if (typeof values.at === 'string') {
    endpoint = values.at;
  } else {
    // Loaded only here: the embedded emulator (fauxqs) is needed only for a local copy.
    const { startEmbeddedEmulator } = await import('../emulator.js');
    const emu = await startEmbeddedEmulator(port);
    endpoint = emu.endpoint;
    stopEmulator = () => emu.stop();
    err.write(`embedded emulator (fauxqs) on ${endpoint}\n`);
  }
  const cfg: EndpointConfig = { endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS };
  const local: LiveSide = { endpoint: cfg, sqs: sqsClient(cfg), s3: s3Client(cfg) };
  const children: ChildProcess[] = [];
  try {
    let queueUrl: string | undefined;
    let bucket: string | undefined;
    /** Every job queue restored or mirrored, for the workers (FLOTILLA_QUEUES). */
    let queues: NamedQueue[] = [];
    if (typeof values.from === 'string') {
      const r = await restoreDeployment({ target: local, dir: resolve(values.from), progress: err });
      if (r.failed.length > 0)
        throw new UsageError(`${r.failed.length} object(s) failed to restore; see above`);
      ({ queueUrl, queues } = jobQueues(r.description.queues, r.queueUrls));
      bucket = r.buckets[0];
      err.write(`restored ${r.uploaded} objects from ${values.from}\n`);
    } else {
      const source = await resolveTarget(values, env);
      try {
        const r = await mirrorDeployment({
          source,
          target: local,
          ...(source.bucket ? { bucket: source.bucket } : {}),
          ...(source.queueUrl ? { queueUrl: source.queueUrl } : {}),
          ...(source.dlqUrl ? { dlqUrl: source.dlqUrl } : {}),
          ...(source.queues ? { queues: source.queues } : {}),
          progress: err,
          out,
        });
        if (r.failed.length > 0)
          throw new UsageError(`${r.failed.length} object(s) failed to copy; see above`);
        bucket = source.bucket;
        ({ queueUrl, queues } = jobQueues(r.queues, r.queueUrls));
      } finally {
        source.sqs.destroy();
        source.s3.destroy();
      }
    }
    const vars = {
      AWS_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
      ...(queueUrl ? { FLOTILLA_QUEUE_URL: queueUrl } : {}),
      ...(bucket ? { FLOTILLA_BUCKET: bucket } : {}),
    };
    for (const [k, v] of Object.entries(vars)) out.write(`export ${k}=${v}\n`);
    // The workers serve every restored queue; the CLI finds them beside FLOTILLA_QUEUE_URL.
    const workerVars = { ...vars, ...(queues.length > 1 ? { FLOTILLA_QUEUES: JSON.stringify(queues) } : {}) };
    if (workers > 0 && queueUrl) {
      // The same bundle the fleets run; built here on a fresh clone, as the demo does.
      const { outfile: bundle } = await buildWorker();
      for (let i = 0; i < workers; i++) {
        children.push(
          spawn(process.execPath, [bundle], { env: { ...env, ...workerVars }, stdio: 'inherit' }),
        );
      }
      err.write(`started ${workers} worker(s) against ${queueUrl}\n`);
    }
    if (!stopEmulator && children.length === 0) return 0;
    const ui =
      queueUrl && bucket
        ? await startDashboard({
            sqs: local.sqs,
            s3: local.s3,
            queueUrl,
            bucket,
            ...(queues.length > 0 ? { queues } : {}),
          })
        : undefined;
    err.write(`running; Ctrl-C to stop${ui ? `\ndashboard: ${ui.url}` : ''}\n`);
    await new Promise<void>((done) => {
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    });
    await ui?.stop();
    return 0;
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(
      children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))),
    );
    local.sqs.destroy();
    local.s3.destroy();
    await stopEmulator?.();
  }
}
