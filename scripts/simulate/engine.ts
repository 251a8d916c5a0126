/**
 * A discrete-time simulation of a worker fleet and the job queues it serves. Jobs arrive from a
 * trace, wait as visible messages, run on a worker's job slots (`jobsPerWorker` at once) for a
 * log-normal duration with mean `averageJobSeconds`, and count as done when their result is
 * written (latency = submit to result). With several queues a free slot takes the oldest job
 * of the highest-priority queue that has one (strict priority, as the worker does), and the
 * controller sees the backlog summed over every queue, as the fleet's metric math sums it.
 * Every whole minute the controller sees one datapoint and sets the desired count; new tasks
 * poll after `startupSeconds`; removed tasks stop receiving and exit once their running jobs
 * finish (scale-in never kills a job).
 */
import type { ScalingPolicy } from '../../infra/scaling.js';
import type { Datapoint, ScalingController } from './policies.js';
import { logNormal, seededRandom } from './random.js';
import type { Trace } from './traces.js';

export interface SimulationOptions {
  /** Seconds from a task's launch to its worker polling (Fargate: image pull and start). @default 60 */
  readonly startupSeconds?: number;
  /** Seed for job durations (the same seed gives both policies the same jobs). @default 1 */
  readonly seed?: number;
  /** Spread of job durations, the log-normal sigma (0 = every job takes the mean). @default 0.5 */
  readonly durationSigma?: number;
  /** CPU of a worker with every job slot busy, scaled linearly below that. @default 100 */
  readonly cpuAtFullLoadPercent?: number;
  /** Give up this long after the horizon if jobs are still unfinished. @default 172800 (2 days) */
  readonly overrunSeconds?: number;
}

export const SIMULATION_DEFAULTS = Object.freeze({
  startupSeconds: 60,
  seed: 1,
  durationSigma: 0.5,
  cpuAtFullLoadPercent: 100,
  overrunSeconds: 2 * 86_400,
});

/** The fleet and queue at the end of one tick. */
export interface Sample {
  readonly t: number;
  readonly visible: number;
  readonly inFlight: number;
  /** Tasks polling the queue (past start-up, not stopping). */
  readonly running: number;
  /** Tasks being paid for: starting, running or finishing their last jobs. */
  readonly tasks: number;
  readonly desired: number;
}

export interface SimulationResult {
  readonly policy: string;
  readonly trace: string;
  readonly jobs: number;
  readonly completed: number;
  /** From the peak of waiting jobs until no job waits (the last one has been picked up). */
  readonly drainSeconds: number;
  readonly p50LatencySeconds: number;
  readonly p95LatencySeconds: number;
  readonly maxLatencySeconds: number;
  /** Task time paid for, start-up included: the cost. */
  readonly workerMinutes: number;
  readonly peakTasks: number;
  /** When the simulation stopped: the horizon, or later if jobs were still running. */
  readonly endSeconds: number;
  readonly samples: readonly Sample[];
  /** Latency per job queue, highest priority first, when the trace has several. */
  readonly byQueue?: readonly QueueLatency[];
}

export interface QueueLatency {
  readonly name: string;
  readonly jobs: number;
  readonly p50LatencySeconds: number;
  readonly p95LatencySeconds: number;
}

interface Task {
  readonly launchedAt: number;
  readonly readyAt: number;
  /** End time of the last job each slot ran (-Infinity before the first). */
  readonly jobEnds: Float64Array;
  stopping: boolean;
  stoppedAt?: number;
}

