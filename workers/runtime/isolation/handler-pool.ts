/**
 * Runs TypeScript handlers in child processes, one job per child at a time: the worker's own
 * entry point started again with CHILD_ENV set (handler-child.ts), so the child builds the same
 * registry the parent did. A child serves up to `maxJobsPerChild` jobs and is then replaced
 * (a leaky handler's memory goes with it); a child given `memoryLimitMb` runs with that V8 heap
 * limit, and a job that reaches it fails with "out of memory (limit N MB)" while the parent
 * lives on. A timeout or an abort asks the child to stop, then kills its whole process group.
 */
import { UnrecoverableError } from '../../../core/errors.js';
import type { Job } from '../../handlers/registry.js';
import type { LogLevel } from '../logger.js';
import { ChildOutputError, cutShortBy, GroupChild } from './child-process.js';
import { readLines } from './lines.js';
import { CHILD_ENV, type FromChild, type ToChild } from './protocol.js';

/** How to start the worker's own entry point again: `execPath execArgv script args`. */
export interface ChildEntry {
  readonly execPath: string;
  readonly execArgv: readonly string[];
  readonly script: string;
  readonly args: readonly string[];
  /** @default - the parent's environment */
  readonly env?: NodeJS.ProcessEnv;
}

/** This very program (`node [flags] script args`), to be started again as a handler child. */
export function thisProgram(): ChildEntry {
  return {
    execPath: process.execPath,
    execArgv: process.execArgv,
    script: process.argv[1] ?? '',
    args: process.argv.slice(2),
  };
}

export interface HandlerPoolOptions {
  readonly entry: ChildEntry;
  /** Between asking a child to stop and killing its group. @default 2000 */
  readonly killGraceMs?: number;
  /** A child left idle this long exits. @default 30000 */
  readonly idleMs?: number;
  /** Largest answer (result) a child may send. @default 8388608 (8 MiB) */
  readonly maxResultBytes?: number;
}

export interface IsolatedRun {
  /** Jobs a child runs before it is replaced. @default 1 */
  readonly maxJobsPerChild?: number;
  /** V8 heap limit for the child (--max-old-space-size). @default - Node's own */
  readonly memoryLimitMb?: number;
  /** Stop the run after this long. @default - no limit (the caller's signal decides) */
  readonly timeoutMs?: number;
  /** Rejection when the timeout fires. @default - an Error naming the timeout */
  readonly timeoutError?: () => Error;
  /** Aborts the run (the worker's drain deadline): the child is stopped, the run rejects with the reason. */
  readonly signal?: AbortSignal;
  readonly onLog?: (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;
  readonly onProgress?: (fraction: number, note?: string) => void;
  /** Each line the handler prints on its process's stdout or stderr while the job runs. */
  readonly onOutput?: (line: string) => void;
}

interface Answer {
  resolve(frame: FromChild & { t: 'done' | 'failed' }): void;
  reject(err: Error): void;
  run: IsolatedRun;
}

class HandlerChild {
  readonly proc: GroupChild;
  jobs = 0;
  broken = false;
  idleTimer?: NodeJS.Timeout;
  answer?: Answer;

  constructor(entry: ChildEntry, memoryLimitMb: number | undefined, maxResultBytes: number) {
    const heap = memoryLimitMb !== undefined ? [`--max-old-space-size=${memoryLimitMb}`] : [];
    this.proc = new GroupChild(
      {
        command: entry.execPath,
        args: [...entry.execArgv, ...heap, entry.script, ...entry.args],
        env: { ...(entry.env ?? process.env), [CHILD_ENV]: '1' },
      },
      {
        channel: true,
        onLogLine: (line) => this.answer?.run.onOutput?.(line),
        ...(memoryLimitMb !== undefined ? { memoryLimitMb } : {}),
      },
    );
    readLines(this.proc.channel!, (line) => this.onFrame(line), {
      maxLineBytes: maxResultBytes,
      onOverflow: (bytes) => {
        this.fail(
          new ChildOutputError(
            `the handler's result is over the ${maxResultBytes}-byte limit (${bytes} bytes and counting); write large outputs to the bucket and return their key`,
          ),
        );
      },
    });
    void this.proc.exit.then((exit) => {
      this.broken = true;
      this.fail(this.proc.died(exit));
    });
  }

  send(msg: ToChild): void {
    this.proc.stdin.write(`${JSON.stringify(msg)}\n`);
  }

