/** ctx.progress's store writes, counted by the emulator's spy: throttled, in order, last value kept. */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProgressRecord, progressKey } from '../../../core/envelope.js';
import { silentLogger } from '../../../workers/runtime/logger.js';
import { ProgressWriter } from '../../../workers/runtime/progress-writer.js';
import { freshDeployment } from '../../support/deployment.js';
import { startEmbedded } from '../../support/emulators.js';

let emu: Awaited<ReturnType<typeof startEmbedded>>;
beforeAll(async () => {
  emu = await startEmbedded({ messageSpies: { bufferSize: 10_000 } });
});
afterAll(async () => {
  await emu?.stop();
});

const puts = (bucket: string, key: string) =>
  emu.server.spy
    .getAllMessages()
    .filter((m) => m.service === 's3' && m.status === 'uploaded' && m.bucket === bucket && m.key === key)
    .length;

describe('ProgressWriter', () => {
  it('writes at most once per interval however often the handler reports, and ends on the last value', async () => {
    const d = await freshDeployment(emu);
    const job = { batch: 'b1', id: 'j1', attempt: 1 };
    const w = new ProgressWriter({ store: d.store, job, worker: 'w', intervalMs: 300, log: silentLogger });
    const started = Date.now();
    for (let i = 1; i <= 100; i++) {
      w.report(i / 100, `step ${i}`);
      await sleep(10);
    }
    const reportedFor = Date.now() - started;
    await sleep(400); // the interval in progress ends: its last value is written
    await w.close();
    const key = progressKey('b1', 'j1');
    const n = puts(d.bucket, key);
    expect(n).toBeGreaterThanOrEqual(2);
    expect(n).toBeLessThanOrEqual(Math.ceil(reportedFor / 300) + 1);
    const last = JSON.parse((await d.store.get(key)).toString('utf8')) as ProgressRecord;
    expect(last).toMatchObject({ fraction: 1, note: 'step 100', attempt: 1, worker: 'w' });
  });

  it('writes nothing after the job is over', async () => {
    const d = await freshDeployment(emu);
    const w = new ProgressWriter({
      store: d.store,
      job: { batch: 'b2', id: 'j1', attempt: 1 },
      worker: 'w',
      intervalMs: 200,
      log: silentLogger,
    });
    w.report(0.1);
    w.report(0.2); // pending for the interval's end
    await w.close();
    await sleep(300);
    expect(puts(d.bucket, progressKey('b2', 'j1'))).toBe(1);
  });

  it('refuses a fraction outside 0..1 with a clear error', () => {
    const w = new ProgressWriter({
      store: {} as never,
      job: { batch: 'b', id: 'j', attempt: 1 },
      worker: 'w',
      intervalMs: 1000,
      log: silentLogger,
    });
    expect(() => w.report(1.5)).toThrow(/fraction from 0 to 1/);
    expect(() => w.report(Number.NaN)).toThrow(RangeError);
  });
});