export function simulate(
  trace: Trace,
  policy: ScalingPolicy,
  controller: ScalingController,
  options: SimulationOptions = {},
): SimulationResult {
  const o = { ...SIMULATION_DEFAULTS, ...options };
  const dt = trace.tickSeconds;
  if (!(dt > 0) || 60 % dt !== 0) throw new Error(`tickSeconds must divide 60, got ${dt}`);
  const slotsPerTask = Math.max(1, Math.floor(policy.jobsPerWorker));
  const arrivals = trace.arrivals;
  const n = arrivals.length;
  const durations = new Float64Array(n);
  const rng = seededRandom(o.seed ^ 0x5eed);
  for (let i = 0; i < n; i++)
    durations[i] =
      o.durationSigma > 0
        ? logNormal(rng, policy.averageJobSeconds, o.durationSigma)
        : policy.averageJobSeconds;

  const latencies = new Float64Array(n).fill(Number.NaN);
  const tasks: Task[] = [];
  let live: Task[] = [];
  // Each queue's jobs in arrival order, and the first of them not yet started.
  const queueOf = trace.queues?.of;
  const queueCount = trace.queues?.names.length ?? 1;
  const byQueue: number[][] = Array.from({ length: queueCount }, () => []);
  for (let i = 0; i < n; i++) byQueue[queueOf ? queueOf[i]! : 0]!.push(i);
  const heads = new Array<number>(queueCount).fill(0);
  const head = (q: number) => byQueue[q]![heads[q]!];
  /** The job a slot free at `free` takes: the highest-priority queue's oldest arrived job, else the first to arrive before `te`. */
  const pick = (free: number, te: number): number | undefined => {
    let first: number | undefined;
    for (let q = 0; q < queueCount; q++) {
      const j = head(q);
      if (j === undefined || arrivals[j]! >= te) continue;
      if (arrivals[j]! <= free) return q;
      if (first === undefined || arrivals[j]! < arrivals[head(first)!]!) first = q;
    }
    return first;
  };
  let next = 0; // jobs started
  let arrived = 0; // jobs submitted so far
  let completed = 0;
  let desired = controller.initialWorkers;
  const samples: Sample[] = [];
  let cpuSum = 0;
  let cpuTicks = 0;

  const launch = (at: number, ready: number) => {
    const task: Task = {
      launchedAt: at,
      readyAt: ready,
      jobEnds: new Float64Array(slotsPerTask).fill(Number.NEGATIVE_INFINITY),
      stopping: false,
    };
    tasks.push(task);
    live.push(task);
  };
  for (let i = 0; i < controller.initialWorkers; i++) launch(0, 0);

  const busySlots = (task: Task, at: number) => task.jobEnds.reduce((k, end) => (end > at ? k + 1 : k), 0);

  /** Move the fleet toward `want` tasks: launch, or stop starting/idle tasks first, then drain busy ones. */
  const apply = (want: number, at: number) => {
    const active = live.filter((task) => !task.stopping);
    if (want > active.length) {
      for (let i = active.length; i < want; i++) launch(at, at + o.startupSeconds);
      return;
    }
    const order = active
      .map((task) => ({ task, busy: task.readyAt > at ? -1 : busySlots(task, at) }))
      .sort((a, b) => a.busy - b.busy);
    for (const { task, busy } of order.slice(0, active.length - want)) {
      task.stopping = true;
      if (busy <= 0) task.stoppedAt = at;
    }
    live = live.filter((task) => task.stoppedAt === undefined);
  };

  const heap = new SlotHeap();
  const limit = trace.horizonSeconds + o.overrunSeconds;
  let t = 0;
  while (t < limit && (t < trace.horizonSeconds || completed < n)) {
    const te = t + dt;

    // Workers with a free slot take a waiting job (the highest queue's oldest), earliest free slot first.
    if (pick(Number.NEGATIVE_INFINITY, te) !== undefined) {
      heap.clear();
      for (const task of live) {
        if (task.stopping || task.readyAt >= te) continue;
        for (let s = 0; s < slotsPerTask; s++) {
          const free = Math.max(task.jobEnds[s]!, task.readyAt);
          if (free < te) heap.push(free, task.jobEnds, s);
        }
      }
      while (heap.size > 0) {
        const q = pick(heap.peek(), te);
        if (q === undefined) break;
        const { at: free, ends, slot } = heap.pop();
        const job = head(q)!;
        heads[q]!++;
        const start = Math.max(free, arrivals[job]!);
        const end = start + durations[job]!;
        latencies[job] = end - arrivals[job]!;
        ends[slot] = end;
        next++;
        if (end < te) heap.push(end, ends, slot);
      }
    }
    while (arrived < n && arrivals[arrived]! < te) arrived++;

    // Results written by te; stopping tasks whose last job finished exit.
    let inFlight = 0;
    let running = 0;
    let runningSlotsBusy = 0;
    for (const task of live) {
      const busy = busySlots(task, te);
      inFlight += busy;
      if (task.readyAt <= te) {
        running++;
        runningSlotsBusy += busy;
      }
      if (task.stopping && busy === 0) task.stoppedAt = Math.min(te, Math.max(t, ...task.jobEnds));
    }
    live = live.filter((task) => task.stoppedAt === undefined);
    completed = next - inFlight;
    if (running > 0) {
      cpuSum += (runningSlotsBusy / (running * slotsPerTask)) * o.cpuAtFullLoadPercent;
      cpuTicks++;
    }

    const visible = arrived - next;
    const polling = live.filter((task) => !task.stopping && task.readyAt <= te).length;
    samples.push({ t: te, visible, inFlight, running: polling, tasks: live.length, desired });

    if (te % 60 === 0) {
      const dp: Datapoint = {
        t: te,
        visible,
        inFlight,
        running,
        cpuPercent: cpuTicks > 0 ? cpuSum / cpuTicks : undefined,
      };
      cpuSum = 0;
      cpuTicks = 0;
      const want = Math.min(
        controller.maxWorkers,
        Math.max(controller.minWorkers, controller.evaluate(dp, desired)),
      );
      if (want !== desired) desired = want;
      apply(desired, te);
    }
    t = te;
  }

  const end = t;
  // Jobs still running at the end have a latency but no result yet: count only those done by `end`.
  const doneBy = (ids: Iterable<number>) => {
    const out: number[] = [];
    for (const i of ids) if (arrivals[i]! + latencies[i]! <= end) out.push(latencies[i]!);
    return Float64Array.from(out).sort();
  };
  const percentile = (sorted: Float64Array, q: number) =>
    sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const done = doneBy(byQueue.flat());
  const pct = (q: number) => percentile(done, q);
  const workerSeconds = tasks.reduce((sum, task) => sum + ((task.stoppedAt ?? end) - task.launchedAt), 0);
  return {
    policy: controller.name,
    trace: trace.name,
    jobs: n,
    completed,
    drainSeconds: drainTime(samples),
    p50LatencySeconds: pct(0.5),
    p95LatencySeconds: pct(0.95),
    maxLatencySeconds: done.length === 0 ? Number.NaN : done[done.length - 1]!,
    workerMinutes: workerSeconds / 60,
    peakTasks: samples.reduce((m, s) => Math.max(m, s.tasks), 0),
    endSeconds: end,
    samples,
    ...(trace.queues
      ? {
          byQueue: trace.queues.names.map((name, q) => {
            const d = doneBy(byQueue[q]!);
            return {
              name,
              jobs: byQueue[q]!.length,
              p50LatencySeconds: percentile(d, 0.5),
              p95LatencySeconds: percentile(d, 0.95),
            };
          }),
        }
      : {}),
  };
}

