/**
 * `flotilla mirror` as a user runs it: the one-command local copy (embedded emulator, restore of
 * an export, a worker processing jobs there), the dry-run plan, and flag mistakes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { EMULATOR_CREDENTIALS, s3Client } from '../../../core/aws.js';
import { exportDeployment } from '../../../scripts/sync/export.js';
import { CLI_ENV } from '../../support/cli.js';
import { eventually, freshDeployment } from '../../support/deployment.js';
import { type Emulator, startEmbedded } from '../../support/emulators.js';
import { BIN, runCli } from '../sync/fixtures.js';

describe('flotilla mirror', () => {
  let source: Emulator;
  let dir: string;
  let dep: Awaited<ReturnType<typeof freshDeployment>>;

  beforeAll(async () => {
    source = await startEmbedded();
    dir = await mkdtemp(join(tmpdir(), 'flotilla-local-'));
    dep = await freshDeployment(source);
    await dep.store.put('inputs/a.txt', 'alpha', { contentType: 'text/plain' });
    await dep.store.put('inputs/b.txt', 'bravo', { contentType: 'text/plain' });
    await exportDeployment({
      source: { endpoint: source.config, sqs: source.sqs, s3: source.s3 },
      dir,
      bucket: dep.bucket,
      queueUrl: dep.queueUrl,
      progress: { write: () => true } as unknown as NodeJS.WritableStream,
      quiet: true,
    });
  });

  afterAll(async () => {
    await source?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /**
   * `flotilla mirror --to local ARGS --port 0 --workers 1` until it runs; `use` gets the variables
   * it printed, then the command is stopped with Ctrl-C and must exit 0.
   */
  async function runLocal(
    args: readonly string[],
    use: (vars: Record<string, string>, stderr: string) => Promise<void>,
  ): Promise<void> {
    let child: ChildProcess | undefined;
    try {
      child = spawn(
        process.execPath,
        [BIN, 'mirror', '--to', 'local', ...args, '--port', '0', '--workers', '1'],
        {
          // A short long-poll, so the worker stops promptly at the end of the test.
          env: { ...CLI_ENV, FLOTILLA_WAIT_SECONDS: '1' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      await eventually(() => stderr.includes('running; Ctrl-C to stop'), 30_000);
      const vars = Object.fromEntries(
        [...stdout.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]),
      );
      expect(vars.FLOTILLA_BUCKET).toBe(dep.bucket);
      expect(stderr).toContain('started 1 worker(s)');
      await use(vars, stderr);
      child.kill('SIGINT');
      const code = await new Promise((r) => child?.once('exit', r));
      expect(code).toBe(0);
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
    }
  }

  it('--to local restores the export into the embedded emulator and runs a worker that processes jobs', async () => {
    await runLocal(['--from', dir], async (vars) => {
      const s3 = s3Client({
        endpoint: vars.AWS_ENDPOINT_URL,
        region: 'us-east-1',
        credentials: EMULATOR_CREDENTIALS,
      });
      try {
        expect((await new S3Store(s3, dep.bucket).get('inputs/b.txt')).toString()).toBe('bravo');
      } finally {
        s3.destroy();
      }
      const submitted = await runCli(
        ['submit', 'echo', '--payload', '{"hello":"local"}', '--wait', '--timeout', '30'],
        vars,
      );
      expect(submitted.code, submitted.stderr).toBe(0);
    });
  });

  it('--to local from a live source runs workers that serve every job queue', async () => {
    const from = ['--endpoint', source.endpoint, '--queue-url', dep.queueUrl, '--bucket', dep.bucket];
    await runLocal(from, async (vars) => {
      for (const queue of ['urgent', 'bulk']) {
        const submitted = await runCli(
          ['submit', 'echo', '--queue', queue, '--payload', '{"at":"local"}', '--wait', '--timeout', '30'],
          vars,
        );
        expect(submitted.code, `${queue}: ${submitted.stderr}`).toBe(0);
      }
    });
  });

  it('prints the plan with --dry-run and refuses --max-delete without --delete', async () => {
    const target = await startEmbedded();
    try {
      const plan = await runCli([
        'mirror',
        '--endpoint',
        source.endpoint,
        '--bucket',
        dep.bucket,
        '--to',
        target.endpoint,
        '--dry-run',
      ]);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toContain('copy   "inputs/a.txt" (5 bytes)');
      expect(plan.stderr).toMatch(/2 change\(s\) planned.*nothing was changed/);

      const bad = await runCli([
        'mirror',
        '--bucket',
        dep.bucket,
        '--to',
        target.endpoint,
        '--max-delete',
        '3',
      ]);
      expect(bad.code).toBe(2);
      expect(bad.stderr.trim()).toBe('flotilla mirror: --max-delete only makes sense with --delete');
    } finally {
      await target.stop();
    }
  });
});
