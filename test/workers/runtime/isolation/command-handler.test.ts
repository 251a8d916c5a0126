/**
 * Command handlers over the wire (fauxqs in-process, a real Worker, real children): what the
 * program gets on stdin, what its exit code does to the job, its progress and log lines, the
 * heartbeat while it runs, its group killed at the timeout, the limits on what it prints, a large
 * payload as a file, and `flotilla worker --exec` draining a running command on SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Submitter } from '../../../../client/submit.js';
import type { CommandBinding } from '../../../../core/command-bindings.js';
import { errorKey, resultKey } from '../../../../core/envelope.js';
import { HandlerRegistry } from '../../../../workers/handlers/registry.js';
import {
  type CommandSetup,
  registerCommands,
} from '../../../../workers/runtime/isolation/command-handler.js';
import { jsonLogger } from '../../../../workers/runtime/logger.js';
import { Worker } from '../../../../workers/runtime/worker.js';
import { BIN, flotilla } from '../../../support/cli.js';
import { eventually, freshDeployment } from '../../../support/deployment.js';
import { workerSuite } from '../../../support/worker-suite.js';
import { pidsFromLines, stillAlive } from './support.js';

type Deployment = Awaited<ReturnType<typeof freshDeployment>>;
type Line = Record<string, unknown>;

const suite = workerSuite();

function startWorker(
  d: Deployment,
  bindings: readonly CommandBinding[],
  setup: Partial<CommandSetup> = {},
  visibilityTimeoutSeconds = d.definition.queue.visibilityTimeoutSeconds,
) {
  const handlers = new HandlerRegistry();
  registerCommands(handlers, bindings, {
    bucket: d.bucket,
    endpoint: suite.emu.config,
    env: process.env,
    ...setup,
  });
  const lines: Line[] = [];
  const worker = new Worker({
    queue: d.queue,
    dlq: d.dlq,
    store: d.store,
    handlers,
    waitTimeSeconds: 1,
    visibilityTimeoutSeconds,
    maxReceiveCount: d.definition.queue.maxReceiveCount,
    retryBaseDelayMs: 100,
    drainTimeoutMs: 5000,
    log: jsonLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l)) }),
  });
  suite.workers.push(worker);
  void worker.start();
  return { worker, lines };
}

const record = async (d: Deployment, key: string) => JSON.parse((await d.store.get(key)).toString('utf8'));
const finalError = (d: Deployment, batch: string, id: string) =>
  eventually(async () => {
    const r = await d.store.head(errorKey(batch, id));
    return r && (await record(d, errorKey(batch, id))).final ? record(d, errorKey(batch, id)) : undefined;
  }, 15_000);
const linesOf = (lines: Line[], jobId: string) =>
  lines.filter((l) => l.msg === 'command output' && l.jobId === jobId).map((l) => String(l.line));

describe('the protocol', () => {
  it('hands the job over on stdin and records the JSON printed on stdout; stderr gives log lines and progress', async () => {
    const d = await freshDeployment(suite.emu);
    const { lines } = startWorker(d, [
      {
        type: 'echo-job',
        commandLine: `echo 'reading the job' >&2; echo 'flotilla:progress 0.5 half way' >&2; cat`,
      },
    ]);
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const handle = await sub.submit('echo-job', { n: 7 }, { id: 'j1' });
    const out = await handle.waitForAll({ timeoutMs: 15_000, pollMs: 50 });
    expect(out.complete).toBe(true);
    const input = out.results.get('j1')!.result as Record<string, unknown>;
    expect(input).toMatchObject({
      v: 1,
      id: 'j1',
      batch: handle.batch,
      type: 'echo-job',
      attempt: 1,
      payload: { n: 7 },
      bucket: d.bucket,
      endpoint: suite.emu.endpoint,
    });
    expect(linesOf(lines, 'j1')).toContain('reading the job');
    expect(lines.find((l) => l.msg === 'job progress' && l.jobId === 'j1')).toMatchObject({
      progress: 0.5,
      note: 'half way',
    });
  });

  it('maps exit codes: 0 done, 65 straight to the DLQ, others retried until maxReceiveCount, with the last stderr line recorded', async () => {
    const d = await freshDeployment(suite.emu, { maxReceiveCount: 2 });
    const { lines } = startWorker(d, [
      { type: 'ok', commandLine: `echo '{"fine":true}'` },
      { type: 'flaky', commandLine: `echo 'opening /tmp/x' >&2; echo 'disk full on /tmp' >&2; exit 3` },
      { type: 'bad', commandLine: `echo 'row 7 is not a number' >&2; exit 65` },
    ]);
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const ok = await sub.submit('ok', {}, { id: 'ok' });
    const flaky = await sub.submit('flaky', {}, { id: 'flaky' });
    const bad = await sub.submit('bad', {}, { id: 'bad' });
    expect((await ok.waitForAll({ timeoutMs: 15_000, pollMs: 50 })).results.get('ok')?.result).toEqual({
      fine: true,
    });

    const badErr = await finalError(d, bad.batch, 'bad');
    expect(badErr).toMatchObject({ attempt: 1, error: { name: 'UnrecoverableError' } });
    expect(badErr.error.message).toMatch(/exited with code 65 \(do not retry\): row 7 is not a number$/);

    const flakyErr = await finalError(d, flaky.batch, 'flaky');
    expect(flakyErr).toMatchObject({ attempt: 2, error: { name: 'CommandFailedError' } });
    expect(flakyErr.error.message).toMatch(/exited with code 3; last lines: .*disk full on \/tmp$/);
    expect(lines.filter((l) => l.msg === 'job failed; will retry' && l.jobId === 'flaky')).toHaveLength(1);
    expect(lines.filter((l) => l.msg === 'job started' && l.jobId === 'bad')).toHaveLength(1);
  });

  it('keeps the message while a command outlives the visibility timeout', async () => {
    const d = await freshDeployment(suite.emu, { visibilityTimeoutSeconds: 1 });
    const { lines } = startWorker(d, [{ type: 'slow', commandLine: `sleep 3; echo '"slept"'` }], {}, 1);
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const out = await (await sub.submit('slow', {}, { id: 's' })).waitForAll({
      timeoutMs: 15_000,
      pollMs: 100,
    });
    expect(out.results.get('s')).toMatchObject({ result: 'slept', attempt: 1 });
    expect(lines.filter((l) => l.msg === 'job started')).toHaveLength(1);
  });

  it('kills a hanging command with its grandchildren at the timeout, and retries the job', async () => {
    const d = await freshDeployment(suite.emu, { maxReceiveCount: 2 });
    const { lines } = startWorker(
      d,
      [
        {
          type: 'hang',
          commandLine: `sleep 300 & echo "grandchild $!" >&2; echo "child $$" >&2; sleep 300`,
          timeoutSeconds: 1,
        },
      ],
      { killGraceMs: 300 },
    );
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const h = await sub.submit('hang', {}, { id: 'h' });
    const err = await finalError(d, h.batch, 'h');
    expect(err).toMatchObject({ attempt: 2, error: { name: 'JobTimeoutError' } });
    const pids = pidsFromLines(linesOf(lines, 'h'));
    expect(pids).toHaveLength(4); // a child and a grandchild per attempt
    expect(await stillAlive(pids)).toEqual([]);
    expect(lines.filter((l) => l.msg === 'job failed; will retry' && l.jobId === 'h')).toHaveLength(1);
  });

  it('fails the attempt of a command that prints too much or something that is not JSON', async () => {
    const d = await freshDeployment(suite.emu, { maxReceiveCount: 1 });
    startWorker(
      d,
      [
        { type: 'chatty', commandLine: `head -c 5000 /dev/zero | tr '\\0' x` },
        { type: 'prose', commandLine: 'echo all done' },
      ],
      { maxOutputBytes: 1000 },
    );
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const chatty = await sub.submit('chatty', {}, { id: 'c' });
    const prose = await sub.submit('prose', {}, { id: 'p' });
    expect((await finalError(d, chatty.batch, 'c')).error).toMatchObject({
      name: 'ChildOutputError',
      message: expect.stringMatching(/printed 5000 bytes on stdout, over the 1000-byte limit/),
    });
    expect((await finalError(d, prose.batch, 'p')).error).toMatchObject({
      name: 'ChildOutputError',
      message: expect.stringMatching(/stdout is not JSON .*it began: "all done"/),
    });
  });

  it('fetches a claim-checked payload and hands a large one over as a file, removed afterwards', async () => {
    const d = await freshDeployment(suite.emu);
    startWorker(
      d,
      [
        {
          type: 'size',
          commandLine: `python3 -c "import json,sys; j=json.load(sys.stdin); p=json.load(open(j['payloadFile'])); print(json.dumps({'chars': len(p['text']), 'file': j['payloadFile'], 'inline': 'payload' in j}))"`,
        },
      ],
      { inlinePayloadMaxBytes: 100_000 },
    );
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const h = await sub.submit('size', { text: 'x'.repeat(300_000) }, { id: 'big' });
    const out = await h.waitForAll({ timeoutMs: 15_000, pollMs: 50 });
    const result = out.results.get('big')!.result as { chars: number; file: string; inline: boolean };
    expect(result).toMatchObject({ chars: 300_000, inline: false });
    expect(existsSync(result.file)).toBe(false);
    expect(await d.store.head(resultKey(h.batch, 'big'))).toBeTruthy();
  });
});

describe('bindings', () => {
  it('flotilla worker refuses a malformed --exec with one line', async () => {
    const r = await flotilla(['worker', '--exec', 'no equals sign']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([
      `flotilla worker: --exec: 'no equals sign' is not TYPE=COMMAND (e.g. thumbnail='python3 thumbnail.py')`,
    ]);
  });
});

describe('flotilla worker --exec', () => {
  let proc: ChildProcess | undefined;
  afterEach(() => {
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  });

  it('drains on SIGTERM: a running command finishes, one past the drain time has its group killed, and it exits 0', async () => {
    const d = await freshDeployment(suite.emu);
    proc = spawn(
      process.execPath,
      [
        BIN,
        'worker',
        '--wait-seconds',
        '1',
        '--drain-seconds',
        '3',
        '--exec',
        `finish=echo "child $$" >&2; sleep 1; echo '"finished"'`,
        '--exec',
        `stuck=sleep 300 & echo "grandchild $!" >&2; echo "child $$" >&2; wait`,
      ],
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          AWS_ENDPOINT_URL: suite.emu.endpoint,
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
          AWS_REGION: 'us-east-1',
          FLOTILLA_QUEUE_URL: d.queueUrl,
          FLOTILLA_BUCKET: d.bucket,
          NODE_NO_WARNINGS: '1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const lines: Line[] = [];
    let buf = '';
    proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (l.startsWith('{')) lines.push(JSON.parse(l));
      }
    });
    const exited = new Promise<number | null>((resolve) => proc!.on('exit', (code) => resolve(code)));
    const sub = new Submitter({ queue: d.queue, store: d.store });
    const finish = await sub.submit('finish', {}, { id: 'f' });
    const stuck = await sub.submit('stuck', {}, { id: 's' });
    await eventually(() => lines.filter((l) => l.msg === 'command output').length >= 3, 20_000);
    const sentAt = Date.now();
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - sentAt).toBeLessThan(3000 + 2000 + 2000); // drain time + kill grace + exit
    expect((await record(d, resultKey(finish.batch, 'f'))).result).toBe('finished');
    expect(await d.store.head(resultKey(stuck.batch, 's'))).toBeFalsy();
    const pids = pidsFromLines(lines.filter((l) => l.msg === 'command output').map((l) => String(l.line)));
    expect(pids).toHaveLength(3);
    expect(await stillAlive(pids)).toEqual([]);
  });
});
