/**
 * The two scaling policies the simulator compares, written as what CloudWatch alarms and
 * Application Auto Scaling do with one datapoint per minute:
 *
 * - Flotilla's: target tracking on backlog per worker ((visible + in-flight) / running) against
 *   `backlogPerWorkerTarget(policy)` from infra/scaling.ts, min 0, plus the wake-from-zero step.
 * - aws-ecs-patterns' QueueProcessingFargateService default: step scaling on the queue's
 *   ApproximateNumberOfMessagesVisible (Maximum over a 5-minute period, the CDK metric default)
 *   with steps [<=0: -1, >=100: +1, >=500: +5] and a 300 s cooldown, plus CPU target tracking
 *   at 50%, min 1.
 */
import { backlogPerWorkerTarget, type ScalingPolicy, surgeSteps } from '../../infra/scaling.js';

/** What the alarms see at the end of each minute. */
export interface Datapoint {
  /** End of the minute, seconds since the start of the trace. */
  readonly t: number;
  /** ApproximateNumberOfMessagesVisible (a gauge SQS publishes once a minute). */
  readonly visible: number;
  /** ApproximateNumberOfMessagesNotVisible: jobs a worker has received and not yet deleted. */
  readonly inFlight: number;
  /** ECS RunningTaskCount: tasks past start-up, including ones waiting to be scaled in. */
  readonly running: number;
  /** Average CPU of the running tasks over the minute; undefined when none ran. */
  readonly cpuPercent: number | undefined;
}

export interface ScalingController {
  readonly name: string;
  readonly minWorkers: number;
  readonly maxWorkers: number;
  /** Workers already running when the trace starts (a fleet at rest sits at its minimum). */
  readonly initialWorkers: number;
  /** Called at the end of every minute; returns the new desired count. */
  evaluate(dp: Datapoint, desired: number): number;
}

/** Target tracking's alarms (AWS-managed): out after 3 datapoints above target, in after 15 below 90%. */
export const TARGET_TRACKING = Object.freeze({
  scaleOutDatapoints: 3,
  scaleInDatapoints: 15,
  scaleInThresholdRatio: 0.9,
});

/** aws-ecs-patterns QueueProcessingServiceBase defaults (aws-cdk-lib 2.x). */
export const ECS_PATTERNS_DEFAULTS = Object.freeze({
  minWorkers: 1,
  /** [{ upper: 0, change: -1 }, { lower: 100, change: +1 }, { lower: 500, change: +5 }] */
  scaleInAtOrBelow: 0,
  steps: Object.freeze([
    { atOrAbove: 500, change: 5 },
    { atOrAbove: 100, change: 1 },
  ]),
  /** queue.metricApproximateNumberOfMessagesVisible(): statistic Maximum, period 5 minutes. */
  visiblePeriodMinutes: 5,
  /** Step scaling cooldown (the pattern's `cooldown`, documented default 300 s). */
  stepCooldownSeconds: 300,
  cpuTargetPercent: 50,
  /** scaleOnCpuUtilization without cooldowns: ECS's 300 s defaults. */
  cpuScaleInCooldownSeconds: 300,
});

/** Counts consecutive breaching datapoints; a missing datapoint breaks the run. */
class ConsecutiveAlarm {
  private run = 0;
  constructor(private readonly datapoints: number) {}
  update(breaching: boolean | undefined): boolean {
    this.run = breaching ? this.run + 1 : 0;
    return this.run >= this.datapoints;
  }
}

/**
 * A step scale-out policy's cooldown: while it runs, the capacity the initiating scale-out added
 * counts toward the next one, so only a larger step adds the difference.
 */
class StepCooldown {
  private at = Number.NEGATIVE_INFINITY;
  private base = 0;
  constructor(private readonly seconds: number) {}
  propose(t: number, desired: number, apply: (base: number) => number): number {
    if (t - this.at < this.seconds) return Math.max(desired, apply(this.base));
    const want = apply(desired);
    if (want > desired) {
      this.at = t;
      this.base = desired;
    }
    return want;
  }
}

/** PercentChangeInCapacity: fractions round toward zero, but a change of less than 1 is 1. */
function percentOf(capacity: number, percent: number): number {
  const raw = (capacity * percent) / 100;
  return raw > 0 && raw < 1 ? 1 : Math.floor(raw);
}

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));

/**
 * Target tracking's new capacity: current capacity x metric / target, rounded up. Application
 * Auto Scaling's current capacity for an ECS service is its desired count, which runs ahead of
 * the running tasks while new ones start: target tracking overshoots then, as it does on AWS.
 */
function tracked(capacity: number, metric: number, target: number): number {
  return Math.ceil((capacity * metric) / target - 1e-9);
}

/**
 * Flotilla's policy as infra/constructs/worker-fleet-base.ts builds it: target tracking on
 * `(visible + inflight) / IF(running > 0, running, 1)`, a wake-from-zero step that sets the
 * fleet to `wakeWorkers` when the desired count is 0 and a job is visible (one datapoint), and
 * the surge step (`surgeSteps`, one datapoint, cooldown `scaleOutCooldownSeconds`).
 */
