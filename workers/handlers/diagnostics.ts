/** Small built-in job types for smoke tests and benchmarks. */
import { setTimeout as sleepMs } from 'node:timers/promises';
import { UnrecoverableError } from '../../core/errors.js';
import type { HandlerDefinition } from './registry.js';

/** Returns its payload. */
export const echo: HandlerDefinition<unknown, unknown> = {
  type: 'echo',
  async handler(job) {
    return job.payload;
  },
};

/** Waits `ms` milliseconds (aborts cleanly), then returns how long it slept. */
export const sleep: HandlerDefinition<{ ms: number }, { sleptMs: number }> = {
  type: 'sleep',
  async handler(job, ctx) {
    const ms = job.payload?.ms;
    if (!Number.isFinite(ms) || ms < 0) throw new UnrecoverableError('sleep needs payload {"ms": N}');
    await sleepMs(ms, undefined, { signal: ctx.signal });
    return { sleptMs: ms };
  },
};

/** Does nothing and writes no result: the queue path alone, for benchmarks. */
export const noop: HandlerDefinition<unknown, null> = {
  type: 'noop',
  writeResult: false,
  async handler() {
    return null;
  },
};
