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

/** One way of writing results, as the full path measured it. */
export interface FullPathVariant {
  /** First receive until fan-in (waitForAll) saw every result. */
  readonly jobsPerSecond: number;
  /** First receive until the queue was empty. */
  readonly drainPerSecond: number;
  readonly runs: number[];
  /** Share of the drain time spent on result bookkeeping: 1 − drain rate / the no-op drain rate of the same rounds. */
  readonly resultShare: number;
  /**
   * The same share in the worker's CPU time per job (1 − no-op CPU per job / this CPU per job):
   * steadier than wall time when other work shares the machine, since the worker is CPU-bound.
   */
  readonly resultShareCpu?: number;
  /** The worker's requests per job in the last run, as the emulator counted them. */
  readonly requests: RequestsPerJob;
}

export interface FullPathResult extends FullPathVariant {
  readonly jobs: number;
  /** The no-op drain rate the shares are taken against (median of the same rounds). */
  readonly noopPerSecond?: number;
  /** The same jobs with result packing on (FLOTILLA_RESULT_PACKING), in the same rounds. */
  readonly packed?: FullPathVariant & { readonly setting: string };
}

/** What the packed variant of the full path runs with: the option's defaults. */
export const BENCH_RESULT_PACKING = 'on';

interface FullPathSample {
  readonly perSecond: number;
  readonly drainPerSecond: number;
  readonly cpuSecondsPerJob: number;
  readonly requests: RequestsPerJob;
}

/** One drain of `jobs` echo jobs by a worker with `env`, fan-in watching. */
async function fullPathOnce(
  emu: BenchEmulator,
  workerJs: string,
  jobs: number,
  env: Record<string, string>,
): Promise<FullPathSample> {
  const p = await freshDeployment(emu, 'bench');
  let child: ChildProcess | undefined;
  try {
    const handle = await fillQueue(emu, p, 'echo', jobs, (i) => ({ i }));
    await emu.requestCounts();
    child = flotillaWorker(workerJs, NOOP_CONCURRENCY, { ...COUNTED_ENV, ...env })(emu, p);
    const tail = tailOf(child);
    const drainP = timeDrain(emu.sqs, p.queueUrl, jobs, { child });
    const outcome = await handle.waitForAll({ pollMs: 500, fetchResults: false, timeoutMs: 300_000 });
    const fanInAt = Date.now();
    const drain = await drainP.catch((err: Error) => {
      throw new Error(`${err.message}\n${tail()}`);
    });
    if (!outcome.complete)
      throw new Error(`fan-in incomplete: ${outcome.pending.length} jobs without a result`);
    // Counted once the worker has stopped, so its last deletes are in.
    await stopChild(child, 3000);
    return {
      perSecond: jobs / ((fanInAt - drain.firstReceiveMs) / 1000),
      drainPerSecond: jobs / ((drain.emptyMs - drain.firstReceiveMs) / 1000),
      cpuSecondsPerJob: drain.cpuSeconds / jobs,
      requests: await requestsPerJob(emu, jobs),
    };
  } finally {
    if (child) await stopChild(child, 3000);
    await dropDeployment(emu, p);
  }
}

/**
 * (b) echo jobs: each writes its result; waitForAll polls the bucket as a submitter would. Each
 * round drains the same number of no-op jobs (the baseline), then echo jobs the default way (a
 * conditional PUT per result), then with result packing, so drift in the machine hits all three.
 */
export async function fullPath(
  emu: BenchEmulator,
  workerJs: string,
  jobs: number,
  runs: number,
): Promise<FullPathResult> {
  const noop: { perSecond: number; cpuSecondsPerJob: number }[] = [];
  const variants = [
    { name: 'default', env: {} as Record<string, string>, samples: [] as FullPathSample[] },
    {
      name: `packed (${BENCH_RESULT_PACKING})`,
      env: { FLOTILLA_RESULT_PACKING: BENCH_RESULT_PACKING },
      samples: [] as FullPathSample[],
    },
  ];
  for (let r = 1; r <= runs; r++) {
    const base = await drainOnce(emu, flotillaWorker(workerJs, NOOP_CONCURRENCY), jobs, 'noop');
    noop.push({ perSecond: base.perSecond, cpuSecondsPerJob: 1 / base.perCpuSecond });
    say(`  run ${r}/${runs}  noop (baseline)  ${fmt(base.perSecond)} msgs/s`);
    for (const v of variants) {
      const once = await fullPathOnce(emu, workerJs, jobs, v.env);
      v.samples.push(once);
      say(
        `  run ${r}/${runs}  ${v.name.padEnd(15)} echo + results + fan-in: ${fmt(once.perSecond)} jobs/s (queue drained at ${fmt(once.drainPerSecond)}/s; S3 ${fmt(once.requests.s3, 3)} req/job)`,
      );
    }
  }
  const noopPerSecond = median(noop.map((n) => n.perSecond));
  const noopCpu = median(noop.map((n) => n.cpuSecondsPerJob));
  const [plain, packed] = variants.map((v): FullPathVariant => {
    const drainPerSecond = median(v.samples.map((x) => x.drainPerSecond));
    return {
      jobsPerSecond: median(v.samples.map((x) => x.perSecond)),
      drainPerSecond,
      runs: v.samples.map((x) => x.perSecond),
      resultShare: Math.max(0, 1 - drainPerSecond / noopPerSecond),
      resultShareCpu: Math.max(0, 1 - noopCpu / median(v.samples.map((x) => x.cpuSecondsPerJob))),
      requests: v.samples.at(-1)?.requests ?? { s3: 0, sqs: 0, byOperation: {} },
    };
  }) as [FullPathVariant, FullPathVariant];
  return { jobs, noopPerSecond, ...plain, packed: { ...packed, setting: BENCH_RESULT_PACKING } };
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
  if (f.noopPerSecond) out(`  no-op baseline in the same rounds: drained at ${fmt(f.noopPerSecond)}/s`);
  const variant = (name: string, v: FullPathVariant) => {
    out(
      `  ${name}: ${fmt(v.jobsPerSecond)} jobs/s to the last result seen by waitForAll; queue drained at ${fmt(v.drainPerSecond)}/s`,
    );
    const cpu =
      v.resultShareCpu === undefined
        ? ''
        : `; ${(100 * v.resultShareCpu).toFixed(0)}% of the worker's CPU time`;
    out(
      `    result bookkeeping takes ${(100 * v.resultShare).toFixed(0)}% of the time  (target ≤ 50%)${cpu}`,
    );
    printRequests(v.requests, (l) => out(`  ${l}`));
  };
  variant('default (a conditional PUT per result)', f);
  if (f.packed) variant(`result packing (${f.packed.setting})`, f.packed);
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
    const f = await fullPath(emu, outfile, jobs, runs);
    printFullPath(f, out);
    printCpu(await cpuBound(emu, outfile, 60, 5_000_000, runs), out);
  } finally {
    await emu.stop();
  }
}

if (isMain(import.meta.url)) await main();
