/**
 * Cancel requests as the workers see them (one LIST), and the final record a cancel writes:
 * against moto, which honours If-None-Match, a cancel racing a finishing job leaves one status.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestCancel } from '../../../client/submit.js';
import { cancelledKey, resultKey } from '../../../core/envelope.js';
import { CancelIndex, recordCancelled } from '../../../workers/runtime/cancel-index.js';
import { silentLogger } from '../../../workers/runtime/logger.js';
import { freshDeployment } from '../../support/deployment.js';
import { type Emulator, startMoto } from '../../support/emulators.js';

let moto: Emulator;
beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  await moto?.stop();
});

describe('CancelIndex', () => {
  it('knows the batches and jobs asked to cancel, and nothing else', async () => {
    const d = await freshDeployment(moto);
    const index = new CancelIndex(d.store, silentLogger);
    await index.refresh();
    expect(index.empty).toBe(true);
    await requestCancel(d.store, 'whole');
    await requestCancel(d.store, 'some', ['j2', 'j3']);
    await index.refresh();
    expect(index.requestedAt('whole', 'j1')).toMatch(/^\d{4}-/);
    expect(index.requestedAt('some', 'j2')).toMatch(/^\d{4}-/);
    expect(index.requestedAt('some', 'j1')).toBeUndefined();
    expect(index.requestedAt('other', 'j2')).toBeUndefined();
  });
});

describe('recordCancelled', () => {
  it('leaves exactly one final record when a cancel races a finishing job', async () => {
    const d = await freshDeployment(moto);
    const outcomes: string[] = [];
    for (let i = 0; i < 12; i++) {
      const job = { id: `j${i}`, batch: 'race', type: 't' };
      const result = () =>
        d.store.put(resultKey('race', job.id), JSON.stringify({ status: 'done', jobId: job.id }), {
          ifAbsent: true,
        });
      const cancel = () =>
        recordCancelled(d.store, job, {
          attempt: 1,
          requestedAt: new Date().toISOString(),
          wasRunning: true,
          worker: 'w',
        });
      // Alternate who starts first; both are in flight together.
      const [a, b] =
        i % 2 === 0
          ? await Promise.all([result(), cancel()])
          : (await Promise.all([cancel(), result()])).reverse();
      expect([a, b].filter(Boolean)).toHaveLength(1);
      const final = JSON.parse((await d.store.get(resultKey('race', job.id))).toString('utf8')) as {
        status: string;
      };
      const marker = await d.store.head(cancelledKey('race', job.id));
      expect(final.status).toBe(b ? 'cancelled' : 'done');
      expect(Boolean(marker)).toBe(final.status === 'cancelled');
      outcomes.push(final.status);
    }
    expect(outcomes).toContain('done');
  });
});
