/**
 * Issue 5, case 7: SIGTERM (a scale-in, a deploy, Spot's two-minute notice) while jobs run and
 * while long polls are under way. The bundled worker (dist/worker.js) as a process.
 */
import { describe, expect, it } from 'vitest';
import { Submitter } from '../../client/submit.js';
import { ENVELOPE_VERSION } from '../../core/envelope.js';
import { eventually, freshDeployment } from '../support/deployment.js';
import { uniqueName } from '../support/emulators.js';
import {
  countOutcome,
  faultSuite,
  logLines,
  printCounts,
  spawnWorker,
  type WorkerProc,
} from '../support/fault-helpers.js';

/** What the worker logs when it takes SIGTERM. */
const DRAINING = 'signal received; draining (send it again to exit at once)';
const suite = faultSuite('builtin');

async function start(env: Record<string, string>) {
  const d = await freshDeployment(suite.emu, { visibilityTimeoutSeconds: 30 });
  const w = spawnWorker(suite.bundle, {
    AWS_ENDPOINT_URL: suite.emu.endpoint,
    FLOTILLA_QUEUE_URL: d.queueUrl,
    FLOTILLA_BUCKET: d.bucket,
    ...env,
  });
  suite.running.push(w);
  return { d, w, sub: new Submitter({ queue: d.queue, store: d.store }) };
}

const stoppedCounters = (w: WorkerProc) =>
  logLines(w, 'worker stopped')[0] as Record<string, number> | undefined;

describe('SIGTERM', () => {
  it('mid-job: receives nothing more, finishes what it can, releases the rest by the drain deadline, exits 0', async () => {
    const DRAIN_SECONDS = 4;
    const { d, w, sub } = await start({
      FLOTILLA_CONCURRENCY: '3',
      FLOTILLA_WAIT_SECONDS: '1',
      FLOTILLA_DRAIN_SECONDS: String(DRAIN_SECONDS),
    });
    const batch = uniqueName('term');
    await sub.submitMany(
      'sleep',
      [
        { id: 'short-1', payload: { ms: 1500 } },
        { id: 'short-2', payload: { ms: 1500 } },
        { id: 'long', payload: { ms: 60_000 } },
      ],
      { batch },
    );
    await eventually(() => logLines(w, 'job started').length === 3, 15_000, 20);
    // Five more wait on the queue; every slot is busy, so the worker is not polling.
    await sub.submitMany(
      'echo',
      Array.from({ length: 5 }, (_, i) => ({ id: `queued-${i}`, payload: i })),
      { batch },
    );
    const termAt = Date.now();
    w.child.kill('SIGTERM');
    const code = await w.exit;
    const exitMs = Date.now() - termAt;

    const counts = await countOutcome(suite.emu, d, batch, 8);
    const c = stoppedCounters(w);
    printCounts(
      'Fault 7: SIGTERM with 3 jobs running (2 short, 1 too long for the drain) and 5 queued',
      counts,
      {
        'exit code': code,
        'exit after SIGTERM (s)': (exitMs / 1000).toFixed(1),
        'drain deadline (s)': DRAIN_SECONDS,
        'jobs started': logLines(w, 'job started').length,
        'released to the queue': c?.released,
      },
    );
    expect(code).toBe(0);
    expect(counts).toEqual({
      submitted: 8,
      results: 2,
      writtenMoreThanOnce: 0,
      queued: 6,
      inFlight: 0,
      dlq: 0,
    });
    expect(logLines(w, 'job started')).toHaveLength(3);
    expect(c).toMatchObject({ received: 3, done: 2, released: 1 });
    // The deadline holds (plus the release call and process exit).
    expect(exitMs).toBeLessThan((DRAIN_SECONDS + 3) * 1000);
    expect(w.stderr).toBe('');
  });

  it('during long polls: strands no message in flight and exits 0', async () => {
    const { d, w } = await start({ FLOTILLA_CONCURRENCY: '30', FLOTILLA_WAIT_SECONDS: '5' });
    await eventually(() => logLines(w, 'worker started').length === 1, 15_000, 20);
    await new Promise((r) => setTimeout(r, 500)); // three pollers are now inside 5 s long polls
    w.child.kill('SIGTERM');
    // The messages go out once the worker has taken the signal (on a busy machine that takes a
    // moment): the polls under way then return them to a draining worker, which hands them back.
    await eventually(() => logLines(w, DRAINING).length === 1, 15_000, 20);
    const batch = uniqueName('poll');
    const body = (id: string) =>
      JSON.stringify({
        v: ENVELOPE_VERSION,
        id,
        type: 'echo',
        batch,
        submittedAt: new Date().toISOString(),
        payload: id,
      });
    expect(
      await d.queue.sendBatch(Array.from({ length: 6 }, (_, i) => ({ id: String(i), body: body(`m${i}`) }))),
    ).toEqual([]);
    const code = await w.exit;

    const counts = await countOutcome(suite.emu, d, batch, 6);
    const c = stoppedCounters(w);
    printCounts('Fault 7: SIGTERM while 3 pollers wait in 5 s long polls; 6 messages arrive', counts, {
      'exit code': code,
      'received by the draining polls and released': c?.released,
      'jobs started': logLines(w, 'job started').length,
    });
    expect(code).toBe(0);
    expect(counts).toEqual({
      submitted: 6,
      results: 0,
      writtenMoreThanOnce: 0,
      queued: 6,
      inFlight: 0,
      dlq: 0,
    });
    expect(logLines(w, 'job started')).toHaveLength(0);
    expect(c?.received).toBeGreaterThan(0);
    expect(c?.released).toBe(c?.received);
  });
});
