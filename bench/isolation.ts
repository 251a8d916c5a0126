/**
 * What isolation costs per job, in one run: `echo` jobs (each writing its result, fan-in
 * watching) through the bundled worker with the same concurrency,
 *   (a) in the worker's process (isolation 'suspects', the default, with no suspects about),
 *   (b) isolation 'always': a pool of child processes, each replaced after 100 jobs,
 *   (c) isolation 'always' with one job per child: what every suspect pays (a fresh child).
 * Reported as jobs/s, and as the extra milliseconds of worker time per job over (a).
 *
 *   npx tsx bench/isolation.ts [--jobs 2000] [--concurrency 8] [--runs 1]
 */
import type { ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { buildWorker } from '../scripts/build-worker.js';
import {
  type BenchEmulator,
  dropDeployment,
  fillQueue,
  fmt,
  freshDeployment,
  isMain,
  machineLine,
  median,
  say,
  startEmulatorProcess,
  stopChild,
  tailOf,
  timeDrain,
} from './support.js';
import { flotillaWorker } from './worker-throughput.js';

export interface IsolationVariant {
  readonly name: string;
  readonly env: Record<string, string>;
  /** Share of --jobs this variant runs (a fresh child per job is slow). */
  readonly jobShare: number;
  /** The job type submitted. @default 'echo' */
  readonly type?: string;
}

export const VARIANTS: readonly IsolationVariant[] = [
  { name: 'in process (suspects, default)', env: {}, jobShare: 1 },
  { name: 'always (pool, 100 jobs a child)', env: { FLOTILLA_ISOLATION: 'always' }, jobShare: 1 },
  {
    name: 'always, 1 job a child (a suspect)',
    env: { FLOTILLA_ISOLATION: 'always', FLOTILLA_MAX_JOBS_PER_CHILD: '1' },
    jobShare: 0.1,
  },
];

export interface IsolationResult {
  readonly name: string;
  readonly jobs: number;
  readonly jobsPerSecond: number;
  /** Extra wall milliseconds per job, per slot of concurrency, over the in-process run. */
  readonly extraMsPerJob: number;
}

async function runOnce(
  emu: BenchEmulator,
  workerJs: string,
  v: IsolationVariant,
  jobs: number,
  concurrency: number,
): Promise<number> {
  const p = await freshDeployment(emu, 'bench-iso');
  let child: ChildProcess | undefined;
  try {
    const handle = await fillQueue(emu, p, v.type ?? 'echo', jobs, (i) => ({ i }));
    child = flotillaWorker(workerJs, concurrency, v.env)(emu, p);
    const tail = tailOf(child);
    const drainP = timeDrain(emu.sqs, p.queueUrl, jobs, { child, timeoutMs: 600_000 });
    const outcome = await handle.waitForAll({ pollMs: 250, fetchResults: false, timeoutMs: 600_000 });
    const doneAt = Date.now();
    const drain = await drainP.catch((err: Error) => {
      throw new Error(`${err.message}\n${tail()}`);
    });
    if (!outcome.complete) throw new Error(`${v.name}: ${outcome.pending.length} jobs without a result`);
    return jobs / ((doneAt - drain.firstReceiveMs) / 1000);
  } finally {
    if (child) await stopChild(child, 5000);
    await dropDeployment(emu, p);
  }
}

export async function isolationBench(
  emu: BenchEmulator,
  workerJs: string,
  jobs: number,
  concurrency: number,
  runs: number,
  variants: readonly IsolationVariant[] = VARIANTS,
): Promise<IsolationResult[]> {
  const out: IsolationResult[] = [];
  for (const v of variants) {
    const n = Math.max(50, Math.round(jobs * v.jobShare));
    const rates: number[] = [];
    for (let r = 1; r <= runs; r++) {
      const rate = await runOnce(emu, workerJs, v, n, concurrency);
      rates.push(rate);
      say(`  ${v.name}: run ${r}/${runs}, ${n} jobs: ${fmt(rate)} jobs/s`);
    }
    const jobsPerSecond = median(rates);
    const base = out[0]?.jobsPerSecond ?? jobsPerSecond;
    out.push({
      name: v.name,
      jobs: n,
      jobsPerSecond,
      extraMsPerJob: (concurrency * 1000) / jobsPerSecond - (concurrency * 1000) / base,
    });
  }
  return out;
}

export function printIsolation(
  results: readonly IsolationResult[],
  concurrency: number,
  title = 'Isolation cost',
): void {
  process.stdout.write(`\n${title}, echo jobs with results, concurrency ${concurrency}\n`);
  for (const r of results) {
    process.stdout.write(
      `  ${r.name.padEnd(36)} ${fmt(r.jobsPerSecond).padStart(7)} jobs/s  ` +
        `${r.extraMsPerJob === 0 ? '' : `+${r.extraMsPerJob.toFixed(1)} ms per job per slot`}  (${r.jobs} jobs)\n`,
    );
  }
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '8' },
      runs: { type: 'string', default: '1' },
    },
  });
  const jobs = Number(values.jobs);
  const concurrency = Number(values.concurrency);
  say(machineLine());
  const { outfile } = await buildWorker();
  const emu = await startEmulatorProcess();
  try {
    printIsolation(await isolationBench(emu, outfile, jobs, concurrency, Number(values.runs)), concurrency);
  } finally {
    await emu.stop();
  }
}
