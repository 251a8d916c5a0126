/**
 * npm run build:package — what the published package ships, in dist/:
 *   cdk/, client/, worker/   the entry points (ESM, dependencies external) and their shared chunks/
 *   types/                   .d.ts for the entries, emitted by tsc (tsconfig.build.json)
 *   bin/cli.mjs              the `flotilla` command, prebuilt: an install needs no esbuild
 *   worker.js                the worker bundle the CDK fleets ship
 * Every JavaScript file sits two folders below the package root, as the sources do, and
 * import.meta.dirname in a source becomes a path relative to the file it lands in.
 */
import { execFile } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { cliBuildOptions, sourceDirnames } from '../bin/cli-build.mjs';
import { buildWorker } from './build-worker.js';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');

/** The package's entry points: subpath export → source. */
export const ENTRIES = Object.freeze({
  cdk: 'infra/index.ts',
  client: 'client/index.ts',
  worker: 'workers/index.ts',
});

/** Everything the entries import from node_modules stays an import: the user's install provides it. */
async function buildEntries(): Promise<void> {
  await build({
    entryPoints: Object.entries(ENTRIES).map(([name, src]) => ({
      in: join(root, src),
      out: `${name}/index`,
    })),
    outdir: dist,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    packages: 'external',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    logLevel: 'warning',
    plugins: [sourceDirnames(root, 'package')],
  });
}

async function buildCli(): Promise<void> {
  const outdir = join(dist, 'bin');
  rmSync(outdir, { recursive: true, force: true });
  // Without source maps: they would be two thirds of the package, for --debug stack traces only.
  await build({ ...cliBuildOptions(root, outdir, sourceDirnames(root, 'package')), sourcemap: false });
}

async function buildTypes(): Promise<void> {
  rmSync(join(dist, 'types'), { recursive: true, force: true });
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  await promisify(execFile)(tsc, ['-p', join(root, 'tsconfig.build.json')], { cwd: root });
}

function size(dir: string): number {
  let bytes = 0;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) bytes += statSync(join(e.parentPath, e.name)).size;
  }
  return bytes;
}

/** Builds everything, the four parts at once; resolves when dist/ holds a complete package. */
export async function buildPackage(): Promise<void> {
  for (const name of [...Object.keys(ENTRIES), 'chunks'])
    rmSync(join(dist, name), { recursive: true, force: true });
  await Promise.all([buildEntries(), buildCli(), buildTypes(), buildWorker(join(dist, 'worker.js'))]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  process.stdout.write('building dist/: entries, types, CLI, worker bundle...\n');
  try {
    await buildPackage();
  } catch (err) {
    process.stderr.write(`build-package: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const kib = (d: string) => `${(size(join(dist, d)) / 1024).toFixed(0)} KiB`;
  process.stdout.write(
    `built in ${((Date.now() - started) / 1000).toFixed(1)} s: ${Object.keys(ENTRIES)
      .map((e) => `${e}/ ${kib(e)}`)
      .join(', ')}, chunks/ ${kib('chunks')}, types/ ${kib('types')}, bin/ ${kib('bin')}\n`,
  );
}
