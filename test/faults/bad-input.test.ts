/**
 * Issue 5, cases 5 and 10: bad messages among good ones (malformed JSON, an envelope that breaks
 * the schema, an unknown job type, a payload over the hard limit), and the CLI and the worker
 * pointed at a wrong endpoint, without credentials, or at a queue or bucket that does not exist.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Submitter } from '../../client/submit.js';
import { ENVELOPE_VERSION, type ErrorRecord, errorKey } from '../../core/envelope.js';
import { PayloadTooLargeError } from '../../core/errors.js';
import { eventually, freshDeployment, queueDepth } from '../support/deployment.js';
import { freePort, uniqueName } from '../support/emulators.js';
import {
  countOutcome,
  faultSuite,
  logLines,
  printCounts,
  runCli,
  spawnWorker,
} from '../support/fault-helpers.js';

const suite = faultSuite('builtin');

describe('bad messages in a batch', () => {
  it('dead-letters each bad message with its reason, finishes the good jobs and keeps running', async () => {
    const d = await freshDeployment(suite.emu, { visibilityTimeoutSeconds: 5 });
    const batch = uniqueName('mixed');
    const env = (id: string, type: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify({
        v: ENVELOPE_VERSION,
        id,
        type,
        batch,
        submittedAt: new Date().toISOString(),
        payload: { id },
        ...extra,
      });
    const bad = [
      '{"v":1,"id":"torn","type":"echo", "payl',
      env('no-schema', 'echo', { submittedAt: 'yesterday', extra: true }),
      env('no-handler', 'transcode'),
    ];
    const sub = new Submitter({ queue: d.queue, store: d.store });
    // One job over the hard limit refuses the whole submit: nothing of it reaches the queue.
    const huge = 'x'.repeat(64 * 1024 * 1024);
    const refused = await sub
      .submitMany(
        'echo',
        [
          { id: 'small', payload: 'x' },
          { id: 'huge', payload: huge },
        ],
        { batch },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const afterRefusal = await queueDepth(d.queue);
    expect(await d.queue.sendBatch(bad.map((body, i) => ({ id: String(i), body })))).toEqual([]);
    await sub.submitMany(
      'echo',
      Array.from({ length: 20 }, (_, i) => ({ id: `good-${i}`, payload: i })),
      { batch },
    );
    const w = spawnWorker(suite.bundle, {
      AWS_ENDPOINT_URL: suite.emu.endpoint,
      FLOTILLA_QUEUE_URL: d.queueUrl,
      FLOTILLA_BUCKET: d.bucket,
      FLOTILLA_WAIT_SECONDS: '1',
    });
    suite.running.push(w);
    await eventually(async () => (await queueDepth(d.dlq)).visible === 3, 20_000, 100);
    await eventually(async () => (await countOutcome(suite.emu, d, batch, 20)).results === 20, 20_000, 100);
    await eventually(async () => {
      const q = await queueDepth(d.queue);
      return q.visible === 0 && q.inFlight === 0;
    }, 10_000);
    const counts = await countOutcome(suite.emu, d, batch, 20);
    // Still serving after the poison messages.
    const later = await (await sub.submit('echo', 'after', { id: 'later', batch })).waitForAll({
      timeoutMs: 15_000,
      pollMs: 100,
    });
    const dead = await d.dlq.receive({ maxMessages: 10, waitTimeSeconds: 1, visibilityTimeoutSeconds: 1 });
    const reasons = dead
      .map((m) => `${m.attributes['flotilla-error-name']}: ${m.attributes['flotilla-error']}`)
      .sort();
    const schemaRecord = JSON.parse(
      (await d.store.get(errorKey(batch, 'no-schema'))).toString('utf8'),
    ) as ErrorRecord;
    printCounts('Fault 5: 3 bad messages among 20 good jobs, 1 payload over the 64 MiB limit', counts, {
      'refused at submit': refused instanceof PayloadTooLargeError ? 1 : 0,
      'sent by the refused submit': afterRefusal.visible,
      'worker still running': w.alive,
      'DLQ reasons': `\n    ${reasons.join('\n    ')}`,
    });

    expect(refused).toBeInstanceOf(PayloadTooLargeError);
    expect((refused as Error).message).toMatch(
      /^payload of 64 MiB \(job huge\) is over the 64 MiB limit; store the data in S3/,
    );
    expect(afterRefusal).toEqual({ visible: 0, inFlight: 0 });
    expect(counts).toEqual({
      submitted: 20,
      results: 20,
      writtenMoreThanOnce: 0,
      queued: 0,
      inFlight: 0,
      dlq: 3,
    });
    expect(reasons).toHaveLength(3);
    expect(reasons[0]).toMatch(/^InvalidEnvelopeError: message body is not JSON/);
    expect(reasons[1]).toMatch(/^InvalidEnvelopeError: message is not a valid job envelope.*submittedAt/);
    expect(reasons[2]).toMatch(
      /^UnknownJobTypeError: unknown job type 'transcode'; this worker handles: .*echo/,
    );
    expect(schemaRecord).toMatchObject({ final: true, error: { name: 'InvalidEnvelopeError' } });
    expect(later.complete).toBe(true);
    expect(w.alive).toBe(true);
    expect(logLines(w, 'job sent to the DLQ')).toHaveLength(3);
  });
});

const KEYS = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' };
const NO_KEYS = { AWS_REGION: 'us-east-1' };
const STACK_FRAME = /\n\s+at /;

describe('pointed at the wrong place', () => {
  let d: Awaited<ReturnType<typeof freshDeployment>>;
  let deadEndpoint: string;
  beforeAll(async () => {
    d = await freshDeployment(suite.emu);
    deadEndpoint = `http://127.0.0.1:${await freePort()}`;
  });

  const cases = () => [
    {
      name: 'a wrong endpoint',
      endpoint: deadEndpoint,
      queue: `${deadEndpoint}/000000000000/q`,
      bucket: 'b',
      keys: KEYS,
      line: new RegExp(`cannot reach ${deadEndpoint} \\(.*ECONNREFUSED.*\\); check --endpoint`),
    },
    {
      name: 'no credentials',
      endpoint: suite.emu.endpoint,
      queue: d.queueUrl,
      bucket: d.bucket,
      keys: NO_KEYS,
      line: /credentials were refused or not found for http.*; set AWS_PROFILE or AWS_ACCESS_KEY_ID/,
    },
    {
      name: 'a queue that does not exist',
      endpoint: suite.emu.endpoint,
      queue: `${suite.emu.endpoint}/000000000000/${uniqueName('gone')}`,
      bucket: d.bucket,
      keys: KEYS,
      line: /does not exist at http.*\(The specified queue does not exist\.\)/,
    },
    {
      name: 'a bucket that does not exist',
      endpoint: suite.emu.endpoint,
      queue: d.queueUrl,
      bucket: uniqueName('gone'),
      keys: KEYS,
      line: /does not exist at http.*\(The specified bucket does not exist: gone-[0-9a-f]+\)/,
    },
  ];

  it('the CLI says what is wrong in one line, exits non-zero, and shows a stack trace only with --debug', async () => {
    const rows: string[] = [];
    for (const c of cases()) {
      const args = ['submit', 'echo', '--payload', '{}', '--endpoint', c.endpoint, '--queue-url', c.queue];
      const r = await runCli([...args, '--bucket', c.bucket], { HOME: suite.dir, ...c.keys });
      rows.push(`${c.name}: exit ${r.code}: ${r.stderr.trim()}`);
      expect(r.code, c.name).toBe(1);
      expect(r.stderr.trim().split('\n'), c.name).toHaveLength(1);
      expect(r.stderr, c.name).toMatch(/^flotilla submit: /);
      expect(r.stderr, c.name).toMatch(c.line);
      expect(r.stderr, c.name).not.toMatch(STACK_FRAME);
      expect(await queueDepth(d.queue)).toEqual({ visible: 0, inFlight: 0 });
    }
    const [first] = cases();
    const debug = await runCli(
      [
        'submit',
        'echo',
        '--payload',
        '{}',
        '--endpoint',
        first!.endpoint,
        '--queue-url',
        first!.queue,
        '--bucket',
        'b',
        '--debug',
      ],
      KEYS,
    );
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(STACK_FRAME);
    printCounts('Fault 10 (CLI): one line each', {}, Object.fromEntries(rows.map((r, i) => [i + 1, r])));
  });

  it('the worker logs one clear error line and exits 1, with nothing on stderr', async () => {
    const rows: string[] = [];
    for (const c of cases()) {
      const w = spawnWorker(suite.bundle, {
        AWS_ENDPOINT_URL: c.endpoint,
        FLOTILLA_QUEUE_URL: c.queue,
        FLOTILLA_BUCKET: c.bucket,
        ...c.keys,
        ...(c.keys === NO_KEYS ? { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', HOME: suite.dir } : {}),
        AWS_CONFIG_FILE: join(suite.dir, 'no-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(suite.dir, 'no-credentials'),
        FLOTILLA_WAIT_SECONDS: '1',
      });
      suite.running.push(w);
      const code = await Promise.race([
        w.exit,
        new Promise((r) => setTimeout(() => r('still running'), 20_000)),
      ]);
      const errors = w.lines.filter((l) => l.level === 'error');
      rows.push(`${c.name}: exit ${String(code)}: ${String(errors[0]?.error)}`);
      expect(code, c.name).toBe(1);
      expect(errors, c.name).toHaveLength(1);
      expect(String(errors[0]?.error), c.name).toMatch(c.line);
      expect(w.stderr, c.name).toBe('');
    }
    printCounts('Fault 10 (worker): one line each', {}, Object.fromEntries(rows.map((r, i) => [i + 1, r])));
  });
});
