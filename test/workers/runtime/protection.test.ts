/** Scale-in protection follows the worker's busy spells, through a fake guard (a port). */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ScaleInGuard } from '../../../core/ports/scale-in-guard.js';
import { jsonLogger } from '../../../workers/runtime/logger.js';
import { ScaleInProtection } from '../../../workers/runtime/protection.js';

function recordingGuard(fail = false) {
  const calls: boolean[] = [];
  const guard: ScaleInGuard = {
    name: 'recording',
    async protect(enabled) {
      calls.push(enabled);
      if (fail) throw new Error('agent unreachable');
    },
  };
  return { guard, calls };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ScaleInProtection', () => {
  it('turns protection on once while jobs run, and off after an idle spell', async () => {
    const { guard, calls } = recordingGuard();
    const p = new ScaleInProtection(guard, jsonLogger({ write: () => {} }), 2000);
    p.onBusyChange(1);
    p.onBusyChange(2);
    p.onBusyChange(1);
    p.onBusyChange(0);
    await vi.advanceTimersByTimeAsync(1999);
    expect(calls).toEqual([true]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([true, false]);
  });

  it('keeps protection through a short gap between jobs', async () => {
    const { guard, calls } = recordingGuard();
    const p = new ScaleInProtection(guard, jsonLogger({ write: () => {} }), 2000);
    p.onBusyChange(1);
    p.onBusyChange(0);
    await vi.advanceTimersByTimeAsync(1500);
    p.onBusyChange(1);
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toEqual([true]);
  });

  it('turns protection off when the worker stops, without waiting for the idle spell', async () => {
    const { guard, calls } = recordingGuard();
    const p = new ScaleInProtection(guard, jsonLogger({ write: () => {} }), 2000);
    p.onBusyChange(1);
    p.onBusyChange(0);
    await p.stop();
    expect(calls).toEqual([true, false]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toEqual([true, false]);
  });

  it('logs a failed guard call and carries on', async () => {
    const { guard, calls } = recordingGuard(true);
    const lines: string[] = [];
    const p = new ScaleInProtection(guard, jsonLogger({ write: (l) => lines.push(l) }), 2000);
    p.onBusyChange(1);
    await p.stop();
    expect(calls).toEqual([true, false]);
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({
        msg: 'scale-in protection call failed',
        enabled: true,
        error: 'agent unreachable',
      }),
      expect.objectContaining({ msg: 'scale-in protection call failed', enabled: false }),
    ]);
  });
});
