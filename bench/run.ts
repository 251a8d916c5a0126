/**
 * `npm run bench`: every benchmark in one run on this machine, with the peers measured alongside,
 * then the figures, the ratios against the targets, a JSON record and the plots, under bench/out/
 * (gitignored). `--update-docs` also writes bench/latest.json and docs/img/bench-*.svg and
 * regenerates the docs' figures from the record (bench/docs-figures.ts).
 * Progress goes to stderr, figures to stdout.
 *
 *   npm run bench [-- --jobs 20000] [--runs 3] [--full-runs 1] [--only startup,queue,full,cpu,export,command,follow,queues]
 *                 [--quick] [--no-plots] [--out DIR] [--update-docs]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildWorker } from '../scripts/build-worker.js';
import { commandBench, printCommand } from './command-handler.js';
import { updateDocs } from './docs-figures.js';
import { type ExportResult, exportBench, printExport } from './export.js';
import { type FollowBenchResult, followBench, printFollow } from './follow.js';
import type { IsolationResult } from './isolation.js';
import { barChartSvg } from './plot.js';
import { printQueues, type QueuesResult, queuesBench } from './queues.js';
import { type BenchRecord, LATEST, OUT_DIR, writeRecord } from './record.js';
import { printStartup, type StartupResult, startupBench } from './startup.js';
import { fmt, loadLine, machine, machineLine, ROOT, ratio, say, startEmulatorProcess } from './support.js';
import {
  type CpuResult,
  cpuBound,
  type FullPathResult,
  fullPath,
  NOOP_CONCURRENCY,
  printCpu,
  printFullPath,
  printQueuePath,
  type QueuePathResult,
  queuePath,
} from './worker-throughput.js';

const USAGE = `usage: npm run bench [-- options]
  --jobs N        jobs per worker-throughput run (default 20000)
  --runs N        runs per figure, the median is reported (default 3)
  --full-runs N   rounds of the full path (no-op, default, packed), the slowest part (default 1)
  --only LIST     some of: startup,queue,full,cpu,export,command,follow,queues (default all)
  --quick         2,000 jobs, 1 run, 200 small objects: checks the harness, not for figures
  --out DIR       where the JSON record and the plots go (default bench/out, gitignored)
  --update-docs   also write bench/latest.json and docs/img/bench-*.svg, and regenerate the
                  figures in README.md and docs/performance.md (a full run only)
  --no-plots      do not draw the plots
  --debug         stack traces on failure`;

/** Jobs at once in the command-handler benchmark: a child process per running job. */
const COMMAND_CONCURRENCY = 8;

const ALL = ['startup', 'queue', 'full', 'cpu', 'export', 'command', 'follow', 'queues'] as const;

