/**
 * One child process in its own process group: the part every isolated job shares, whether it
 * runs a TypeScript handler (handler-pool.ts) or a command (run-command.ts). It is spawned
 * detached, so that killing it kills its whole group, grandchildren included; its stderr (and
 * stdout, when that is not an answer channel) is kept as a short tail of log lines; and when it
 * dies, `cause()` says how in words a user can act on: the exit code, the signal's name, or
 * "out of memory (limit N MB)" when V8 reported its heap limit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { FlotillaError } from '../../../core/errors.js';
import { LineTail, readLines } from './lines.js';

/** A program to start: for a Node.js handler child, `node [execArgv] script [args]`. */
export interface ChildCommand {
  readonly command: string;
  readonly args: readonly string[];
  /** @default - the parent's environment */
  readonly env?: NodeJS.ProcessEnv;
  /** @default - the parent's working directory */
  readonly cwd?: string;
}

export interface GroupChildOptions {
  /** Open a fourth pipe (fd 3) for the child's answers. @default false */
  readonly channel?: boolean;
  /** Keep stdout for the caller instead of reading it as log lines. @default false */
  readonly stdoutIsAnswer?: boolean;
  /** How many of the child's last log lines to keep. @default 20 */
  readonly tailLines?: number;
  /** Each log line the child prints (stderr, and stdout when it is not the answer). */
  readonly onLogLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** The V8 heap limit the child was given, for the cause of death. @default - none */
  readonly memoryLimitMb?: number;
}

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** What V8 prints (on stderr) when the heap reaches its limit, just before it aborts. */
const HEAP_OOM = /JavaScript heap out of memory|Reached heap limit/;

/** The child's process died (a signal, a non-zero exit, out of memory) before it answered. */
export class ChildProcessDiedError extends FlotillaError {
  constructor(
    message: string,
    readonly exit: ChildExit,
    readonly outOfMemory: boolean,
    readonly lastLines: readonly string[],
  ) {
    super(message);
    this.name = outOfMemory ? 'OutOfMemoryError' : 'ChildProcessDiedError';
  }
}

/** The child answered, but not with something usable: too large, or not JSON. */
export class ChildOutputError extends FlotillaError {
  constructor(message: string) {
    super(message);
    this.name = 'ChildOutputError';
  }
}

/** Log lines worth quoting in a cause: V8's native stack after an OOM is not one of them. */
const NOISE = /^\s*(\d+: 0x[0-9a-f]+ |----- Native stack trace|<--- |\[\d+:0x[0-9a-f]+\]|$)/;

export class GroupChild {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Resolves when the child has exited and its output streams are closed. */
  readonly exit: Promise<ChildExit>;
  private readonly tail: LineTail;
  private outOfMemory = false;
  private exitInfo?: ChildExit;
  private readonly memoryLimitMb: number | undefined;

  constructor(cmd: ChildCommand, opts: GroupChildOptions = {}) {
    this.memoryLimitMb = opts.memoryLimitMb;
    this.tail = new LineTail(opts.tailLines ?? 20);
    this.process = spawn(cmd.command, cmd.args, {
      ...(cmd.env ? { env: cmd.env } : {}),
      ...(cmd.cwd ? { cwd: cmd.cwd } : {}),
      // Its own process group: one kill(-pid) reaches every process it starts.
      detached: true,
      stdio: opts.channel ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'],
    });
    // A child that fails to start (no such program) is a death like any other.
    const spawnError = new Promise<ChildExit>((resolve) =>
      this.process.once('error', (err) => {
        this.tail.push(`cannot start ${cmd.command}: ${err.message}`);
        resolve({ code: 127, signal: null });
      }),
    );
    this.pid = this.process.pid ?? -1;
    const onLine = (stream: 'stdout' | 'stderr') => (line: string) => {
      if (stream === 'stderr' && HEAP_OOM.test(line)) this.outOfMemory = true;
      if (!NOISE.test(line)) this.tail.push(line);
      opts.onLogLine?.(line, stream);
    };
    readLines(this.process.stderr!, onLine('stderr'), { maxLineBytes: 64 * 1024 });
    if (!opts.stdoutIsAnswer) readLines(this.process.stdout!, onLine('stdout'), { maxLineBytes: 64 * 1024 });
    // A child that stops reading its stdin must not crash the parent with EPIPE.
    this.process.stdin!.on('error', () => {});
    this.exit = Promise.race([
      spawnError,
      new Promise<ChildExit>((resolve) =>
        this.process.once('exit', (code, signal) => {
          // Whatever the leader left behind (a daemonised grandchild) goes with it.
          this.kill('SIGKILL');
          resolve({ code, signal });
        }),
      ).then((e) => closed(this.process).then(() => e)),
    ]).then((e) => {
      this.exitInfo = e;
      return e;
    });
  }

