/**
 * The fleet's scaling policy as plain data and math: read by the WorkerFleet construct (to
 * build the CloudWatch target-tracking and wake-from-zero policies) and by the simulator (to
 * replay a load trace). One source of truth; nothing here imports CDK.
 *
 * The policy is target tracking on backlog per worker, as AWS recommends for SQS-driven
 * fleets: backlog = visible + in-flight messages; backlog per worker = backlog / running
 * workers; the target is how many jobs one worker can clear within the acceptable latency.
 */

export interface ScalingPolicy {
  /** How long a job may wait before a worker starts it, in seconds. */
  readonly acceptableLatencySeconds: number;
  /** How long one job takes on average, in seconds. */
  readonly averageJobSeconds: number;
  /** Jobs one worker runs at once (the runtime's concurrency). */
  readonly jobsPerWorker: number;
  readonly minWorkers: number;
  readonly maxWorkers: number;
  /** Seconds between scale-out actions. */
  readonly scaleOutCooldownSeconds: number;
  /** Seconds between scale-in actions. */
  readonly scaleInCooldownSeconds: number;
  /** Workers to start at once when the fleet is at zero and a job becomes visible. */
  readonly wakeWorkers: number;
}

/**
 * acceptableLatencySeconds is 0.8 x averageJobSeconds, so the target is 0.8 x jobsPerWorker:
 * target tracking holds about 80% of the job slots busy and no queue stands in front of the
 * workers. A target above jobsPerWorker only holds with a standing queue; once it drains,
 * backlog per worker falls to the in-flight jobs, target tracking cuts the fleet by that ratio,
 * the queue regrows and the fleet oscillates (the simulator's daily trace at the old 60 s: more
 * worker-minutes than step scaling and a 150 s p95 instead of 20 s; see docs/simulate.md).
 */
export const DEFAULT_SCALING: ScalingPolicy = Object.freeze({
  acceptableLatencySeconds: 8,
  averageJobSeconds: 10,
  jobsPerWorker: 16,
  minWorkers: 0,
  maxWorkers: 20,
  scaleOutCooldownSeconds: 60,
  scaleInCooldownSeconds: 300,
  wakeWorkers: 1,
});

/** Merge overrides over the defaults and validate; throws one error listing every problem. */
export function resolveScaling(overrides: Partial<ScalingPolicy> = {}): ScalingPolicy {
  const p = { ...DEFAULT_SCALING, ...overrides };
  const problems: string[] = [];
  const positive = (name: keyof ScalingPolicy) => {
    if (!(p[name] > 0)) problems.push(`${name} must be greater than 0, got ${p[name]}`);
  };
  positive('acceptableLatencySeconds');
  positive('averageJobSeconds');
  positive('jobsPerWorker');
  positive('maxWorkers');
  positive('wakeWorkers');
  if (!Number.isInteger(p.minWorkers) || p.minWorkers < 0)
    problems.push(`minWorkers must be a whole number >= 0`);
  if (!Number.isInteger(p.maxWorkers)) problems.push('maxWorkers must be a whole number');
  if (p.minWorkers > p.maxWorkers)
    problems.push(`minWorkers (${p.minWorkers}) exceeds maxWorkers (${p.maxWorkers})`);
  if (p.wakeWorkers > p.maxWorkers)
    problems.push(`wakeWorkers (${p.wakeWorkers}) exceeds maxWorkers (${p.maxWorkers})`);
  if (p.scaleOutCooldownSeconds < 0 || p.scaleInCooldownSeconds < 0) problems.push('cooldowns must be >= 0');
  if (problems.length > 0) throw new Error(`invalid scaling policy: ${problems.join('; ')}`);
  return p;
}

/**
 * The backlog-per-worker target: the jobs one worker clears within the acceptable latency.
 * AWS: "acceptable backlog per instance = acceptable latency / average processing time",
 * times the jobs a worker runs at once.
 */
export function backlogPerWorkerTarget(p: ScalingPolicy): number {
  return Math.max(1, (p.acceptableLatencySeconds / p.averageJobSeconds) * p.jobsPerWorker);
}

/**
 * What target tracking converges to for a given backlog: enough workers that each holds at
 * most the target, clamped to the fleet's bounds. With a backlog of 0 this is minWorkers.
 */
export function desiredWorkers(backlog: number, p: ScalingPolicy): number {
  const want = Math.ceil(backlog / backlogPerWorkerTarget(p));
  return Math.min(p.maxWorkers, Math.max(p.minWorkers, want));
}

/** One step of the surge policy: at this backlog per worker, add this percentage of the fleet. */
export interface SurgeStep {
  readonly backlogPerWorkerAtLeast: number;
  readonly percentChange: number;
}

/**
 * Steps for a step-scaling policy (PercentChangeInCapacity, one 1-minute datapoint) on the same
 * backlog-per-worker metric as target tracking. Target tracking waits for three datapoints above
 * target; when backlog per worker is already 3, 6 or 12 times the target this policy doubles,
 * quadruples or octuples the fleet after one: at most two thirds of what target tracking would
 * ask for, so it never overshoots it, and never fires on the noise around the target.
 */
export function surgeSteps(p: ScalingPolicy): SurgeStep[] {
  const target = backlogPerWorkerTarget(p);
  return [
    { backlogPerWorkerAtLeast: 3 * target, percentChange: 100 },
    { backlogPerWorkerAtLeast: 6 * target, percentChange: 300 },
    { backlogPerWorkerAtLeast: 12 * target, percentChange: 700 },
  ];
}
