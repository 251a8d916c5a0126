/** flotilla cancel BATCH [JOB...] [--wait]: stop a batch (or some of its jobs) submitted by mistake. */
import { BatchHandle } from '../../client/submit.js';
import { assertId } from '../../core/envelope.js';
import { UsageError } from '../../core/errors.js';
import { closeTarget, openStore, resolveTarget } from '../target.js';
import { intOption, parseCommand } from './args.js';
import { waitWithProgress } from './submit.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla cancel BATCH [JOB...] [--wait [--timeout SECONDS]]

Ask the workers to cancel every job of a batch, or the jobs named. A job not started yet is
dropped when a worker next receives it; a running job's signal is aborted within one heartbeat
interval and its message deleted. Each ends with the status 'cancelled', unless it finished
first: then its result stands.
  --wait              wait until every job of the batch has a final status, showing progress
  --timeout SECONDS   with --wait: give up after this long (exit 1)`;

export const main: CommandMain = async ({ argv, env, out, err }) => {
  const { values, positionals, help } = parseCommand<{ wait?: boolean; timeout?: string }>(
    argv,
    { options: { wait: { type: 'boolean' }, timeout: { type: 'string' } }, usage: USAGE },
    out,
  );
  if (help) return 0;
  const [batch, ...jobs] = positionals;
  if (!batch) throw new UsageError('give the batch id: flotilla cancel BATCH [JOB...]');
  const timeoutS = intOption(values.timeout, 'timeout', { min: 1 });
  try {
    assertId(batch, 'batch id');
    for (const j of jobs) assertId(j, 'job id');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const target = await resolveTarget(values, env);
  try {
    const handle = new BatchHandle(openStore(target), batch, jobs.length > 0 ? jobs : undefined);
    await handle.cancel(jobs.length > 0 ? jobs : undefined);
    err.write(
      `asked the workers to cancel ${jobs.length > 0 ? `${jobs.length} job(s) of` : 'every job of'} batch ${batch}\n`,
    );
    if (!values.wait) return 0;
    const outcome = await waitWithProgress(handle, err, timeoutS);
    out.write(
      `batch ${batch}: ${outcome.cancelled.length} cancelled, ${outcome.results.size} done, ` +
        `${outcome.deadLettered.length} in DLQ, ${outcome.pending.length} still pending\n`,
    );
    return outcome.complete ? 0 : 1;
  } finally {
    closeTarget(target);
  }
};
