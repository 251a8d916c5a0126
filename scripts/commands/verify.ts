/** `flotilla verify DIR [--against URL|aws]`: recompute checksums and list what is missing or changed. */
import { resolve } from 'node:path';
import { UsageError } from '../../core/errors.js';
import { closeSide, liveSide } from '../sync/side.js';
import { type VerifyResult, verifyAgainst, verifyFolder } from '../sync/verify.js';
import { parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla verify DIR [--against URL|aws [--bucket NAME]]

Recomputes the SHA-256 of every file in the export folder DIR and compares it with the manifest;
with --against, reads every object back from a live target instead (after a restore or mirror).
Exits 1 if anything is missing or changed.

  --against URL|aws   check a live target (an endpoint URL, or 'aws' with --region/--profile)
  --bucket NAME       the target bucket, when it was restored under another name
  --quiet             no progress line`;

export const main: CommandMain = async ({ argv, env, err, out }) => {
  const { values, positionals, help } = parseCommand<Record<string, string | boolean | undefined>>(
    argv,
    {
      options: { against: { type: 'string' }, bucket: { type: 'string' }, quiet: { type: 'boolean' } },
      usage: USAGE,
      where: ['region', 'profile'],
    },
    out,
  );
  if (help) return 0;
  const dir = positionals[0];
  if (!dir || positionals.length > 1)
    throw new UsageError('verify takes one export folder: flotilla verify DIR');
  const common = { dir: resolve(dir), progress: err, quiet: values.quiet === true };
  let r: VerifyResult;
  if (typeof values.against === 'string') {
    const side = liveSide(
      values.against,
      {
        ...(typeof values.region === 'string' ? { region: values.region } : {}),
        ...(typeof values.profile === 'string' ? { profile: values.profile } : {}),
      },
      env,
    );
    try {
      r = await verifyAgainst({
        ...common,
        target: side,
        ...(typeof values.bucket === 'string' ? { bucket: values.bucket } : {}),
      });
    } finally {
      closeSide(side);
    }
  } else {
    r = await verifyFolder(common);
  }
  for (const f of r.findings) {
    out.write(
      `${f.problem.padEnd(8)} ${f.path || `${f.bucket}/${f.key}`}${f.key && f.path !== `objects/${f.bucket}/${f.key}` ? ` (key ${JSON.stringify(f.key)})` : ''}: ${f.detail}\n`,
    );
  }
  err.write(`verified ${r.checked} objects: ${r.bad === 0 ? 'all match' : `${r.bad} missing or changed`}\n`);
  return r.bad === 0 ? 0 : 1;
};
