/**
 * One job in one short-lived child: the input as JSON on stdin, the answer as JSON on stdout,
 * stderr lines as its log lines, the exit code as its verdict. This is the runner behind command
 * handlers (a job type bound to `python3 thumbnail.py`); the whole process group goes at the
 * timeout or when `signal` aborts (the drain deadline), and nothing it prints can grow the parent
 * past `maxOutputBytes`.
 */
import {
  type ChildCommand,
  type ChildExit,
  ChildOutputError,
  cutShortBy,
  GroupChild,
} from './child-process.js';
import { collectBounded } from './lines.js';

export interface RunCommandOptions {
  /** Largest stdout kept; more fails the run with a clear reason. @default 1048576 (1 MiB) */
  readonly maxOutputBytes?: number;
  /** Kill the group after this long. @default - no limit */
  readonly timeoutMs?: number;
  /** Kill the group when this aborts; the run rejects with its reason. */
  readonly signal?: AbortSignal;
  /** Between SIGTERM and SIGKILL. @default 2000 */
  readonly killGraceMs?: number;
  /** @default 20 */
  readonly tailLines?: number;
  readonly onLogLine?: (line: string) => void;
  /** Made when the timeout fires, as the run's rejection. @default - an Error naming the timeout */
  readonly timeoutError?: () => Error;
}

export interface CommandOutcome {
  readonly exit: ChildExit;
  /** The parsed stdout, when the child exited 0. */
  readonly answer?: unknown;
  /** The last log lines, for the recorded error. */
  readonly lastLines: readonly string[];
}

export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

/**
 * Run `cmd` with `input`. Resolves with the exit and (on exit 0) the parsed answer; rejects with
 * ChildOutputError (too much or not JSON), ChildProcessDiedError (killed by a signal), or the
 * timeout's or the signal's reason after killing the group. A non-zero exit code resolves: what
 * it means is the caller's protocol.
 */
export async function runCommand(
  cmd: ChildCommand,
  input: unknown,
  opts: RunCommandOptions = {},
): Promise<CommandOutcome> {
  const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  opts.signal?.throwIfAborted();
  const child = new GroupChild(cmd, {
    stdoutIsAnswer: true,
    tailLines: opts.tailLines ?? 20,
    ...(opts.onLogLine ? { onLogLine: (line) => opts.onLogLine!(line) } : {}),
  });
  const out = collectBounded(child.stdout, max);
  child.stdin.end(`${JSON.stringify(input)}\n`);
  let cutShort: Error | undefined;
  const stop = (reason: Error) => {
    if (cutShort) return;
    cutShort = reason;
    void child.terminate(opts.killGraceMs ?? 2000);
  };
  const undo = cutShortBy(opts, 'the command', stop);
  try {
    const exit = await child.exit;
    const stdout = await out.done;
    if (cutShort) throw cutShort;
    const lastLines = child.lastLines();
    if (exit.signal) throw child.died(exit);
    if (stdout.overflowed) {
      throw new ChildOutputError(
        `the command printed ${stdout.totalBytes} bytes on stdout, over the ${max}-byte limit for a result; write large outputs to the bucket and return their key`,
      );
    }
    if (exit.code !== 0) return { exit, lastLines };
    return { exit, answer: parseAnswer(stdout.text), lastLines };
  } finally {
    undo();
  }
}

/** The child's answer: one JSON value (empty output is `null`). */
export function parseAnswer(text: string): unknown {
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text);
  } catch (err) {
    const start = text.trim().slice(0, 80);
    throw new ChildOutputError(
      `the command's stdout is not JSON (${(err as Error).message.replace(/\s+/g, ' ')}); it began: ${JSON.stringify(start)}`,
    );
  }
}
