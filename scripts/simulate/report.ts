/** The side-by-side table `flotilla simulate` prints, and its JSON form. */
import { backlogPerWorkerTarget, type ScalingPolicy } from '../../infra/scaling.js';
import { type SimulationOptions, type SimulationResult, simulate } from './engine.js';
import { ecsPatternsController, flotillaController } from './policies.js';
import { formatDuration, type Trace } from './traces.js';

export interface Comparison {
  readonly trace: string;
  readonly description: string;
  readonly policy: ScalingPolicy;
  readonly flotilla: SimulationResult;
  readonly baseline: SimulationResult;
}

/** Run one trace through Flotilla's policy and aws-ecs-patterns' default, same jobs for both. */
export function compare(trace: Trace, policy: ScalingPolicy, options: SimulationOptions = {}): Comparison {
  return {
    trace: trace.name,
    description: trace.description,
    policy,
    flotilla: simulate(trace, policy, flotillaController(policy), options),
    baseline: simulate(trace, policy, ecsPatternsController(policy), options),
  };
}

/** One line naming the policy values the run used. */
export function describePolicy(p: ScalingPolicy): string {
  const target = Math.round(backlogPerWorkerTarget(p) * 10) / 10;
  return `Flotilla policy: ${target} jobs per worker (acceptable latency ${p.acceptableLatencySeconds} s, job ${p.averageJobSeconds} s, ${p.jobsPerWorker} at once), ${p.minWorkers}-${p.maxWorkers} workers`;
}

/** Flotilla's p95 against the baseline's; within 1% counts as equal (the noise of a seeded run). */
export function p95Verdict(c: Comparison): 'better' | 'equal' | 'worse' {
  const r = c.flotilla.p95LatencySeconds / c.baseline.p95LatencySeconds;
  return r < 0.99 ? 'better' : r <= 1.01 ? 'equal' : 'worse';
}

/** Flotilla's worker-minutes divided by the baseline's (below 1: Flotilla is cheaper). */
export function costRatio(c: Comparison): number {
  return c.flotilla.workerMinutes / c.baseline.workerMinutes;
}

export function formatTable(c: Comparison): string {
  const { flotilla: a, baseline: b } = c;
  const rows: [string, string, string][] = [
    ['', a.policy, b.policy],
    ['drain time', formatDuration(a.drainSeconds), formatDuration(b.drainSeconds)],
    ['p50 latency', formatDuration(a.p50LatencySeconds), formatDuration(b.p50LatencySeconds)],
    ['p95 latency', formatDuration(a.p95LatencySeconds), formatDuration(b.p95LatencySeconds)],
    ['max latency', formatDuration(a.maxLatencySeconds), formatDuration(b.maxLatencySeconds)],
    ['worker-minutes', a.workerMinutes.toFixed(0), b.workerMinutes.toFixed(0)],
    ['peak workers', String(a.peakTasks), String(b.peakTasks)],
    ['jobs done', `${a.completed}/${a.jobs}`, `${b.completed}/${b.jobs}`],
    // Several queues: one fleet scaled on their summed backlog, strict priority between them.
    ...(a.byQueue ?? []).map((q, i): [string, string, string] => [
      `p95 ${q.name} (${q.jobs})`,
      formatDuration(q.p95LatencySeconds),
      formatDuration(b.byQueue?.[i]?.p95LatencySeconds ?? Number.NaN),
    ]),
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const w2 = Math.max(...rows.map((r) => r[2].length));
  const lines = rows.map(([k, x, y]) => `${k.padEnd(w0)}  ${x.padStart(w1)}  ${y.padStart(w2)}`);
  const ratio = costRatio(c);
  const p95 = { better: 'a better', equal: 'an equal (within 1%)', worse: 'a worse' }[p95Verdict(c)];
  return [
    `trace: ${c.trace} (${c.description})`,
    describePolicy(c.policy),
    ...lines,
    `Flotilla uses ${(ratio * 100).toFixed(1)}% of the baseline's worker-minutes at ${p95} p95 latency.`,
  ].join('\n');
}

const round = (n: number) => (Number.isFinite(n) ? Math.round(n * 10) / 10 : null);

export function toJson(c: Comparison): object {
  const summary = (r: SimulationResult) => ({
    policy: r.policy,
    jobs: r.jobs,
    completed: r.completed,
    drainSeconds: round(r.drainSeconds),
    p50LatencySeconds: round(r.p50LatencySeconds),
    p95LatencySeconds: round(r.p95LatencySeconds),
    maxLatencySeconds: round(r.maxLatencySeconds),
    workerMinutes: round(r.workerMinutes),
    peakWorkers: r.peakTasks,
    ...(r.byQueue
      ? {
          byQueue: r.byQueue.map((q) => ({
            name: q.name,
            jobs: q.jobs,
            p50LatencySeconds: round(q.p50LatencySeconds),
            p95LatencySeconds: round(q.p95LatencySeconds),
          })),
        }
      : {}),
  });
  return {
    trace: c.trace,
    description: c.description,
    flotilla: summary(c.flotilla),
    baseline: summary(c.baseline),
    workerMinutesRatio: Math.round(costRatio(c) * 1000) / 1000,
    p95: p95Verdict(c),
  };
}