  get stdin(): Writable {
    return this.process.stdin!;
  }

  get stdout(): Readable {
    return this.process.stdout!;
  }

  /** The answer channel (fd 3), when asked for. */
  get channel(): Readable | undefined {
    return (this.process.stdio[3] as Readable | null) ?? undefined;
  }

  get exited(): ChildExit | undefined {
    return this.exitInfo;
  }

  lastLines(): string[] {
    return this.tail.get();
  }

  /** Signal the whole group. A group that is already gone is not an error. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.pid <= 0) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: nothing left in the group
    }
  }

  /** SIGTERM the group, SIGKILL it after `graceMs`, and wait for the child to be gone. */
  async terminate(graceMs: number): Promise<ChildExit> {
    if (this.exitInfo) return this.exitInfo;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    try {
      return await this.exit;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Why the child died, as an error to record: its signal or exit code, out of memory, its last lines. */
  died(exit: ChildExit, what = "the job's process"): ChildProcessDiedError {
    const lines = this.lastLines();
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const limit =
      this.memoryLimitMb !== undefined ? `limit ${this.memoryLimitMb} MB` : "the runtime's heap limit";
    let message = this.outOfMemory ? `out of memory (${limit}): ${what} ${how}` : `${what} ${how}`;
    if (!this.outOfMemory && exit.signal === 'SIGKILL')
      message += ' (by the system, e.g. its out-of-memory killer, or by a kill -9)';
    if (lines.length > 0 && !this.outOfMemory) message += `; last lines: ${lines.slice(-5).join(' | ')}`;
    return new ChildProcessDiedError(message, exit, this.outOfMemory, lines);
  }
}

/**
 * How a run in a child is cut short: after `timeoutMs` (with `timeoutError`, or one naming the
 * timeout) or when `signal` aborts (with its reason), `stop` is called once. Returns the undo.
 */
export function cutShortBy(
  run: { readonly timeoutMs?: number; readonly timeoutError?: () => Error; readonly signal?: AbortSignal },
  what: string,
  stop: (reason: Error) => void,
): () => void {
  const { timeoutMs, signal } = run;
  const timer =
    timeoutMs !== undefined
      ? setTimeout(
          () => stop(run.timeoutError?.() ?? new Error(`${what} ran past its ${timeoutMs} ms timeout`)),
          timeoutMs,
        )
      : undefined;
  const onAbort = () =>
    stop(signal?.reason instanceof Error ? signal.reason : new Error(String(signal?.reason)));
  signal?.addEventListener('abort', onAbort, { once: true });
  return () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
}

function closed(child: ChildProcess): Promise<void> {
  // 'close' follows 'exit' once every stdio stream has ended; after the group is killed nothing
  // holds them open, but never wait on it for long.
  return new Promise((resolve) => {
    if (child.stdout?.closed !== false && child.stderr?.closed !== false) return resolve();
    const timer = setTimeout(resolve, 2000);
    child.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
