/** flotilla dlq list | redrive: look at failed jobs, and send them back once the cause is fixed. */

import { peekMessages, redrive } from '../../client/dlq.js';
import { SqsQueue } from '../../core/adapters/sqs-queue.js';
import { peekIds } from '../../core/envelope.js';
import { UsageError } from '../../core/errors.js';
import type { QueueMessage } from '../../core/ports/queue.js';
import { Progress } from '../progress.js';
import {
  closeTarget,
  dlqOf,
  openDlq,
  openStore,
  queueNamed,
  queuesOf,
  requireQueue,
  resolveTarget,
  type Target,
  type TargetQueue,
} from '../target.js';
import { intOption, parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla dlq list [--queue NAME] [--max N] [--json]
       flotilla dlq redrive [--queue NAME] [--max N]

list      show messages in the dead-letter queues with why they failed; nothing is removed
redrive   move messages back to the job queue they failed on (and clear their failure records)
  --queue NAME  only this job queue's DLQ (default: every job queue's, highest priority first)
  --max N       at most N messages per queue (default: list 100, redrive all)
  --json        list: one JSON object per message`;

export const main: CommandMain = async ({ argv, env, out, err }) => {
  const { values, positionals, help } = parseCommand<{ max?: string; json?: boolean; queue?: string }>(
    argv,
    {
      options: { max: { type: 'string' }, json: { type: 'boolean' }, queue: { type: 'string' } },
      usage: USAGE,
    },
    out,
  );
  if (help) return 0;
  const [action] = positionals;
  if (action !== 'list' && action !== 'redrive')
    throw new UsageError("say 'flotilla dlq list' or 'flotilla dlq redrive'");
  const max = intOption(values.max, 'max', { min: 1 });
  const target = await resolveTarget(values, env);
  try {
    const queues = await queuesFor(target, values.queue);
    // --dlq-url names the default queue's DLQ, as before there were several queues.
    const dlqs = await Promise.all(
      queues.map((q) => (q.name === 'default' && target.dlqUrl ? openDlq(target) : dlqOf(target, q))),
    );
    if (action === 'list') {
      // Every DLQ at once: an empty one takes two 1 s polls to tell.
      const listed = await Promise.all(dlqs.map((dlq) => peekMessages(dlq, max ?? 100)));
      queues.forEach((q, i) => {
        const msgs = listed[i]!;
        for (const m of msgs)
          out.write(
            values.json ? `${JSON.stringify({ queue: q.name, ...describe(m) })}\n` : `${line(q, m)}\n`,
          );
        err.write(
          `${msgs.length} message(s) in ${dlqs[i]!.url} (queue ${q.name})${msgs.length === (max ?? 100) ? ' (maybe more: --max N)' : ''}\n`,
        );
      });
      return 0;
    }
    const status = new Progress({ stream: err, label: 'redriving', unit: 'moved' });
    const movedBy = queues.map(() => 0);
    const moved = await Promise.all(
      queues.map((q, i) =>
        redrive({
          dlq: dlqs[i]!,
          queue: new SqsQueue(target.sqs, q.url || requireQueue(target)),
          store: target.bucket ? openStore(target) : undefined,
          max: max ?? Number.POSITIVE_INFINITY,
          onProgress: (n) => {
            movedBy[i] = n;
            status.set(movedBy.reduce((a, b) => a + b, 0));
          },
        }),
      ),
    ).finally(() => status.stop());
    queues.forEach((q, i) => {
      if (moved[i]! > 0 || queues.length === 1)
        err.write(`moved ${moved[i]} message(s) from ${dlqs[i]!.url} back to ${q.url || target.queueUrl}\n`);
    });
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

/** One queue when --queue names it; else every queue of the target, or the default alone when only --dlq-url is known. */
async function queuesFor(target: Target, name: string | undefined): Promise<TargetQueue[]> {
  if (name) return [await queueNamed(target, name)];
  if (!target.queueUrl && !target.queues && target.dlqUrl)
    return [{ name: 'default', url: '', dlqUrl: target.dlqUrl }];
  return queuesOf(target);
}

function line(q: TargetQueue, m: QueueMessage): string {
  const d = describe(m);
  const job = d.jobId ? `${d.batch}/${d.jobId} (${d.type})` : `message ${d.messageId} (not a valid job)`;
  const why = d.error ? `${d.errorName}: ${d.error}` : 'no reason recorded (moved by the redrive policy)';
  return `${q.name}  ${job}  attempts ${d.attempts}  ${why}`;
}
