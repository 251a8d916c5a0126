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

/** Waits `ms` milliseconds (aborts cleanly), reporting progress a second at a time, then returns how long it slept. */
export const sleep: HandlerDefinition<{ ms: number }, { sleptMs: number }> = {
  type: 'sleep',
  async handler(job, ctx) {
    const ms = job.payload?.ms;
    if (!Number.isFinite(ms) || ms < 0) throw new UnrecoverableError('sleep needs payload {"ms": N}');
    const steps = Math.max(1, Math.ceil(ms / 1000));
    for (let i = 1; i <= steps; i++) {
      await sleepMs(ms / steps, undefined, { signal: ctx.signal });
      if (steps > 1) ctx.progress(i / steps, `${Math.round((i * ms) / steps)} of ${ms} ms`);
    }
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
