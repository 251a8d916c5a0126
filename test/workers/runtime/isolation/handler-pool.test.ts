/**
 * TypeScript handlers in child processes (HandlerPool + runHandlerChild) on real children: the
 * fixture entry is bundled as the worker is, and started again as a handler child the way the
 * worker starts itself. Each way a handler can die is reported by name while the parent lives on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JobTimeoutError, UnrecoverableError } from '../../../../core/errors.js';
import type { Job } from '../../../../workers/handlers/registry.js';
import {
  ChildOutputError,
  ChildProcessDiedError,
} from '../../../../workers/runtime/isolation/child-process.js';
import { HandlerPool, type IsolatedRun } from '../../../../workers/runtime/isolation/handler-pool.js';
import { buildFixtureWorker } from '../../../support/fault-helpers.js';
import { failure, pidsFromLines, stillAlive } from './support.js';

let dir: string;
let script: string;
const pools: HandlerPool[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-isolation-'));
  script = join(dir, 'handler-child.js');
  await buildFixtureWorker(script, join(import.meta.dirname, 'fixtures', 'handler-child.ts'));
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pool(): HandlerPool {
  const p = new HandlerPool({
    entry: { execPath: process.execPath, execArgv: [], script, args: [] },
    killGraceMs: 300,
  });
  pools.push(p);
  return p;
}

const job = (type: string, payload: unknown = null, id = 'j1'): Job => ({
  id,
  type,
  batch: 'b1',
  payload,
  submittedAt: new Date().toISOString(),
  attempt: 1,
});

const run = (extra: Partial<IsolatedRun> = {}): IsolatedRun => ({
  timeoutMs: 30_000,
  timeoutError: () => new JobTimeoutError('test', 30_000),
  ...extra,
});

describe('HandlerPool', () => {
  it('runs a handler in a child and returns its result, passing on its log lines and progress', async () => {
    const logs: string[] = [];
    const progress: unknown[] = [];
    const out = (await pool().run(
      job('echo', { n: 7 }),
      run({ onLog: (level, msg) => logs.push(`${level} ${msg}`), onProgress: (d) => progress.push(d) }),
    )) as { payload: unknown; pid: number };
    expect(out.payload).toEqual({ n: 7 });
    expect(out.pid).not.toBe(process.pid);
    expect(logs).toEqual(['info echoing']);
    expect(progress).toEqual([0.5]);
  });

  it('reports a handler that SIGKILLs its process by the signal name, and runs the next job', async () => {
    const p = pool();
    const err = await failure(p.run(job('sigkill'), run()));
    expect(err).toBeInstanceOf(ChildProcessDiedError);
    expect(err.message).toMatch(/killed by SIGKILL/);
    expect(err.message).toMatch(/about to die/);
    expect(await p.run(job('echo', 1), run())).toMatchObject({ payload: 1 });
  });

  it('reports process.abort() as SIGABRT', async () => {
    const err = await failure(pool().run(job('abort'), run()));
    expect(err).toBeInstanceOf(ChildProcessDiedError);
    expect(err.message).toMatch(/killed by SIGABRT/);
  });

  it('reports an unbounded allocation under a memory limit as out of memory, while the parent lives', async () => {
    const err = await failure(pool().run(job('hog'), run({ memoryLimitMb: 48 })));
    expect(err).toBeInstanceOf(ChildProcessDiedError);
    expect(err.name).toBe('OutOfMemoryError');
    expect(err.message).toMatch(/^out of memory \(limit 48 MB\)/);
  });

  it('kills a hanging handler and its grandchild as a group at the timeout', async () => {
    const p = pool();
    const lines: string[] = [];
    const err = await failure(
      p.run(
        job('hang'),
        run({
          // Long enough for the child to start on a busy machine and print its grandchild's pid.
          timeoutMs: 2000,
          timeoutError: () => new JobTimeoutError('hang', 2000),
          onOutput: (line) => lines.push(line),
        }),
      ),
    );
    expect(err).toBeInstanceOf(JobTimeoutError);
    const [grandchild] = pidsFromLines(lines);
    expect(grandchild).toBeGreaterThan(0);
    await p.close();
    expect(p.size).toBe(0);
    expect(await stillAlive([grandchild!])).toEqual([]);
  });

  it('replaces a child after maxJobsPerChild jobs', async () => {
    const p = pool();
    const pids: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = (await p.run(job('echo', i, `j${i}`), run({ maxJobsPerChild: 3 }))) as { pid: number };
      pids.push(r.pid);
    }
    expect(new Set(pids.slice(0, 3)).size).toBe(1);
    expect(new Set(pids.slice(3)).size).toBe(1);
    expect(pids[0]).not.toBe(pids[3]);
    expect(await stillAlive([pids[0]!])).toEqual([]);
  });

  it('refuses a result over the size limit with a clear reason', async () => {
    const p = new HandlerPool({
      entry: { execPath: process.execPath, execArgv: [], script, args: [] },
      maxResultBytes: 1024 * 1024,
    });
    pools.push(p);
    const err = await failure(p.run(job('big'), run()));
    expect(err).toBeInstanceOf(ChildOutputError);
    expect(err.message).toMatch(/result is over the 1048576-byte limit/);
  });

  it("keeps a handler's 'do not retry' as UnrecoverableError", async () => {
    const err = await failure(pool().run(job('broken'), run()));
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect(err.message).toBe('the input is broken');
  });

  it('stops the child when the run is aborted, rejecting with the reason', async () => {
    const ac = new AbortController();
    const p = pool();
    const pending = failure(p.run(job('hang'), run({ signal: ac.signal })));
    setTimeout(() => ac.abort(new Error('worker is shutting down')), 300);
    expect((await pending).message).toBe('worker is shutting down');
  });
});
