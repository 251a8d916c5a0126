/**
 * npm run build:package — what the published package ships, in dist/:
 *   cdk/, client/, worker/   the entry points (ESM, dependencies imported from node_modules)
 *   bin/cli.mjs              the `flotilla` command, prebuilt: an install needs no esbuild
 *   chunks/                  the code they share: one copy of each module, so an error class a
 *                            handler imports from flotilla/worker is the one `flotilla worker` checks
 *   types/                   .d.ts for the entries, emitted by tsc (tsconfig.build.json)
 *   worker.js                the worker bundle the CDK fleets ship (everything inlined)
 * Every module sits two folders below the package root, as the sources do, and
 * import.meta.dirname in a source becomes a path relative to the file it lands in.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { CLI_ENTRIES, sourceDirnames } from '../bin/cli-build.mjs';
import { buildWorker } from './build-worker.js';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');

/** The package's entry points: subpath export → source. */
export const ENTRIES = Object.freeze({
  cdk: 'infra/index.ts',
  client: 'client/index.ts',
  worker: 'workers/index.ts',
});

/** The entries and the CLI in one build, so that they share chunks. */
async function buildModules(): Promise<void> {
  for (const name of [...Object.keys(ENTRIES), 'chunks', 'bin'])
    rmSync(join(dist, name), { recursive: true, force: true });
  const result = await build({
    entryPoints: [
      ...Object.entries(ENTRIES).map(([name, src]) => ({ in: join(root, src), out: `${name}/index` })),
      { in: join(root, CLI_ENTRIES.cli), out: 'bin/cli' },
      { in: join(root, CLI_ENTRIES['file-writer-thread']), out: 'chunks/file-writer-thread' },
    ],
    outdir: dist,
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    packages: 'external',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    plugins: [sourceDirnames(root, 'package')],
  });
  // The file writer looks for its thread beside itself: say so here rather than at an export.
  for (const [out, meta] of Object.entries(result.metafile.outputs)) {
    if (
      !Object.keys(meta.inputs).some(
        (i) => i.endsWith(`sync${sep}file-writer.ts`) || i.endsWith('sync/file-writer.ts'),
      )
    )
      continue;
    if (!existsSync(join(dirname(resolve(root, out)), 'file-writer-thread.mjs')))
      throw new Error(`${out} holds the file writer but file-writer-thread.mjs is not beside it`);
  }
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

/** Builds everything, the three parts at once; resolves when dist/ holds a complete package. */
export async function buildPackage(): Promise<void> {
  await Promise.all([buildModules(), buildTypes(), buildWorker(join(dist, 'worker.js'))]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  process.stdout.write('building dist/: entries and CLI, types, worker bundle...\n');
  try {
    await buildPackage();
  } catch (err) {
    process.stderr.write(`build-package: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const kib = (d: string) => `${(size(join(dist, d)) / 1024).toFixed(0)} KiB`;
  process.stdout.write(
    `built in ${((Date.now() - started) / 1000).toFixed(1)} s: ${[
      ...Object.keys(ENTRIES),
      'bin',
      'chunks',
      'types',
    ]
      .map((d) => `${d}/ ${kib(d)}`)
      .join(', ')}\n`,
  );
}
