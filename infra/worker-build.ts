/**
 * How a worker bundle is built, as plain data: read by the fleets when they bundle a user's
 * `handlers` at synth time (constructs/worker-bundle.ts) and by scripts/build-worker.ts for the
 * prebuilt dist/worker.js, so both are the same program. The bundle's entry is three lines:
 * import `runBundledWorker` through the public `flotilla/worker` entry and the handlers file's
 * default export, and call one with the other.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildOptions } from 'esbuild';

/** This package's root: the clone's, or node_modules/flotilla in a user's project. */
export const PACKAGE_ROOT = join(import.meta.dirname, '..');

/** Where the bundle and the image's Dockerfile sit in the package, in a clone and in a staged bundle. */
export const WORKER_BUNDLE_FILE = join('dist', 'worker.js');
export const WORKER_DOCKERFILE = join('workers', 'Dockerfile');

/** Lets the bundled CommonJS parts of the AWS SDK require() node builtins. */
const REQUIRE_SHIM = "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);";

/**
 * `flotilla/worker` as the bundle imports it: the sources in a clone, the built entry in an
 * installed package. Every import of it (the entry's, the handlers file's) is sent here, so the
 * runtime and the handlers share one copy of each module: the UnrecoverableError a handler
 * throws is the class the runtime checks.
 */
export function workerRuntimeEntry(root = PACKAGE_ROOT): string {
  const source = join(root, 'workers', 'index.ts');
  return existsSync(source) ? source : join(root, 'dist', 'worker', 'index.mjs');
}

/**
 * esbuild options for a worker bundle: one minified ESM file for Node 20+ with everything
 * inlined, from a generated entry that runs the worker with `handlers` (an absolute path) added
 * to the built-in job types. The caller adds `outfile` and what to write.
 */
export function workerBuildOptions(handlers?: string, root = PACKAGE_ROOT): BuildOptions {
  const lines = [`import { runBundledWorker } from 'flotilla/worker';`];
  if (handlers) lines.push(`import handlers from ${JSON.stringify(handlers)};`);
  lines.push(`runBundledWorker(${handlers ? 'handlers' : ''});`);
  return {
    stdin: {
      contents: `${lines.join('\n')}\n`,
      resolveDir: root,
      sourcefile: 'worker-entry.js',
      loader: 'js',
    },
    alias: { 'flotilla/worker': workerRuntimeEntry(root) },
    bundle: true,
    platform: 'node',
    // The SDK's ES modules, not its CommonJS: esbuild then leaves out what the worker never calls.
    mainFields: ['module', 'main'],
    target: 'node20',
    format: 'esm',
    minify: true,
    legalComments: 'none',
    banner: { js: REQUIRE_SHIM },
  };
}
