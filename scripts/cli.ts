/**
 * The `flotilla` command. Parses the command name, hands the rest to scripts/commands/NAME.ts,
 * and turns any error into one line and a non-zero exit (a stack trace only with --debug).
 */
import { inspect } from 'node:util';
import { describeError, UsageError } from '../core/errors.js';
import type { CommandMain } from './commands/types.js';

export const COMMANDS: Record<string, { summary: string; load: () => Promise<{ main: CommandMain }> }> = {
  submit: {
    summary: 'submit one job, or many from an NDJSON file; --wait for results',
    load: () => import('./commands/submit.js'),
  },
  schedule: {
    summary: 'add, list or remove recurring jobs (cron)',
    load: () => import('./commands/schedule.js'),
  },
  scheduler: {
    summary: 'run the timer that enqueues delayed jobs and schedule slots when due',
    load: () => import('./commands/scheduler.js'),
  },
  results: {
    summary: 'show the results and failures of a batch',
    load: () => import('./commands/results.js'),
  },
  cancel: {
    summary: 'cancel a batch, or some of its jobs',
    load: () => import('./commands/cancel.js'),
  },
  ui: { summary: 'serve a web dashboard of the deployment', load: () => import('./commands/ui.js') },
  dlq: { summary: 'list or redrive the dead-letter queue', load: () => import('./commands/dlq.js') },
  worker: { summary: 'run a worker here against the queue', load: () => import('./commands/worker.js') },
  local: {
    summary: 'create the queues and bucket on an endpoint from the definitions',
    load: () => import('./commands/local.js'),
  },
  export: {
    summary: 'back up a deployment (definitions + data) to a folder',
    load: () => import('./commands/export.js'),
  },
  restore: {
    summary: 'recreate a deployment from an export folder on any endpoint',
    load: () => import('./commands/restore.js'),
  },
  mirror: {
    summary: 'copy a live deployment to another live endpoint, incrementally',
    load: () => import('./commands/mirror.js'),
  },
  failover: {
    summary: 'make a standby the active side, moving every pending job (and back)',
    load: () => import('./commands/failover.js'),
  },
  verify: {
    summary: 'check an export folder (or a live target) against its checksums',
    load: () => import('./commands/verify.js'),
  },
  simulate: {
    summary: 'simulate fleet scaling over a load trace and plot it',
    load: () => import('./commands/simulate.js'),
  },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'usage: flotilla COMMAND [options]   (flotilla COMMAND --help for its options)',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [name, ...rest] = argv;
  const debug = rest.includes('--debug');
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`flotilla: unknown command '${name}'; run 'flotilla --help' for the list\n`);
    return 2;
  }
  try {
    const mod = await command.load();
    return await mod.main({ argv: rest, env, err: process.stderr, out: process.stdout });
  } catch (err) {
    if (debug) process.stderr.write(`${inspect(err)}\n`); // with its cause: the SDK's own error
    const line =
      err instanceof UsageError ? err.message : describeError(err, { endpoint: endpointOf(rest, env) });
    process.stderr.write(`flotilla ${name}: ${line}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

function endpointOf(argv: string[], env: NodeJS.ProcessEnv): string | undefined {
  const i = argv.indexOf('--endpoint');
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith('--endpoint='));
  return eq ? eq.slice('--endpoint='.length) : env.AWS_ENDPOINT_URL;
}
