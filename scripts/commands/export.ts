/** `flotilla export --to DIR`: back up a deployment's definitions and data to a folder. */
import { resolve } from 'node:path';
import { describeError, formatBytes, UsageError } from '../../core/errors.js';
import { exportDeployment } from '../sync/export.js';
import { resolveTarget } from '../target.js';
import { intOption, parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla export --to DIR [--stack NAME | --bucket NAME --queue-url URL] [options]

Writes DIR/flotilla.json (description), DIR/manifest.jsonl, DIR/SHA256SUMS and the objects as
plain files under DIR/objects/<bucket>/. Run again to bring DIR up to date: only new or changed
objects are fetched; an interrupted export resumes.

  --to DIR            the export folder (created if missing)
  --include-dlq       also save the DLQ's messages (read, then made visible again)
  --checksum          re-hash local files instead of trusting size + time against the manifest
  --delete            remove files of objects no longer at the source (never after an error)
  --dry-run           print the plan (copy/update/delete, to stdout); write nothing
  --concurrency N     objects in flight (default 32)
  --quiet             no progress line`;

export const main: CommandMain = async ({ argv, env, err, out }) => {
  const { values, help } = parseCommand<Record<string, string | boolean | undefined>>(
    argv,
    {
      options: {
        to: { type: 'string' },
        'include-dlq': { type: 'boolean' },
        checksum: { type: 'boolean' },
        delete: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        concurrency: { type: 'string' },
        quiet: { type: 'boolean' },
      },
      usage: USAGE,
    },
    out,
  );
  if (help) return 0;
  const dir = values.to;
  if (typeof dir !== 'string' || dir === '') {
    throw new UsageError('export needs --to DIR; see --help');
  }
  const concurrency = intOption(values.concurrency, 'concurrency', { min: 1, max: 256 }) ?? 32;
  const target = await resolveTarget(values, env);
  try {
    const r = await exportDeployment({
      source: target,
      dir: resolve(dir),
      ...(target.bucket ? { bucket: target.bucket } : {}),
      ...(target.queueUrl ? { queueUrl: target.queueUrl } : {}),
      ...(target.dlqUrl ? { dlqUrl: target.dlqUrl } : {}),
      ...(target.queues ? { queues: target.queues } : {}),
      ...(target.stack ? { stack: target.stack } : {}),
      includeDlq: values['include-dlq'] === true,
      checksum: values.checksum === true,
      delete: values.delete === true,
      concurrency,
      dryRun: values['dry-run'] === true,
      out,
      progress: err,
      quiet: values.quiet === true,
    });
    for (const w of r.warnings) err.write(`warning: ${w}\n`);
    if (values['dry-run']) {
      err.write(
        `dry run: ${r.plan.length} change(s) planned, ${r.skipped} unchanged` +
          `${r.relocated ? `, ${r.relocated} to move` : ''}${r.kept ? `, ${r.kept} gone from the source kept` : ''}; nothing was changed\n`,
      );
      return 0;
    }
    const rate = r.seconds > 0 ? r.transferredBytes / r.seconds : 0;
    err.write(
      `exported ${r.objects} objects (${formatBytes(r.bytes)}) to ${dir}: fetched ${r.transferred} (${formatBytes(r.transferredBytes)}, ${formatBytes(rate)}/s), skipped ${r.skipped} unchanged` +
        `${r.relocated ? `, moved ${r.relocated}` : ''}${r.deleted ? `, deleted ${r.deleted}` : ''}${r.kept ? `, kept ${r.kept} gone from the source` : ''}` +
        `${r.dlqMessages ? `, ${r.dlqMessages} DLQ messages` : ''} in ${r.seconds.toFixed(1)} s\n`,
    );
    if (r.failed.length > 0) {
      for (const f of r.failed.slice(0, 10))
        err.write(
          `failed: ${JSON.stringify(f.key)}: ${describeError(f.error, target.endpoint.endpoint ? { endpoint: target.endpoint.endpoint } : {})}\n`,
        );
      err.write(
        `${r.failed.length} object(s) failed; the export is marked incomplete. Run the same command again to resume.\n`,
      );
      return 1;
    }
    return 0;
  } finally {
    target.sqs.destroy();
    target.s3.destroy();
  }
};
