/** The bundled worker (dist/worker.js, built fresh) against an embedded emulator, for a describe block. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { buildWorker } from '../../scripts/build-worker.js';
import { freshDeployment } from './deployment.js';
import { type Emulator, startEmbedded } from './emulators.js';
import { spawnWorker, type WorkerProc } from './fault-helpers.js';

export function bundledWorker() {
  let emu: Emulator;
  let dir: string;
  let bundle: string;
  beforeAll(async () => {
    emu = await startEmbedded();
    dir = mkdtempSync(join(tmpdir(), 'flotilla-bundle-'));
    bundle = (await buildWorker(join(dir, 'worker.js'))).outfile;
  });
  afterAll(async () => {
    await emu?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    /** A fresh queue and bucket, and a worker process on them (1 s long polls) with `env` added. */
    async start(env: Record<string, string> = {}): Promise<{
      d: Awaited<ReturnType<typeof freshDeployment>>;
      w: WorkerProc;
    }> {
      const d = await freshDeployment(emu);
      const w = spawnWorker(bundle, {
        AWS_ENDPOINT_URL: emu.endpoint,
        FLOTILLA_QUEUE_URL: d.queueUrl,
        FLOTILLA_BUCKET: d.bucket,
        FLOTILLA_WAIT_SECONDS: '1',
        ...env,
      });
      return { d, w };
    },
  };
}
