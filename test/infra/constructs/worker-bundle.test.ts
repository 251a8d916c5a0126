import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { DataStore } from '../../../infra/constructs/data-store.js';
import { Ec2WorkerFleet } from '../../../infra/constructs/ec2-worker-fleet.js';
import { FargateWorkerFleet } from '../../../infra/constructs/fargate-worker-fleet.js';
import { JobQueue } from '../../../infra/constructs/job-queue.js';
import { newApp, newStack, REPO_ROOT, stubBundle, TEST_IMAGE } from '../support.js';

/** A handlers file of a user's, importing the runtime through the public entry. */
function handlersFile(body: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'flotilla-handlers-')), 'handlers.ts');
  writeFileSync(file, body);
  return file;
}

const MARK = 'unique-mark-7f3a9c';
const USER_HANDLERS = `import { type HandlerDefinition, UnrecoverableError } from 'flotilla/worker';
const mark: HandlerDefinition<{ n: number }, string> = {
  type: 'mark',
  handler: async (job) => {
    if (job.payload.n < 0) throw new UnrecoverableError('negative');
    return '${MARK}';
  },
};
export default [mark];
`;

function fleetParts(stack: Stack) {
  return { jobQueue: new JobQueue(stack, 'JobQueue'), dataStore: new DataStore(stack, 'DataStore') };
}

/** Every file under `dir`, relative, sorted. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('a fleet with handlers', () => {
  const handlers = handlersFile(USER_HANDLERS);

  it('ships the handlers inside the Fargate image, built from the bundle and the Dockerfile alone', () => {
    const app = newApp();
    const stack = newStack(app);
    new FargateWorkerFleet(stack, 'Fleet', { ...fleetParts(stack), handlers });
    const assembly = app.synth();
    const manifest = JSON.parse(readFileSync(join(assembly.directory, 'Test.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile?: string } }>;
    };
    const images = Object.values(manifest.dockerImages);
    expect(images).toHaveLength(1);
    const context = join(assembly.directory, images[0]!.source.directory);
    expect(filesUnder(context)).toEqual(['dist/worker.js', 'workers/Dockerfile']);
    expect(images[0]!.source.dockerFile).toBe(join('workers', 'Dockerfile'));
    const bundle = readFileSync(join(context, 'dist', 'worker.js'), 'utf8');
    expect(bundle).toContain(MARK);
    // The runtime is in there too, with the built-in types beside the user's.
    expect(bundle).toContain('wordcount');
    expect(readFileSync(join(context, 'workers', 'Dockerfile'), 'utf8')).toBe(
      readFileSync(join(REPO_ROOT, 'workers', 'Dockerfile'), 'utf8'),
    );
  });

  it('ships the handlers inside the EC2 fleet’s bundle asset', () => {
    const app = newApp();
    const stack = newStack(app);
    const fleet = new Ec2WorkerFleet(stack, 'Fleet', { ...fleetParts(stack), handlers });
    app.synth();
    expect(fleet.bundle.assetPath.endsWith('.js')).toBe(true);
    const staged = join(app.outdir, fleet.bundle.assetPath);
    expect(readFileSync(staged, 'utf8')).toContain(MARK);
  });

  it('ships a bundle that refuses to start when the default export is neither a function nor an array', async () => {
    const app = newApp();
    const stack = newStack(app);
    const fleet = new Ec2WorkerFleet(stack, 'Fleet', {
      ...fleetParts(stack),
      handlers: handlersFile('export default 42;\n'),
    });
    app.synth();
    const run = await new Promise<{ code: number | null; stdout: string }>((resolve) =>
      execFile(
        process.execPath,
        [join(app.outdir, fleet.bundle.assetPath)],
        { env: { PATH: process.env.PATH, FLOTILLA_QUEUE_URL: 'http://127.0.0.1:9/q', FLOTILLA_BUCKET: 'b' } },
        (err, stdout) => resolve({ code: err ? (err.code as number) : 0, stdout }),
      ),
    );
    expect(run.code).toBe(2);
    expect(run.stdout).toContain(
      'handlers: the default export must be a function (registry) => void or an array of handlers',
    );
  });

  it('refuses a handlers file that is missing, has no default export, or comes with an image or bundle', () => {
    const stack = newStack();
    expect(
      () =>
        new FargateWorkerFleet(stack, 'Missing', { ...fleetParts(stack), handlers: '/no/such/handlers.ts' }),
    ).toThrow(/Test\/Missing: invalid worker fleet props: handlers: no file at \/no\/such\/handlers.ts/);
    const noDefault = handlersFile('export const x = 1;\n');
    const other = newStack(newApp(), 'Other');
    expect(
      () => new FargateWorkerFleet(other, 'NoDefault', { ...fleetParts(other), handlers: noDefault }),
    ).toThrow(
      /Other\/NoDefault: cannot bundle handlers .*handlers.ts: No matching export .* for import "default"/,
    );
    const third = newStack(newApp(), 'Third');
    const parts = fleetParts(third);
    expect(() => new FargateWorkerFleet(third, 'Both', { ...parts, handlers, image: TEST_IMAGE })).toThrow(
      /Third\/Both: invalid worker fleet props: give image or handlers, not both/,
    );
    expect(
      () => new Ec2WorkerFleet(third, 'Both2', { ...parts, handlers, bundlePath: stubBundle() }),
    ).toThrow(/Third\/Both2: invalid worker fleet props: give bundlePath or handlers, not both/);
  });
});
