/**
 * Export a bucket to a folder: Flotilla against the two tools users reach for, `aws s3 sync`
 * (the AWS CLI on the machine) and `rclone sync` (Debian's package). The bucket lives in the
 * embedded emulator (its own process): 2,000 objects of 10 KiB and 5 of 20 MiB (multipart).
 * Each tool exports into a fresh folder (first run), then runs again with nothing changed.
 * Whole commands are timed, process start included, as a user would time them; the order of the
 * tools rotates from run to run, and dirty pages are flushed (untimed) before each command.
 *
 *   npx tsx bench/export.ts [--runs 3] [--small 2000] [--large 5]
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { pool } from '../client/submit.js';
import { S3Store } from '../core/adapters/s3-store.js';
import {
  type BenchEmulator,
  childEnv,
  commandExists,
  fmt,
  isMain,
  machineLine,
  median,
  ROOT,
  ratio,
  say,
  startEmulatorProcess,
} from './support.js';

const KIB = 1024;
const MIB = 1024 * KIB;

export interface Tool {
  readonly name: string;
  /** argv for exporting `bucket` into `dir`. */
  command(
    emu: BenchEmulator,
    bucket: string,
    dir: string,
  ): { cmd: string; args: string[]; env: NodeJS.ProcessEnv };
}

const flotilla: Tool = {
  name: 'flotilla export',
  command: (emu, bucket, dir) => ({
    cmd: process.execPath,
    args: [
      join(ROOT, 'bin', 'flotilla.mjs'),
      'export',
      '--to',
      dir,
      '--bucket',
      bucket,
      '--endpoint',
      emu.endpoint,
      '--quiet',
    ],
    env: childEnv(emu.endpoint),
  }),
};

const awsCli: Tool = {
  name: 'aws s3 sync',
  command: (emu, bucket, dir) => ({
    cmd: 'aws',
    args: ['s3', 'sync', `s3://${bucket}`, dir, '--endpoint-url', emu.endpoint, '--only-show-errors'],
    env: childEnv(emu.endpoint),
  }),
};

const rclone: Tool = {
  name: 'rclone sync',
  command: (emu, bucket, dir) => {
    // rclone refuses to start while AWS_CA_BUNDLE is set; the remote comes from the environment.
    const { AWS_CA_BUNDLE: _ca, ...env } = childEnv(emu.endpoint);
    return {
      cmd: 'rclone',
      args: ['sync', `bench:${bucket}`, dir],
      env: {
        ...env,
        RCLONE_CONFIG_BENCH_TYPE: 's3',
        RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
        RCLONE_CONFIG_BENCH_ENDPOINT: emu.endpoint,
        RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: 'test',
        RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: 'test',
        RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
        RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
      },
    };
  },
};

/** rclone from Debian's package when it is missing and we are root; otherwise that peer is skipped. */
export function ensureRclone(): boolean {
  if (commandExists('rclone')) return true;
  if (process.getuid?.() !== 0 || !commandExists('apt-get')) return false;
  say("rclone is missing; installing Debian's package (apt-get install rclone)…");
  const r = spawnSync(
    'sh',
    ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone'],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return r.status === 0 && commandExists('rclone');
}

export function exportTools(): { tools: Tool[]; skipped: string[] } {
  const tools: Tool[] = [flotilla];
  const skipped: string[] = [];
  if (commandExists('aws')) tools.push(awsCli);
  else skipped.push('aws s3 sync: the AWS CLI is not on PATH');
  if (ensureRclone()) tools.push(rclone);
  else
    skipped.push('rclone sync: rclone is not installed and could not be installed (needs root and apt-get)');
  return { tools, skipped };
}

/** Upload the data set: `small` objects of 10 KiB and `large` of 20 MiB (multipart, 8 MiB parts). */
export async function seedBucket(store: S3Store, small: number, large: number): Promise<number> {
  const smallBody = () => randomBytes(10 * KIB);
  await pool(
    Array.from({ length: small }, (_, i) => i),
    32,
    async (i) => {
      await store.put(`data/small/${String(Math.floor(i / 100)).padStart(3, '0')}/obj-${i}.bin`, smallBody());
    },
  );
  for (let i = 0; i < large; i++) await store.upload(`data/large/big-${i}.bin`, randomBytes(20 * MIB));
  return small * 10 * KIB + large * 20 * MIB;
}

/**
 * Before each timed command, untimed: flush dirty pages to disk, so no tool pays for writing
 * back the previous one's 125 MB (or its own first run's) in the middle of its run.
 */
function settle(): void {
  spawnSync('sync', { stdio: 'ignore' });
}

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ seconds: number; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, code, stderr: stderr.trim() }),
    );
  });
}

/** Regular files under dir and their total size (every tool's copy holds the same objects). */
function tally(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const size = statSync(join(e.parentPath, e.name)).size;
    if (size === 10 * KIB || size === 20 * MIB) {
      files++;
      bytes += size;
    }
  }
  return { files, bytes };
}

