/**
 * What every benchmark shares: the machine it ran on, medians, the emulator in its own process,
 * child processes, filling a queue and timing its drain from the outside.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DeleteBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { DeleteQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { Submitter } from '../client/submit.js';
import { S3Store } from '../core/adapters/s3-store.js';
import { SqsQueue } from '../core/adapters/sqs-queue.js';
import { EMULATOR_CREDENTIALS, type EndpointConfig, s3Client, sqsClient } from '../core/aws.js';
import { type Provisioned, provisionDeployment } from '../scripts/provision.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memGiB: number;
  readonly node: string;
  readonly os: string;
}

export function machine(): Machine {
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    os: `${process.platform} ${release()}`,
  };
}

export function machineLine(m: Machine = machine()): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM (${(freemem() / 2 ** 30).toFixed(0)} free), Node ${m.node}, ${m.os}`;
}

/** The 1, 5 and 15 minute load averages, for the record next to the figures. */
export const loadLine = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Progress and figures go to stderr (progress) and stdout (figures). */
export const say = (line: string) => process.stderr.write(`${line}\n`);

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';

/** The environment every child that talks to the emulator gets. */
export function childEnv(endpoint: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
    ...extra,
  };
}

/** A TypeScript file run by node with the tsx loader (peers and the emulator). */
export function nodeTs(file: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', join(ROOT, file), ...args], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export interface BenchEmulator {
  readonly endpoint: string;
  readonly config: EndpointConfig;
  readonly sqs: SQSClient;
  readonly s3: S3Client;
  /** Requests signed as `bench-worker` since the last call, by operation (see emulator-server.ts). */
  requestCounts(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** The access key a consumer under test signs with, so that the emulator counts its requests. */
export const COUNTED_ENV = { AWS_ACCESS_KEY_ID: 'bench-worker' } as const;

/** fauxqs in a child process of its own, on a free port. */
export async function startEmulatorProcess(): Promise<BenchEmulator> {
  const child = nodeTs('bench/emulator-server.ts', [], { ...process.env, FAUXQS_PORT: '0' });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const rl = createInterface({ input: child.stdout! });
  const lines: ((line: string) => void)[] = [];
  rl.on('line', (line) => lines.shift()?.(line));
  const nextLine = () => new Promise<string>((resolve) => lines.push(resolve));
  const port = await new Promise<number>((resolve, reject) => {
    nextLine().then((line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}: ${stderr}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const config: EndpointConfig = { endpoint, region: 'us-east-1', credentials: { ...EMULATOR_CREDENTIALS } };
  const sqs = sqsClient(config);
  const s3 = s3Client(config);
  return {
    endpoint,
    config,
    sqs,
    s3,
    async requestCounts() {
      const line = nextLine();
      child.stdin?.write('counts\n');
      return (JSON.parse(await line) as { counts: Record<string, number> }).counts;
    },
    async stop() {
      sqs.destroy();
      s3.destroy();
      await stopChild(child, 3000);
    },
  };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(t);
  return code;
}

let seq = 0;
/** A fresh queue (with DLQ) and bucket from infra/definitions.ts. */
export async function freshDeployment(emu: BenchEmulator, prefix: string): Promise<Provisioned> {
  const name = `${prefix}-${process.pid.toString(36)}-${(seq++).toString(36)}`;
  return provisionDeployment({ sqs: emu.sqs, s3: emu.s3 }, name);
}

/** Remove a deployment's queues (the bucket too when it is empty; emulator restarts clear the rest). */
export async function dropDeployment(emu: BenchEmulator, p: Provisioned): Promise<void> {
  for (const url of p.queues.flatMap((q) => [q.url, q.dlqUrl ?? ''])) {
    await emu.sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => {});
  }
  await emu.s3.send(new DeleteBucketCommand({ Bucket: p.bucket })).catch(() => {});
}

/**
 * Fill the queue with `n` real job envelopes of `type` through the Submitter (job ids j000000...,
 * one batch id, the `flotilla-job-id` attribute on each message), 16 SendMessageBatch in flight.
 */
export async function fillQueue(
  emu: BenchEmulator,
  p: Provisioned,
  type: string,
  n: number,
  payload: (i: number) => unknown = () => null,
) {
  const submitter = new Submitter({
    queue: new SqsQueue(emu.sqs, p.queueUrl),
    store: new S3Store(emu.s3, p.bucket),
    parallelSends: 16,
  });
  const jobs = Array.from({ length: n }, (_, i) => ({ payload: payload(i) }));
  return submitter.submitMany(type, jobs, { skipDone: false });
}

export async function queueCounts(
  sqs: SQSClient,
  url: string,
): Promise<{ visible: number; inFlight: number }> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

export interface Drain {
  /** When the first message left the visible set (the consumer's first receive), ms since epoch. */
  readonly firstReceiveMs: number;
  /** When the queue was empty: every message received and deleted. */
  readonly emptyMs: number;
  /** CPU seconds (user + system) the consumer process used between the two; NaN where unknown. */
  readonly cpuSeconds: number;
}

let ticksPerSecond: number | undefined;

/**
 * CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere.
 * Unlike wall time, this hardly moves when other work shares the machine.
 */
export function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return Number.NaN;
  }
}

/**
 * Time a consumer from the outside, the same way for every contender: sample the queue's counts
 * every `intervalMs`; the clock starts at the first sample after a receive and stops at the
 * first sample with nothing visible and nothing in flight. The sampling error (up to one
 * interval at each end) is under 1% of a 20,000-message run.
 */
export async function timeDrain(
  sqs: SQSClient,
  url: string,
  total: number,
  opts: { intervalMs?: number; timeoutMs?: number; child?: ChildProcess } = {},
): Promise<Drain> {
  const interval = opts.intervalMs ?? 20;
  const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
  let first: number | undefined;
  let cpuAtFirst = Number.NaN;
  const pid = opts.child?.pid;
  let lastLog = Date.now();
  for (;;) {
    const before = Date.now();
    const c = await queueCounts(sqs, url);
    const at = (before + Date.now()) / 2;
    if (first === undefined && c.visible < total) {
      first = at;
      cpuAtFirst = cpuSecondsOf(pid);
    }
    if (first !== undefined && c.visible === 0 && c.inFlight === 0) {
      return { firstReceiveMs: first, emptyMs: at, cpuSeconds: cpuSecondsOf(pid) - cpuAtFirst };
    }
    const child = opts.child;
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(
        `the consumer exited (${child.exitCode ?? child.signalCode}) with ${c.visible + c.inFlight} messages left`,
      );
    }
    if (Date.now() > deadline)
      throw new Error(`queue not drained in time: ${c.visible} visible, ${c.inFlight} in flight`);
    if (Date.now() - lastLog > 2000) {
      lastLog = Date.now();
      process.stderr.write(
        `    … ${total - c.visible - c.inFlight}/${total} done, ${c.inFlight} in flight\r`,
      );
    }
    await sleep(interval);
  }
}

/** Collect a child's output (last 4 KB of each stream) for error messages. */
export function tailOf(child: ChildProcess): () => string {
  let text = '';
  const add = (d: Buffer) => {
    text = (text + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => text;
}

export function commandExists(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A user-facing ratio: "2.31×". */
export const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : 'n/a');

/** True when the module at `url` is the script node was asked to run (each bench runs alone too). */
export const isMain = (url: string) =>
  process.argv[1] !== undefined && url === pathToFileURL(resolve(process.argv[1])).href;
