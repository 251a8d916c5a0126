/** The worker's options: defaults filled in once, and every bad value reported in one error. */
import { describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../../core/ports/object-store.js';
import type { QueuePort } from '../../../core/ports/queue.js';
import { HandlerRegistry } from '../../../workers/handlers/registry.js';
import {
  resolveWorkerOptions,
  WORKER_DEFAULTS,
  type WorkerOptions,
} from '../../../workers/runtime/worker-options.js';

// Resolving options never calls the ports: stand-ins that only carry a URL will do.
const base: WorkerOptions = {
  queue: { url: 'http://queue.test/jobs' } as QueuePort,
  store: {} as ObjectStore,
  handlers: new HandlerRegistry(),
};

describe('resolveWorkerOptions', () => {
  it('fills every unset option from the defaults and derives pollers and the heartbeat', () => {
    const r = resolveWorkerOptions(base);
    expect(r).toMatchObject({
      concurrency: 16,
      waitTimeSeconds: 20,
      visibilityTimeoutSeconds: 60,
      maxReceiveCount: 5,
      retryBaseDelayMs: 5000,
      retryMaxDelayMs: 900_000,
      drainTimeoutMs: 90_000,
      outageBackoff: { baseMs: 500, maxMs: 20_000 },
      pollers: 2, // one per 10 jobs of concurrency
      heartbeatIntervalMs: 20_000, // a third of the visibility timeout
    });
    expect(r.workerId).toMatch(/:\d+$/);
    expect(r.queues).toEqual([{ name: 'default', queue: base.queue }]);
  });

  it('derives pollers and the heartbeat from the values given, and keeps values set explicitly', () => {
    expect(resolveWorkerOptions({ ...base, concurrency: 35, visibilityTimeoutSeconds: 1 })).toMatchObject({
      pollers: 4,
      heartbeatIntervalMs: 1000, // never more often than once a second
    });
    expect(
      resolveWorkerOptions({
        ...base,
        concurrency: 35,
        pollers: 1,
        heartbeatIntervalMs: 250,
        workerId: 'w1',
      }),
    ).toMatchObject({ pollers: 1, heartbeatIntervalMs: 250, workerId: 'w1' });
  });

  it('reports every invalid option in one error', () => {
    const bad = {
      ...base,
      concurrency: 2.5,
      waitTimeSeconds: 21,
      visibilityTimeoutSeconds: 0,
      maxReceiveCount: 0,
      maxAttempts: 1.5,
      retryBaseDelayMs: -1,
      drainTimeoutMs: -5,
      pollers: 0,
      outageBackoff: { baseMs: 100, maxMs: 50 },
    };
    let message = '';
    try {
      resolveWorkerOptions(bad);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.startsWith('invalid worker options: ')).toBe(true);
    const problems = message.slice('invalid worker options: '.length).split('; ');
    expect(problems).toEqual([
      'concurrency must be a whole number >= 1',
      'pollers must be a whole number >= 1',
      'waitTimeSeconds must be 0..20',
      'visibilityTimeoutSeconds must be >= 1',
      'maxReceiveCount must be >= 1',
      'maxAttempts must be a whole number >= 1',
      'retryBaseDelayMs must be >= 0',
      'drainTimeoutMs must be >= 0',
      'outageBackoff needs baseMs >= 1 and maxMs >= baseMs',
    ]);
  });

  it('accepts the edges of each range', () => {
    expect(() =>
      resolveWorkerOptions({
        ...base,
        concurrency: 1,
        waitTimeSeconds: 0,
        visibilityTimeoutSeconds: 1,
        maxReceiveCount: 1,
        retryBaseDelayMs: 0,
        drainTimeoutMs: 0,
      }),
    ).not.toThrow();
    expect(() => resolveWorkerOptions({ ...base, waitTimeSeconds: 20 })).not.toThrow();
  });

  it('cannot have its defaults changed by a caller', () => {
    expect(Object.isFrozen(WORKER_DEFAULTS)).toBe(true);
    expect(Object.isFrozen(WORKER_DEFAULTS.outageBackoff)).toBe(true);
    const r = resolveWorkerOptions({ ...base, concurrency: 3 });
    expect(r.concurrency).toBe(3);
    expect(WORKER_DEFAULTS.concurrency).toBe(16);
  });
});
