/**
 * `flotilla simulate`: replay a load trace through Flotilla's scaling policy (infra/scaling.ts,
 * the values the CDK fleet deploys) and aws-ecs-patterns' default, print both side by side and
 * write a plot.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { UsageError } from '../../core/errors.js';
import { resolveScaling, type ScalingPolicy } from '../../infra/scaling.js';
import { renderSvg } from '../simulate/plot.js';
import { compare, formatTable, toJson } from '../simulate/report.js';
import {
  BUILT_IN_TRACES,
  type BuiltInTrace,
  builtInTrace,
  parseQueueMix,
  parseTraceCsv,
  type Trace,
  withQueueMix,
} from '../simulate/traces.js';
import { intOption, parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla simulate --trace burst|daily|spike|FILE.csv [--out plot.svg] [--json]

Simulates the job queue and worker fleet over a load trace with Flotilla's scaling policy
(infra/scaling.ts, as the CDK fleet deploys it) and aws-ecs-patterns' default step scaling,
and prints drain time, p50/p95/max latency (submit to result) and worker-minutes for both.

  --trace NAME|FILE      burst (10,000 jobs at once), daily (24 h cycle), spike (20x for
                         10 min), or a CSV of 'time_s,jobs' rows
  --out FILE.svg         write a plot of waiting jobs and workers over time (SVG)
  --json                 print the figures as JSON instead of a table
  --seed N               seed for arrivals and job durations (default 1)
  --startup-seconds N    task start-up delay (default 60, Fargate)
  --latency-seconds N    override acceptableLatencySeconds for this run
  --job-seconds N        override averageJobSeconds for this run
  --jobs-per-worker N    override jobsPerWorker for this run
  --max-workers N        override maxWorkers for this run
  --queues MIX           spread the jobs over several queues, highest priority first, as
                         urgent=5,default=25,bulk=70 (shares): the fleet scales on their summed
                         backlog and a free slot takes the highest queue's job first; prints
                         p95 latency per queue`;

const OPTIONS = {
  trace: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  seed: { type: 'string' },
  'startup-seconds': { type: 'string' },
  'latency-seconds': { type: 'string' },
  'job-seconds': { type: 'string' },
  'jobs-per-worker': { type: 'string' },
  'max-workers': { type: 'string' },
  queues: { type: 'string' },
} as const;

type Values = Partial<Record<keyof typeof OPTIONS, string>> & { json?: boolean };

export const main: CommandMain = async ({ argv, err, out }) => {
  const { values, positionals, help } = parseCommand<Values>(
    argv,
    { options: OPTIONS, usage: USAGE, where: [] },
    out,
  );
  if (help) return 0;
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'; see --help`);
  if (!values.trace)
    throw new UsageError('--trace is required: burst, daily, spike or a CSV file; see --help');
  if (values.out !== undefined && extname(values.out).toLowerCase() !== '.svg')
    throw new UsageError(`--out writes SVG; give a file name ending in .svg, got '${values.out}'`);
  const seed = intOption(values.seed, 'seed', { max: 2 ** 31 }) ?? 1;
  const startupSeconds = intOption(values['startup-seconds'], 'startup-seconds', { max: 3600 });
  const policy = scalingFrom(values);
  const loaded = await loadTrace(values.trace, seed);
  const trace = values.queues ? withQueueMix(loaded, parseQueueMix(values.queues), seed) : loaded;

  err.write(
    `simulating ${trace.arrivals.length.toLocaleString('en-US')} jobs (${trace.name}) under both policies...\n`,
  );
  const comparison = compare(trace, policy, {
    seed,
    ...(startupSeconds !== undefined && { startupSeconds }),
  });
  out.write(
    values.json ? `${JSON.stringify(toJson(comparison), null, 2)}\n` : `${formatTable(comparison)}\n`,
  );
  if (values.out) {
    await writePlot(values.out, renderSvg(comparison));
    err.write(`wrote ${values.out}\n`);
  }
  return 0;
};

/** Temp file + rename, so a failed run never leaves half a plot behind. */
async function writePlot(path: string, svg: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, svg);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new UsageError(
      `cannot write the plot to '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

function scalingFrom(values: Values): ScalingPolicy {
  const overrides: Partial<{ -readonly [K in keyof ScalingPolicy]: ScalingPolicy[K] }> = {};
  const set = (flag: keyof Values, key: keyof ScalingPolicy) => {
    const n = intOption(values[flag], flag, { min: 1, max: 100_000 });
    if (n !== undefined) overrides[key] = n;
  };
  set('latency-seconds', 'acceptableLatencySeconds');
  set('job-seconds', 'averageJobSeconds');
  set('jobs-per-worker', 'jobsPerWorker');
  set('max-workers', 'maxWorkers');
  try {
    return resolveScaling(overrides);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

async function loadTrace(spec: string, seed: number): Promise<Trace> {
  if ((BUILT_IN_TRACES as readonly string[]).includes(spec)) return builtInTrace(spec as BuiltInTrace, seed);
  if (!spec.toLowerCase().endsWith('.csv'))
    throw new UsageError(`unknown trace '${spec}': use ${BUILT_IN_TRACES.join(', ')} or a .csv file`);
  let text: string;
  try {
    text = await readFile(spec, 'utf8');
  } catch (e) {
    throw new UsageError(
      `cannot read trace file '${spec}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return parseTraceCsv(text, spec);
}
