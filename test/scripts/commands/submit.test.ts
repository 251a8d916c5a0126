/** `flotilla submit`, `results` and `dlq` as a user runs them, against a real emulator. */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinHandlers } from '../../../workers/handlers/index.js';
import { Worker } from '../../../workers/runtime/worker.js';
import { flotilla } from '../../support/cli.js';
import { eventually, freshDeployment, queueDepth } from '../../support/deployment.js';
import { uniqueName } from '../../support/emulators.js';
import { workerSuite } from '../../support/worker-suite.js';

const suite = workerSuite();

async function setup(handlers = builtinHandlers()) {
  const d = await freshDeployment(suite.emu);
  const worker = new Worker({
    queue: d.queue,
    dlq: d.dlq,
    store: d.store,
    handlers,
    waitTimeSeconds: 1,
    drainTimeoutMs: 2000,
  });
  suite.workers.push(worker);
  void worker.start();
  const args = ['--endpoint', suite.emu.endpoint, '--queue-url', d.queueUrl, '--bucket', d.bucket];
  return { d, worker, args };
}

function ndjson(lines: string[]): string {
  const file = join(tmpdir(), `${uniqueName('jobs')}.ndjson`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

describe('flotilla submit', () => {
  it('submits an NDJSON file, waits for every result, and a re-run of the batch submits nothing new', async () => {
    const { d, worker, args } = await setup();
    const file = ndjson(['{"samples": 1000}', '', '{"samples": 2000}', '{"samples": 3000}']);
    const first = await flotilla(['submit', 'pi', '--file', file, '--batch', 'nightly-1', '--wait', ...args]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('submitted 3 job(s) of type pi as batch nightly-1');
    expect(first.stdout).toMatch(/^batch nightly-1: 3 done, 0 in DLQ, 0 still pending/m);
    expect(worker.counters.done).toBe(3);

    const again = await flotilla(['submit', 'pi', '--file', file, '--batch', 'nightly-1', '--wait', ...args]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(
      'submitted 0 job(s) of type pi as batch nightly-1 (3 already done, skipped)',
    );
    const keys: string[] = [];
    for await (const o of d.store.list('results/nightly-1/')) keys.push(o.key);
    expect(keys).toHaveLength(3);
    expect(worker.counters.done).toBe(3);

    const results = await flotilla(['results', 'nightly-1', ...args]);
    expect(results.code).toBe(0);
    expect(results.stdout).toMatch(/^j000001 +done .*"samples":2000/m);
    expect(results.stderr).toContain('batch nightly-1: 3 done, 0 retrying, 0 in DLQ');
  });

  it('refuses a file with a malformed line, naming the line, and submits nothing', async () => {
    const { d, args } = await setup();
    const file = ndjson(['{"samples": 1}', '{"samples": 2', '{"samples": 3}']);
    const r = await flotilla(['submit', 'pi', '--file', file, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/line 2 is not valid JSON .*nothing was submitted/);
    expect(await queueDepth(d.queue)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('explains a missing payload, a bad batch id and a missing queue in one line each', async () => {
    const { args } = await setup();
    const noPayload = await flotilla(['submit', 'pi', ...args]);
    expect(noPayload.code).toBe(2);
    expect(noPayload.stderr).toBe('flotilla submit: give exactly one of --payload JSON and --file FILE\n');
    const badBatch = await flotilla(['submit', 'pi', '--payload', '{}', '--batch', '../x', ...args]);
    expect(badBatch.code).not.toBe(0);
    expect(badBatch.stderr).toMatch(/^flotilla submit: batch id must .*\n$/);
    const noQueue = await flotilla([
      'submit',
      'pi',
      '--payload',
      '{}',
      '--endpoint',
      suite.emu.endpoint,
      '--bucket',
      'b',
    ]);
    expect(noQueue.code).toBe(2);
    expect(noQueue.stderr).toMatch(/no job queue given: pass --queue-url URL or --stack NAME/);
  });
});

describe('flotilla dlq', () => {
  it('lists failed jobs with their reasons without removing them, and redrives them once fixed', async () => {
    const { d, worker, args } = await setup();
    const sub = await flotilla([
      'submit',
      'resize',
      '--payload',
      '{"w": 10}',
      '--id',
      'img-1',
      '--batch',
      'imgs',
      ...args,
    ]);
    expect(sub.code).toBe(0);
    await eventually(async () => (await queueDepth(d.dlq)).visible === 1);
    await worker.stop();

    const list = await flotilla(['dlq', 'list', ...args]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      /^default +imgs\/img-1 \(resize\) +attempts 1 +UnknownJobTypeError: unknown job type 'resize'/m,
    );
    expect(list.stderr).toMatch(/^1 message\(s\) in .* \(queue default\)$/m);
    const listedAgain = await flotilla(['dlq', 'list', '--json', ...args]);
    expect(JSON.parse(listedAgain.stdout)).toMatchObject({
      jobId: 'img-1',
      errorName: 'UnknownJobTypeError',
    });

    // "Fix the handler": a worker that knows the type.
    const fixed = builtinHandlers().register({
      type: 'resize',
      handler: async (job) => ({ resized: job.payload }),
    });
    const w2 = new Worker({
      queue: d.queue,
      dlq: d.dlq,
      store: d.store,
      handlers: fixed,
      waitTimeSeconds: 1,
      drainTimeoutMs: 2000,
    });
    suite.workers.push(w2);
    void w2.start();
    const redrive = await flotilla(['dlq', 'redrive', ...args]);
    expect(redrive.code).toBe(0);
    expect(redrive.stderr).toContain('moved 1 message(s)');
    await eventually(() => w2.counters.done === 1);
    expect(await queueDepth(d.dlq)).toEqual({ visible: 0, inFlight: 0 });
    const results = await flotilla(['results', 'imgs', '--json', ...args]);
    expect(results.code).toBe(0);
    expect(JSON.parse(results.stdout)).toMatchObject({
      jobId: 'img-1',
      status: 'done',
      result: { resized: { w: 10 } },
    });
  });
});

describe('several queues', () => {
  it('submits to the queue --queue names, and lists the DLQs of every queue or of one', async () => {
    const d = await freshDeployment(suite.emu);
    const worker = new Worker({
      queues: ['urgent', 'default', 'bulk'].map((name) => ({ name, ...d.jobQueues[name]! })),
      store: d.store,
      handlers: builtinHandlers(),
      waitTimeSeconds: 1,
      drainTimeoutMs: 2000,
    });
    suite.workers.push(worker);
    void worker.start();
    const args = ['--endpoint', suite.emu.endpoint, '--queue-url', d.queueUrl, '--bucket', d.bucket];

    const ok = await flotilla([
      'submit',
      'echo',
      '--queue',
      'urgent',
      '--payload',
      '{"n":1}',
      '--wait',
      ...args,
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/submitted 1 job\(s\) of type echo as batch \S+ to queue urgent/);
    expect(ok.stdout).toMatch(/1 done, 0 in DLQ/);

    // An unknown type goes to the DLQ of the queue it came from.
    for (const q of ['urgent', 'bulk']) {
      const r = await flotilla([
        'submit',
        'nope',
        '--queue',
        q,
        '--payload',
        '{}',
        '--batch',
        `b-${q}`,
        ...args,
      ]);
      expect(r.code, r.stderr).toBe(0);
    }
    await eventually(async () => {
      const depths = await Promise.all(['urgent', 'bulk'].map((q) => queueDepth(d.jobQueues[q]!.dlq)));
      return depths.every((x) => x.visible === 1);
    });
    await worker.stop();

    const all = await flotilla(['dlq', 'list', ...args]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/^urgent +b-urgent\/\S+ \(nope\)/m);
    expect(all.stdout).toMatch(/^bulk +b-bulk\/\S+ \(nope\)/m);
    expect(all.stdout.trim().split('\n')).toHaveLength(2);
    const bulk = await flotilla(['dlq', 'list', '--queue', 'bulk', '--json', ...args]);
    expect(
      bulk.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([expect.objectContaining({ queue: 'bulk', batch: 'b-bulk', type: 'nope' })]);

    const bad = await flotilla(['submit', 'echo', '--queue', 'nightly', '--payload', '{}', ...args]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim()).toBe(
      "flotilla submit: no job queue named 'nightly' here; this deployment has: urgent, default, bulk",
    );
  });
});