export interface ToolResult {
  readonly name: string;
  readonly firstSeconds: number;
  readonly unchangedSeconds: number;
  readonly firstRuns: number[];
  readonly unchangedRuns: number[];
  readonly mbPerSecond: number;
}

export interface ExportResult {
  readonly objects: number;
  readonly bytes: number;
  readonly tools: ToolResult[];
  readonly skipped: string[];
}

export async function exportBench(
  emu: BenchEmulator,
  opts: { runs: number; small: number; large: number },
): Promise<ExportResult> {
  const { tools, skipped } = exportTools();
  // The first `flotilla` after a change bundles the CLI (about a second, once): not a cost of
  // exporting, so it happens here, untimed.
  spawnSync(process.execPath, [join(ROOT, 'bin', 'flotilla.mjs'), '--help'], { stdio: 'ignore' });
  for (const s of skipped) say(`  skipped ${s}`);
  const bucket = `bench-export-${randomBytes(3).toString('hex')}`;
  const store = new S3Store(emu.s3, bucket);
  await emu.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  say(`  seeding ${bucket}: ${opts.small} × 10 KiB + ${opts.large} × 20 MiB…`);
  const bytes = await seedBucket(store, opts.small, opts.large);
  const objects = opts.small + opts.large;
  const first = new Map<string, number[]>(tools.map((t) => [t.name, []]));
  const again = new Map<string, number[]>(tools.map((t) => [t.name, []]));
  const root = mkdtempSync(join(tmpdir(), 'flotilla-bench-export-'));
  try {
    for (let r = 1; r <= opts.runs; r++) {
      // Each run starts with a different tool, so none always follows the same one (the file
      // system is still busy with the previous tool's files and their removal).
      const order = tools.map((_, i) => tools[(i + r - 1) % tools.length] as Tool);
      for (const tool of order) {
        const dir = join(root, `${tool.name.split(' ')[0]}-${r}`);
        const c = tool.command(emu, bucket, dir);
        settle();
        const a = await run(c.cmd, c.args, c.env);
        if (a.code !== 0) throw new Error(`${tool.name} failed (exit ${a.code}): ${a.stderr}`);
        const t = tally(dir);
        if (t.files !== objects || t.bytes !== bytes) {
          throw new Error(
            `${tool.name} wrote ${t.files} of ${objects} objects (${t.bytes} of ${bytes} bytes) into ${dir}`,
          );
        }
        settle();
        const b = await run(c.cmd, c.args, c.env);
        if (b.code !== 0) throw new Error(`${tool.name} re-run failed (exit ${b.code}): ${b.stderr}`);
        first.get(tool.name)!.push(a.seconds);
        again.get(tool.name)!.push(b.seconds);
        say(
          `  run ${r}/${opts.runs}  ${tool.name.padEnd(16)} first ${fmt(a.seconds, 2).padStart(6)} s   unchanged ${fmt(b.seconds, 2).padStart(6)} s`,
        );
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const results = tools.map((t) => {
    const firstSeconds = median(first.get(t.name)!);
    return {
      name: t.name,
      firstSeconds,
      unchangedSeconds: median(again.get(t.name)!),
      firstRuns: first.get(t.name)!,
      unchangedRuns: again.get(t.name)!,
      mbPerSecond: bytes / 1e6 / firstSeconds,
    };
  });
  return { objects, bytes, tools: results, skipped };
}

export function printExport(e: ExportResult, out: (l: string) => void): void {
  out(
    `Export, ${fmt(e.objects)} objects (${fmt(e.bytes / 1e6, 1)} MB) to a fresh folder, then unchanged (median s):`,
  );
  for (const t of e.tools) {
    out(
      `  ${t.name.padEnd(16)} first ${fmt(t.firstSeconds, 2).padStart(6)} s (${fmt(t.mbPerSecond, 1).padStart(5)} MB/s)   unchanged ${fmt(t.unchangedSeconds, 2).padStart(6)} s`,
    );
  }
  for (const s of e.skipped) out(`  skipped ${s}`);
  const f = e.tools.find((t) => t.name === 'flotilla export')!;
  for (const peer of e.tools.filter((t) => t !== f)) {
    out(
      `  Flotilla vs ${peer.name}: first run ${ratio(peer.firstSeconds, f.firstSeconds)} as fast, unchanged ${ratio(peer.unchangedSeconds, f.unchangedSeconds)} as fast` +
        (peer.name === 'rclone sync' ? '  (target ≥ 1× on both)' : ''),
    );
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      small: { type: 'string', default: '2000' },
      large: { type: 'string', default: '5' },
    },
  });
  const out = (l: string) => process.stdout.write(`${l}\n`);
  out(`Machine: ${machineLine()}`);
  const emu = await startEmulatorProcess();
  try {
    printExport(
      await exportBench(emu, {
        runs: Number(values.runs),
        small: Number(values.small),
        large: Number(values.large),
      }),
      out,
    );
  } finally {
    await emu.stop();
  }
}

if (isMain(import.meta.url)) await main();
