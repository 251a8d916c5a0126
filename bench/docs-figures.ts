/**
 * The figures in README.md and docs/performance.md, generated from a bench record
 * (bench/latest.json, written by `npm run bench -- --update-docs`) so they cannot drift from
 * what was measured. Each generated block sits between `<!-- figures:NAME -->` and
 * `<!-- /figures:NAME -->`; the prose around it is hand-written and carries no figures of the
 * latest run.
 *
 *   npm run docs:figures [-- --from FILE] [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { markdownTable } from 'markdown-table';
import { type BenchRecord, LATEST, readRecord } from './record.js';
import { fmt, isMain, ROOT, ratio } from './support.js';

/** The files that hold generated blocks, relative to the repository root. */
export const DOC_FILES = ['README.md', 'docs/performance.md'] as const;

const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(0)}%`;
const kib = (bytes: number) => `${fmt(bytes / 1024)} KiB`;
const firstLoad = (l: string) => l.split(' ')[0] ?? l;

function when(r: BenchRecord): string {
  return `${r.date.slice(0, 10)} ${r.date.slice(11, 16)} UTC`;
}

function machineShort(r: BenchRecord): string {
  return `${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}`;
}

function exportTool(r: BenchRecord, name: string) {
  return r.export?.tools.find((t) => t.name === name);
}

function readme(r: BenchRecord): string {
  const rows: string[][] = [['what', 'Flotilla', 'peer(s), same run', 'ratio']];
  const q = r.queue;
  if (q) {
    const raw = q.contenders.find((c) => c.name === q.rawBest);
    rows.push([
      `queue path, ${fmt(q.jobs)} no-op jobs, one process`,
      `${fmt(q.flotilla)} msgs/s`,
      `sqs-consumer ×1: ${fmt(q.sqsConsumerOne)}; ×4: ${fmt(q.sqsConsumerFour)}; ${raw?.name ?? q.rawBest}: ${fmt(q.rawCeiling)}`,
      `${ratio(q.flotilla, q.sqsConsumerOne)} one sqs-consumer (target 2×); ${pct(q.flotilla, q.rawCeiling)} of raw (target 150%)`,
    ]);
  }
  const f = r.full;
  if (f) {
    rows.push([
      `full path, ${fmt(f.jobs)} jobs writing results, fan-in`,
      `${fmt(f.jobsPerSecond)} jobs/s`,
      '',
      `result writes (a conditional PUT per job) take ${pct(f.resultShare, 1)} of the time`,
    ]);
  }
  const [one, two] = r.cpu?.perProcess ?? [];
  if (one && two) {
    rows.push([
      'CPU-bound `pi`, 1 → 2 processes',
      `${fmt(one.jobsPerSecond, 1)} → ${fmt(two.jobsPerSecond, 1)} jobs/s`,
      '',
      ratio(two.jobsPerSecond, one.jobsPerSecond),
    ]);
  }
  const e = r.export;
  const ours = exportTool(r, 'flotilla export');
  if (e && ours) {
    const peers = e.tools.filter((t) => t !== ours);
    for (const [label, pick] of [
      [`export ${fmt(e.objects)} objects / ${fmt(e.bytes / 1e6)} MB, first run`, 'firstSeconds'],
      ['export, nothing changed', 'unchangedSeconds'],
    ] as const) {
      rows.push([
        label,
        `${fmt(ours[pick], 2)} s`,
        peers.map((p) => `${p.name} ${fmt(p[pick], 2)} s`).join(', '),
        peers
          .map(
            (p) => `${ratio(p[pick], ours[pick])} ${p.name}${p.name === 'rclone sync' ? ' (target 1×)' : ''}`,
          )
          .join('; '),
      ]);
    }
  }
  const s = r.startup;
  if (s) {
    rows.push([
      'worker bundle; start to first receive',
      `${kib(s.bundleBytes)}; ${fmt(s.firstReceiveMs)} ms`,
      `bare \`node -e 0\`: ${fmt(s.nodeBareMs)} ms`,
      '',
    ]);
  }
  return [
    `One full \`npm run bench\`, ${when(r)}, on ${machineShort(r)}, load average ${firstLoad(r.load.start)} at the start and ${firstLoad(r.load.end)} at the end; medians of ${r.options.runs} runs (record: [bench/latest.json](bench/latest.json)${r.note ? `, ${r.note}` : ''}).`,
    '',
    markdownTable(rows, { align: ['l', 'r', 'r', 'r'] }),
  ].join('\n');
}

