/**
 * Worker throughput through the embedded emulator (fauxqs in its own process), one consumer
 * process at a time:
 *   (a) the queue path alone: Flotilla's `noop` job type (no result written) against
 *       sqs-consumer (1 and 4 Consumers) and raw ReceiveMessage + DeleteMessageBatch loops;
 *   (b) the full path: `echo` jobs, each writing its result, with fan-in (waitForAll) watching;
 *   (c) a CPU-bound handler (`pi`) on 1 and 2 worker processes.
 *
 *   npx tsx bench/worker-throughput.ts [--jobs 20000] [--runs 3]
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { buildWorker } from '../scripts/build-worker.js';
import type { Provisioned } from '../scripts/provision.js';
import {
  type BenchEmulator,
  COUNTED_ENV,
  childEnv,
  dropDeployment,
  fillQueue,
  fmt,
  freshDeployment,
  isMain,
  machineLine,
  median,
  nodeTs,
  ratio,
  say,
  startEmulatorProcess,
  stopChild,
  tailOf,
  timeDrain,
} from './support.js';

/** Flotilla's concurrency for the queue-path run: 10 pollers of 10 messages each. */
export const NOOP_CONCURRENCY = 100;

export interface Contender {
  readonly name: string;
  readonly kind: 'flotilla' | 'sqs-consumer' | 'raw';
  start(emu: BenchEmulator, p: Provisioned): ChildProcess;
}

export function flotillaWorker(
  workerJs: string,
  concurrency: number,
  extra: Record<string, string> = {},
  /** The Node.js binary that runs the bundle. @default - this process's */
  node: string = process.execPath,
): (emu: BenchEmulator, p: Provisioned) => ChildProcess {
  return (emu, p) =>
    spawn(node, [workerJs], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnv(emu.endpoint, {
        FLOTILLA_QUEUE_URL: p.queueUrl,
        FLOTILLA_BUCKET: p.bucket,
        FLOTILLA_CONCURRENCY: String(concurrency),
        FLOTILLA_WAIT_SECONDS: '1',
        FLOTILLA_DRAIN_SECONDS: '5',
        FLOTILLA_LOG_LEVEL: 'warn',
        ...extra,
      }),
    });
}

export function queuePathContenders(workerJs: string): Contender[] {
  return [
    {
      name: `Flotilla worker (noop, concurrency ${NOOP_CONCURRENCY})`,
      kind: 'flotilla',
      start: flotillaWorker(workerJs, NOOP_CONCURRENCY, COUNTED_ENV),
    },
    ...[1, 4].map(
      (n): Contender => ({
        name: `sqs-consumer ×${n} (batchSize 10)`,
        kind: 'sqs-consumer',
        start: (emu, p) =>
          nodeTs('bench/peers/sqs-consumer.ts', [p.queueUrl, String(n)], childEnv(emu.endpoint)),
      }),
    ),
    ...[4, 8, 16].map(
      (n): Contender => ({
        name: `raw SDK loop ×${n}`,
        kind: 'raw',
        start: (emu, p) => nodeTs('bench/peers/raw-loop.ts', [p.queueUrl, String(n)], childEnv(emu.endpoint)),
      }),
    ),
  ];
}

