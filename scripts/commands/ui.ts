/** flotilla ui [--port N] [--host ADDR]: a web dashboard for one deployment, served from here. */
import { UsageError } from '../../core/errors.js';
import { closeTarget, queuesOf, requireBucket, requireQueue, resolveTarget } from '../target.js';
import { isLoopback } from '../ui/server.js';
import { startDashboard } from '../ui/start.js';
import { intOption, parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla ui [--port N] [--host ADDR]

Serve a dashboard of the deployment (every job queue and its DLQ over time, workers, batches
and their jobs, cancel, redrive, submit) until Ctrl-C. It counts queues with GetQueueAttributes and reads the
bucket's records; it never receives from a job queue.
  --port N      port to listen on (default 8420; 0 picks a free one)
  --host ADDR   address to bind (default 127.0.0.1). Any other address lets others on the
                network in: the page then needs the random token in the address printed.`;

export const main: CommandMain = async ({ argv, env, out, err }) => {
  const { values, positionals, help } = parseCommand<{ port?: string; host?: string }>(
    argv,
    { options: { port: { type: 'string' }, host: { type: 'string' } }, usage: USAGE },
    out,
  );
  if (help) return 0;
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const port = intOption(values.port, 'port', { min: 0, max: 65_535 }) ?? 8420;
  const host = values.host ?? '127.0.0.1';
  const target = await resolveTarget(values, env);
  try {
    const queueUrl = requireQueue(target);
    const bucket = requireBucket(target);
    if (!isLoopback(host))
      err.write(
        `warning: binding to ${host} serves this deployment (and its cancel, redrive and submit actions) to ` +
          'anyone who can reach this address and has the token below; use 127.0.0.1 unless you mean it\n',
      );
    const server = await startDashboard({
      sqs: target.sqs,
      s3: target.s3,
      queueUrl,
      bucket,
      ...(target.dlqUrl ? { dlqUrl: target.dlqUrl } : {}),
      queues: await queuesOf(target),
      port,
      host,
    });
    out.write(`${server.url}\n`);
    err.write(`dashboard for ${queueUrl} on ${server.url} until Ctrl-C\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.stop();
    return 0;
  } finally {
    closeTarget(target);
  }
};
