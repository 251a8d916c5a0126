/**
 * A supervisor for fault tests: keeps one worker process running the way ECS keeps a task
 * running, starting a new one whenever the last exits without being asked to.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { stopWorker, type WorkerProc } from '../support/fault-helpers.js';

export interface Supervised {
  /** Every process started, the first included. */
  readonly all: WorkerProc[];
  /** Processes that exited without being asked to (the crashes). */
  readonly crashes: number;
  stop(): Promise<void>;
}

export function supervise(start: () => WorkerProc, restartDelayMs = 200): Supervised {
  const all: WorkerProc[] = [];
  let crashes = 0;
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      const p = start();
      all.push(p);
      await p.exit;
      if (stopping) break;
      crashes++;
      await sleep(restartDelayMs);
    }
  })();
  return {
    all,
    get crashes() {
      return crashes;
    },
    async stop() {
      stopping = true;
      const last = all.at(-1);
      if (last) await stopWorker(last);
      await loop;
    },
  };
}
