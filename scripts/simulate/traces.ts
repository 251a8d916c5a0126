/**
 * Load traces: when jobs are submitted. Three built-ins (a burst, a daily cycle, a sudden spike)
 * and user traces from CSV (`time_s,jobs`). Arrival times are generated once per seed, so both
 * policies in a comparison see exactly the same jobs.
 */
import { UsageError } from '../../core/errors.js';
import { poisson, seededRandom } from './random.js';

export interface Trace {
  readonly name: string;
  readonly description: string;
  /** Submit time of every job, in seconds, ascending. */
  readonly arrivals: Float64Array;
  /** Seconds to simulate; the run goes on past this until every job has finished. */
  readonly horizonSeconds: number;
  /** Simulation step in seconds (scaling decisions still happen on whole minutes). */
  readonly tickSeconds: number;
  /**
   * The job queue of every job, when the fleet serves several: `names` highest priority first,
   * `of[i]` the index of job i's queue. @default - one queue
   */
  readonly queues?: { readonly names: readonly string[]; readonly of: Uint8Array };
}

/**
 * `urgent=10,default=60,bulk=30`: the queues, highest priority first, and each one's share of
 * the jobs (any positive numbers; they are normalised). Throws a UsageError on bad input.
 */
export function parseQueueMix(text: string): { name: string; share: number }[] {
  const mix = text.split(',').map((part) => {
    const [name, share] = part.split('=');
    const n = Number(share);
    if (!name || !/^[a-z][a-z0-9-]*$/.test(name) || !(n > 0))
      throw new UsageError(
        `--queues takes NAME=SHARE,... highest priority first (urgent=10,default=90); got '${part}'`,
      );
    return { name, share: n };
  });
  if (new Set(mix.map((m) => m.name)).size !== mix.length)
    throw new UsageError('--queues names a queue twice');
  if (mix.length > 255) throw new UsageError('--queues takes at most 255 queues');
  return mix;
}

/** The same arrivals, each job given a queue at random in proportion to `mix` (seeded). */
export function withQueueMix(trace: Trace, mix: readonly { name: string; share: number }[], seed = 1): Trace {
  const total = mix.reduce((a, m) => a + m.share, 0);
  const rng = seededRandom(seed ^ 0x9e3779b9);
  const of = new Uint8Array(trace.arrivals.length);
  for (let i = 0; i < of.length; i++) {
    let r = rng() * total;
    let q = 0;
    while (q < mix.length - 1 && r >= mix[q]!.share) r -= mix[q++]!.share;
    of[i] = q;
  }
  return { ...trace, queues: { names: mix.map((m) => m.name), of } };
}

export const BUILT_IN_TRACES = ['burst', 'daily', 'spike'] as const;
export type BuiltInTrace = (typeof BUILT_IN_TRACES)[number];

/** 10,000 jobs submitted at t = 0, then nothing for an hour. */
export function burstTrace(jobs = 10_000): Trace {
  return {
    name: 'burst',
    description: `${jobs.toLocaleString('en-US')} jobs at t=0, then quiet (1 h)`,
    arrivals: new Float64Array(jobs),
    horizonSeconds: 3600,
    tickSeconds: 1,
  };
}

/** 24 h sinusoid from a night-time trough to a midday peak (Poisson arrivals). */
export function dailyTrace(seed = 1, troughPerSecond = 0.5, peakPerSecond = 10): Trace {
  const day = 86_400;
  const rate = (t: number) =>
    troughPerSecond + ((peakPerSecond - troughPerSecond) * (1 - Math.cos((2 * Math.PI * t) / day))) / 2;
  return {
    name: 'daily',
    description: `24 h cycle, ${troughPerSecond} jobs/s at night to ${peakPerSecond} jobs/s at noon`,
    arrivals: poissonArrivals(rate, day, seed),
    horizonSeconds: day,
    tickSeconds: 5,
  };
}