function machine(r: BenchRecord): string {
  const m = r.machine;
  return [
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, Node ${m.node}, ${m.os} (load average`,
    `${firstLoad(r.load.start)} at the start of the run, ${firstLoad(r.load.end)} at the end). ${r.versions.fauxqs ?? 'fauxqs'} in its own process; median of ${r.options.runs} runs`,
    `unless noted. One full \`npm run bench\`, ${when(r)}, ${fmt(r.wallSeconds)} s; the record is`,
    `[bench/latest.json](../bench/latest.json)${r.note ? ` (${r.note})` : ''}.`,
  ].join('\n');
}

function contenderLabel(r: BenchRecord, c: NonNullable<BenchRecord['queue']>['contenders'][number]): string {
  if (c.kind === 'flotilla') return `**${c.name}**`;
  if (c.kind === 'sqs-consumer' && r.versions['sqs-consumer'])
    return c.name.replace('sqs-consumer', `sqs-consumer ${r.versions['sqs-consumer']}`);
  return c.name;
}

function queue(r: BenchRecord): string {
  const q = r.queue!;
  const bold = (c: { kind: string }, s: string) => (c.kind === 'flotilla' ? `**${s}**` : s);
  const table = markdownTable(
    [
      ['consumer (one process)', 'msgs/s', 'msgs per CPU-second'],
      ...q.contenders.map((c) => [
        contenderLabel(r, c),
        bold(c, fmt(c.msgsPerSecond)),
        bold(c, fmt(c.msgsPerCpuSecond)),
      ]),
    ],
    { align: ['l', 'r', 'r'] },
  );
  const vsOne = q.flotilla / q.sqsConsumerOne;
  const vsRaw = q.flotilla / q.rawCeiling;
  const c = q.perCpu;
  return [
    table,
    '',
    `- Flotilla vs **one sqs-consumer: ${ratio(q.flotilla, q.sqsConsumerOne)}** (target ≥ 2×: **${vsOne >= 2 ? 'met' : 'missed'}**); vs four sqs-consumers ${ratio(q.flotilla, q.sqsConsumerFour)}.`,
    `- Flotilla vs **the raw ceiling (${q.rawBest}): ${pct(q.flotilla, q.rawCeiling)}** (target ≥ 150%: **${vsRaw >= 1.5 ? 'met' : 'missed'}**). Per CPU-second of the`,
    `  consumer: ${ratio(c.flotilla, c.sqsConsumerOne)} one sqs-consumer, ${pct(c.flotilla, c.rawCeiling)} of the cheapest raw loop.`,
  ].join('\n');
}

function full(r: BenchRecord): string {
  const f = r.full!;
  const lines = [
    `${fmt(f.jobs)} \`echo\` jobs: **${fmt(f.jobsPerSecond)} jobs/s** to the moment \`waitForAll\` saw the last result (the queue`,
    `itself drained at ${fmt(f.drainPerSecond)}/s). Result bookkeeping takes **${pct(f.resultShare, 1)}** of the time.`,
  ];
  const p = f.packed;
  if (p)
    lines.push(
      `With result packing (opt-in, \`${p.setting}\`): **${fmt(p.jobsPerSecond)} jobs/s**, bookkeeping **${pct(p.resultShare, 1)}**,`,
      `${fmt(p.requests.s3, 2)} S3 requests per job (${fmt(f.requests.s3, 2)} without).`,
    );
  return lines.join('\n');
}

function cpu(r: BenchRecord): string {
  const c = r.cpu!;
  const [one, two] = c.perProcess;
  return `${fmt(c.jobs)} \`pi\` jobs of ${fmt(c.samples)} samples, concurrency 2 per worker process: **${fmt(one!.jobsPerSecond, 1)} jobs/s** with one
process, **${fmt(two!.jobsPerSecond, 1)} jobs/s** with two (${ratio(two!.jobsPerSecond, one!.jobsPerSecond)}).`;
}

