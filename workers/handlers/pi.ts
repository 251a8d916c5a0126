/** A CPU-bound example: estimate pi by Monte Carlo. Yields to the event loop between chunks so
 * heartbeats and the abort signal keep working while it computes. */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { UnrecoverableError } from '../../core/errors.js';
import type { HandlerDefinition } from './registry.js';

export interface PiPayload {
  readonly samples: number;
  /** @default - derived from the job id, so a retry computes the same estimate */
  readonly seed?: number;
}

export interface PiResult {
  readonly samples: number;
  readonly inside: number;
  readonly estimate: number;
}

const CHUNK = 250_000;
const MAX_SAMPLES = 10_000_000_000;

function seedFrom(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0 || 1;
}

export const pi: HandlerDefinition<PiPayload, PiResult> = {
  type: 'pi',
  timeoutMs: 30 * 60 * 1000,
  async handler(job, ctx) {
    const samples = job.payload?.samples;
    if (!Number.isInteger(samples) || samples < 1 || samples > MAX_SAMPLES) {
      throw new UnrecoverableError(
        `pi needs payload {"samples": N} with N a whole number from 1 to ${MAX_SAMPLES}`,
      );
    }
    let s = (job.payload.seed ?? seedFrom(job.id)) >>> 0 || 1;
    let inside = 0;
    for (let done = 0; done < samples; ) {
      const n = Math.min(CHUNK, samples - done);
      for (let i = 0; i < n; i++) {
        // xorshift32: fast, deterministic, good enough for a demo
        s ^= s << 13;
        s >>>= 0;
        s ^= s >>> 17;
        s ^= s << 5;
        s >>>= 0;
        const x = s / 4294967296;
        s ^= s << 13;
        s >>>= 0;
        s ^= s >>> 17;
        s ^= s << 5;
        s >>>= 0;
        const y = s / 4294967296;
        if (x * x + y * y <= 1) inside++;
      }
      done += n;
      ctx.signal.throwIfAborted();
      if (done < samples) await yieldToLoop();
    }
    return { samples, inside, estimate: (4 * inside) / samples };
  },
};
