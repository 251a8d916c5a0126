/**
 * The bench's JSON result: what one `npm run bench` measured, on what, when. Every run writes it
 * to bench/out/; `--update-docs` also writes bench/latest.json, the record the figures in
 * README.md and docs/performance.md are generated from (bench/docs-figures.ts).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ExportResult } from './export.js';
import type { FollowBenchResult } from './follow.js';
import type { IsolationResult } from './isolation.js';
import type { QueuesResult } from './queues.js';
import type { StartupResult } from './startup.js';
import { type Machine, ROOT } from './support.js';
import type { CpuResult, FullPathResult, QueuePathResult } from './worker-throughput.js';

export interface BenchRecord {
  readonly format: 1;
  /** ISO time the run started. */
  readonly date: string;
  /** How the record came to be, when not a plain run (e.g. reconstructed from the docs). */
  readonly note?: string;
  readonly machine: Machine;
  /** The 1, 5 and 15 minute load averages at the start and at the end of the run. */
  readonly load: { readonly start: string; readonly end: string };
  readonly wallSeconds: number;
  readonly options: {
    readonly jobs: number;
    readonly runs: number;
    readonly fullRuns: number;
    readonly quick: boolean;
  };
  /** The emulator and the peers' versions, as the tables name them. */
  readonly versions: Readonly<Record<string, string>>;
  readonly startup?: StartupResult;
  readonly queue?: QueuePathResult;
  readonly full?: FullPathResult;
  readonly cpu?: CpuResult;
  readonly export?: ExportResult;
  /** Command handlers against the in-process handler (bench/command-handler.ts). */
  readonly command?: readonly IsolationResult[];
  readonly follow?: FollowBenchResult;
  readonly queues?: QueuesResult;
}

/** The committed record of the last full run; the docs' figures come from it. */
export const LATEST = join(ROOT, 'bench', 'latest.json');
/** Where runs go unless --update-docs (gitignored). */
export const OUT_DIR = join(ROOT, 'bench', 'out');

export function writeRecord(file: string, record: BenchRecord): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
}

export function readRecord(file: string = LATEST): BenchRecord {
  const record = JSON.parse(readFileSync(file, 'utf8')) as BenchRecord;
  if (record.format !== 1) throw new Error(`${file}: unknown bench record format ${String(record.format)}`);
  return record;
}
