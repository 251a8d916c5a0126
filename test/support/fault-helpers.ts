/**
 * Shared parts of the fault suite (test/faults): fauxqs with its message spy (to count PUTs per
 * result key) behind a shim that refuses a conditional PUT of an existing key as S3 does (fauxqs
 * ignores If-None-Match and would silently overwrite), the fixture worker bundle, worker processes whose JSON log lines the test can read, and the
 * table of counts each test prints and asserts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { FauxqsServer } from 'fauxqs';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { SqsQueue } from '../../core/adapters/sqs-queue.js';
import { buildWorker } from '../../scripts/build-worker.js';
import { type ConditionalPutShim, startConditionalPutShim } from './conditional-put.js';
import { queueDepth } from './deployment.js';
import { type Emulator, startEmbedded } from './emulators.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface SpiedEmulator extends Emulator {
  readonly server: FauxqsServer;
  /** What `endpoint` points at: workers and the CLI reach fauxqs through it (`sqs`, `s3` go direct). */
  readonly shim: ConditionalPutShim;
}

/**
 * fauxqs in-process with its spy on (a buffer big enough for a 1,000-job run several times over),
 * its `endpoint` the conditional-PUT shim's, so a second result write is refused as on S3 and
 * the spy's PUT counts show what a store that honours If-None-Match would hold.
 */
export async function startSpiedEmulator(): Promise<SpiedEmulator> {
  const emu = await startEmbedded({ messageSpies: { bufferSize: 200_000 } });
  const shim = await startConditionalPutShim(emu.endpoint, emu.s3);
  return {
    ...emu,
    endpoint: shim.endpoint,
    shim,
    async stop() {
      await shim.close();
      await emu.stop();
    },
  };
}

/** What a fault test file shares: a spied emulator, a worker bundle in a temp folder, tracked workers. */
export interface FaultSuite {
  readonly emu: SpiedEmulator;
  readonly dir: string;
  readonly bundle: string;
  /** Workers pushed here are stopped after each test. */
  readonly running: WorkerProc[];
}

/**
 * Register the hooks every fault test file needs and return what they set up: the emulator,
 * the bundle (the built-in worker, the fixture worker with the test job types, or another entry)
 * and cleanup.
 */
export function faultSuite(worker: 'builtin' | 'fixture' | { readonly entry: string }): FaultSuite {
  const suite = { running: [] as WorkerProc[] } as { -readonly [K in keyof FaultSuite]: FaultSuite[K] };
  beforeAll(async () => {
    suite.emu = await startSpiedEmulator();
    suite.dir = mkdtempSync(join(tmpdir(), 'flotilla-faults-'));
    const out = join(suite.dir, 'worker.js');
    suite.bundle =
      worker === 'builtin'
        ? (await buildWorker(out)).outfile
        : await buildFixtureWorker(out, ...(worker === 'fixture' ? [] : [worker.entry]));
  });
  afterEach(async () => {
    await Promise.all(suite.running.splice(0).map(stopWorker));
  });
  afterAll(async () => {
    await suite.emu?.stop();
    if (suite.dir) rmSync(suite.dir, { recursive: true, force: true });
  });
  return suite;
}

/** Successful PUTs per key under `prefix` in `bucket`, as the emulator saw them. */
export function putCounts(emu: SpiedEmulator, bucket: string, prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of emu.server.spy.getAllMessages()) {
    if (m.service === 's3' && m.status === 'uploaded' && m.bucket === bucket && m.key.startsWith(prefix)) {
      out.set(m.key, (out.get(m.key) ?? 0) + 1);
    }
  }
  return out;
}

/** Messages deleted from a queue (DeleteMessage/DeleteMessageBatch), as the emulator saw them. */
export function deletedCount(emu: SpiedEmulator, queueName: string): number {
  let n = 0;
  for (const m of emu.server.spy.getAllMessages()) {
    if (m.service === 'sqs' && m.status === 'consumed' && m.queueName === queueName) n++;
  }
  return n;
}

