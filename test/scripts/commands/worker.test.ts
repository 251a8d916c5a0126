/** `flotilla worker` as a user runs it in a terminal: serves jobs, and Ctrl-C/SIGTERM ends it. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Submitter } from '../../../scripts/submit.js';
import { eventually, freshDeployment, queueDepth } from '../../support/deployment.js';
import { type Emulator, startEmbedded } from '../../support/emulators.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmbedded();
});
afterAll(async () => emu?.stop());

it('runs jobs until SIGTERM, then drains and exits 0', async () => {
  const d = await freshDeployment(emu);
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, '..', '..', '..', 'bin', 'flotilla.mjs'),
      'worker',
      '--wait-seconds',
      '1',
      '--endpoint',
      emu.endpoint,
      '--queue-url',
      d.queueUrl,
      '--bucket',
      d.bucket,
    ],
    {
      env: { PATH: process.env.PATH ?? '', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const out = await (await new Submitter({ queue: d.queue, store: d.store }).submit('echo', 'hi')).waitForAll(
    {
      timeoutMs: 30_000,
    },
  );
  expect(out.complete).toBe(true);
  await eventually(() => stdout.includes('"job done"'));
  child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
  if (code === 'still running') child.kill('SIGKILL');
  expect(code).toBe(0);
  expect(stdout).toContain('"worker stopped"');
  expect(await queueDepth(d.queue)).toEqual({ visible: 0, inFlight: 0 });
});
