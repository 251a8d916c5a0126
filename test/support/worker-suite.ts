/**
 * The lifecycle most runtime tests share: one embedded emulator for the file, and the Workers a
 * test starts stopped after it (so a failing test leaves none polling into the next).
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { Worker } from '../../workers/runtime/worker.js';
import { type Emulator, startEmbedded } from './emulators.js';

export interface WorkerSuite {
  /** The file's emulator (started before the first test). */
  readonly emu: Emulator;
  /** Push each Worker a test starts; they are stopped after the test. */
  readonly workers: Worker[];
}

export function workerSuite(): WorkerSuite {
  let emu: Emulator | undefined;
  const workers: Worker[] = [];
  beforeAll(async () => {
    emu = await startEmbedded();
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  });
  afterAll(async () => emu?.stop());
  return {
    get emu() {
      if (!emu) throw new Error('the emulator is not started yet (use it inside a test or hook)');
      return emu;
    },
    workers,
  };
}