function exportBlock(r: BenchRecord): string {
  const e = r.export!;
  const ours = exportTool(r, 'flotilla export')!;
  const label = (name: string) => {
    if (name === 'flotilla export')
      return '**`flotilla export`** (with SHA-256 of every object, manifest, SHA256SUMS)';
    const v = r.versions[name];
    return `\`${name}\`${v ? ` (${v})` : ''}`;
  };
  const b = (ourRow: boolean, s: string) => (ourRow ? `**${s}**` : s);
  const table = markdownTable(
    [
      ['tool', 'first run', 'MB/s', 'unchanged'],
      ...e.tools.map((t) => [
        label(t.name),
        b(t === ours, `${fmt(t.firstSeconds, 2)} s`),
        b(t === ours, fmt(t.mbPerSecond, 1)),
        b(t === ours, `${fmt(t.unchangedSeconds, 2)} s`),
      ]),
    ],
    { align: ['l', 'r', 'r', 'r'] },
  );
  const lines = [`${fmt(e.objects)} objects, ${fmt(e.bytes / 1e6, 1)} MB:`, '', table, ''];
  for (const p of e.tools.filter((t) => t !== ours)) {
    const target = p.name === 'rclone sync';
    const met = p.firstSeconds >= ours.firstSeconds && p.unchangedSeconds >= ours.unchangedSeconds;
    lines.push(
      `- vs \`${p.name}\`: **${ratio(p.firstSeconds, ours.firstSeconds)}** as fast on the first run, **${ratio(p.unchangedSeconds, ours.unchangedSeconds)}** unchanged${target ? ` (targets ≥ 1×: **${met ? 'met' : 'missed'}** in this run)` : ''}.`,
    );
  }
  for (const s of e.skipped) lines.push(`- skipped: ${s}`);
  return lines.join('\n');
}

function startup(r: BenchRecord): string {
  const s = r.startup!;
  const of = s.runs.length > 0 ? `median of ${s.runs.length}` : 'median';
  return `\`dist/worker.js\` (esbuild, minified, the AWS SDK included): **${kib(s.bundleBytes)}**, ${kib(s.bundleGzipBytes)} gzipped. From
process start to the first receive call, as the emulator sees it: **${fmt(s.firstReceiveMs)} ms** ${of} (a bare
\`node -e 0\` took ${fmt(s.nodeBareMs)} ms in the same run).`;
}

/** Every generated block, by name; a block whose benchmark is missing from the record is left as it is. */
export function renderBlocks(r: BenchRecord): Map<string, string> {
  const out = new Map<string, string>([
    ['readme', readme(r)],
    ['machine', machine(r)],
  ]);
  if (r.queue) out.set('queue', queue(r));
  if (r.full) out.set('full', full(r));
  if (r.cpu) out.set('cpu', cpu(r));
  if (r.export) out.set('export', exportBlock(r));
  if (r.startup) out.set('startup', startup(r));
  return out;
}

const BLOCK = /(<!-- figures:([a-z-]+) -->\n)([\s\S]*?)(<!-- \/figures:\2 -->)/g;

/** `text` with every generated block replaced by its rendering from `blocks`. */
export function fillBlocks(text: string, blocks: Map<string, string>): string {
  return text.replace(BLOCK, (all, open: string, name: string, _body: string, close: string) => {
    const body = blocks.get(name);
    return body === undefined ? all : `${open}${body}\n${close}`;
  });
}

/** The names of the blocks in `text`, in order. */
export function blockNames(text: string): string[] {
  return [...text.matchAll(BLOCK)].map((m) => m[2]!);
}

/** Rewrite the docs from `record`; returns the files that changed. */
export function updateDocs(record: BenchRecord, check = false): string[] {
  const blocks = renderBlocks(record);
  const changed: string[] = [];
  for (const rel of DOC_FILES) {
    const file = join(ROOT, rel);
    const before = readFileSync(file, 'utf8');
    const after = fillBlocks(before, blocks);
    if (after === before) continue;
    changed.push(rel);
    if (!check) writeFileSync(file, after);
  }
  return changed;
}

function main(): number {
  const { values } = parseArgs({
    options: { from: { type: 'string', default: LATEST }, check: { type: 'boolean', default: false } },
  });
  const changed = updateDocs(readRecord(values.from), values.check);
  if (values.check && changed.length > 0) {
    process.stderr.write(
      `docs:figures: ${changed.join(', ')} do not match ${values.from}; run npm run docs:figures\n`,
    );
    return 1;
  }
  process.stderr.write(
    changed.length > 0 ? `docs:figures: updated ${changed.join(', ')}\n` : 'docs:figures: up to date\n',
  );
  return 0;
}

if (isMain(import.meta.url)) process.exit(main());