/** Low steady load for an hour, a 20x spike for 10 minutes, then low again for 1 h 50. */
export function spikeTrace(seed = 1, basePerSecond = 0.5, factor = 20): Trace {
  const spikeStart = 3600;
  const spikeEnd = spikeStart + 600;
  const rate = (t: number) => (t >= spikeStart && t < spikeEnd ? basePerSecond * factor : basePerSecond);
  return {
    name: 'spike',
    description: `${basePerSecond} jobs/s, then ${basePerSecond * factor} jobs/s (${factor}x) for 10 min at t=1 h`,
    arrivals: poissonArrivals(rate, 3 * 3600, seed),
    horizonSeconds: 3 * 3600,
    tickSeconds: 1,
  };
}

export function builtInTrace(name: BuiltInTrace, seed = 1): Trace {
  switch (name) {
    case 'burst':
      return burstTrace();
    case 'daily':
      return dailyTrace(seed);
    case 'spike':
      return spikeTrace(seed);
  }
}

/** A non-homogeneous Poisson process, one draw per second, times spread within the second. */
function poissonArrivals(ratePerSecond: (t: number) => number, seconds: number, seed: number): Float64Array {
  const rng = seededRandom(seed);
  const out: number[] = [];
  for (let s = 0; s < seconds; s++) {
    const n = poisson(rng, ratePerSecond(s + 0.5));
    const within: number[] = [];
    for (let i = 0; i < n; i++) within.push(s + rng());
    within.sort((a, b) => a - b);
    out.push(...within);
  }
  return Float64Array.from(out);
}

/**
 * A trace from CSV text: one `time_s,jobs` row per line (a header line is allowed). The jobs of a
 * row are spread evenly until the next row's time (the last row's over one second), so a row per
 * minute with jobs-per-minute reads as a rate, and a single row `0,10000` is a burst.
 */
export function parseTraceCsv(text: string, name = 'csv'): Trace {
  const rows: { t: number; jobs: number }[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const cells = line.split(',').map((c) => c.trim());
    if (rows.length === 0 && i === firstContentLine(lines) && Number.isNaN(Number(cells[0]))) return; // header
    const t = Number(cells[0]);
    const jobs = Number(cells[1]);
    if (cells.length !== 2 || !Number.isFinite(t) || t < 0 || !Number.isInteger(jobs) || jobs < 0)
      throw new UsageError(
        `${name} line ${i + 1}: expected 'time_s,jobs' (seconds >= 0, whole jobs), got '${line}'`,
      );
    const prev = rows.at(-1);
    if (prev && t <= prev.t)
      throw new UsageError(`${name} line ${i + 1}: times must increase, ${t} follows ${prev.t}`);
    rows.push({ t, jobs });
  });
  if (rows.length === 0) throw new UsageError(`${name}: no 'time_s,jobs' rows found`);
  const total = rows.reduce((n, r) => n + r.jobs, 0);
  if (total === 0) throw new UsageError(`${name}: the trace submits no jobs`);
  if (total > 5_000_000)
    throw new UsageError(`${name}: ${total} jobs is more than the simulator's 5,000,000`);
  const arrivals = new Float64Array(total);
  let k = 0;
  rows.forEach((r, i) => {
    const span = (rows[i + 1]?.t ?? r.t + 1) - r.t;
    for (let j = 0; j < r.jobs; j++) arrivals[k++] = r.t + ((j + 0.5) * span) / r.jobs;
  });
  const last = rows.at(-1)!.t;
  const horizonSeconds = Math.ceil(last) + 3600;
  return {
    name,
    description: `${total.toLocaleString('en-US')} jobs from ${name} over ${formatDuration(last)}`,
    arrivals,
    horizonSeconds,
    tickSeconds: horizonSeconds > 6 * 3600 ? 5 : 1,
  };
}

function firstContentLine(lines: string[]): number {
  return lines.findIndex((l) => l.trim() !== '' && !l.trim().startsWith('#'));
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
