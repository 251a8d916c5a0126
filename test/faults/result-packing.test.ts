/**
 * Result packing (FLOTILLA_RESULT_PACKING) in worker processes: a worker killed while its pack is
 * still open loses no result (its jobs come back and are done by another), and a worker stopped
 * with SIGTERM writes its open pack before it exits.
 */
import { describe, expect, it } from 'vitest';
import { Submitter } from '../../client/submit.js';
import { isPackKey } from '../../core/result-packs.js';
import { eventually, freshDeployment, queueDepth } from '../support/deployment.js';
import { faultSuite, logLines, putCounts, spawnWorker, stopWorker } from '../support/fault-helpers.js';

const JOBS = 20;
const VISIBILITY_SECONDS = 10;

const suite = faultSuite('builtin');

async function deployment() {
  const d = await freshDeployment(suite.emu, { visibilityTimeoutSeconds: VISIBILITY_SECONDS });
  const env = (packing: string) => ({
    AWS_ENDPOINT_URL: suite.emu.endpoint,
    FLOTILLA_QUEUE_URL: d.queueUrl,
    FLOTILLA_BUCKET: d.bucket,
    FLOTILLA_WAIT_SECONDS: '1',
    FLOTILLA_DRAIN_SECONDS: '10',
    FLOTILLA_RESULT_PACKING: packing,
  });
  const batch = await new Submitter({ queue: d.queue, store: d.store }).submitMany(
    'echo',
    Array.from({ length: JOBS }, (_, i) => ({ payload: { i } })),
  );
  return { d, env, batch };
}

describe('result packing in worker processes', () => {
  it('loses no result when a worker is killed before its pack is written: the jobs run again elsewhere', async () => {
    const { d, env, batch } = await deployment();
    // Four and a half seconds' wait for more results: the kill lands while every result waits in the pack.
    const doomed = spawnWorker(suite.bundle, env('maxJobs=1000,maxDelayMs=4500'));
    suite.running.push(doomed);
    await eventually(() => logLines(doomed, 'job started').length >= JOBS, 20_000);
    doomed.child.kill('SIGKILL');
    await doomed.exit;
    const results = () => putCounts(suite.emu, d.bucket, `results/${batch.batch}/`);
    expect(results().size).toBe(0);
    // Their messages were never deleted: once the visibility timeout passes, another worker
    // (packing too) receives and finishes them.
    suite.running.push(spawnWorker(suite.bundle, env('on')));
    const out = await batch.waitForAll({ timeoutMs: 60_000, pollMs: 200 });
    expect(out.complete).toBe(true);
    expect(out.done).toBe(JOBS);
    for (const [id, rec] of out.results) expect(rec.result).toEqual({ i: Number(id.slice(1)) });
    expect([...results().keys()].every(isPackKey)).toBe(true);
    await eventually(async () => {
      const q = await queueDepth(d.queue);
      return q.visible + q.inFlight === 0;
    }, 10_000);
  });

  it('writes the open pack on SIGTERM before it exits, and deletes the messages', async () => {
    const { d, env, batch } = await deployment();
    const w = spawnWorker(suite.bundle, env('maxJobs=1000,maxDelayMs=4500'));
    suite.running.push(w);
    await eventually(() => logLines(w, 'job started').length >= JOBS, 20_000);
    expect(await stopWorker(w)).toBe(0);
    const packs = [...putCounts(suite.emu, d.bucket, `results/${batch.batch}/`).keys()];
    expect(packs.length).toBe(1);
    expect(isPackKey(packs[0]!)).toBe(true);
    const out = await batch.waitForAll({ timeoutMs: 0 });
    expect(out.done).toBe(JOBS);
    await eventually(async () => {
      const q = await queueDepth(d.queue);
      return q.visible + q.inFlight === 0;
    }, 5000);
  });
});