/** Executions per job ("batch/id") recorded by the fixture's side-effect file. */
export function effectCounts(file: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line) out.set(line, (out.get(line) ?? 0) + 1);
  }
  return out;
}

/** Bundle the fixture worker (test/faults/fixtures/worker.ts, or `entry`) the way scripts/build-worker.ts bundles workers/main.ts. */
export async function buildFixtureWorker(
  outfile: string,
  entry = join(root, 'test', 'faults', 'fixtures', 'worker.ts'),
): Promise<string> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    logLevel: 'warning',
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  });
  return outfile;
}

export interface WorkerProc {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  stderr: string;
  readonly exit: Promise<number | null>;
  readonly alive: boolean;
}

/** A worker process (`node <bundle>`) with emulator credentials and `env`; its JSON log lines are kept. */
export function spawnWorker(bundle: string, env: Record<string, string>): WorkerProc {
  const child = spawn(process.execPath, [bundle], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exited = false;
  const p = {
    child,
    lines: [] as Record<string, unknown>[],
    stderr: '',
    exit: new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        exited = true;
        resolve(code);
      }),
    ),
    get alive() {
      return !exited;
    },
  };
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        p.lines.push(JSON.parse(line));
      } catch {
        p.lines.push({ msg: line });
      }
      i = buf.indexOf('\n');
    }
  });
  child.stderr!.on('data', (d: Buffer) => {
    p.stderr += d.toString();
  });
  return p;
}

export const logLines = (p: WorkerProc, msg: string) => p.lines.filter((l) => l.msg === msg);

/** SIGTERM a worker (if still running) and wait for it to exit. */
export async function stopWorker(p: WorkerProc): Promise<number | null> {
  // A process started a moment ago may not have its signal handlers yet, and would die of the
  // SIGTERM instead of draining: wait (a little) until it says it has started, as ECS would
  // after its start period.
  const deadline = Date.now() + 15_000;
  while (p.alive && Date.now() < deadline && !p.lines.some((l) => l.msg === 'worker started'))
    await new Promise((r) => setTimeout(r, 50));
  if (p.alive) p.child.kill('SIGTERM');
  return p.exit;
}

/** The figures every counted test reports. */
export interface Counts {
  submitted: number;
  results: number;
  writtenMoreThanOnce: number;
  queued: number;
  inFlight: number;
  dlq: number;
}

/** The counts of a run that ended well: every job has one result, written once, and both queues are empty. */
export const allWrittenOnce = (jobs: number): Counts => ({
  submitted: jobs,
  results: jobs,
  writtenMoreThanOnce: 0,
  queued: 0,
  inFlight: 0,
  dlq: 0,
});

/** Count results (and multiple writes) under results/<batch>/ and what is left on the queue and DLQ. */
export async function countOutcome(
  emu: SpiedEmulator,
  d: { bucket: string; queue: SqsQueue; dlq: SqsQueue },
  batch: string,
  submitted: number,
): Promise<Counts> {
  const puts = putCounts(emu, d.bucket, `results/${batch}/`);
  const q = await queueDepth(d.queue);
  const dlq = await queueDepth(d.dlq);
  return {
    submitted,
    results: puts.size,
    writtenMoreThanOnce: [...puts.values()].filter((n) => n > 1).length,
    queued: q.visible,
    inFlight: q.inFlight,
    dlq: dlq.visible + dlq.inFlight,
  };
}

/** Print a counted test's figures as a small table on stdout (quoted in docs/faults.md). */
export function printCounts(title: string, counts: object, extra: Record<string, unknown> = {}): void {
  const rows = Object.entries({ ...counts, ...extra });
  const w = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`\n${title}\n${rows.map(([k, v]) => `  ${k.padEnd(w)}  ${String(v)}`).join('\n')}\n`);
}

/**
 * Run the CLI as a user would (`node bin/flotilla.mjs ...`) with no AWS configuration but `env`:
 * no config or credentials files, no instance metadata.
 */
export function runCli(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'flotilla.mjs'), ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: join(root, 'test', 'faults', 'no-aws-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(root, 'test', 'faults', 'no-aws-credentials'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
