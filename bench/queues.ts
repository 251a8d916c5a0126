/**
 * Several queues: how long an urgent job waits for a worker busy on a bulk backlog (strict
 * priority), how long it waits for an idle worker (the short waits on each queue), and how many
 * empty receives an idle worker serving three queues makes per minute (each is a billed request
 * on SQS; docs/queues.md turns it into money).
 *
 *   npx tsx bench/queues.ts [--urgent 40]        or  npm run bench -- --only queues
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Submitter } from '../client/submit.js';
import { S3Store } from '../core/adapters/s3-store.js';
import { SqsQueue } from '../core/adapters/sqs-queue.js';
import type { Provisioned } from '../scripts/provision.js';
import { HandlerRegistry } from '../workers/handlers/registry.js';
import { Worker } from '../workers/runtime/worker.js';
import {
  type BenchEmulator,
  dropDeployment,
  fmt,
  freshDeployment,
  isMain,
  machineLine,
  say,
  startEmulatorProcess,
} from './support.js';

export interface QueuesResult {
  /** Urgent jobs submitted one by one while the worker's slots were all busy on bulk jobs. */
  readonly busy: Waits;
  /** Urgent jobs submitted one by one to an idle worker serving three queues. */
  readonly idle: Waits;
  /** ReceiveMessage calls returning nothing, per minute, of one idle worker serving three queues. */
  readonly emptyReceivesPerMinute: number;
  readonly idleSeconds: number;
  readonly bulkJobMs: number;
  readonly concurrency: number;
}

export interface Waits {
  readonly jobs: number;
  /** Submit to handler start, ms. */
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly maxMs: number;
}

const percentile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};

const waitsOf = (ms: number[]): Waits => ({
  jobs: ms.length,
  p50Ms: percentile(ms, 0.5),
  p95Ms: percentile(ms, 0.95),
  maxMs: Math.max(...ms),
});

/** A worker serving urgent, default and bulk with one job type that sleeps `payload.ms` and notes its start. */
function startWorker(emu: BenchEmulator, p: Provisioned, concurrency: number, started: Map<string, number>) {
  const handlers = new HandlerRegistry().register<{ ms: number }, null>({
    type: 'work',
    writeResult: false,
    handler: async (job) => {
      started.set(job.id, Date.now());
      await sleep(job.payload.ms);
      return null;
    },
  });
  const worker = new Worker({
    queues: p.queues.map((q) => ({
      name: q.name,
      queue: new SqsQueue(emu.sqs, q.url),
      dlq: new SqsQueue(emu.sqs, q.dlqUrl!),
    })),
    store: new S3Store(emu.s3, p.bucket),
    handlers,
    concurrency,
    drainTimeoutMs: 2000,
  });
  void worker.start();
  return worker;
}

function submitter(emu: BenchEmulator, p: Provisioned, name: string): Submitter {
  const q = p.queues.find((x) => x.name === name)!;
  return new Submitter({
    queue: new SqsQueue(emu.sqs, q.url),
    queueName: name,
    store: new S3Store(emu.s3, p.bucket),
  });
}

/** Submit `n` urgent jobs one at a time, `gapMs` apart; each one's wait is its start minus its submit. */
async function urgentWaits(
  emu: BenchEmulator,
  p: Provisioned,
  started: Map<string, number>,
  n: number,
  gapMs: number,
): Promise<number[]> {
  const urgent = submitter(emu, p, 'urgent');
  const sentAt = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const id = `u${i}-${Date.now()}`;
    sentAt.set(id, Date.now());
    await urgent.submit('work', { ms: 10 }, { id });
    await sleep(gapMs);
  }
  const deadline = Date.now() + 30_000;
  while ([...sentAt.keys()].some((id) => !started.has(id)) && Date.now() < deadline) await sleep(20);
  return [...sentAt].map(([id, at]) => (started.get(id) ?? Number.NaN) - at);
}

export async function queuesBench(
  emu: BenchEmulator,
  opts: { urgent?: number; idleSeconds?: number } = {},
): Promise<QueuesResult> {
  const urgentJobs = opts.urgent ?? 40;
  const idleSeconds = opts.idleSeconds ?? 30;
  const concurrency = 16;
  const bulkJobMs = 200;
  const p = await freshDeployment(emu, 'bench-queues');
  const started = new Map<string, number>();
  const worker = startWorker(emu, p, concurrency, started);
  try {
    // Idle first: nothing queued anywhere, so the worker is in its short waits on each queue.
    await sleep(1500);
    const before = worker.counters.emptyReceives;
    say(`  idle worker on three queues for ${idleSeconds} s…`);
    await sleep(idleSeconds * 1000);
    const emptyReceivesPerMinute = ((worker.counters.emptyReceives - before) * 60) / idleSeconds;
    say('  urgent jobs to an idle worker…');
    const idle = waitsOf(await urgentWaits(emu, p, started, urgentJobs, 300));
    // A bulk backlog that keeps every slot busy for the whole measurement.
    const bulkJobs = Math.ceil(((urgentJobs * 250 + 10_000) / bulkJobMs) * concurrency);
    say(`  ${fmt(bulkJobs)} bulk jobs of ${bulkJobMs} ms, then urgent jobs behind them…`);
    await submitter(emu, p, 'bulk').submitMany(
      'work',
      Array.from({ length: bulkJobs }, () => ({ payload: { ms: bulkJobMs } })),
    );
    await sleep(2000);
    const busy = waitsOf(await urgentWaits(emu, p, started, urgentJobs, 250));
    return { busy, idle, emptyReceivesPerMinute, idleSeconds, bulkJobMs, concurrency };
  } finally {
    await worker.stop();
    await dropDeployment(emu, p);
  }
}

export function printQueues(r: QueuesResult, out: (l: string) => void): void {
  const line = (w: Waits) =>
    `p50 ${fmt(w.p50Ms)} ms, p95 ${fmt(w.p95Ms)} ms, max ${fmt(w.maxMs)} ms (${w.jobs} jobs)`;
  out(`Several queues (one worker, concurrency ${r.concurrency}, serving urgent, default and bulk):`);
  out(`  urgent job wait behind a bulk backlog (${r.bulkJobMs} ms jobs): ${line(r.busy)}`);
  out(`  urgent job wait on an idle worker:                  ${line(r.idle)}`);
  out(
    `  empty receives of the idle worker: ${fmt(r.emptyReceivesPerMinute)} per minute (over ${r.idleSeconds} s)`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { urgent: { type: 'string', default: '40' } } });
  const out = (l: string) => process.stdout.write(`${l}\n`);
  out(`Machine: ${machineLine()}`);
  const emu = await startEmulatorProcess();
  try {
    printQueues(await queuesBench(emu, { urgent: Number(values.urgent) }), out);
  } finally {
    await emu.stop();
  }
}

if (isMain(import.meta.url)) await main();
