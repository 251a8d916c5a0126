/**
 * Run the real CDK CLI and the real `flotilla` CLI against an emulator endpoint, as a user
 * would: child processes with AWS_ENDPOINT_URL pointed at it and emulator credentials.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');

/** Environment for a child process talking only to `endpoint`. */
export function emulatorEnv(endpoint: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) {
    if (k.startsWith('AWS_') || k.startsWith('CDK_') || k.startsWith('FLOTILLA_')) delete env[k];
  }
  return {
    ...env,
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    NODE_NO_WARNINGS: '1',
  };
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a command to completion; never rejects on a non-zero exit (the caller asserts). */
export function run(
  cmd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out after ${timeoutMs} ms\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * `cdk deploy` one stack of infra/app.ts with the given Flotilla context. `--method=direct`
 * because moto does not record outputs of stacks created through a change set.
 */
export function cdkDeploy(opts: {
  endpoint: string;
  stack: string;
  env: string;
  flotilla: unknown;
  outdir: string;
}): Promise<RunResult> {
  return run(
    join(REPO_ROOT, 'node_modules', '.bin', 'cdk'),
    [
      'deploy',
      opts.stack,
      '--app',
      'npx tsx infra/app.ts',
      '--output',
      opts.outdir,
      '-c',
      `env=${opts.env}`,
      '-c',
      `flotilla=${JSON.stringify(opts.flotilla)}`,
      '--method=direct',
      '--require-approval',
      'never',
      '--no-notices',
      '--progress',
      'events',
    ],
    emulatorEnv(opts.endpoint),
    150_000,
  );
}

/** The `flotilla` command as a child process; `extraEnv` (credentials, say) over the emulator's. */
export function flotilla(
  args: readonly string[],
  endpoint: string,
  timeoutMs = 60_000,
  extraEnv: Readonly<Record<string, string>> = {},
): Promise<RunResult> {
  return run(
    process.execPath,
    [join(REPO_ROOT, 'bin', 'flotilla.mjs'), ...args],
    { ...emulatorEnv(endpoint), ...extraEnv },
    timeoutMs,
  );
}

/**
 * Start a worker process in the background (`node ARGS...` with the emulator environment plus
 * `extraEnv`); stop() sends SIGTERM and resolves with how it ended.
 */
export function startWorkerProcess(
  args: readonly string[],
  endpoint: string,
  extraEnv: Readonly<Record<string, string>> = {},
): {
  process: ChildProcess;
  output: () => string;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
} {
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...emulatorEnv(endpoint), ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-8000);
  });
  child.stderr?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-8000);
  });
  return {
    process: child,
    output: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          return resolve({ code: child.exitCode, signal: child.signalCode });
        }
        const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.once('exit', (code, signal) => {
          clearTimeout(kill);
          resolve({ code, signal });
        });
        child.kill('SIGTERM');
      }),
  };
}
