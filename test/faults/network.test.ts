/**
 * Issue 5, case 8: the network between the workers and the emulator goes away for 10 s in the
 * middle of a run and comes back. A TCP proxy sits between the worker processes and fauxqs (the
 * in-memory emulator would lose its state if stopped). Two kinds of outage: refused (open
 * connections reset, new ones refused: the workers see errors) and stalled (packets lost: every
 * connection hangs, then carries on when the network returns, as TCP retransmission does).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Submitter } from '../../client/submit.js';
import { eventually, freshDeployment, queueDepth } from '../support/deployment.js';
import {
  countOutcome,
  effectCounts,
  faultSuite,
  logLines,
  printCounts,
  putCounts,
  spawnWorker,
  stopWorker,
} from '../support/fault-helpers.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const JOBS = 400;
const OUTAGE_MS = 10_000;
const OUTAGE_LINES = ['queue unreachable; backing off', 'receive failed; backing off'];

const suite = faultSuite('fixture');
let proxy: TcpProxy;
beforeAll(async () => {
  proxy = await startTcpProxy({
    targetPort: Number(new URL(suite.emu.endpoint).port),
    maxLifetimeMs: 180_000,
  });
});
afterAll(async () => {
  await proxy?.close();
});

async function outage(mode: 'refused' | 'stalled'): Promise<void> {
  const d = await freshDeployment(suite.emu, { visibilityTimeoutSeconds: 5 });
  const effects = join(suite.dir, `${d.name}-effects.log`);
  const resetBefore = proxy.stats.reset;
  const env = {
    AWS_ENDPOINT_URL: proxy.url,
    FLOTILLA_QUEUE_URL: d.queueUrl,
    FLOTILLA_BUCKET: d.bucket,
    FLOTILLA_CONCURRENCY: '8',
    FLOTILLA_WAIT_SECONDS: '1',
    FLOTILLA_DRAIN_SECONDS: '10',
    FLOTILLA_RETRY_BASE_MS: '500',
    FAULT_EFFECTS_FILE: effects,
  };
  // The submitter talks to the emulator directly: only the workers lose the network.
  const batch = await new Submitter({ queue: d.queue, store: d.store }).submitMany(
    'effect',
    Array.from({ length: JOBS }, () => ({ payload: { ms: 100 } })),
  );
  const workers = [spawnWorker(suite.bundle, env), spawnWorker(suite.bundle, env)];
  const results = () => putCounts(suite.emu, d.bucket, `results/${batch.batch}/`).size;
  const startedAt = Date.now();

  await eventually(() => results() >= 100, 60_000, 20);
  if (mode === 'refused') await proxy.refuse();
  else proxy.stall();
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

  const counts = await countOutcome(suite.emu, d, batch.batch, JOBS);
  const alive = workers.map((w) => w.alive);
  const outageLogs = workers.map((w) => w.lines.filter((l) => OUTAGE_LINES.includes(String(l.msg))).length);
  const backAgainLogs = workers.map((w) => logLines(w, 'queue reachable again').length);
  const retried = workers.reduce((n, w) => n + logLines(w, 'job failed; will retry').length, 0);
  const dropped = workers.reduce(
    (n, w) => n + w.lines.filter((l) => String(l.msg).includes('duplicate delivery')).length,
    0,
  );
  const executions = effectCounts(effects);
  const exits = await Promise.all(workers.map(stopWorker));
  printCounts(`Fault 8: network to the emulator ${mode} for 10 s mid-run (2 workers)`, counts, {
    'results before the outage': before,
    'results during the outage': duringOutage,
    'outage (s)': ((upAt - downAt) / 1000).toFixed(1),
    'first result after the network came back (s)': (resumedMs / 1000).toFixed(1),
    'all results after (s)': ((allDoneAt - startedAt) / 1000).toFixed(1),
    'outage log lines per worker': outageLogs.join(', '),
    'jobs retried after a failed write': retried,
    'connections reset by the proxy': proxy.stats.reset - resetBefore,
    'duplicate deliveries dropped': dropped,
    'jobs executed more than once': [...executions.values()].filter((n) => n > 1).length,
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
  // Refused: each worker says so once, and once when it is over. Stalled: nothing fails, so
  // nothing is logged; requests simply take 10 s longer.
  const once = mode === 'refused' ? 1 : 0;
  expect(outageLogs).toEqual([once, once]);
  expect(backAgainLogs).toEqual([once, once]);
  expect(executions.size).toBe(JOBS);
  expect(exits).toEqual([0, 0]);
  expect(workers.map((w) => w.stderr)).toEqual(['', '']);
}

describe('network outage between workers and the queue', () => {
  it('refused for 10 s: each worker logs it once, backs off, resumes, and every job completes once', () =>
    outage('refused'));

  it('stalled for 10 s (packets lost, connections kept): no error, no crash, every job completes once', () =>
    outage('stalled'));
});
