/** `flotilla restore --from DIR`: recreate a deployment from an export folder on any endpoint. */
import { resolve } from 'node:path';
import { describeError, formatBytes, UsageError } from '../../core/errors.js';
import { restoreDeployment } from '../sync/restore.js';
import { CONNECTION, resolveTarget } from '../target.js';
import { intOption, parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla restore --from DIR [--endpoint URL | --profile NAME --region NAME] [options]

Creates the exported queues (with their attributes and redrive policy) and buckets (versioning,
lifecycle, encryption, tags where the target supports them) through the SQS and S3 APIs, then
uploads every object under its original key and verifies each one after upload.

  --from DIR          the export folder
  --bucket NAME       restore the bucket under another name
  --include-dlq       also send the saved DLQ messages to the target's DLQ
  --deploy-stack NAME create the queues and bucket as the data-plane CloudFormation stack NAME
                      (built from the exported settings, no bootstrap needed), then fill them
  --data-only         do not create queues or buckets (they exist already under the same names)
  --dry-run           print the uploads planned (to stdout), change nothing
  --concurrency N     uploads in flight (default 16)
  --quiet             no progress line`;

export const main: CommandMain = async ({ argv, env, err, out }) => {
  const { values, help } = parseCommand<Record<string, string | boolean | undefined>>(
    argv,
    {
      options: {
        from: { type: 'string' },
        bucket: { type: 'string' },
        'include-dlq': { type: 'boolean' },
        'data-only': { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        'deploy-stack': { type: 'string' },
        concurrency: { type: 'string' },
        quiet: { type: 'boolean' },
      },
      usage: USAGE,
      where: CONNECTION,
    },
    out,
  );
  if (help) return 0;
  if (typeof values.from !== 'string' || values.from === '')
    throw new UsageError('restore needs --from DIR; see --help');
  const concurrency = intOption(values.concurrency, 'concurrency', { min: 1, max: 256 }) ?? 16;
  const bucket = values.bucket;
  // Only where to connect: the bucket flag renames, and queue/stack flags name no source here.
  const target = await resolveTarget(
    {
      ...(typeof values.endpoint === 'string' ? { endpoint: values.endpoint } : {}),
      ...(typeof values.region === 'string' ? { region: values.region } : {}),
      ...(typeof values.profile === 'string' ? { profile: values.profile } : {}),
    },
    { ...env, FLOTILLA_STACK: undefined, FLOTILLA_BUCKET: undefined, FLOTILLA_QUEUE_URL: undefined },
  );
  try {
    const common = {
      target,
      dir: resolve(values.from),
      includeDlq: values['include-dlq'] === true,
      concurrency,
      progress: err,
      quiet: values.quiet === true,
    };
    const stackName = values['deploy-stack'];
    if (typeof stackName === 'string' && (typeof bucket === 'string' || values['data-only'])) {
      throw new UsageError('--deploy-stack names the bucket itself; drop --bucket and --data-only');
    }
    const dryRun = values['dry-run'] === true;
    if (typeof stackName === 'string' && dryRun)
      throw new UsageError('--dry-run plans the uploads into existing buckets; drop --deploy-stack');
    const r =
      typeof stackName === 'string'
        ? await (await import('../sync/stack.js')).restoreIntoStack({ ...common, stackName })
        : await restoreDeployment({
            ...common,
            ...(typeof bucket === 'string' ? { bucket } : {}),
            definitions: values['data-only'] !== true,
            dryRun,
            out,
          });
    if (dryRun) {
      err.write(
        `dry run: ${r.plan.length} upload(s) planned, ${r.skipped} already there; nothing was changed\n`,
      );
      return 0;
    }
    for (const w of r.warnings) err.write(`warning: ${w}\n`);
    for (const [name, url] of r.queueUrls) out.write(`queue ${name} ${url}\n`);
    for (const b of r.buckets) out.write(`bucket ${b}\n`);
    err.write(
      `restored ${r.uploaded} objects (${formatBytes(r.uploadedBytes)}), each verified; ${r.skipped} already there` +
        `${r.messages ? `; ${r.messages} DLQ messages` : ''} in ${r.seconds.toFixed(1)} s\n`,
    );
    if (r.failed.length > 0) {
      for (const f of r.failed.slice(0, 10))
        err.write(`failed: ${JSON.stringify(f.key)}: ${describeError(f.error)}\n`);
      err.write(`${r.failed.length} object(s) failed; run the same command again to retry them.\n`);
      return 1;
    }
    return 0;
  } finally {
    target.sqs.destroy();
    target.s3.destroy();
  }
};
