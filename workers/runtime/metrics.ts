/**
 * The worker's metrics, as log lines: every `statsIntervalMs` a `worker stats` line with the
 * counters, and a `job stats` line per job type that ended in the interval (jobs done and
 * failed, average and longest duration). With `format: 'emf'` (on AWS) the same lines carry
 * CloudWatch Embedded Metric Format, so CloudWatch Logs turns them into metrics with no agent
 * and no API call; elsewhere they are plain JSON.
 *
 * The runtime reports each job's end through `JobTimings.record` (WorkerOptions.onJobEnd).
 */
import {
  COUNTER_METRICS,
  DIMENSION,
  JOB_TYPE_METRICS,
  METRICS_NAMESPACE,
  RUNNING_METRIC,
} from '../../core/worker-metrics.js';
import type { WorkerCounters } from './counters.js';
import type { Logger } from './logger.js';

export type MetricsFormat = 'json' | 'emf';

export { METRICS_NAMESPACE };

/** Per job type, over one interval. */
export interface TypeWindow {
  done: number;
  failed: number;
  totalMs: number;
  minMs: number;
  maxMs: number;
}

/** Job durations by type, over the current interval: count, sum, min and max. */
export class JobTimings {
  private window = new Map<string, TypeWindow>();

  /** Called by the runtime when a job ends: done (`ok`) or failed (it will be retried or dead-lettered). */
  record(type: string, durationMs: number, ok: boolean): void {
    let w = this.window.get(type);
    if (!w) {
      w = { done: 0, failed: 0, totalMs: 0, minMs: durationMs, maxMs: durationMs };
      this.window.set(type, w);
    }
    if (ok) w.done++;
    else w.failed++;
    w.totalMs += durationMs;
    w.minMs = Math.min(w.minMs, durationMs);
    w.maxMs = Math.max(w.maxMs, durationMs);
  }

  /** The interval's figures; the next interval starts empty. */
  take(): Map<string, TypeWindow> {
    const out = this.window;
    this.window = new Map();
    return out;
  }
}

export interface StatsReporterOptions {
  readonly format: MetricsFormat;
  readonly log: Logger;
  /** The job queue's name: the dimension every metric carries, so fleets do not mix. */
  readonly queueName: string;
  readonly timings: JobTimings;
  /** @default Date.now */
  readonly now?: () => number;
}

type Unit = 'Count' | 'Milliseconds';

/** An EMF metadata member for `metrics`, all under one dimension set. */
function emf(timestamp: number, dimensions: string[], metrics: Record<string, Unit>) {
  return {
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [dimensions],
          Metrics: Object.entries(metrics).map(([Name, Unit]) => ({ Name, Unit })),
        },
      ],
    },
  };
}

/** Writes the stats lines; counters become per-interval deltas (what a Sum over a period needs). */
export class StatsReporter {
  private last: Partial<Record<keyof WorkerCounters, number>> = {};

  constructor(private readonly opts: StatsReporterOptions) {}

  report(counters: Readonly<WorkerCounters>, running: number): void {
    const { log, format, queueName } = this.opts;
    const now = (this.opts.now ?? Date.now)();
    const fields: Record<string, unknown> = { ...counters, running };
    if (format === 'emf') {
      const units: Record<string, Unit> = { [RUNNING_METRIC]: 'Count' };
      for (const [counter, name] of Object.entries(COUNTER_METRICS) as [
        keyof typeof COUNTER_METRICS,
        string,
      ][]) {
        fields[name] = counters[counter] - (this.last[counter] ?? 0);
        this.last[counter] = counters[counter];
        units[name] = 'Count';
      }
      Object.assign(
        fields,
        { [DIMENSION.queue]: queueName, [RUNNING_METRIC]: running },
        emf(now, [DIMENSION.queue], units),
      );
    }
    log.info('worker stats', fields);
    for (const [type, w] of this.opts.timings.take()) {
      const count = w.done + w.failed;
      const line: Record<string, unknown> = {
        type,
        done: w.done,
        failed: w.failed,
        avgMs: Math.round(w.totalMs / count),
        minMs: w.minMs,
        maxMs: w.maxMs,
      };
      if (format === 'emf') {
        Object.assign(
          line,
          {
            [DIMENSION.queue]: queueName,
            [DIMENSION.jobType]: type,
            [JOB_TYPE_METRICS.done]: w.done,
            [JOB_TYPE_METRICS.failed]: w.failed,
            [JOB_TYPE_METRICS.duration]: w.totalMs / count,
            [JOB_TYPE_METRICS.durationMax]: w.maxMs,
          },
          emf(now, [DIMENSION.queue, DIMENSION.jobType], {
            [JOB_TYPE_METRICS.done]: 'Count',
            [JOB_TYPE_METRICS.failed]: 'Count',
            [JOB_TYPE_METRICS.duration]: 'Milliseconds',
            [JOB_TYPE_METRICS.durationMax]: 'Milliseconds',
          }),
        );
      }
      log.info('job stats', line);
    }
  }
}

/**
 * The format from the environment's facts, for the entry point: an explicit FLOTILLA_METRICS
 * wins; otherwise EMF inside an ECS task (its logs go to CloudWatch Logs), plain JSON elsewhere.
 */
export function metricsFormat(explicit: string | undefined, inEcsTask: boolean): MetricsFormat {
  const v = explicit?.trim().toLowerCase();
  if (!v) return inEcsTask ? 'emf' : 'json';
  if (v === 'emf' || v === 'json') return v;
  throw new Error(`FLOTILLA_METRICS must be emf or json; got '${explicit}'`);
}
