/**
 * The bundled worker (dist/worker.js) as a process: configured by environment variables,
 * draining on SIGTERM, releasing what cannot finish, and failing clearly on bad configuration.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Submitter } from '../../client/submit.js';
import { resultKey } from '../../core/envelope.js';
import { buildWorker } from '../../scripts/build-worker.js';
import { eventually, freshDeployment, queueDepth } from '../support/deployment.js';
import { type Emulator, startEmbedded } from '../support/emulators.js';
import { logLines, spawnWorker, type WorkerProc } from '../support/fault-helpers.js';

let emu: Emulator;
let dir: string;
let bundle: string;
beforeAll(async () => {
  emu = await startEmbedded();
  dir = mkdtempSync(join(tmpdir(), 'flotilla-worker-'));
  bundle = (await buildWorker(join(dir, 'worker.js'))).outfile;
});
afterAll(async () => {
  await emu?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function startBundle(env: Record<string, string>): WorkerProc {
  return spawnWorker(bundle, env);
}

const logged = (p: WorkerProc, msg: string) => logLines(p, msg).length > 0;

async function deploymentEnv() {
  const d = await freshDeployment(emu);
  return {
    d,
    env: { AWS_ENDPOINT_URL: emu.endpoint, FLOTILLA_QUEUE_URL: d.queueUrl, FLOTILLA_BUCKET: d.bucket },
  };
}

describe('SIGTERM', () => {
  it('lets a running job finish, writes its result and exits 0', async () => {
    const { d, env } = await deploymentEnv();
    const w = startBundle({ ...env, FLOTILLA_WAIT_SECONDS: '1', FLOTILLA_DRAIN_SECONDS: '30' });
    const batch = await new Submitter({ queue: d.queue, store: d.store }).submit(
      'sleep',
      { ms: 1500 },
      { id: 'nap' },
    );
    await eventually(() => logged(w, 'job started'), 15_000);
    w.child.kill('SIGTERM');
    expect(await w.exit).toBe(0);
    expect(await d.store.head(resultKey(batch.batch, 'nap'))).toBeDefined();
    expect(await queueDepth(d.queue)).toEqual({ visible: 0, inFlight: 0 });
    expect(logged(w, 'worker stopped')).toBe(true);
  });

  it('releases a job that cannot finish within the drain deadline, and exits 0', async () => {
    const { d, env } = await deploymentEnv();
    const w = startBundle({ ...env, FLOTILLA_WAIT_SECONDS: '1', FLOTILLA_DRAIN_SECONDS: '1' });
    const batch = await new Submitter({ queue: d.queue, store: d.store }).submit(
      'sleep',
      { ms: 60_000 },
      { id: 'long' },
    );
    await eventually(() => logged(w, 'job started'), 15_000);
    w.child.kill('SIGTERM');
    expect(await w.exit).toBe(0);
    expect(await d.store.head(resultKey(batch.batch, 'long'))).toBeUndefined();
    // Back on the queue at once for another worker, not hidden until the visibility timeout.
    expect(await queueDepth(d.queue)).toEqual({ visible: 1, inFlight: 0 });
  });

  it('strands no message received by a long poll that was under way at SIGTERM', async () => {
    const { d, env } = await deploymentEnv();
    const w = startBundle({ ...env, FLOTILLA_WAIT_SECONDS: '5', FLOTILLA_DRAIN_SECONDS: '30' });
    await eventually(() => logged(w, 'worker started'), 15_000);
    await new Promise((r) => setTimeout(r, 300));
    w.child.kill('SIGTERM');
    // Sent once the worker has taken the signal (under load it may take a moment): the poll
    // under way then returns this message to a draining worker, which must hand it back.
    await eventually(() => logged(w, 'signal received; draining (send it again to exit at once)'), 15_000);
    await d.queue.send({ body: 'arrives while the worker drains' });
    expect(await w.exit).toBe(0);
    expect(await queueDepth(d.queue)).toEqual({ visible: 1, inFlight: 0 });
  });
});

describe('configuration errors', () => {
  it('refuses to start without a queue and bucket, saying which variables to set', async () => {
    const w = startBundle({});
    expect(await w.exit).toBe(2);
    expect(w.lines.map((l) => l.msg)).toContain('FLOTILLA_QUEUE_URL and FLOTILLA_BUCKET must be set');
  });

  it('runs the command handlers FLOTILLA_EXEC binds, and refuses a malformed binding', async () => {
    const { d, env } = await deploymentEnv();
    const w = startBundle({
      ...env,
      FLOTILLA_WAIT_SECONDS: '1',
      FLOTILLA_EXEC: JSON.stringify({ shout: { command: `tr a-z A-Z`, timeoutSeconds: 30 } }),
    });
    const batch = await new Submitter({ queue: d.queue, store: d.store }).submit('shout', 'hello', {
      id: 's',
    });
    const out = await batch.waitForAll({ timeoutMs: 15_000, pollMs: 50 });
    expect(out.results.get('s')?.result).toMatchObject({ ID: 'S', TYPE: 'SHOUT', PAYLOAD: 'HELLO' });
    w.child.kill('SIGTERM');
    expect(await w.exit).toBe(0);

    const bad = startBundle({ ...env, FLOTILLA_EXEC: '{"shout": ""}' });
    expect(await bad.exit).toBe(2);
    expect(bad.lines.map((l) => l.msg)).toContain("FLOTILLA_EXEC: job type 'shout' has an empty command");
  });

  it('refuses an unknown scale-in guard, naming the allowed ones', async () => {
    const w = startBundle({
      FLOTILLA_QUEUE_URL: 'http://q',
      FLOTILLA_BUCKET: 'b',
      FLOTILLA_SCALE_IN_GUARD: 'k8s',
    });
    expect(await w.exit).toBe(2);
    expect(w.lines.map((l) => l.msg)).toContain(
      "FLOTILLA_SCALE_IN_GUARD must be one of none, ecs, asg; got 'k8s'",
    );
  });

  it('exits 1 with one clear line when the endpoint cannot be reached', async () => {
    const w = startBundle({
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      FLOTILLA_QUEUE_URL: 'http://127.0.0.1:9/000000000000/nope',
      FLOTILLA_BUCKET: 'nope',
    });
    expect(await w.exit).toBe(1);
    const err = w.lines.find((l) => l.level === 'error');
    expect(String(err?.error)).toMatch(/^cannot reach http:\/\/127\.0\.0\.1:9 \(.*ECONNREFUSED/);
    expect(w.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 1 naming the queue when it does not exist', async () => {
    const w = startBundle({
      AWS_ENDPOINT_URL: emu.endpoint,
      FLOTILLA_QUEUE_URL: `${emu.endpoint}/000000000000/no-such-queue`,
      FLOTILLA_BUCKET: 'nope',
    });
    expect(await w.exit).toBe(1);
    expect(String(w.lines.find((l) => l.level === 'error')?.error)).toMatch(/does not exist/);
  });
});
