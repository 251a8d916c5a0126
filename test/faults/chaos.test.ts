/**
 * Issue 18, chaos: three worker processes on a batch while a random one is SIGKILLed every 2 s
 * and replaced, a user waiting with `flotilla submit --wait`. Every job must end with a result
 * or a final error record that says why, whoever moved it; the queue drains, and the wait ends
 * by itself.
 *
 * The issue ran 1,000 jobs of 1.5 s. On the shared 2-core machine this was written on, 1,000
 * jobs of 500 ms did not finish inside the wait's 10 minutes (load average 15-27: every killed
 * worker took seconds to start again, and so did the children its suspects ran in), so this runs
 * CHAOS_JOBS (default 300) jobs of CHAOS_JOB_MS (default 500 ms); set them for the full size.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchHandle } from '../../client/submit.js';
import { eventually, freshDeployment, queueDepth } from '../support/deployment.js';
import {
  faultSuite,
  printCounts,
  putCounts,
  runCli,
  spawnWorker,
  stopWorker,
  type WorkerProc,
} from '../support/fault-helpers.js';

const JOBS = Number(process.env.CHAOS_JOBS ?? 300);
const JOB_MS = Number(process.env.CHAOS_JOB_MS ?? 500);
const WAIT_TIMEOUT_SECONDS = 600;

const suite = faultSuite({ entry: join(import.meta.dirname, 'fixtures', 'crash-worker.ts') });

beforeAll(async () => {
  await runCli(['--help']); // the CLI's first run bundles it: not inside the timed wait
}, 120_000);

describe('chaos: one of three workers SIGKILLed every 2 s', () => {
  it('ends every job with a result or a final record saying why, drains the queue, and the wait ends by itself', async () => {
    const d = await freshDeployment(suite.emu, { visibilityTimeoutSeconds: 5 });
    const env = {
      AWS_ENDPOINT_URL: suite.emu.endpoint,
      FLOTILLA_QUEUE_URL: d.queueUrl,
      FLOTILLA_BUCKET: d.bucket,
      FLOTILLA_CONCURRENCY: '8',
      FLOTILLA_WAIT_SECONDS: '1',
      FLOTILLA_DRAIN_SECONDS: '5',
      FLOTILLA_RETRY_BASE_MS: '1000',
      FLOTILLA_DLQ_CHECK_SECONDS: '2',
    };
    const file = join(suite.dir, `${d.name}-jobs.ndjson`);
    writeFileSync(file, Array.from({ length: JOBS }, () => JSON.stringify({ ms: JOB_MS })).join('\n'));
    const startedAt = Date.now();
    const wait = runCli(
      [
        'submit',
        'effect',
        '--file',
        file,
        '--wait',
        '--timeout',
        String(WAIT_TIMEOUT_SECONDS),
        '--endpoint',
        suite.emu.endpoint,
        '--queue-url',
        d.queueUrl,
        '--bucket',
        d.bucket,
      ],
      { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' },
    );
    let waitDone = false;
    void wait.finally(() => {
      waitDone = true;
    });
    await eventually(async () => (await queueDepth(d.queue)).visible > 0, 60_000, 100);
    const all: WorkerProc[] = [];
    const fleet = Array.from({ length: 3 }, () => spawnWorker(suite.bundle, env));
    all.push(...fleet);
    let kills = 0;
    while (!waitDone) {
      await sleep(2000);
      if (waitDone) break;
      const q = await queueDepth(d.queue);
      if (q.visible + q.inFlight === 0) continue; // nothing left to lose: let the stragglers be recorded
      const i = Math.floor(Math.random() * fleet.length);
      fleet[i]!.child.kill('SIGKILL');
      await fleet[i]!.exit;
      kills++;
      fleet[i] = spawnWorker(suite.bundle, env);
      all.push(fleet[i]!);
      if (kills % 10 === 0) {
        const results = putCounts(suite.emu, d.bucket, 'results/').size;
        process.stdout.write(
          `${((Date.now() - startedAt) / 1000).toFixed(0)} s: ${kills} kills, ${results} results\n`,
        );
      }
    }
    const cli = await wait;
    const waitSeconds = (Date.now() - startedAt) / 1000;
    const batch = /as batch (\S+)/.exec(cli.stderr)?.[1] ?? '';
    const drained = await eventually(
      async () => {
        const q = await queueDepth(d.queue);
        return q.visible === 0 && q.inFlight === 0;
      },
      30_000,
      200,
    ).catch(() => false);
    const status = await new BatchHandle(d.store, batch).status();
    // A replacement started a moment ago may not have its signal handlers yet: let it start first.
    await eventually(() => fleet.every((p) => p.lines.some((l) => l.msg === 'worker started')), 60_000, 100);
    const exits = await Promise.all(fleet.map(stopWorker));
    const dlq = await queueDepth(d.dlq);
    const movedByQueue = [...status.deadLettered.values()].filter(
      (r) => r.error.name === 'MovedByQueueError',
    );
    const lost = all.reduce(
      (n, p) => n + p.lines.filter((l) => l.msg?.toString().startsWith('job follows a lost worker')).length,
      0,
    );
    printCounts(`Issue 18, chaos: 3 workers, ${JOBS} jobs of ${JOB_MS} ms, one SIGKILLed every 2 s`, {
      submitted: JOBS,
      results: status.done.size,
      'final error records': status.deadLettered.size,
      '  of which moved by the queue': movedByQueue.length,
      'neither (unaccounted)': JOBS - status.done.size - status.deadLettered.size,
      'DLQ messages': dlq.visible + dlq.inFlight,
      kills,
      'suspect runs (isolated)': lost,
      '--wait: exit, seconds': `${cli.code}, ${waitSeconds.toFixed(1)}`,
      'queue drained': drained,
      'a final reason': [...status.deadLettered.values()][0]?.error.message ?? '-',
    });

    expect(status.done.size + status.deadLettered.size).toBe(JOBS);
    expect(drained).toBe(true);
    for (const rec of status.deadLettered.values()) expect(rec.error.message.length).toBeGreaterThan(10);
    expect(dlq.visible + dlq.inFlight).toBe(status.deadLettered.size);
    expect(cli.stdout).toMatch(
      new RegExp(`${status.done.size} done, ${status.deadLettered.size} in DLQ, 0 still pending`),
    );
    expect(cli.code).toBe(status.deadLettered.size === 0 ? 0 : 1);
    expect(waitSeconds).toBeLessThan(WAIT_TIMEOUT_SECONDS);
    expect(kills).toBeGreaterThanOrEqual(3);
    expect(exits).toEqual([0, 0, 0]);
  }, 900_000);
});