function drainTime(samples: readonly Sample[]): number {
  let peak = 0;
  for (let i = 1; i < samples.length; i++) if (samples[i]!.visible > samples[peak]!.visible) peak = i;
  const start = samples[peak];
  if (!start || start.visible === 0) return 0;
  const zero = samples.findIndex((s, i) => i > peak && s.visible === 0);
  return zero < 0 ? Number.POSITIVE_INFINITY : samples[zero]!.t - start.t;
}

/** A binary min-heap of free job slots keyed by the time they become free. */
class SlotHeap {
  private at: number[] = [];
  private ends: Float64Array[] = [];
  private slots: number[] = [];
  get size(): number {
    return this.at.length;
  }
  /** When the earliest slot becomes free. */
  peek(): number {
    return this.at[0]!;
  }
  clear(): void {
    this.at.length = 0;
    this.ends.length = 0;
    this.slots.length = 0;
  }
  push(at: number, ends: Float64Array, slot: number): void {
    let i = this.at.length;
    this.at.push(at);
    this.ends.push(ends);
    this.slots.push(slot);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.at[p]! <= this.at[i]!) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): { at: number; ends: Float64Array; slot: number } {
    const top = { at: this.at[0]!, ends: this.ends[0]!, slot: this.slots[0]! };
    const last = this.at.length - 1;
    this.swap(0, last);
    this.at.pop();
    this.ends.pop();
    this.slots.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.at.length && this.at[l]! < this.at[m]!) m = l;
      if (r < this.at.length && this.at[r]! < this.at[m]!) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
  private swap(a: number, b: number): void {
    [this.at[a], this.at[b]] = [this.at[b]!, this.at[a]!];
    [this.ends[a], this.ends[b]] = [this.ends[b]!, this.ends[a]!];
    [this.slots[a], this.slots[b]] = [this.slots[b]!, this.slots[a]!];
  }
}
