/**
 * The child side of an isolated TypeScript handler: the worker's own entry point (the bundle,
 * `flotilla worker --handlers FILE`, a test fixture) calls this instead of starting a worker
 * when CHILD_ENV is set, with the registry it would have built. It then runs the jobs its parent
 * sends, one at a time, and answers on fd 3 until its stdin closes.
 */
import { Socket } from 'node:net';
import { UnrecoverableError } from '../../../core/errors.js';
import type { ObjectStore } from '../../../core/ports/object-store.js';
import type { HandlerContext, HandlerRegistry, Job } from '../../handlers/registry.js';
import { otherBucket } from '../job-context.js';
import type { Logger, LogLevel } from '../logger.js';
import { readLines } from './lines.js';
import type { FromChild, ToChild } from './protocol.js';

export interface HandlerChildOptions {
  readonly handlers: HandlerRegistry;
  /** The data bucket, as `ctx.store`, built by the entry point the way the worker builds it. */
  readonly store: ObjectStore;
}

/** Serve jobs until the parent closes stdin. Resolves with the exit code. */
export async function runHandlerChild(opts: HandlerChildOptions): Promise<number> {
  const channel = new Socket({ fd: 3, readable: false, writable: true });
  const send = (frame: FromChild) => channel.write(`${JSON.stringify(frame)}\n`);
  let current: AbortController | undefined;
  let queue = Promise.resolve();
  const ended = new Promise<void>((resolve) => {
    readLines(
      process.stdin,
      (line) => {
        const msg = JSON.parse(line) as ToChild;
        if (msg.t === 'abort') current?.abort(new Error(msg.reason));
        else queue = queue.then(() => runOne(msg.job));
      },
      // A job (its payload included) is at most what SQS or a claim check carries.
      { maxLineBytes: 256 * 1024 * 1024 },
    );
    process.stdin.once('end', () => {
      // The parent closed our stdin: it retires this child, or it is gone (killed with its
      // worker). A job still running here has no one to answer to: stop it, and leave soon.
      current?.abort(new Error('the worker closed this handler child'));
      setTimeout(() => process.exit(0), 1000).unref();
      resolve();
    });
  });

  const runOne = async (job: Job) => {
    const controller = new AbortController();
    current = controller;
    try {
      const def = opts.handlers.get(job.type);
      if (!def) throw new UnrecoverableError(`no handler for job type '${job.type}' in the handler child`);
      const result = await def.handler(job, childContext(opts.store, controller.signal, send));
      let text: string | undefined;
      try {
        text = JSON.stringify(result ?? null);
      } catch (err) {
        throw new UnrecoverableError(
          `the handler's result is not JSON-serialisable: ${(err as Error).message}`,
        );
      }
      channel.write(`{"t":"done","result":${text}}\n`);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      send({
        t: 'failed',
        error: { name: e.name, message: e.message, unrecoverable: e instanceof UnrecoverableError },
      });
    } finally {
      current = undefined;
    }
  };

  send({ t: 'ready', pid: process.pid });
  await ended;
  await queue;
  await new Promise<void>((resolve) => channel.end(resolve));
  return 0;
}

function childContext(store: ObjectStore, signal: AbortSignal, send: (f: FromChild) => void): HandlerContext {
  const logger = (base: Record<string, unknown>): Logger => {
    const emit = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) =>
      send({ t: 'log', level, msg, fields: { ...base, ...fields } });
    return {
      debug: emit('debug'),
      info: emit('info'),
      warn: emit('warn'),
      error: emit('error'),
      child: (fields) => logger({ ...base, ...fields }),
    };
  };
  return {
    store,
    bucket: (name) => otherBucket(store, name),
    signal,
    log: logger({}),
    progress: (fraction, note) => send({ t: 'progress', fraction, ...(note !== undefined ? { note } : {}) }),
  };
}
