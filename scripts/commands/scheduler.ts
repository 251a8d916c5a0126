/** flotilla scheduler: the timer that enqueues delayed jobs and schedule slots when they fall due. */
import { hostname } from 'node:os';
import { sideIsActive } from '../../core/active-side.js';
import { SqsQueue } from '../../core/adapters/sqs-queue.js';
import { UsageError } from '../../core/errors.js';
import type { QueuePort } from '../../core/ports/queue.js';
import { Timer } from '../scheduler/timer.js';
import { closeTarget, openStore, queuesOf, requireQueue, resolveTarget, type Target } from '../target.js';
import { intOption, parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla scheduler [--interval SECONDS] [--once]

Enqueue jobs submitted with a delay beyond 15 minutes (or --at) when they fall due, and one job
per slot of each schedule ('flotilla schedule add'), reading both from the data bucket. Several
may run at once: each job is claimed before it is sent, so it is sent once. Runs until Ctrl-C.
On AWS, the stack's EventBridge schedules need no timer; see docs/scheduling.md.

  --interval SECONDS  how often to look (default 15); a job is sent at most this late
  --once              look once, print what was sent, and exit`;

export const main: CommandMain = async ({ argv, env, err, out }) => {
  const { values, positionals, help } = parseCommand<{ interval?: string; once?: boolean }>(
    argv,
    { options: { interval: { type: 'string' }, once: { type: 'boolean' } }, usage: USAGE },
    out,
  );
  if (help) return 0;
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const intervalS = intOption(values.interval, 'interval', { min: 1, max: 3600 }) ?? 15;
  const target = await resolveTarget(values, env);
  try {
    const timer = await timerFor(target, (line) => err.write(`scheduler: ${line}\n`));
    if (values.once) {
      const r = await timer.tick();
      out.write(`${JSON.stringify(r)}\n`);
      return 0;
    }
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    err.write(`scheduler: watching s3://${target.bucket}/ every ${intervalS} s until Ctrl-C\n`);
    await timer.run(intervalS * 1000, stop.signal, (r) => {
      if (r.delayed + r.slots > 0)
        err.write(
          `scheduler: ${new Date().toISOString()} sent ${r.delayed} delayed job(s), ${r.slots} schedule slot(s)\n`,
        );
    });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return 0;
  } finally {
    closeTarget(target);
  }
};

/**
 * A timer on a target's bucket, sending each job to the queue its record names, and pausing
 * while a failover has made the other side active.
 */
export async function timerFor(target: Target, log: (line: string) => void): Promise<Timer> {
  const queues = new Map((await queuesOf(target)).map((q) => [q.name, new SqsQueue(target.sqs, q.url)]));
  const store = openStore(target);
  const home = requireQueue(target);
  return new Timer({
    store,
    paused: async () => !(await sideIsActive(store, home)),
    queueFor: (name): QueuePort => {
      const queue = queues.get(name);
      if (queue) return queue;
      throw new Error(
        `queue '${name}' is not one this timer sends to (it sends to ${[...queues.keys()].join(', ')})`,
      );
    },
    owner: `${hostname()}:${process.pid}`,
    log,
  });
}
