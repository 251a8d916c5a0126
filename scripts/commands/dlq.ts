/** flotilla dlq list | redrive: look at failed jobs, and send them back once the cause is fixed. */

import { peekMessages, redrive } from '../../client/dlq.js';
import { peekIds } from '../../core/envelope.js';
import { UsageError } from '../../core/errors.js';
import type { QueueMessage } from '../../core/ports/queue.js';
import { Progress } from '../progress.js';
import { closeTarget, openDlq, openQueue, openStore, resolveTarget } from '../target.js';
import { intOption, parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla dlq list [--max N] [--json]
       flotilla dlq redrive [--max N]

list      show messages in the dead-letter queue with why they failed; nothing is removed
redrive   move messages back to the job queue (and clear their failure records)
  --max N   at most N messages (default: list 100, redrive all)
  --json    list: one JSON object per message`;

export const main: CommandMain = async ({ argv, env, out, err }) => {
  const { values, positionals, help } = parseCommand<{ max?: string; json?: boolean }>(
    argv,
    { options: { max: { type: 'string' }, json: { type: 'boolean' } }, usage: USAGE },
    out,
  );
  if (help) return 0;
  const [action] = positionals;
  if (action !== 'list' && action !== 'redrive')
    throw new UsageError("say 'flotilla dlq list' or 'flotilla dlq redrive'");
  const max = intOption(values.max, 'max', { min: 1 });
  const target = await resolveTarget(values, env);
  try {
    const dlq = await openDlq(target);
    if (action === 'list') {
      const msgs = await peekMessages(dlq, max ?? 100);
      for (const m of msgs) out.write(values.json ? `${JSON.stringify(describe(m))}\n` : `${line(m)}\n`);
      err.write(
        `${msgs.length} message(s) in ${dlq.url}${msgs.length === (max ?? 100) ? ' (maybe more: --max N)' : ''}\n`,
      );
      return 0;
    }
    const status = new Progress({ stream: err, label: 'redriving', unit: 'moved' });
    const moved = await redrive({
      dlq,
      queue: openQueue(target),
      store: target.bucket ? openStore(target) : undefined,
      max: max ?? Number.POSITIVE_INFINITY,
      onProgress: (n) => status.set(n),
    }).finally(() => status.stop());
    err.write(`moved ${moved} message(s) from ${dlq.url} back to ${target.queueUrl}\n`);
    return 0;
  } finally {
    closeTarget(target);
  }
};

function describe(m: QueueMessage) {
  const ids = peekIds(m.body);
  return {
    messageId: m.messageId,
    jobId: ids.id ?? null,
    type: ids.type ?? null,
    batch: ids.batch ?? null,
    error: m.attributes['flotilla-error'] ?? null,
    errorName: m.attributes['flotilla-error-name'] ?? null,
    attempts: Number(m.attributes['flotilla-attempts'] ?? m.receiveCount),
    failedAt: m.attributes['flotilla-failed-at'] ?? null,
  };
}

function line(m: QueueMessage): string {
  const d = describe(m);
  const job = d.jobId ? `${d.batch}/${d.jobId} (${d.type})` : `message ${d.messageId} (not a valid job)`;
  const why = d.error ? `${d.errorName}: ${d.error}` : 'no reason recorded (moved by the redrive policy)';
  return `${job}  attempts ${d.attempts}  ${why}`;
}
