/**
 * The published package as a user's project meets it: build dist/, `npm pack` it, install the
 * tarball into a fresh project (test/fixtures/package-user), and use only the public entries.
 *
 * The install unpacks the tarball into node_modules/flotilla and links its bin, as npm does,
 * and links the package's declared dependencies and peer dependencies (nothing else) from this
 * repository's node_modules. `npm install --offline` cannot do it: the cache `npm ci` warms
 * holds tarballs, not every package's registry metadata, and going to the registry would make
 * the test slow and flaky. Linking only what package.json declares keeps the check that
 * matters: an import of an undeclared dependency fails here as it would for a user.
 */
import { execFile, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Submitter } from '../client/submit.js';
import { buildPackage } from '../scripts/build-package.js';
import { freshDeployment } from './support/deployment.js';
import { type Emulator, startEmbedded } from './support/emulators.js';

const ROOT = join(import.meta.dirname, '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'package-user');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const ENV = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '/tmp',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  NODE_NO_WARNINGS: '1',
};

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: { ...ENV, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running child (a worker): its output kept for failure messages, stopped with SIGTERM. */
function background(cmd: string, args: string[], cwd: string, env: Record<string, string>) {
  const child = spawn(cmd, args, { cwd, env: { ...ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const collect = (b: Buffer) => {
    log += b.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    log: () => log,
    /** SIGTERM, then the exit code once it has drained. */
    stop(): Promise<number | null> {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** What a deployed worker finds in its environment, pointed at the emulator. */
function workerEnv(emu: Emulator, d: { queueUrl: string; bucket: string }): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: emu.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    FLOTILLA_QUEUE_URL: d.queueUrl,
    FLOTILLA_BUCKET: d.bucket,
  };
}

let tmp: string;
let project: string;
let installed: string;
let tarballBytes: number;
let compiled: Run;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'flotilla-package-'));
  await buildPackage();
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT);
  if (packed.code !== 0) throw new Error(`npm pack failed: ${packed.stderr}`);
  const tarball = join(tmp, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
  tarballBytes = statSync(tarball).size;

  project = join(tmp, 'project');
  cpSync(FIXTURE, project, { recursive: true, filter: (src) => !/[\\/](out|node_modules)$/.test(src) });
  const modules = join(project, 'node_modules');
  mkdirSync(join(modules, '.bin'), { recursive: true });
  const untar = await run('tar', ['-xzf', tarball, '-C', tmp], tmp);
  if (untar.code !== 0) throw new Error(`tar failed: ${untar.stderr}`);
  installed = join(modules, 'flotilla');
  cpSync(join(tmp, 'package'), installed, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    peerDependencies: Record<string, string>;
    bin: Record<string, string>;
  };
  // The user's project brings @types/node, as any TypeScript project on Node does, and of the
  // optional peers the CDK and esbuild (for the fleets' handlers) but not tsx.
  for (const dep of [
    ...Object.keys(manifest.dependencies),
    ...Object.keys(manifest.peerDependencies).filter((p) => p !== 'tsx'),
    '@types/node',
  ]) {
    mkdirSync(dirname(join(modules, dep)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', dep), join(modules, dep), 'dir');
  }
  for (const [name, file] of Object.entries(manifest.bin)) {
    symlinkSync(join('..', 'flotilla', file), join(modules, '.bin', name));
  }
  compiled = await run(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project],
    project,
  );
}, 240_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the packed package, installed in a user project', () => {
  it('ships the entries, types, prebuilt CLI and worker bundle, and no sources or tests', async () => {
    const listed = await run('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], ROOT);
    // No warning from npm about the manifest, its files or its bin (what `npm publish` checks too).
    expect(listed.stderr.split('\n').filter((l) => /warn|error/i.test(l))).toEqual([]);
    const files = (JSON.parse(listed.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const f of [
      'dist/cdk/index.mjs',
      'dist/client/index.mjs',
      'dist/worker/index.mjs',
      'dist/bin/cli.mjs',
    ])
      expect(files).toContain(f);
    expect(files).toEqual(
      expect.arrayContaining([
        'dist/worker.js',
        'workers/Dockerfile',
        'README.md',
        'CHANGELOG.md',
        'LICENSE',
      ]),
    );
    expect(files).toContain('dist/types/client/index.d.ts');
    expect(
      files.filter(
        (f) =>
          /^(test|bench|docs|scripts|core|client|infra)\//.test(f) ||
          (f.endsWith('.ts') && !f.endsWith('.d.ts')),
      ),
    ).toEqual([]);
    expect(tarballBytes).toBeLessThan(2 * 1024 * 1024);
    console.info(`packed: ${(tarballBytes / 1000).toFixed(1)} kB, ${files.length} files`);
  });

  it('type-checks a project that imports flotilla/client, flotilla/worker and flotilla/cdk', () => {
    // tsconfig strict; src/types-are-real.ts fails to compile if an entry's types were `any`.
    expect(compiled.stdout + compiled.stderr).toBe('');
    expect(compiled.code).toBe(0);
  });

  it('refuses a deep import into the package and allows the entries', async () => {
    const deep = await run(
      process.execPath,
      ['--input-type=module', '-e', "await import('flotilla/core/ports.js')"],
      project,
    );
    expect(deep.code).not.toBe(0);
    expect(deep.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
    const dist = await run(
      process.execPath,
      ['--input-type=module', '-e', "await import('flotilla/dist/client/index.mjs')"],
      project,
    );
    expect(dist.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
    const entry = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const c = await import('flotilla/client'); console.log(typeof c.Submitter)",
      ],
      project,
    );
    expect(entry.stdout.trim()).toBe('function');
  });

  it('depends on neither esbuild nor tsx at run time, and says which to install for a TypeScript handlers file', async () => {
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    expect(Object.keys(manifest.dependencies)).not.toContain('tsx');
    expect(Object.keys(manifest.dependencies)).not.toContain('esbuild');
    expect(manifest.peerDependenciesMeta).toMatchObject({
      esbuild: { optional: true },
      tsx: { optional: true },
    });
    const ts = await run(
      join(project, 'node_modules', '.bin', 'flotilla'),
      ['worker', '--handlers', 'src/handlers.ts', '--queue-url', 'http://127.0.0.1:9/q', '--bucket', 'b'],
      project,
    );
    expect(ts.code).not.toBe(0);
    expect(ts.stderr.trim()).toBe(
      'flotilla worker: src/handlers.ts is TypeScript: install tsx in your project to load it (npm install --save-dev tsx), or give the compiled .js',
    );
  });

  it('runs the installed flotilla command from its prebuilt bundle', async () => {
    const help = await run(join(project, 'node_modules', '.bin', 'flotilla'), ['--help'], project);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: flotilla COMMAND');
    // No bundling at first run: the installed package has no sources to bundle, and wrote nothing.
    expect(existsSync(join(installed, 'dist', 'cli'))).toBe(false);
    expect(existsSync(join(installed, 'scripts'))).toBe(false);
  });

  describe('against the embedded emulator', () => {
    let emu: Emulator;
    beforeAll(async () => {
      emu = await startEmbedded();
    });
    afterAll(async () => {
      await emu?.stop();
    });

    it('runs a job submitted through flotilla/client on a worker built from flotilla/worker', async () => {
      const d = await freshDeployment(emu);
      const env = { ENDPOINT: emu.endpoint, QUEUE_URL: d.queueUrl, BUCKET: d.bucket };
      const worker = background(process.execPath, [join(project, 'out', 'worker.js')], project, env);
      let code: number | null;
      try {
        const submitted = await run(process.execPath, [join(project, 'out', 'submit.js')], project, env);
        expect(submitted.stderr, worker.log()).toBe('');
        expect(JSON.parse(submitted.stdout)).toEqual({
          complete: true,
          result: { shouted: 'HELLO FROM A USER PROJECT' },
        });
      } finally {
        code = await worker.stop();
      }
      expect(code, worker.log()).toBe(0);
    });

    it("sends a job whose handler throws flotilla/worker's UnrecoverableError to the DLQ at once, under the installed flotilla worker", async () => {
      const d = await freshDeployment(emu, { maxReceiveCount: 5 });
      const worker = background(
        join(project, 'node_modules', '.bin', 'flotilla'),
        ['worker', '--handlers', join(project, 'out', 'handlers.js'), '--wait-seconds', '1'],
        project,
        workerEnv(emu, d),
      );
      let code: number | null;
      try {
        const batch = await new Submitter({ queue: d.queue, store: d.store }).submit('refuse', {
          reason: 'no',
        });
        const outcome = await batch.waitForAll({ pollMs: 100, timeoutMs: 30_000 });
        expect(outcome.deadLettered, worker.log()).toHaveLength(1);
        // The class the handler threw is the one the installed command checks: no retries first.
        expect(outcome.deadLettered[0]).toMatchObject({
          attempt: 1,
          final: true,
          error: { message: 'refused: no' },
        });
      } finally {
        code = await worker.stop();
      }
      expect(code, worker.log()).toBe(0);
    });
  });

  describe('a CDK app composed from flotilla/cdk, synthesized', () => {
    let outdir: string;
    let synth: Run;
    beforeAll(async () => {
      outdir = join(tmp, 'cdk.out');
      synth = await run(process.execPath, [join(project, 'out', 'app.js'), outdir], project);
    }, 180_000);
    const template = (stack: string) =>
      JSON.parse(readFileSync(join(outdir, `${stack}.template.json`), 'utf8')) as {
        Resources: Record<string, { Type: string }>;
      };
    const assets = (stack: string) =>
      JSON.parse(readFileSync(join(outdir, `${stack}.assets.json`), 'utf8')) as {
        files: Record<string, { source: { path: string } }>;
        dockerImages: Record<string, { source: { directory: string } }>;
      };
    /** The one worker.js among a stack's file assets (the others are custom-resource code). */
    const ec2Bundle = (stack: string) =>
      Object.values(assets(stack).files)
        .map((f) => join(outdir, f.source.path))
        .filter((p) => p.endsWith('.js') && statSync(p).isFile());
    const contextFiles = (dir: string) =>
      readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => relative(dir, join(e.parentPath, e.name)))
        .sort();

    it('synthesizes offline, saying only which handlers it bundled', () => {
      expect(synth.code, synth.stderr).toBe(0);
      expect(synth.stderr.split('\n').filter((l) => l && !/^Bundling asset /.test(l))).toEqual([]);
      const types = Object.values(template('UserOwn').Resources).map((r) => r.Type);
      expect(types.filter((t) => t === 'AWS::SQS::Queue')).toHaveLength(2);
      expect(types).toContain('AWS::S3::Bucket');
      expect(types).toContain('AWS::ECS::Service');
      expect(Object.values(template('UserEc2').Resources).map((r) => r.Type)).toContain(
        'AWS::AutoScaling::AutoScalingGroup',
      );
      expect(Object.values(template('UserFargate').Resources).map((r) => r.Type)).toContain(
        'AWS::ECS::Service',
      );
    });

    it("ships the user's handlers inside both fleets' bundles, and the package's worker without them", () => {
      const mark = 'user-handler-6c1f9e';
      // EC2: the S3 asset is the one bundle file, with the user's handler and the runtime in it.
      const [ec2] = ec2Bundle('UserEc2');
      expect(ec2Bundle('UserEc2')).toHaveLength(1);
      expect(readFileSync(ec2!, 'utf8')).toContain(mark);
      // Fargate: the image's build context is that bundle and the Dockerfile, nothing else.
      const [image] = Object.values(assets('UserOwn').dockerImages);
      const context = join(outdir, image!.source.directory);
      expect(contextFiles(context)).toEqual(['dist/worker.js', 'workers/Dockerfile']);
      expect(readFileSync(join(context, 'dist', 'worker.js'), 'utf8')).toContain(mark);
      // Without `handlers`, the package's prebuilt worker, from the package's own files.
      const [plain] = Object.values(assets('UserFargate').dockerImages);
      const prebuilt = readFileSync(join(installed, 'dist', 'worker.js'));
      expect(readFileSync(join(outdir, plain!.source.directory, 'dist', 'worker.js')).equals(prebuilt)).toBe(
        true,
      );
      expect(prebuilt.toString()).not.toContain(mark);
    });

    it("runs the user's job types in the EC2 fleet's bundle, as an instance would, on the embedded emulator", async () => {
      const emu = await startEmbedded();
      try {
        const d = await freshDeployment(emu, { maxReceiveCount: 5 });
        const [bundle] = ec2Bundle('UserEc2');
        const worker = background(process.execPath, [bundle!], project, {
          ...workerEnv(emu, d),
          FLOTILLA_WAIT_SECONDS: '1',
        });
        let code: number | null;
        try {
          const submitter = new Submitter({ queue: d.queue, store: d.store });
          const reversed = await submitter.submit('reverse', { text: 'fleet' });
          const refused = await submitter.submit('refuse', { reason: 'no' });
          const done = await reversed.waitForAll({ pollMs: 100, timeoutMs: 30_000 });
          expect(
            [...done.results.values()].map((r) => r.result),
            worker.log(),
          ).toEqual([{ reversed: 'teelf', by: 'user-handler-6c1f9e' }]);
          // The UnrecoverableError the bundled handler throws is the one the bundled runtime checks.
          const dead = await refused.waitForAll({ pollMs: 100, timeoutMs: 30_000 });
          expect(dead.deadLettered[0], worker.log()).toMatchObject({ attempt: 1, final: true });
        } finally {
          code = await worker.stop();
        }
        expect(code, worker.log()).toBe(0);
      } finally {
        await emu.stop();
      }
    }, 60_000);
  });
});