export function flotillaController(p: ScalingPolicy): ScalingController {
  const target = backlogPerWorkerTarget(p);
  const surge = [...surgeSteps(p)].sort((a, b) => b.backlogPerWorkerAtLeast - a.backlogPerWorkerAtLeast);
  const high = new ConsecutiveAlarm(TARGET_TRACKING.scaleOutDatapoints);
  const low = new ConsecutiveAlarm(TARGET_TRACKING.scaleInDatapoints);
  const surgeCooldown = new StepCooldown(p.scaleOutCooldownSeconds);
  let lastScaleIn = Number.NEGATIVE_INFINITY;
  return {
    name: 'Flotilla',
    minWorkers: p.minWorkers,
    maxWorkers: p.maxWorkers,
    initialWorkers: p.minWorkers,
    evaluate(dp, desired) {
      const metric = (dp.visible + dp.inFlight) / Math.max(dp.running, 1);
      const outAlarm = high.update(metric > target);
      const inAlarm = low.update(metric < target * TARGET_TRACKING.scaleInThresholdRatio);
      if (desired < 1 && dp.visible >= 1) return Math.max(desired, p.wakeWorkers);
      const step = surge.find((s) => metric >= s.backlogPerWorkerAtLeast);
      const surged = step
        ? surgeCooldown.propose(dp.t, desired, (base) => base + percentOf(base, step.percentChange))
        : desired;
      const tt = clamp(tracked(desired, metric, target), p.minWorkers, p.maxWorkers);
      const out = clamp(Math.max(surged, outAlarm ? tt : desired), p.minWorkers, p.maxWorkers);
      // Target tracking sets an absolute capacity and a larger scale-out is never held back by
      // the scale-out cooldown ("unless a larger scale out is triggered"); the scale-in cooldown
      // blocks the next scale-in.
      if (out > desired) return out;
      if (inAlarm && tt < desired && dp.t - lastScaleIn >= p.scaleInCooldownSeconds) {
        lastScaleIn = dp.t;
        return tt;
      }
      return desired;
    },
  };
}

export interface EcsPatternsOptions {
  /** @default - the Flotilla policy's maxWorkers, so both fleets have the same ceiling */
  readonly maxWorkers?: number;
}

export function ecsPatternsController(p: ScalingPolicy, opts: EcsPatternsOptions = {}): ScalingController {
  const d = ECS_PATTERNS_DEFAULTS;
  const min = Math.min(d.minWorkers, opts.maxWorkers ?? p.maxWorkers);
  const max = opts.maxWorkers ?? p.maxWorkers;
  const recent: number[] = [];
  const cpuHigh = new ConsecutiveAlarm(TARGET_TRACKING.scaleOutDatapoints);
  const cpuLow = new ConsecutiveAlarm(TARGET_TRACKING.scaleInDatapoints);
  const upper = new StepCooldown(d.stepCooldownSeconds);
  let lowerAt = Number.NEGATIVE_INFINITY;
  let cpuInAt = Number.NEGATIVE_INFINITY;
  return {
    name: 'ecs-patterns default',
    minWorkers: min,
    maxWorkers: max,
    initialWorkers: min,
    evaluate(dp, desired) {
      // The alarm's 5-minute Maximum, re-evaluated every minute over a sliding window.
      recent.push(dp.visible);
      if (recent.length > d.visiblePeriodMinutes) recent.shift();
      const visibleMax = Math.max(...recent);
      const out: number[] = [];
      const inn: { want: number; mark: () => void }[] = [];

      // Upper step alarm: ChangeInCapacity; while its cooldown runs, the capacity that the
      // initiating scale-out added counts toward the next one.
      const step = d.steps.find((s) => visibleMax >= s.atOrAbove);
      if (step) {
        const want = upper.propose(dp.t, desired, (base) => base + step.change);
        if (want > desired) out.push(want);
      }
      // Lower step alarm: -1, blocked until its cooldown has expired.
      if (visibleMax <= d.scaleInAtOrBelow && dp.t - lowerAt >= d.stepCooldownSeconds)
        inn.push({ want: desired - 1, mark: () => (lowerAt = dp.t) });

      // CPU target tracking at 50%.
      const cpu = dp.running > 0 ? dp.cpuPercent : undefined;
      const cpuOut = cpuHigh.update(cpu === undefined ? undefined : cpu > d.cpuTargetPercent);
      const cpuIn = cpuLow.update(
        cpu === undefined ? undefined : cpu < d.cpuTargetPercent * TARGET_TRACKING.scaleInThresholdRatio,
      );
      if (cpu !== undefined) {
        const want = tracked(desired, cpu, d.cpuTargetPercent);
        if (cpuOut && want > desired) out.push(want);
        if (cpuIn && want < desired && dp.t - cpuInAt >= d.cpuScaleInCooldownSeconds)
          inn.push({ want, mark: () => (cpuInAt = dp.t) });
      }

      // Several policies: scale out if any says so; the largest resulting capacity wins.
      if (out.length > 0) return clamp(Math.max(...out), min, max);
      if (inn.length > 0) {
        const best = inn.reduce((a, b) => (b.want > a.want ? b : a));
        best.mark();
        return clamp(best.want, min, max);
      }
      return desired;
    },
  };
}
