/**
 * `flotilla failover` between two independent fauxqs instances: 200 pending jobs on the primary
 * (waiting, delayed, in flight on a worker that is SIGTERMed while the failover runs, and in
 * the DLQ) all complete on the standby, each once, though the first failover was killed half-way
 * and run again; a Submitter connected to the primary before
 * the switch sends its next jobs to the standby; failback brings the standby's results home.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../../client/connect.js';
import { redrive } from '../../../client/dlq.js';
import { Submitter } from '../../../client/submit.js';
import { ACTIVE_SIDE_KEY, type ActiveSideRecord } from '../../../core/active-side.js';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { SqsQueue } from '../../../core/adapters/sqs-queue.js';
import { BIN, CLI_ENV, flotilla } from '../../support/cli.js';
import { eventually, freshDeployment, queueDepth } from '../../support/deployment.js';
import { type Emulator, startEmbedded } from '../../support/emulators.js';

interface Worker {
  child: ChildProcess;
  done: { batch: string; jobId: string }[];
  duplicates: number;
  exit: Promise<number | null>;
}

function startWorker(emu: Emulator, queueUrl: string, bucket: string): Worker {
  const child = spawn(
    process.execPath,
    [
      BIN,
      ...['worker', '--endpoint', emu.endpoint, '--queue-url', queueUrl, '--bucket', bucket],
      ...['--concurrency', '20', '--drain-seconds', '0', '--wait-seconds', '1'],
    ],
    {
      env: CLI_ENV,
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const w: Worker = {
    child,
    done: [],
    duplicates: 0,
    exit: new Promise((r) => child.once('exit', (code) => r(code))),
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      const l = JSON.parse(line) as { msg?: string; batch?: string; jobId?: string };
      if (l.msg === 'job done') w.done.push({ batch: l.batch!, jobId: l.jobId! });
      if (l.msg?.startsWith('result already written')) w.duplicates++;
    } catch {
      // not a log line
    }
  });
  return w;
}

const countResults = async (store: S3Store) => {
  let n = 0;
  for await (const _ of store.list('results/')) n++;
  return n;
};

describe('failover fauxqs → fauxqs, and back', () => {
  let primary: Emulator;
  let standby: Emulator;
  const workers: Worker[] = [];

  beforeAll(async () => {
    [primary, standby] = await Promise.all([startEmbedded(), startEmbedded()]);
  });
  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all([primary?.stop(), standby?.stop()]);
  });

  it('moves 200 pending jobs, each completed once on the standby, through a killed failover, and fails back', async () => {
    const dep = await freshDeployment(primary, { visibilityTimeoutSeconds: 6, maxReceiveCount: 3 });
    const conn = connect({ endpoint: primary.config, queueUrl: dep.queueUrl, bucket: dep.bucket });
    // 20 jobs in flight on a worker of the primary (long enough that its 20 slots stay full until
    // the worker is stopped, however loaded the machine: shorter ones let it take the echo jobs)…
    await conn.submitter.submitMany(
      'sleep',
      Array.from({ length: 20 }, () => ({ payload: { ms: 10_000 } })),
    );
    const old = startWorker(primary, dep.queueUrl, dep.bucket);
    workers.push(old);
    await eventually(async () => (await queueDepth(dep.queue)).inFlight === 20, 15_000);
    // …150 waiting, 20 delayed by SQS, and 10 in the DLQ.
    await conn.submitter.submitMany(
      'echo',
      Array.from({ length: 150 }, (_, i) => ({ payload: { i } })),
    );
    await conn.submitter.submitMany(
      'echo',
      Array.from({ length: 20 }, (_, i) => ({ payload: { i } })),
      {
        delaySeconds: 4,
      },
    );
    await new Submitter({ queue: dep.dlq, store: dep.store }).submitMany(
      'echo',
      Array.from({ length: 10 }, (_, i) => ({ payload: { dead: i } })),
    );

    const args = ['--endpoint', primary.endpoint, '--queue-url', dep.queueUrl, '--bucket', dep.bucket];
    const dry = await flotilla(['failover', '--to', standby.endpoint, '--dry-run', ...args]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('150 waiting, 20 in flight');

    // The first failover is killed once it has stopped new work at the primary; the primary's
    // worker is stopped; the same command, run again, finishes the failover.
    const first = spawn(process.execPath, [BIN, 'failover', '--to', standby.endpoint, ...args], {
      env: CLI_ENV,
      stdio: 'ignore',
    });
    // It writes the record after a first mirror pass: seconds on a quiet machine, more under load.
    await eventually(async () => dep.store.head(ACTIVE_SIDE_KEY), 30_000);
    first.kill('SIGKILL');
    old.child.kill('SIGTERM');
    const started = Date.now();
    const r = await flotilla(['failover', '--to', standby.endpoint, '--wait-seconds', '30', ...args]);
    const seconds = (Date.now() - started) / 1000;
    expect(r.code, r.stderr).toBe(0);
    expect(await old.exit).toBe(0);
    process.stderr.write(
      `failover of 200 jobs, run again after a kill: ${seconds.toFixed(1)} s\n${r.stderr}`,
    );

    // Both buckets name the standby.
    const standbyStore = new S3Store(standby.s3, dep.bucket);
    for (const store of [dep.store, standbyStore]) {
      const rec = JSON.parse((await store.get(ACTIVE_SIDE_KEY)).toString()) as ActiveSideRecord;
      expect(rec).toMatchObject({
        state: 'active',
        active: { endpoint: standby.endpoint, bucket: dep.bucket },
      });
    }

    // A worker on the standby completes every job; the DLQ's after a redrive there.
    const urls = (JSON.parse((await standbyStore.get(ACTIVE_SIDE_KEY)).toString()) as ActiveSideRecord).active
      .queues;
    const jobsUrl = urls[dep.queueUrl.split('/').pop()!]!;
    const dlqUrl = urls[dep.dlqUrl.split('/').pop()!]!;
    await redrive({
      dlq: new SqsQueue(standby.sqs, dlqUrl),
      queue: new SqsQueue(standby.sqs, jobsUrl),
      store: standbyStore,
      max: 100,
    });
    const fresh = startWorker(standby, jobsUrl, dep.bucket);
    workers.push(fresh);

    // The Submitter connected to the primary before the switch now sends to the standby.
    await sleep(2100);
    const after = await conn.submitter.submitMany('echo', [{ payload: { late: true } }]);
    // So does `flotilla submit` given the primary.
    const cli = await flotilla(['submit', 'echo', '--payload', '{"cli":true}', ...args]);
    expect(cli.code, cli.stderr).toBe(0);
    await eventually(async () => (await countResults(standbyStore)) === 202, 30_000, 200);
    expect(await dep.store.head(`results/${after.batch}/j000000.json`)).toBeUndefined();
    expect(await standbyStore.head(`results/${cli.stdout.trim()}/j000000.json`)).toBeDefined();

    const ran = [...old.done, ...fresh.done].map((d) => `${d.batch}/${d.jobId}`);
    expect(ran.length).toBe(202);
    expect(new Set(ran).size).toBe(202);
    expect(old.duplicates + fresh.duplicates).toBe(0);

    // Failback: the standby's results come home, and the primary is active again.
    fresh.child.kill('SIGTERM');
    await fresh.exit;
    const back = await flotilla([
      'failover',
      '--to',
      primary.endpoint,
      ...[
        '--endpoint',
        standby.endpoint,
        '--queue-url',
        jobsUrl,
        '--bucket',
        dep.bucket,
        '--wait-seconds',
        '10',
      ],
    ]);
    expect(back.code, back.stderr).toBe(0);
    expect(await countResults(dep.store)).toBe(202);
    const home = JSON.parse((await dep.store.get(ACTIVE_SIDE_KEY)).toString()) as ActiveSideRecord;
    expect(home.active.queues).toMatchObject({ [dep.queueUrl.split('/').pop()!]: dep.queueUrl });
    conn.close();
  }, 120_000);
});