/** Fill a fresh queue, start the consumer, time the drain from its first receive, stop it. */
export async function drainOnce(
  emu: BenchEmulator,
  start: (emu: BenchEmulator, p: Provisioned) => ChildProcess,
  jobs: number,
  type: string,
  payload?: (i: number) => unknown,
  processes = 1,
): Promise<{ seconds: number; perSecond: number; perCpuSecond: number }> {
  const p = await freshDeployment(emu, 'bench');
  const children: ChildProcess[] = [];
  try {
    await fillQueue(emu, p, type, jobs, payload);
    for (let i = 0; i < processes; i++) children.push(start(emu, p));
    const tails = children.map(tailOf);
    let drain: Awaited<ReturnType<typeof timeDrain>>;
    try {
      drain = await timeDrain(emu.sqs, p.queueUrl, jobs, { child: children[0]! });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${tails.map((t) => t()).join('\n')}`);
    }
    const seconds = (drain.emptyMs - drain.firstReceiveMs) / 1000;
    return { seconds, perSecond: jobs / seconds, perCpuSecond: jobs / drain.cpuSeconds };
  } finally {
    await Promise.all(children.map((c) => stopChild(c, 3000)));
    await dropDeployment(emu, p);
  }
}

export interface ContenderResult {
  readonly name: string;
  readonly kind: Contender['kind'];
  readonly runs: number[];
  readonly msgsPerSecond: number;
  /** Messages per CPU-second of the consumer process: what it costs, and steady under load. */
  readonly msgsPerCpuSecond: number;
}

export interface QueuePathResult {
  readonly jobs: number;
  readonly contenders: ContenderResult[];
  readonly flotilla: number;
  readonly sqsConsumerOne: number;
  readonly sqsConsumerFour: number;
  readonly rawCeiling: number;
  readonly rawBest: string;
  /** The same comparisons in messages per CPU-second of the consumer process. */
  readonly perCpu: { flotilla: number; sqsConsumerOne: number; sqsConsumerFour: number; rawCeiling: number };
  /** Flotilla's requests per job in its last run, as the emulator counted them. */
  readonly requests: RequestsPerJob;
}

export interface RequestsPerJob {
  readonly s3: number;
  readonly sqs: number;
  /** Per job, by operation: `sqs:ReceiveMessage`, `s3:PUT`... */
  readonly byOperation: Readonly<Record<string, number>>;
}

/** The emulator's counts since the last reading, per job. */
async function requestsPerJob(emu: BenchEmulator, jobs: number): Promise<RequestsPerJob> {
  const counts = await emu.requestCounts();
  const sum = (prefix: string) =>
    Object.entries(counts).reduce((n, [op, c]) => (op.startsWith(prefix) ? n + c : n), 0) / jobs;
  return {
    s3: sum('s3:'),
    sqs: sum('sqs:'),
    byOperation: Object.fromEntries(Object.entries(counts).map(([op, c]) => [op, c / jobs])),
  };
}

/** (a) Rounds interleave the contenders so that drift in the machine hits them all alike. */
export async function queuePath(
  emu: BenchEmulator,
  workerJs: string,
  jobs: number,
  runs: number,
): Promise<QueuePathResult> {
  const contenders = queuePathContenders(workerJs);
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  const cpu = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  let requests: RequestsPerJob | undefined;
  for (let r = 1; r <= runs; r++) {
    for (const c of contenders) {
      if (c.kind === 'flotilla') await emu.requestCounts();
      const { perSecond, perCpuSecond, seconds } = await drainOnce(emu, c.start, jobs, 'noop');
      if (c.kind === 'flotilla') requests = await requestsPerJob(emu, jobs);
      samples.get(c.name)!.push(perSecond);
      cpu.get(c.name)!.push(perCpuSecond);
      say(
        `  run ${r}/${runs}  ${c.name.padEnd(44)} ${fmt(perSecond).padStart(7)} msgs/s  (${fmt(seconds, 2)} s; ${fmt(perCpuSecond)} msgs per CPU-second)`,
      );
    }
  }
  const results = contenders.map((c) => ({
    name: c.name,
    kind: c.kind,
    runs: samples.get(c.name)!,
    msgsPerSecond: median(samples.get(c.name)!),
    msgsPerCpuSecond: median(cpu.get(c.name)!),
  }));
  const raw = results.filter((r) => r.kind === 'raw').sort((a, b) => b.msgsPerSecond - a.msgsPerSecond)[0]!;
  const sc = results.filter((r) => r.kind === 'sqs-consumer');
  return {
    jobs,
    contenders: results,
    flotilla: results[0]!.msgsPerSecond,
    sqsConsumerOne: sc[0]!.msgsPerSecond,
    sqsConsumerFour: sc[1]!.msgsPerSecond,
    rawCeiling: raw.msgsPerSecond,
    rawBest: raw.name,
    perCpu: {
      flotilla: results[0]!.msgsPerCpuSecond,
      sqsConsumerOne: sc[0]!.msgsPerCpuSecond,
      sqsConsumerFour: sc[1]!.msgsPerCpuSecond,
      rawCeiling: Math.max(...results.filter((r) => r.kind === 'raw').map((r) => r.msgsPerCpuSecond)),
    },
    requests: requests ?? { s3: 0, sqs: 0, byOperation: {} },
  };
}

export interface FullPathResult {
  readonly jobs: number;
  /** First receive until fan-in (waitForAll) saw every result. */
  readonly jobsPerSecond: number;
  /** First receive until the queue was empty. */
  readonly drainPerSecond: number;
  readonly runs: number[];
  /** Share of the drain time spent on result bookkeeping (the conditional PUT) by comparison with noop. */
  readonly resultShare: number;
  /** The worker's requests per job in the last run, as the emulator counted them. */
  readonly requests: RequestsPerJob;
}

/** (b) echo jobs: each writes its result; waitForAll polls the bucket as a submitter would. */
export async function fullPath(
  emu: BenchEmulator,
  workerJs: string,
  jobs: number,
  runs: number,
  noopPerSecond: number,
): Promise<FullPathResult> {
  const fanIn: number[] = [];
  const drains: number[] = [];
  let requests: RequestsPerJob = { s3: 0, sqs: 0, byOperation: {} };
  for (let r = 1; r <= runs; r++) {
    const p = await freshDeployment(emu, 'bench');
    let child: ChildProcess | undefined;
    try {
      const handle = await fillQueue(emu, p, 'echo', jobs, (i) => ({ i }));
      await emu.requestCounts();
      child = flotillaWorker(workerJs, NOOP_CONCURRENCY, COUNTED_ENV)(emu, p);
      const tail = tailOf(child);
      const drainP = timeDrain(emu.sqs, p.queueUrl, jobs, { child });
      const outcome = await handle.waitForAll({ pollMs: 500, fetchResults: false, timeoutMs: 300_000 });
      const fanInAt = Date.now();
      const drain = await drainP.catch((err: Error) => {
        throw new Error(`${err.message}\n${tail()}`);
      });
      if (!outcome.complete)
        throw new Error(`fan-in incomplete: ${outcome.pending.length} jobs without a result`);
      const perSecond = jobs / ((fanInAt - drain.firstReceiveMs) / 1000);
      const drainPerSecond = jobs / ((drain.emptyMs - drain.firstReceiveMs) / 1000);
      fanIn.push(perSecond);
      drains.push(drainPerSecond);
      say(
        `  run ${r}/${runs}  echo + results + fan-in: ${fmt(perSecond)} jobs/s (queue drained at ${fmt(drainPerSecond)}/s)`,
      );
    } finally {
      if (child) await stopChild(child, 3000);
      await dropDeployment(emu, p);
    }
    requests = await requestsPerJob(emu, jobs);
  }
  const drainPerSecond = median(drains);
  return {
    jobs,
    jobsPerSecond: median(fanIn),
    drainPerSecond,
    runs: fanIn,
    resultShare: Math.max(0, 1 - drainPerSecond / noopPerSecond),
    requests,
  };
}

export interface CpuResult {
  readonly jobs: number;
  readonly samples: number;
  readonly perProcess: { processes: number; jobsPerSecond: number; runs: number[] }[];
}

/** (c) `pi` jobs, concurrency 2 per process: one process, then two. */
export async function cpuBound(
  emu: BenchEmulator,
  workerJs: string,
  jobs: number,
  samples: number,
  runs: number,
): Promise<CpuResult> {
  const out: CpuResult['perProcess'] = [];
  for (const processes of [1, 2]) {
    const rs: number[] = [];
    for (let r = 1; r <= runs; r++) {
      const { perSecond } = await drainOnce(
        emu,
        flotillaWorker(workerJs, 2),
        jobs,
        'pi',
        () => ({ samples }),
        processes,
      );
      rs.push(perSecond);
      say(
        `  run ${r}/${runs}  pi ${fmt(samples)} samples, ${processes} process(es): ${fmt(perSecond, 1)} jobs/s`,
      );
    }
    out.push({ processes, jobsPerSecond: median(rs), runs: rs });
  }
  return { jobs, samples, perProcess: out };
}

export function printQueuePath(q: QueuePathResult, out: (l: string) => void): void {
  out(`Queue path, ${fmt(q.jobs)} no-op jobs, one consumer process (medians):`);
  out(`  ${''.padEnd(44)} ${'msgs/s'.padStart(7)}   msgs per CPU-second of the consumer`);
  for (const c of q.contenders)
    out(
      `  ${c.name.padEnd(44)} ${fmt(c.msgsPerSecond).padStart(7)}   ${fmt(c.msgsPerCpuSecond).padStart(7)}`,
    );
  out(`  Flotilla vs one sqs-consumer:   ${ratio(q.flotilla, q.sqsConsumerOne)}  (target ≥ 2×)`);
  printRequests(q.requests, out);
  out(`  Flotilla vs four sqs-consumers: ${ratio(q.flotilla, q.sqsConsumerFour)}`);
  out(
    `  Flotilla vs raw ceiling (${q.rawBest}): ${((100 * q.flotilla) / q.rawCeiling).toFixed(0)}%  (target ≥ 150%)`,
  );
  const c = q.perCpu;
  out(
    `  per CPU-second: Flotilla vs one sqs-consumer ${ratio(c.flotilla, c.sqsConsumerOne)}, vs four ${ratio(c.flotilla, c.sqsConsumerFour)}, vs the cheapest raw loop ${((100 * c.flotilla) / c.rawCeiling).toFixed(0)}%`,
  );
}

export function printFullPath(f: FullPathResult, out: (l: string) => void): void {
  out(`Full path, ${fmt(f.jobs)} echo jobs writing results, fan-in waiting for all:`);
  out(
    `  ${fmt(f.jobsPerSecond)} jobs/s to the last result seen by waitForAll; queue drained at ${fmt(f.drainPerSecond)}/s`,
  );
  out(`  result bookkeeping takes ${(100 * f.resultShare).toFixed(0)}% of the time  (target ≤ 50%)`);
  printRequests(f.requests, out);
}

export function printRequests(r: RequestsPerJob, out: (l: string) => void): void {
  const ops = Object.entries(r.byOperation)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([op, n]) => `${op} ${fmt(n, 3)}`)
    .join(', ');
  out(`  requests per job: S3 ${fmt(r.s3, 3)} (target ≤ 1.3), SQS ${fmt(r.sqs, 3)}  [${ops}]`);
}

export function printCpu(c: CpuResult, out: (l: string) => void): void {
  out(`CPU-bound, ${fmt(c.jobs)} pi jobs of ${fmt(c.samples)} samples, concurrency 2 per process:`);
  for (const p of c.perProcess) out(`  ${p.processes} process(es): ${fmt(p.jobsPerSecond, 1)} jobs/s`);
  const [one, two] = c.perProcess;
  if (one && two) out(`  2 processes vs 1: ${ratio(two.jobsPerSecond, one.jobsPerSecond)}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { jobs: { type: 'string', default: '20000' }, runs: { type: 'string', default: '3' } },
  });
  const jobs = Number(values.jobs);
  const runs = Number(values.runs);
  const out = (l: string) => process.stdout.write(`${l}\n`);
  out(`Machine: ${machineLine()}`);
  const { outfile } = await buildWorker();
  const emu = await startEmulatorProcess();
  try {
    const q = await queuePath(emu, outfile, jobs, runs);
    printQueuePath(q, out);
    const f = await fullPath(emu, outfile, jobs, runs, q.flotilla);
    printFullPath(f, out);
    printCpu(await cpuBound(emu, outfile, 60, 5_000_000, runs), out);
  } finally {
    await emu.stop();
  }
}

if (isMain(import.meta.url)) await main();
