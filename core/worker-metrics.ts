/**
 * The names of the worker's CloudWatch metrics, written once: the worker emits them as Embedded
 * Metric Format (workers/runtime/metrics.ts) and the stack's dashboard graphs them
 * (infra/constructs/monitoring.ts).
 */

export const METRICS_NAMESPACE = 'Flotilla';

/** Dimensions: every metric carries the job queue's name; the per-type ones also the job type. */
export const DIMENSION = { queue: 'Queue', jobType: 'JobType' } as const;

/** Per worker and interval (the `worker stats` line): counts since the previous line. */
export const COUNTER_METRICS = {
  received: 'JobsReceived',
  done: 'JobsDone',
  failed: 'JobsFailed',
  retried: 'JobsRetried',
  deadLettered: 'JobsDeadLettered',
} as const;

/** Jobs running when the line was written. */
export const RUNNING_METRIC = 'JobsRunning';

/** Per job type and interval (the `job stats` lines). */
export const JOB_TYPE_METRICS = {
  done: 'JobsDone',
  failed: 'JobsFailed',
  /** Mean duration over the interval, ms. */
  duration: 'JobDuration',
  /** Longest duration over the interval, ms. */
  durationMax: 'JobDurationMax',
} as const;
