/**
 * What a command handler costs per job against an in-process one, in one run: `echo`-like jobs
 * (each writing its result, fan-in watching) through the bundled worker at the same concurrency,
 *   (a) the built-in `echo` in the worker's process,
 *   (b) a command handler `cat` (the job's JSON back as its result): the spawn, the pipes and
 *       the process group, with the cheapest program there is,
 *   (c) a command handler in Python (python3 -c, stdlib json): what a Python handler pays to start.
 * Reported as jobs/s, and as the extra milliseconds of worker time per job over (a).
 *
 *   npx tsx bench/command-handler.ts [--jobs 1000] [--concurrency 8] [--runs 1]
 *   npm run bench -- --only command
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { buildWorker } from '../scripts/build-worker.js';
import { type IsolationResult, type IsolationVariant, isolationBench, printIsolation } from './isolation.js';
import { type BenchEmulator, isMain, machineLine, say, startEmulatorProcess } from './support.js';

/**
 * The interpreter itself, not a launcher in front of it (a pyenv shim costs more than Python's
 * own start): what a worker image with python3 installed runs.
 */
const PYTHON = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {
  encoding: 'utf8',
}).trim();
const PYTHON_ECHO = `${PYTHON} -c "import json,sys; json.dump(json.load(sys.stdin)['payload'], sys.stdout)"`;

export const COMMAND_VARIANTS: readonly IsolationVariant[] = [
  { name: 'in process (built-in echo)', env: {}, jobShare: 1 },
  {
    name: 'command: cat',
    env: { FLOTILLA_EXEC: JSON.stringify({ 'echo-cat': 'cat' }) },
    jobShare: 1,
    type: 'echo-cat',
  },
  {
    name: 'command: python3 -c (stdlib json)',
    env: { FLOTILLA_EXEC: JSON.stringify({ 'echo-py': PYTHON_ECHO }) },
    // An interpreter's start is slow: a quarter of the jobs give a steady rate.
    jobShare: 0.25,
    type: 'echo-py',
  },
];

export function commandBench(
  emu: BenchEmulator,
  workerJs: string,
  jobs: number,
  concurrency: number,
  runs: number,
): Promise<IsolationResult[]> {
  return isolationBench(emu, workerJs, jobs, concurrency, runs, COMMAND_VARIANTS);
}

export function printCommand(results: readonly IsolationResult[], concurrency: number): void {
  printIsolation(results, concurrency, 'Command handlers vs in process');
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '8' },
      runs: { type: 'string', default: '1' },
    },
  });
  const concurrency = Number(values.concurrency);
  say(machineLine());
  const { outfile } = await buildWorker();
  const emu = await startEmulatorProcess();
  try {
    printCommand(
      await commandBench(emu, outfile, Number(values.jobs), concurrency, Number(values.runs)),
      concurrency,
    );
  } finally {
    await emu.stop();
  }
}
