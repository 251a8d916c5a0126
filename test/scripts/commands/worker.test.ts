/** `flotilla worker` as a user runs it in a terminal: serves jobs, and Ctrl-C/SIGTERM ends it. */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Submitter } from '../../../client/submit.js';
import { eventually, freshDeployment, queueDepth } from '../../support/deployment.js';
import { type Emulator, startEmbedded } from '../../support/emulators.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmbedded();
});
afterAll(async () => emu?.stop());

function startWorker(d: Awaited<ReturnType<typeof freshDeployment>>, extra: string[] = []) {
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
      ...extra,
    ],
    {
      env: { PATH: process.env.PATH ?? '', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (b: Buffer) => {
    out.stdout += b.toString();
  });
  child.stderr.on('data', (b: Buffer) => {
    out.stderr += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const stop = async () => {
    child.kill('SIGTERM');
    const code = await Promise.race([
      exited,
      new Promise((r) => setTimeout(() => r('still running'), 15_000)),
    ]);
    if (code === 'still running') child.kill('SIGKILL');
    return code;
  };
  return { out, stop };
}

it('runs jobs until SIGTERM, then drains and exits 0', async () => {
  const d = await freshDeployment(emu);
  const { out: logs, stop } = startWorker(d);
  const out = await (await new Submitter({ queue: d.queue, store: d.store }).submit('echo', 'hi')).waitForAll(
    {
      timeoutMs: 30_000,
    },
  );
  expect(out.complete).toBe(true);
  await eventually(() => logs.stdout.includes('"job done"'));
  expect(await stop()).toBe(0);
  expect(logs.stdout).toContain('"worker stopped"');
  expect(await queueDepth(d.queue)).toEqual({ visible: 0, inFlight: 0 });
});

it('runs the job types of a TypeScript handlers file given with --handlers', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'flotilla-handlers-')), 'my-handlers.ts');
  writeFileSync(
    file,
    `interface Registry { register(def: { type: string; handler: (job: { payload: unknown }) => Promise<unknown> }): void }
export default function register(registry: Registry): void {
  registry.register({ type: 'shout', handler: async (job) => ({ shout: String(job.payload).toUpperCase() }) });
}
`,
  );
  const d = await freshDeployment(emu);
  const { out: logs, stop } = startWorker(d, ['--handlers', file]);
  const batch = await new Submitter({ queue: d.queue, store: d.store }).submit('shout', 'hello');
  const out = await batch.waitForAll({ timeoutMs: 30_000 });
  expect(out.complete, logs.stderr).toBe(true);
  expect([...out.results.values()].map((r) => r.result)).toEqual([{ shout: 'HELLO' }]);
  expect(await stop()).toBe(0);
});
