/** `flotilla failover --to URL`: make the standby the active side, moving every pending job. */
import { UsageError } from '../../core/errors.js';
import { failover } from '../sync/failover.js';
import { closeSide, targetSide } from '../sync/side.js';
import { closeTarget, requireBucket, requireQueue, resolveTarget } from '../target.js';
import { intOption, parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla failover --to URL|aws [source flags] [options]

Makes the target (a standby kept warm by 'flotilla mirror --follow') the active side: submitters
and workers are told through a record in both buckets, every pending job moves to the target's
queues (in-flight ones once released, delayed ones when due, the DLQ's to its DLQ), and a final
sync copies results and schedules. Failback is the same command towards the original side.
An interrupted failover is finished by running it again.

  --to URL|aws        the target endpoint, or 'aws' (with --to-region/--to-profile)
  --to-region NAME    --to-profile NAME
  --to-bucket NAME    the target bucket (default: the source bucket's name)
  --wait-seconds S    how long to wait for in-flight and delayed jobs to come back (default 900)
  --dry-run           print what would move, change nothing
  --quiet             no progress lines`;

export const main: CommandMain = async ({ argv, env, err, out }) => {
  const { values, help } = parseCommand<Record<string, string | boolean | undefined>>(
    argv,
    {
      options: {
        to: { type: 'string' },
        'to-region': { type: 'string' },
        'to-profile': { type: 'string' },
        'to-bucket': { type: 'string' },
        'wait-seconds': { type: 'string' },
        'dry-run': { type: 'boolean' },
        quiet: { type: 'boolean' },
      },
      usage: USAGE,
    },
    out,
  );
  if (help) return 0;
  if (typeof values.to !== 'string' || values.to === '')
    throw new UsageError('failover needs --to URL|aws; see --help');
  const waitS = intOption(values['wait-seconds'], 'wait-seconds', { min: 0, max: 43_200 }) ?? 900;
  const source = await resolveTarget(values, env);
  const target = targetSide(values, env);
  try {
    const r = await failover({
      source,
      target,
      bucket: requireBucket(source),
      queueUrl: requireQueue(source),
      ...(source.dlqUrl ? { dlqUrl: source.dlqUrl } : {}),
      ...(typeof values['to-bucket'] === 'string' ? { targetBucket: values['to-bucket'] } : {}),
      dryRun: values['dry-run'] === true,
      waitMs: waitS * 1000,
      progress: err,
      out,
      quiet: values.quiet === true,
    });
    if (values['dry-run']) {
      err.write('dry run: nothing was changed\n');
      return 0;
    }
    const moved = Object.entries(r.moved)
      .map(([q, n]) => `${n} from ${q}`)
      .join(', ');
    if (r.complete) {
      err.write(
        `failed over to ${values.to} in ${r.seconds.toFixed(1)} s: moved ${moved || 'no jobs'}; ${values.to} is active\n`,
      );
      return 0;
    }
    for (const c of r.left)
      err.write(
        `still at the source: ${c.name}: ${c.visible} waiting, ${c.inFlight} in flight, ${c.delayed} delayed\n`,
      );
    if (r.sync && r.sync.failed.length > 0) err.write(`${r.sync.failed.length} object(s) failed to copy\n`);
    err.write(
      `failover not finished (moved ${moved || 'no jobs'}); run the same command again to finish it\n`,
    );
    return 1;
  } finally {
    closeTarget(source);
    closeSide(target);
  }
};
