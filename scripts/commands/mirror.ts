/** `flotilla mirror --to TARGET`: copy a live deployment to another live endpoint, incrementally. */
import { describeError, formatBytes, UsageError } from '../../core/errors.js';
import type { LiveSide } from '../sync/describe.js';
import { followDeployment } from '../sync/follow.js';
import { mirrorDeployment } from '../sync/mirror.js';
import { closeSide, targetSide } from '../sync/side.js';
import { resolveTarget, type Target } from '../target.js';
import { intOption, parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla mirror --to URL|aws|local [source flags] [options]

Copies the source's queue definitions, bucket settings and objects to the target; only new or
changed objects move. The source is chosen as for every command (--stack, --bucket, --queue-url,
--endpoint, --profile, --region).

  --to URL|aws        the target endpoint, or 'aws' (with --to-region/--to-profile)
  --to local          run a local copy: see 'flotilla mirror --to local --help'
  --to-region NAME    --to-profile NAME
  --to-bucket NAME    the target bucket (default: the source bucket's name)
  --dry-run           print the plan (copy/update/delete), change nothing
  --delete            delete target objects the source no longer has (never after an error)
  --max-delete N      with --delete: if more than N would go, delete none and fail
  --concurrency N     objects in flight (default 32)
  --quiet             no progress line

  --follow            keep going: after a full pass, apply every change of the source (new,
                      overwritten, deleted with --delete) within seconds, until Ctrl-C/SIGTERM
  --interval S        with --follow: seconds between incremental listings (default 1)
  --reconcile S       with --follow: seconds between full passes, definitions included (default 60)
  --status FILE       with --follow: write the recovery point and lag as JSON after every round
  --changes-queue URL with --follow: read the bucket's object events from this queue instead of
                      listing it every interval (default: the stack's ChangesQueueUrl output)`;

export const OPTIONS = {
  to: { type: 'string' },
  'to-region': { type: 'string' },
  'to-profile': { type: 'string' },
  'to-bucket': { type: 'string' },
  'dry-run': { type: 'boolean' },
  delete: { type: 'boolean' },
  'max-delete': { type: 'string' },
  concurrency: { type: 'string' },
  quiet: { type: 'boolean' },
  follow: { type: 'boolean' },
  interval: { type: 'string' },
  reconcile: { type: 'string' },
  status: { type: 'string' },
  'changes-queue': { type: 'string' },
  // --to local
  from: { type: 'string' },
  port: { type: 'string' },
  workers: { type: 'string' },
  at: { type: 'string' },
} as const;

export const main: CommandMain = async (ctx) => {
  const { argv, env, err, out } = ctx;
  // `--to local` has its own usage (printed by sync/local.ts), so the general one is held back.
  const toLocal = argv.some((a, i) => a === '--to=local' || (a === '--to' && argv[i + 1] === 'local'));
  const silent = { write: () => true } as unknown as NodeJS.WritableStream;
  const { values, help } = parseCommand<Record<string, string | boolean | undefined>>(
    argv,
    { options: OPTIONS, usage: USAGE },
    toLocal ? silent : out,
  );
  if (values.to === 'local') {
    const local = await import('../sync/local.js');
    return local.main(ctx, values);
  }
  if (help) return 0;
  if (typeof values.to !== 'string' || values.to === '')
    throw new UsageError('mirror needs --to URL|aws|local; see --help');
  const maxDelete = intOption(values['max-delete'], 'max-delete');
  if (maxDelete !== undefined && values.delete !== true)
    throw new UsageError('--max-delete only makes sense with --delete');
  const concurrency = intOption(values.concurrency, 'concurrency', { min: 1, max: 256 }) ?? 32;
  const source = await resolveTarget(values, env);
  const target = targetSide(values, env);
  try {
    if (values.follow === true) return await follow(values, source, target, ctx, maxDelete, concurrency);
    const r = await mirrorDeployment({
      source,
      target,
      ...(source.bucket ? { bucket: source.bucket } : {}),
      ...(typeof values['to-bucket'] === 'string' ? { targetBucket: values['to-bucket'] } : {}),
      ...(source.queueUrl ? { queueUrl: source.queueUrl } : {}),
      ...(source.dlqUrl ? { dlqUrl: source.dlqUrl } : {}),
      ...(source.queues ? { queues: source.queues } : {}),
      dryRun: values['dry-run'] === true,
      delete: values.delete === true,
      ...(maxDelete !== undefined ? { maxDelete } : {}),
      concurrency,
      progress: err,
      out,
      quiet: values.quiet === true,
    });
    for (const w of r.warnings) err.write(`warning: ${w}\n`);
    if (values['dry-run']) {
      err.write(`dry run: ${r.plan.length} change(s) planned, ${r.skipped} unchanged; nothing was changed\n`);
      return 0;
    }
    err.write(
      `mirrored to ${values.to}: copied ${r.copied} (${formatBytes(r.copiedBytes)}), skipped ${r.skipped} unchanged, deleted ${r.deleted} in ${r.seconds.toFixed(1)} s\n`,
    );
    if (r.deleteRefused) err.write(`${r.deleteRefused}\n`);
    for (const f of r.failed.slice(0, 10))
      err.write(`failed: ${JSON.stringify(f.key)}: ${describeError(f.error)}\n`);
    if (r.failed.length > 0)
      err.write(`${r.failed.length} object(s) failed; run the same command again to retry.\n`);
    return r.failed.length > 0 || r.deleteRefused ? 1 : 0;
  } finally {
    source.sqs.destroy();
    source.s3.destroy();
    closeSide(target);
  }
};

/** `--follow`: run until Ctrl-C or SIGTERM, then finish the round under way and exit 0. */
async function follow(
  values: Record<string, string | boolean | undefined>,
  source: Target,
  target: LiveSide,
  ctx: Parameters<CommandMain>[0],
  maxDelete: number | undefined,
  concurrency: number,
): Promise<number> {
  if (values['dry-run']) throw new UsageError('--follow applies changes; it does not take --dry-run');
  if (!source.bucket)
    throw new UsageError('--follow needs a bucket to follow: --stack NAME or --bucket NAME');
  const intervalS = intOption(values.interval, 'interval', { min: 1, max: 3600 }) ?? 1;
  const reconcileS = intOption(values.reconcile, 'reconcile', { min: 1, max: 86_400 }) ?? 60;
  const changesQueueUrl =
    typeof values['changes-queue'] === 'string' ? values['changes-queue'] : source.changesQueueUrl;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const s = await followDeployment({
      source,
      target,
      bucket: source.bucket,
      ...(typeof values['to-bucket'] === 'string' ? { targetBucket: values['to-bucket'] } : {}),
      ...(source.queueUrl ? { queueUrl: source.queueUrl } : {}),
      ...(source.dlqUrl ? { dlqUrl: source.dlqUrl } : {}),
      delete: values.delete === true,
      ...(maxDelete !== undefined ? { maxDelete } : {}),
      concurrency,
      intervalMs: intervalS * 1000,
      reconcileMs: reconcileS * 1000,
      ...(typeof values.status === 'string' ? { statusFile: values.status } : {}),
      ...(changesQueueUrl ? { changesQueueUrl } : {}),
      signal: stop.signal,
      progress: ctx.err,
      out: ctx.out,
      quiet: values.quiet === true,
    });
    if (s.stoppedBecause) ctx.err.write(`${s.stoppedBecause}\n`);
    ctx.err.write(
      `stopped following: copied ${s.copied}, deleted ${s.deleted}, recovery point ${s.recoveryPointSeconds.toFixed(1)} s, lag p99 ${s.lag.p99Seconds.toFixed(1)} s\n`,
    );
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
