/**
 * What a handler child and its parent say to each other, one JSON object a line: jobs and aborts
 * down the child's stdin; log lines, progress and the answer up its fd 3. The child's own stdout
 * and stderr stay free for whatever the handler prints (kept as its last log lines).
 */
import type { Job } from '../../handlers/registry.js';
import type { LogLevel } from '../logger.js';

/** Set in a handler child's environment: the entry point serves jobs instead of polling. */
export const CHILD_ENV = 'FLOTILLA_HANDLER_CHILD';

export type ToChild = { t: 'job'; job: Job } | { t: 'abort'; reason: string };

export type FromChild =
  | { t: 'ready'; pid: number }
  | { t: 'log'; level: LogLevel; msg: string; fields?: Record<string, unknown> }
  | { t: 'progress'; fraction: number; note?: string }
  | { t: 'done'; result: unknown }
  | { t: 'failed'; error: { name: string; message: string; unrecoverable: boolean } };