function positive(raw: string, name: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`bench: --${name} must be a whole number >= 1, got '${raw}'\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

const load = loadLine;

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  const parse = () =>
    parseArgs({
      options: {
        jobs: { type: 'string', default: '20000' },
        runs: { type: 'string', default: '3' },
        'full-runs': { type: 'string', default: '1' },
        only: { type: 'string', default: ALL.join(',') },
        quick: { type: 'boolean', default: false },
        'no-plots': { type: 'boolean', default: false },
        out: { type: 'string', default: OUT_DIR },
        'update-docs': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        debug: { type: 'boolean', default: false },
      },
    });
  try {
    parsed = parse();
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const only = new Set(v.only.split(',').map((s) => s.trim()));
  const unknown = [...only].filter((s) => !(ALL as readonly string[]).includes(s));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark(s) ${unknown.join(', ')}; pick from ${ALL.join(',')}\n`);
    return 2;
  }
  const quick = v.quick;
  const updateDocsToo = v['update-docs'];
  if (updateDocsToo && (quick || only.size < ALL.length)) {
    process.stderr.write('bench: --update-docs takes a full run: not with --quick or --only\n');
    return 2;
  }
  const outDir = resolve(v.out);
  const jobs = quick ? 2000 : positive(v.jobs, 'jobs');
  const runs = quick ? 1 : positive(v.runs, 'runs');
  const fullRuns = quick ? 1 : positive(v['full-runs'], 'full-runs');
  const out = (l: string) => process.stdout.write(`${l}\n`);
  const m = machine();
  const started = Date.now();
  const date = new Date(started).toISOString();
  out(`Machine: ${machineLine(m)}`);
  const startLoad = load();
  out(`Load average at start: ${startLoad}`);
  if (loadavg()[0]! > m.cores * 0.75) {
    out(
      `  warning: the machine is busy (load above ${m.cores * 0.75} on ${m.cores} cores); figures will be low and noisy`,
    );
  }

  const { outfile } = await buildWorker();
  const emu = await startEmulatorProcess();
  say(`Emulator (fauxqs, own process) on ${emu.endpoint}`);
  let startup: StartupResult | undefined;
  let q: QueuePathResult | undefined;
  let full: FullPathResult | undefined;
  let cpu: CpuResult | undefined;
  let exp: ExportResult | undefined;
  let command: IsolationResult[] | undefined;
  let follow: FollowBenchResult | undefined;
  let queues: QueuesResult | undefined;
  try {
    if (only.has('startup')) {
      say('Worker startup…');
      startup = await startupBench(emu, quick ? 1 : 5);
    }
    if (only.has('queue')) {
      say(`Queue path: ${fmt(jobs)} no-op jobs per run, ${runs} run(s) of each contender…`);
      q = await queuePath(emu, outfile, jobs, runs);
    }
    if (only.has('full')) {
      say(
        `Full path: ${fmt(jobs)} no-op jobs, then echo jobs writing results (default, then packed), fan-in watching, ${fullRuns} round(s)…`,
      );
      full = await fullPath(emu, outfile, jobs, fullRuns);
    }
    if (only.has('cpu')) {
      say('CPU-bound: pi jobs on 1 and 2 worker processes…');
      cpu = await cpuBound(emu, outfile, quick ? 20 : 60, 5_000_000, runs);
    }
    if (only.has('export')) {
      say('Export: flotilla export vs aws s3 sync vs rclone sync…');
      exp = await exportBench(emu, { runs, small: quick ? 200 : 2000, large: quick ? 1 : 5 });
    }
    if (only.has('command')) {
      say('Command handlers: echo jobs in process, through `cat`, through python3…');
      command = await commandBench(emu, outfile, quick ? 200 : 1000, COMMAND_CONCURRENCY, runs);
    }
    if (only.has('follow')) {
      say('Live standby: mirror --follow vs the one-shot mirror every 3 s…');
      follow = await followBench(emu, { seconds: quick ? 10 : 30, rate: 100, objects: quick ? 200 : 1000 });
    }
    if (only.has('queues')) {
      say('Several queues: urgent jobs behind a bulk backlog, and an idle worker’s empty receives…');
      queues = await queuesBench(emu, quick ? { urgent: 10, idleSeconds: 10 } : {});
    }
  } finally {
    await emu.stop();
  }

  out('');
  if (startup) printStartup(startup, out);
  if (q) printQueuePath(q, out);
  if (full) printFullPath(full, out);
  if (cpu) printCpu(cpu, out);
  if (exp) printExport(exp, out);
  if (command) printCommand(command, COMMAND_CONCURRENCY);
  if (follow) printFollow(follow, out);
  if (queues) printQueues(queues, out);
  out('');
  if (q || exp || full) out('Ratios against the targets:');
  if (q) {
    const vsOne = q.flotilla / q.sqsConsumerOne;
    const vsRaw = q.flotilla / q.rawCeiling;
    out(
      `  queue path vs one sqs-consumer   ${ratio(q.flotilla, q.sqsConsumerOne).padStart(6)}  target ≥ 2×    ${vsOne >= 2 ? 'met' : 'MISSED'}`,
    );
    out(`  queue path vs four sqs-consumers ${ratio(q.flotilla, q.sqsConsumerFour).padStart(6)}`);
    out(
      `  queue path vs raw SDK ceiling    ${`${(100 * vsRaw).toFixed(0)}%`.padStart(6)}  target ≥ 150%  ${vsRaw >= 1.5 ? 'met' : 'MISSED'}`,
    );
    const c = q.perCpu;
    out('  the same per CPU-second of the consumer process (steadier when others share the machine):');
    out(
      `    vs one sqs-consumer ${ratio(c.flotilla, c.sqsConsumerOne)}, vs four ${ratio(c.flotilla, c.sqsConsumerFour)}, vs raw ${((100 * c.flotilla) / c.rawCeiling).toFixed(0)}%`,
    );
  }
  if (full) {
    const share = full.resultShare;
    const s3 = full.requests.s3;
    out(
      `  full path result bookkeeping     ${`${(100 * share).toFixed(0)}%`.padStart(6)}  target ≤ 50%   ${share <= 0.5 ? 'met' : 'MISSED'}`,
    );
    out(
      `  full path S3 requests per job    ${fmt(s3, 2).padStart(6)}  target ≤ 1.3   ${s3 <= 1.3 ? 'met' : 'MISSED'}`,
    );
    if (full.packed) {
      const p = full.packed;
      const cpu =
        p.resultShareCpu === undefined ? '' : `; ${(100 * p.resultShareCpu).toFixed(0)}% of its CPU time`;
      out(
        `  packed: result bookkeeping       ${`${(100 * p.resultShare).toFixed(0)}%`.padStart(6)}  target ≤ 50%   ${p.resultShare <= 0.5 ? 'met' : 'MISSED'}  (result packing ${p.setting}, opt-in${cpu})`,
      );
      out(`  packed: S3 requests per job      ${fmt(p.requests.s3, 2).padStart(6)}`);
    }
  }
  if (exp) {
    const f = exp.tools.find((t) => t.name === 'flotilla export');
    const r = exp.tools.find((t) => t.name === 'rclone sync');
    const a = exp.tools.find((t) => t.name === 'aws s3 sync');
    if (f && r) {
      const first = r.firstSeconds / f.firstSeconds;
      const again = r.unchangedSeconds / f.unchangedSeconds;
      out(
        `  export first run vs rclone       ${ratio(r.firstSeconds, f.firstSeconds).padStart(6)}  target ≥ 1×    ${first >= 1 ? 'met' : 'MISSED'}  (speed: rclone time / Flotilla time)`,
      );
      out(
        `  export unchanged vs rclone       ${ratio(r.unchangedSeconds, f.unchangedSeconds).padStart(6)}  target ≥ 1×    ${again >= 1 ? 'met' : 'MISSED'}`,
      );
    }
    if (f && a) {
      out(`  export first run vs aws s3 sync  ${ratio(a.firstSeconds, f.firstSeconds).padStart(6)}`);
      out(`  export unchanged vs aws s3 sync  ${ratio(a.unchangedSeconds, f.unchangedSeconds).padStart(6)}`);
    }
  }
  const endLoad = load();
  out(`Load average at end: ${endLoad}; whole run ${fmt((Date.now() - started) / 1000)} s`);

  const record: BenchRecord = {
    format: 1,
    date,
    machine: m,
    load: { start: startLoad, end: endLoad },
    wallSeconds: Math.round((Date.now() - started) / 1000),
    options: { jobs, runs, fullRuns, quick },
    versions: versions(),
    ...(startup ? { startup } : {}),
    ...(queues ? { queues } : {}),
    ...(q ? { queue: q } : {}),
    ...(full ? { full } : {}),
    ...(cpu ? { cpu } : {}),
    ...(exp ? { export: exp } : {}),
    ...(command ? { command } : {}),
    ...(follow ? { follow } : {}),
  };
  const recordFile = join(outDir, `bench-${date.replace(/[:.]/g, '-')}.json`);
  writeRecord(recordFile, record);
  say(`wrote ${relative(process.cwd(), recordFile)}`);
  if (updateDocsToo) {
    writeRecord(LATEST, record);
    say(`wrote ${relative(process.cwd(), LATEST)}`);
    const changed = updateDocs(record);
    say(
      changed.length > 0
        ? `updated the figures in ${changed.join(', ')}`
        : 'the docs already showed these figures',
    );
  }

  if (!v['no-plots']) {
    const imgDir = updateDocsToo ? join(ROOT, 'docs', 'img') : join(outDir, 'img');
    if (q || exp) mkdirSync(imgDir, { recursive: true });
    const machineText = `${m.cpu}, ${m.cores} cores, Node ${m.node}, load avg ${startLoad}; fauxqs 1.9.2 in its own process; median of ${runs}`;
    const written: string[] = [];
    if (q) {
      const file = join(imgDir, 'bench-queue-path.svg');
      writeFileSync(
        file,
        barChartSvg({
          title: `Worker throughput, queue path: ${fmt(jobs)} no-op jobs, one process`,
          subtitle: machineText,
          unit: 'messages per second (higher is better)',
          bars: q.contenders.map((c) => ({
            label: c.kind === 'flotilla' ? `Flotilla (concurrency ${NOOP_CONCURRENCY})` : c.name,
            value: c.msgsPerSecond,
            ours: c.kind === 'flotilla',
          })),
          marks: [{ value: q.rawCeiling * 1.5, label: '150% of raw ceiling' }],
        }),
      );
      written.push(file);
    }
    if (exp) {
      const file = join(imgDir, 'bench-export.svg');
      writeFileSync(
        file,
        barChartSvg({
          title: `Export ${fmt(exp.objects)} objects (${fmt(exp.bytes / 1e6)} MB) to a folder`,
          subtitle: machineText,
          unit: 'seconds (lower is better); first run into a fresh folder, then unchanged',
          bars: exp.tools.flatMap((t) => [
            {
              label: `${t.name}, first run`,
              value: t.firstSeconds,
              ours: t.name.startsWith('flotilla'),
              note: `${fmt(t.firstSeconds, 2)} s (${fmt(t.mbPerSecond, 1)} MB/s)`,
            },
            {
              label: `${t.name}, unchanged`,
              value: t.unchangedSeconds,
              ours: t.name.startsWith('flotilla'),
              note: `${fmt(t.unchangedSeconds, 2)} s`,
            },
          ]),
        }),
      );
      written.push(file);
    }
    for (const f of written) say(`wrote ${relative(process.cwd(), f)}`);
  }
  return 0;
}

/** The emulator's and the peers' versions, as the docs' tables name them; a missing tool is left out. */
function versions(): Record<string, string> {
  const pkg = (name: string) =>
    (
      JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  const tool = (cmd: string, args: string[], pattern: RegExp) => {
    try {
      const text = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      return pattern.exec(text)?.[1];
    } catch {
      return undefined;
    }
  };
  const out: Record<string, string> = {
    fauxqs: `fauxqs ${pkg('fauxqs')}`,
    'sqs-consumer': pkg('sqs-consumer'),
  };
  const aws = tool('aws', ['--version'], /aws-cli\/(\d+\.\d+)/);
  if (aws) out['aws s3 sync'] = `AWS CLI ${aws}`;
  const rclone = tool('rclone', ['version'], /rclone v(\d+\.\d+)/);
  if (rclone) out['rclone sync'] = rclone;
  return out;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    if (process.argv.includes('--debug')) process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
