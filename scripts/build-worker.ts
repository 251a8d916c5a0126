/** Bundle the worker runtime into one file, dist/worker.js, that plain `node` runs. */
import { mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');

/**
 * Builds the bundle and its source map. Each file is written under a temporary name and renamed,
 * so a reader (a CDK asset hash, a worker starting up) never sees a half-written bundle.
 */
export async function buildWorker(
  outfile = join(root, 'dist', 'worker.js'),
): Promise<{ outfile: string; bytes: number }> {
  const result = await build({
    write: false,
    entryPoints: [join(root, 'workers', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    // The SDK's ES modules, not its CommonJS: esbuild then leaves out what the worker never calls.
    mainFields: ['module', 'main'],
    target: 'node20',
    format: 'esm',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'warning',
    // The AWS SDK bundles cleanly; a tiny shim lets its CommonJS parts require() node builtins.
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
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
