/**
 * Bundle the worker runtime with the built-in handlers into one file, dist/worker.js, that plain
 * `node` runs: the fleets' default, built as a fleet's `handlers` bundle is (same options, same
 * entry, no handlers file).
 */
import { mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { workerBuildOptions } from '../infra/worker-build.js';

const root = join(import.meta.dirname, '..');

/**
 * Builds the bundle and its source map. Each file is written under a temporary name and renamed,
 * so a reader (a CDK asset hash, a worker starting up) never sees a half-written bundle.
 */
export async function buildWorker(
  outfile = join(root, 'dist', 'worker.js'),
): Promise<{ outfile: string; bytes: number }> {
  const result = await build({
    ...workerBuildOptions(undefined, root),
    write: false,
    outfile,
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  mkdirSync(dirname(outfile), { recursive: true });
  for (const f of result.outputFiles) {
    const tmp = `${f.path}.${process.pid}.tmp`;
    writeFileSync(tmp, f.contents);
    renameSync(tmp, f.path);
  }
  return { outfile, bytes: statSync(outfile).size };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { outfile, bytes } = await buildWorker();
  process.stdout.write(`built ${outfile} (${(bytes / 1024).toFixed(0)} KiB)\n`);
}
