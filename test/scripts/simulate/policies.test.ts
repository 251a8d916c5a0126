import { describe, expect, it } from 'vitest';
import { backlogPerWorkerTarget, resolveScaling } from '../../../infra/scaling.js';
import {
  type Datapoint,
  ecsPatternsController,
  flotillaController,
  type ScalingController,
} from '../../../scripts/simulate/policies.js';

const policy = resolveScaling({ maxWorkers: 40 });
const target = backlogPerWorkerTarget(policy);

/** Feed one datapoint a minute; returns the desired count after each. */
function replay(c: ScalingController, start: number, points: Partial<Datapoint>[]): number[] {
  let desired = start;
  return points.map((p, i) => {
    const dp: Datapoint = { t: 60 * (i + 1), visible: 0, inFlight: 0, running: desired, cpuPercent: 0, ...p };
    desired = c.evaluate(dp, desired);
    return desired;
  });
}

describe("Flotilla's policy", () => {
  it('starts wakeWorkers on the first visible job while the fleet is at zero', () => {
    expect(replay(flotillaController(policy), 0, [{ visible: 0 }, { visible: 1, running: 0 }])).toEqual([
      0, 1,
    ]);
  });

  it('scales out by target tracking only after three datapoints above target', () => {
    const backlog = Math.ceil(2.5 * target); // above target, below the first surge step
    const out = replay(flotillaController(policy), 2, Array(3).fill({ visible: backlog * 2, running: 2 }));
    expect(out).toEqual([2, 2, Math.ceil((2 * backlog * 2) / 2 / target)]);
  });

  it('surges on one datapoint when backlog per worker is several times the target', () => {
    const [first] = replay(flotillaController(policy), 2, [
      { visible: Math.ceil(12 * target) * 2, running: 2 },
    ]);
    expect(first).toBe(16);
  });

  it('scales in only after fifteen datapoints below 90% of target, then waits for the cooldown', () => {
    const idle = Array(25).fill({ inFlight: 10, running: 10 }); // 1 job per worker
    const out = replay(flotillaController(policy), 10, idle);
    expect(out.slice(0, 14).every((d) => d === 10)).toBe(true);
    expect(out[14]).toBe(Math.ceil((10 * 1) / target));
  });
});

describe("aws-ecs-patterns' default", () => {
  it('adds five tasks at 500 visible and squashes repeats during the 300 s cooldown', () => {
    const c = ecsPatternsController(policy);
    const out = replay(c, 1, Array(7).fill({ visible: 600, cpuPercent: 40 }));
    expect(out).toEqual([6, 6, 6, 6, 6, 11, 11]);
  });

  it('removes one task per cooldown once the 5-minute maximum of visible messages is 0, never below 1', () => {
    const busyThenIdle: Partial<Datapoint>[] = [
      { visible: 50, cpuPercent: 48 },
      ...Array(16).fill({ visible: 0, cpuPercent: 48 }),
    ];
    const out = replay(ecsPatternsController(policy), 3, busyThenIdle);
    expect(out.slice(0, 5)).toEqual([3, 3, 3, 3, 3]); // 50 is still the window's maximum
    expect(out[5]).toBe(2);
    expect(out[10]).toBe(1);
    expect(out.at(-1)).toBe(1);
  });

  it('doubles the fleet after three minutes of CPU at 100% (target tracking at 50%)', () => {
    const out = replay(ecsPatternsController(policy), 4, Array(3).fill({ visible: 50, cpuPercent: 100 }));
    expect(out).toEqual([4, 4, 8]);
  });
});
