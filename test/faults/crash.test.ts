/**
 * Issue 18: a job that kills its worker takes only itself down, and every dead-lettered job is
 * accounted for. Worker processes run the crash fixture (fixtures/crash-worker.ts) against fauxqs
 * over HTTP, under a supervisor that restarts them as ECS restarts a task; users wait with
 * `flotilla submit --wait` as they would.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Submitter } from '../../client/submit.js';
import { type ErrorRecord, errorKey } from '../../core/envelope.js';
import { eventually, freshDeployment, queueDepth } from '../support/deployment.js';
import {
  countOutcome,
  faultSuite,
  logLines,
  printCounts,
  runCli,
  spawnWorker,
} from '../support/fault-helpers.js';
import { supervise } from './supervisor.js';

const suite = faultSuite({ entry: join(import.meta.dirname, 'fixtures', 'crash-worker.ts') });

// The first run of the CLI bundles it (bin/flotilla.mjs): do that before anything is timed.
beforeAll(async () => {
  await runCli(['--help']);
}, 120_000);

const WAIT_TIMEOUT_SECONDS = 90;

type Deployment = Awaited<ReturnType<typeof freshDeployment>>;

function workerEnv(d: Deployment): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: suite.emu.endpoint,
    FLOTILLA_QUEUE_URL: d.queueUrl,
    FLOTILLA_BUCKET: d.bucket,
    FLOTILLA_WAIT_SECONDS: '1',
    FLOTILLA_DRAIN_SECONDS: '5',
    FLOTILLA_RETRY_BASE_MS: '1000',
    FLOTILLA_DLQ_CHECK_SECONDS: '2',
  };
}

/** `flotilla submit TYPE ... --wait` as a user runs it, timed. */
async function submitAndWait(d: Deployment, type: string, source: string[]) {
  const started = Date.now();
  const r = await runCli(
    [
      'submit',
      type,
      ...source,
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
  return { ...r, seconds: (Date.now() - started) / 1000 };
}

const readJson = async <T>(d: Deployment, key: string): Promise<T> =>
  JSON.parse((await d.store.get(key)).toString('utf8')) as T;

describe('a job that kills its worker', () => {
  it.each([
    ['sigkill', 'SIGKILL'],
    ['abort', 'SIGABRT'],
  ])(
    'with %s: the 20 jobs beside it finish, it alone goes to the DLQ naming %s, and both waits end',
    async (how, signal) => {
      const d = await freshDeployment(suite.emu, { visibilityTimeoutSeconds: 5, maxReceiveCount: 3 });
      const file = join(suite.dir, `${d.name}-echo.ndjson`);
      writeFileSync(file, Array.from({ length: 20 }, (_, i) => JSON.stringify({ n: i })).join('\n'));
      const crashWait = submitAndWait(d, 'crash', ['--payload', JSON.stringify({ how }), '--id', 'culprit']);
      const echoWait = submitAndWait(d, 'echo', ['--file', file]);
      // The worker starts once all 21 are queued, so that one receive brings the crash and its neighbours.
      await eventually(async () => (await queueDepth(d.queue)).visible === 21, 30_000, 100);
      const startedAt = Date.now();
      const fleet = supervise(() => spawnWorker(suite.bundle, workerEnv(d)));
      const [crash, echo] = await Promise.all([crashWait, echoWait]);
      await fleet.stop();
      const lines = fleet.all.flatMap((p) => p.lines);
      const at = (msg: string) =>
        lines
          .filter((l) => l.msg === msg)
          .map((l) => ((Date.parse(String(l.ts)) - startedAt) / 1000).toFixed(1))
          .join(' ');

      const crashBatch = /as batch (\S+)/.exec(crash.stderr)?.[1] ?? '';
      const echoBatch = /as batch (\S+)/.exec(echo.stderr)?.[1] ?? '';
      const echoCounts = await countOutcome(suite.emu, d, echoBatch, 20);
      const crashResults = await countOutcome(suite.emu, d, crashBatch, 1);
      const record = await readJson<ErrorRecord>(d, errorKey(crashBatch, 'culprit')).catch(() => undefined);
      const lost = fleet.all.reduce(
        (n, p) => n + logLines(p, 'job follows a lost worker; running it alone in a child process').length,
        0,
      );
      printCounts(
        `Issue 18: a ${signal} handler with 20 echo jobs, maxReceiveCount 3, supervisor restarts`,
        echoCounts,
        {
          'crash job results': crashResults.results,
          'worker crashes (restarts)': fleet.crashes,
          'suspect runs (isolated)': lost,
          'crash --wait: exit, seconds': `${crash.code}, ${crash.seconds.toFixed(1)}`,
          'echo --wait: exit, seconds': `${echo.code}, ${echo.seconds.toFixed(1)}`,
          'worker started at (s)': at('worker started'),
          'sent to the DLQ at (s)': at('job sent to the DLQ'),
          'crash job final record': record
            ? `${record.final} ${record.error.name}: ${record.error.message}`
            : 'none',
        },
      );

      expect(echoCounts).toMatchObject({
        results: 20,
        writtenMoreThanOnce: 0,
        queued: 0,
        inFlight: 0,
        dlq: 1,
      });
      expect(crashResults.results).toBe(0);
      expect(record).toMatchObject({ final: true });
      expect(record?.error.message).toContain(signal);
      expect(echo.code).toBe(0);
      expect(echo.stdout).toMatch(/20 done, 0 in DLQ, 0 still pending/);
      expect(crash.code).toBe(1);
      expect(crash.stdout).toMatch(/0 done, 1 in DLQ, 0 still pending/);
      expect(crash.stderr).toContain(signal);
      expect(crash.seconds).toBeLessThan(WAIT_TIMEOUT_SECONDS);
      expect(echo.seconds).toBeLessThan(WAIT_TIMEOUT_SECONDS);
    },
    150_000,
  );
});

describe('a handler that allocates without bound under a memory limit', () => {
  it('fails its job with "out of memory" and the worker lives on', async () => {
    const d = await freshDeployment(suite.emu, { visibilityTimeoutSeconds: 5, maxReceiveCount: 2 });
    const worker = spawnWorker(suite.bundle, workerEnv(d));
    suite.running.push(worker);
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const hog = await sub.submit('hog', {}, { id: 'hog' });
    const outcome = await hog.waitForAll({ timeoutMs: 60_000 });
    const after = await sub.submit('echo', { still: 'alive' });
    const echoed = await after.waitForAll({ timeoutMs: 30_000 });
    printCounts('Issue 18: an in-process handler over a 64 MB heap limit', {
      deadLettered: outcome.deadLettered.length,
      reason: outcome.deadLettered[0]?.error.message.slice(0, 100),
      'worker alive after': worker.alive,
    });
    expect(outcome.deadLettered).toHaveLength(1);
    expect(outcome.deadLettered[0]?.error.message).toMatch(/^out of memory \(limit 64 MB\)/);
    expect(outcome.deadLettered[0]?.attempt).toBe(2);
    expect(worker.alive).toBe(true);
    expect([...echoed.results.values()][0]?.result).toEqual({ still: 'alive' });
  }, 120_000);
});
