/** flotilla worker: run a worker here, against any queue, with the built-in and your handlers. */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseExecBinding } from '../../core/command-bindings.js';
import { UsageError } from '../../core/errors.js';
import { parseResultPacking, type ResultPackingOptions } from '../../core/result-packs.js';
import { addHandlers } from '../../workers/handlers/handlers-module.js';
import { builtinHandlers, type HandlerRegistry } from '../../workers/handlers/index.js';
import { registerCommands } from '../../workers/runtime/isolation/command-handler.js';
import { runHandlerChild } from '../../workers/runtime/isolation/handler-child.js';
import { thisProgram } from '../../workers/runtime/isolation/handler-pool.js';
import { CHILD_ENV } from '../../workers/runtime/isolation/protocol.js';
import { LayoutStore } from '../../workers/runtime/layout-store.js';
import { jsonLogger, type LogLevel } from '../../workers/runtime/logger.js';
import { runWorkerProcess } from '../../workers/runtime/process.js';
import {
  closeTarget,
  openStore,
  queueNamed,
  queuesOf,
  requireBucket,
  requireQueue,
  resolveTarget,
} from '../target.js';
import { intOption, parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla worker [options]

Run a worker in this terminal until Ctrl-C (which drains: running jobs finish; a second Ctrl-C exits at once).
  --concurrency N       jobs at once (default 16)
  --drain-seconds S     how long Ctrl-C/SIGTERM waits for running jobs (default 90)
  --wait-seconds S      long-poll wait, 0-20 (default 20)
  --queues NAMES        the job queues to serve, highest priority first, as urgent,default,bulk
                        (default: every queue of the deployment)
  --queue-mode MODE     priority (a free slot takes from the highest non-empty queue) or
                        weighted (each queue its weight's share); default priority
  --handlers FILE       a module whose default export is a function (registry) => void, or an
                        array of handler definitions, adding your job types
  --exec TYPE=COMMAND   run COMMAND (with /bin/sh -c) for each job of TYPE: the job as JSON on
                        stdin, its result as JSON on stdout (docs/workers.md); repeatable
  --exec-timeout S      seconds a command may run before its process group is killed (default 600)
  --result-packing SPEC write the results of small jobs of a batch that finish together as one
                        object: on, or some of maxJobs=N,maxDelayMs=N,maxBytes=N (default off;
                        docs/workers.md, "Result packing")
  --log-level LEVEL     debug | info | warn | error (default info)`;

export const main: CommandMain = async ({ argv, env, out }) => {
  const { values, help } = parseCommand<{
    concurrency?: string;
    'drain-seconds'?: string;
    'wait-seconds'?: string;
    handlers?: string;
    exec?: string[];
    'exec-timeout'?: string;
    'log-level'?: string;
    queues?: string;
    'queue-mode'?: string;
    'result-packing'?: string;
  }>(
    argv,
    {
      options: {
        concurrency: { type: 'string' },
        'drain-seconds': { type: 'string' },
        'wait-seconds': { type: 'string' },
        handlers: { type: 'string' },
        exec: { type: 'string', multiple: true },
        'exec-timeout': { type: 'string' },
        'log-level': { type: 'string' },
        queues: { type: 'string' },
        'queue-mode': { type: 'string' },
        'result-packing': { type: 'string' },
      },
      usage: USAGE,
    },
    out,
  );
  if (help) return 0;
  const level = (values['log-level'] ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(level))
    throw new UsageError(`--log-level must be debug, info, warn or error`);
  const concurrency = intOption(values.concurrency, 'concurrency', { min: 1, max: 1000 });
  const drain = intOption(values['drain-seconds'], 'drain-seconds', { min: 0, max: 43_200 });
  const wait = intOption(values['wait-seconds'], 'wait-seconds', { min: 0, max: 20 });
  const execTimeout = intOption(values['exec-timeout'], 'exec-timeout', { min: 1, max: 43_200 });
  const bindings = (values.exec ?? []).map((text) => {
    try {
      const b = parseExecBinding(text);
      return execTimeout ? { ...b, timeoutSeconds: execTimeout } : b;
    } catch (err) {
      throw new UsageError(`--exec: ${(err as Error).message}`);
    }
  });
  const queueMode = values['queue-mode'] ?? 'priority';
  if (queueMode !== 'priority' && queueMode !== 'weighted')
    throw new UsageError(`--queue-mode must be priority or weighted, not '${queueMode}'`);
  let resultPacking: ResultPackingOptions | undefined;
  try {
    resultPacking = parseResultPacking(values['result-packing'] ?? '');
  } catch (err) {
    throw new UsageError(`--result-packing: ${(err as Error).message}`);
  }
  const handlers = builtinHandlers();
  if (values.handlers) await loadHandlers(values.handlers, handlers);
  const target = await resolveTarget(values, env);
  const queueUrl = requireQueue(target);
  const bucket = requireBucket(target);
  try {
    registerCommands(handlers, bindings, { bucket, endpoint: target.endpoint, env });
  } catch (err) {
    throw new UsageError(`--exec: ${(err as Error).message}`);
  }
  // Started again by the worker to run isolated jobs: the same handlers (--handlers included), no polling.
  if (env[CHILD_ENV] === '1') return runHandlerChild({ handlers, store: new LayoutStore(openStore(target)) });
  const queues = values.queues
    ? await Promise.all(values.queues.split(',').map((n) => queueNamed(target, n.trim())))
    : await queuesOf(target);
  closeTarget(target);
  return runWorkerProcess({
    endpoint: target.endpoint,
    queueUrl,
    bucket,
    ...(target.dlqUrl ? { dlqUrl: target.dlqUrl } : {}),
    ...(queues.length > 1 || queues[0]?.name !== 'default' ? { queues } : {}),
    handlers,
    log: jsonLogger({ level }),
    worker: {
      ...(concurrency ? { concurrency } : {}),
      ...(drain !== undefined ? { drainTimeoutMs: drain * 1000 } : {}),
      ...(wait !== undefined ? { waitTimeSeconds: wait } : {}),
      queueMode,
      ...(resultPacking ? { resultPacking } : {}),
      childEntry: thisProgram(),
    },
  });
};

export async function loadHandlers(file: string, registry: HandlerRegistry): Promise<void> {
  let mod: { default?: unknown };
  // A TypeScript handlers file needs tsx's loaders: the ESM one, and the CommonJS one for a
  // file outside an ESM package (a .ts file there loads as CommonJS). tsx is an optional peer
  // dependency of the package: only this needs it.
  if (/\.[cm]?tsx?$/.test(file)) {
    try {
      (await import('tsx/esm/api')).register();
      (await import('tsx/cjs/api')).register();
    } catch {
      throw new UsageError(
        `${file} is TypeScript: install tsx in your project to load it (npm install --save-dev tsx), or give the compiled .js`,
      );
    }
  }
  try {
    mod = await import(pathToFileURL(resolve(file)).href);
  } catch (e) {
    throw new UsageError(`cannot load handlers from ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  try {
    addHandlers(registry, mod.default);
  } catch (e) {
    throw new UsageError(`${file}: ${(e as Error).message}`);
  }
}