  private onFrame(line: string): void {
    let frame: FromChild;
    try {
      frame = JSON.parse(line) as FromChild;
    } catch {
      this.broken = true;
      this.fail(
        new ChildOutputError(`the handler child wrote a line that is not JSON: ${line.slice(0, 80)}`),
      );
      return;
    }
    const a = this.answer;
    if (frame.t === 'log') a?.run.onLog?.(frame.level, frame.msg, frame.fields);
    else if (frame.t === 'progress') a?.run.onProgress?.(frame.fraction, frame.note);
    else if (frame.t === 'done' || frame.t === 'failed') {
      this.answer = undefined;
      a?.resolve(frame);
    }
  }

  fail(err: Error): void {
    const a = this.answer;
    this.answer = undefined;
    a?.reject(err);
  }
}

export class HandlerPool {
  private readonly idle = new Map<string, HandlerChild[]>();
  private readonly busy = new Set<HandlerChild>();
  /** Children on their way out, until their process group is gone. */
  private readonly leaving = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly opts: HandlerPoolOptions) {}

  /** Children alive now (idle and busy). */
  get size(): number {
    let n = this.busy.size;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }

  /** Run one job in a child; resolves with the handler's result, rejects with why it did not finish. */
  async run(job: Job, run: IsolatedRun): Promise<unknown> {
    if (this.closed) throw new Error('the handler pool is closed');
    run.signal?.throwIfAborted();
    const child = this.take(run.memoryLimitMb);
    this.busy.add(child);
    child.jobs++;
    let stopTimer: NodeJS.Timeout | undefined;
    const answered = new Promise<FromChild & { t: 'done' | 'failed' }>((resolve, reject) => {
      child.answer = { resolve, reject, run };
    });
    const cutShort = new Promise<never>((_, reject) => {
      const stop = (reason: Error) => {
        reject(reason);
        if (!child.answer) return;
        // Ask the handler to stop (its ctx.signal), then take the whole group down.
        child.send({ t: 'abort', reason: reason.message });
        child.broken = true;
        stopTimer = setTimeout(() => child.proc.kill('SIGKILL'), this.opts.killGraceMs ?? 2000);
      };
      const undo = cutShortBy(run, 'the job', stop);
      void answered.catch(() => {}).finally(undo);
    });
    cutShort.catch(() => {});
    try {
      child.send({ t: 'job', job });
      const frame = await Promise.race([answered, cutShort]);
      if (frame.t === 'done') return frame.result;
      const err = frame.error.unrecoverable
        ? new UnrecoverableError(frame.error.message)
        : new Error(frame.error.message);
      if (!frame.error.unrecoverable) err.name = frame.error.name;
      throw err;
    } finally {
      this.busy.delete(child);
      if (child.answer) {
        // Cut short: the child may still be running the job; it is done for.
        void answered.catch(() => {}).finally(() => clearTimeout(stopTimer));
      } else {
        clearTimeout(stopTimer);
      }
      this.giveBack(child, run);
    }
  }

  /** Stop every child: idle ones at once, busy ones after the grace. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.busy, ...[...this.idle.values()].flat()];
    this.idle.clear();
    for (const c of all) clearTimeout(c.idleTimer);
    await Promise.all([...all.map((c) => this.retire(c)), ...this.leaving]);
  }

  private take(memoryLimitMb: number | undefined): HandlerChild {
    const key = String(memoryLimitMb ?? '');
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const c = list.pop()!;
      clearTimeout(c.idleTimer);
      if (!c.broken) return c;
    }
    return new HandlerChild(this.opts.entry, memoryLimitMb, this.opts.maxResultBytes ?? 8 * 1024 * 1024);
  }

  private giveBack(child: HandlerChild, run: IsolatedRun): void {
    if (this.closed || child.broken || child.answer || child.jobs >= (run.maxJobsPerChild ?? 1)) {
      void this.retire(child);
      return;
    }
    const key = String(run.memoryLimitMb ?? '');
    const list = this.idle.get(key) ?? [];
    this.idle.set(key, list);
    list.push(child);
    child.idleTimer = setTimeout(() => {
      const i = list.indexOf(child);
      if (i >= 0) list.splice(i, 1);
      void this.retire(child);
    }, this.opts.idleMs ?? 30_000);
    child.idleTimer.unref();
  }

  /** Let a child finish: close its stdin (it exits when idle), kill its group if it does not. */
  private retire(child: HandlerChild): Promise<void> {
    child.broken = true;
    if (child.proc.exited) return Promise.resolve();
    child.proc.stdin.end();
    const timer = setTimeout(() => child.proc.kill('SIGKILL'), this.opts.killGraceMs ?? 2000);
    const gone = child.proc.exit.then(() => {
      clearTimeout(timer);
      this.leaving.delete(gone);
    });
    this.leaving.add(gone);
    return gone;
  }
}
