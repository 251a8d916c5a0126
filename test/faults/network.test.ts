/**
 * Issue 5, case 8: the network between the workers and the emulator goes away for 10 s in the
 * middle of a run and comes back. A TCP proxy sits between the worker processes and fauxqs (the
 * in-memory emulator would lose its state if stopped); it resets open connections and refuses
 * new ones for the outage.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Submitter } from '../../scripts/submit.js';
import { eventually, freshDeployment, queueDepth } from '../support/deployment.js';
import {
  buildFixtureWorker,
  countOutcome,
  logLines,
  printCounts,
  putCounts,
  type SpiedEmulator,
  spawnWorker,
  startSpiedEmulator,
  stopWorker,
} from '../support/fault-helpers.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const JOBS = 400;
const OUTAGE_MS = 10_000;
const OUTAGE_LINES = ['queue unreachable; backing off', 'receive failed; backing off'];

let emu: SpiedEmulator;
let proxy: TcpProxy;
let dir: string;
let bundle: string;
beforeAll(async () => {
  emu = await startSpiedEmulator();
  proxy = await startTcpProxy({ targetPort: Number(new URL(emu.endpoint).port), maxLifetimeMs: 180_000 });
  dir = mkdtempSync(join(tmpdir(), 'flotilla-faults-'));
  bundle = await buildFixtureWorker(join(dir, 'worker.js'));
});
afterAll(async () => {
  await proxy?.close();
  await emu?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('network outage between workers and the queue', () => {
  it('logs the outage once per worker, backs off, resumes, and completes every job once', async () => {
    const d = await freshDeployment(emu, { visibilityTimeoutSeconds: 5 });
    const env = {
      AWS_ENDPOINT_URL: proxy.url,
      FLOTILLA_QUEUE_URL: d.queueUrl,
      FLOTILLA_BUCKET: d.bucket,
      FLOTILLA_CONCURRENCY: '8',
      FLOTILLA_WAIT_SECONDS: '1',
      FLOTILLA_DRAIN_SECONDS: '10',
      FLOTILLA_RETRY_BASE_MS: '500',
    };
    // The submitter talks to the emulator directly: only the workers lose the network.
    const batch = await new Submitter({ queue: d.queue, store: d.store }).submitMany(
      'effect',
      Array.from({ length: JOBS }, () => ({ payload: { ms: 100 } })),
    );
    const workers = [spawnWorker(bundle, env), spawnWorker(bundle, env)];
    const results = () => putCounts(emu, d.bucket, `results/${batch.batch}/`).size;
    const startedAt = Date.now();

    await eventually(() => results() >= 100, 60_000, 20);
    await proxy.refuse();
    const downAt = Date.now();
    await sleep(200); // a PUT that reached the emulator before the cut still lands
    const before = results();
    await sleep(OUTAGE_MS - 200);
    const duringOutage = results() - before;
    await proxy.restore();
    const upAt = Date.now();
    await eventually(() => results() > before + duringOutage, 60_000, 20);
    const resumedMs = Date.now() - upAt;
    await eventually(() => results() >= JOBS, 90_000, 50);
    const allDoneAt = Date.now();
    await eventually(
      async () => {
        const q = await queueDepth(d.queue);
        return q.visible === 0 && q.inFlight === 0;
      },
      15_000,
      100,
    );

    const counts = await countOutcome(emu, d, batch.batch, JOBS);
    const alive = workers.map((w) => w.alive);
    const outageLogs = workers.map((w) => w.lines.filter((l) => OUTAGE_LINES.includes(String(l.msg))).length);
    const backAgainLogs = workers.map((w) => logLines(w, 'queue reachable again').length);
    const retried = workers.reduce((n, w) => n + logLines(w, 'job failed; will retry').length, 0);
    const exits = await Promise.all(workers.map(stopWorker));
    printCounts('Fault 8: network to the emulator refused for 10 s mid-run (2 workers)', counts, {
      'results before the outage': before,
      'results during the outage': duringOutage,
      'outage (s)': ((upAt - downAt) / 1000).toFixed(1),
      'first result after the network came back (s)': (resumedMs / 1000).toFixed(1),
      'all results after (s)': ((allDoneAt - startedAt) / 1000).toFixed(1),
      'outage log lines per worker': outageLogs.join(', '),
      'jobs retried after a failed write': retried,
      'connections reset by the proxy': proxy.stats.reset,
    });

    expect(counts).toEqual({
      submitted: JOBS,
      results: JOBS,
      writtenMoreThanOnce: 0,
      queued: 0,
      inFlight: 0,
      dlq: 0,
    });
    expect(duringOutage).toBe(0);
    expect(alive).toEqual([true, true]);
    expect(outageLogs).toEqual([1, 1]);
    expect(backAgainLogs).toEqual([1, 1]);
    expect(exits).toEqual([0, 0]);
    expect(workers.map((w) => w.stderr)).toEqual(['', '']);
  });
});
