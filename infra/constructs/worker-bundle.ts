/**
 * The worker bundle a fleet ships with the user's `handlers`: the worker runtime and their
 * handlers file, bundled by esbuild into one file at synth time, the way aws-lambda-nodejs's
 * NodejsFunction bundles a Lambda (an asset staged by local bundling, hashed on its output;
 * the options are in infra/worker-build.ts). The staged folder is laid out as this package is
 * (dist/worker.js, workers/Dockerfile), so the Fargate image builds from it alone and the EC2
 * fleet ships its dist/worker.js.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { AssetHashType, AssetStaging, BundlingOutput, DockerImage } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { PACKAGE_ROOT, WORKER_BUNDLE_FILE, WORKER_DOCKERFILE, workerBuildOptions } from '../worker-build.js';

/** esbuild, from the user's project (an optional peer dependency), loaded only when a fleet has `handlers`. */
function loadEsbuild(scope: Construct): typeof import('esbuild') {
  try {
    return createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  } catch {
    throw new Error(
      `${scope.node.path}: bundling 'handlers' needs esbuild in your project: npm install --save-dev esbuild`,
    );
  }
}

/**
 * Bundles the worker with `handlers` into a staged asset folder and returns its absolute path:
 * dist/worker.js and workers/Dockerfile. Offline and without Docker; the image is only built at
 * deploy time. When this stack's bundling is skipped (`cdk deploy` of another stack), the folder
 * is the package itself, whose prebuilt bundle stands in.
 */
export function stageWorkerBundle(scope: Construct, id: string, handlers: string): string {
  const entry = resolve(handlers);
  const staging = new AssetStaging(scope, id, {
    sourcePath: PACKAGE_ROOT,
    assetHashType: AssetHashType.OUTPUT,
    // Told apart from another fleet's bundle in the same app, which has the same sourcePath.
    extraHash: entry,
    bundling: {
      // Required by the type, never run: local bundling below succeeds or throws.
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22-slim'),
      outputType: BundlingOutput.NOT_ARCHIVED,
      local: {
        tryBundle(outputDir: string): boolean {
          const esbuild = loadEsbuild(scope);
          try {
            esbuild.buildSync({
              ...workerBuildOptions(entry),
              outfile: join(outputDir, WORKER_BUNDLE_FILE),
              logLevel: 'silent',
            });
          } catch (err) {
            const errors = (err as { errors?: { text: string }[] }).errors;
            const why = errors?.[0]?.text ?? (err as Error).message;
            throw new Error(`${scope.node.path}: cannot bundle handlers ${handlers}: ${why}`);
          }
          mkdirSync(join(outputDir, 'workers'), { recursive: true });
          copyFileSync(join(PACKAGE_ROOT, WORKER_DOCKERFILE), join(outputDir, WORKER_DOCKERFILE));
          return true;
        },
      },
    },
  });
  return staging.absoluteStagedPath;
}
