// How the `flotilla` command is bundled, shared by bin/flotilla.mjs (a clone's bundle on first run)
// and scripts/build-package.ts (the prebuilt bundle a published package ships).
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';

/**
 * Sources find package files (cdk.json, dist/worker.js, workers/Dockerfile) from
 * import.meta.dirname; in a bundle that must still name the source's own folder. `from` says
 * how: 'absolute' bakes in the folder on this machine (a clone's bundle, never moved);
 * 'package' names it relative to the bundle's own place, `depth` folders below the package root
 * (a published bundle, installed anywhere).
 */
export function sourceDirnames(root, from, depth = 2) {
  return {
    name: 'source-dirnames',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
        const text = await readFile(args.path, 'utf8');
        if (!text.includes('import.meta.dirname')) return undefined;
        const dir = dirname(args.path);
        const rel = [...Array(depth).fill('..'), ...relative(root, dir).split(sep)].join('/');
        const expr =
          from === 'absolute' ? JSON.stringify(dir) : `(import.meta.dirname + ${JSON.stringify(`/${rel}`)})`;
        return { contents: text.replaceAll('import.meta.dirname', expr), loader: 'ts' };
      });
    },
  };
}

/** Lets the bundled CommonJS parts of the AWS SDK require() node builtins. */
const REQUIRE_SHIM = "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);";

/**
 * The CLI's entry points. The export's file-writer thread is an entry of its own:
 * scripts/sync/file-writer.ts starts it from beside its own chunk.
 */
export const CLI_ENTRIES = Object.freeze({
  cli: 'scripts/cli.ts',
  'file-writer-thread': 'scripts/sync/file-writer-thread.ts',
});

/** esbuild options for the CLI bundle: `outdir`/cli.mjs plus chunks loaded per command. */
export function cliBuildOptions(root, outdir, plugin) {
  return {
    entryPoints: Object.fromEntries(
      Object.entries(CLI_ENTRIES).map(([name, src]) => [name, join(root, src)]),
    ),
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    mainFields: ['module', 'main'],
    target: 'node20',
    outExtension: { '.js': '.mjs' },
    sourcemap: 'linked',
    logLevel: 'error',
    // Loaded only by the commands that need them, from node_modules: the CDK (restore
    // --deploy-stack), the embedded emulator (local, mirror --to local), esbuild, tsx.
    external: ['aws-cdk-lib', 'constructs', 'fauxqs', 'esbuild', 'tsx'],
    plugins: [plugin],
    banner: { js: REQUIRE_SHIM },
  };
}
