/**
 * Command handlers: a job type bound to a program (`thumbnail=python3 thumbnail.py`) instead of
 * a function. Each job runs the program once, through runCommand (run-command.ts): the job as
 * JSON on stdin, the result as JSON on stdout, stderr lines as the job's log lines (a line
 * starting with `flotilla:progress ` reports progress), and the exit code as the verdict: 0 done,
 * 65 do not retry, anything else retry. The protocol is written out in docs/workers.md.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EndpointConfig } from '../../../core/aws.js';
import type { CommandBinding } from '../../../core/command-bindings.js';
import { FlotillaError, UnrecoverableError } from '../../../core/errors.js';
import type { HandlerContext, HandlerDefinition, HandlerRegistry, Job } from '../../handlers/registry.js';
import type { JobExecutor } from '../executor.js';
import type { ChildCommand } from './child-process.js';
import { runCommand } from './run-command.js';

/**
 * The exit code that says "retrying will not help" (the job goes to the DLQ at once with the
 * last stderr line as its reason): sysexits.h's EX_DATAERR, "the input data was incorrect".
 * Not 1 or 2 (what a crashing interpreter or a usage error returns: worth a retry), not 126-127
 * (cannot run) or 128+N (killed by signal N), and not 75 (EX_TEMPFAIL, which means "try again").
 */
export const DO_NOT_RETRY_EXIT_CODE = 65;

/** A stderr line starting with this reports progress: `flotilla:progress 0.25 resized 3 of 12`. */
export const PROGRESS_PREFIX = 'flotilla:progress ';

/** A payload larger than this (as JSON) is handed over as a file: `payloadFile` instead of `payload`. */
export const DEFAULT_INLINE_PAYLOAD_MAX_BYTES = 8 * 1024 * 1024;

/** How a command-bound type's jobs run: the program, and what it is told about its deployment. */
export interface CommandSpec extends ChildCommand {
  /** The data bucket, in the job's JSON. */
  readonly bucket: string;
  /** The endpoint the child's SDK should use, in the job's JSON. @default - AWS itself (null) */
  readonly endpoint?: string;
  /** @default 1048576 (1 MiB) */
  readonly maxOutputBytes?: number;
  /** Between SIGTERM and SIGKILL of the group when the job is cut short. @default 2000 */
  readonly killGraceMs?: number;
  /** @default DEFAULT_INLINE_PAYLOAD_MAX_BYTES */
  readonly inlinePayloadMaxBytes?: number;
}

/** What every command of a worker shares: where the data is, and the environment to start from. */
export interface CommandSetup {
  readonly bucket: string;
  readonly endpoint: EndpointConfig;
  /** The worker's own environment, which the child inherits (explicit settings on top). */
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly maxOutputBytes?: number;
  readonly killGraceMs?: number;
  readonly inlinePayloadMaxBytes?: number;
}

/** The command exited non-zero: a failed attempt, retried with backoff. */
export class CommandFailedError extends FlotillaError {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly lastLines: readonly string[],
  ) {
    super(message);
    this.name = 'CommandFailedError';
  }
}

/**
 * The child's environment: the worker's own, plus the standard AWS_* variables for the endpoint,
 * region, profile and (emulator) credentials the worker itself uses, so that the child's SDK
 * (boto3, the AWS CLI) reaches the same bucket. A role's credentials (ECS task role, instance
 * profile) reach the child as they reach the worker: through the inherited environment and IMDS.
 */
export function commandEnvironment(setup: CommandSetup): NodeJS.ProcessEnv {
  const { endpoint: e } = setup;
  return {
    ...setup.env,
    FLOTILLA_BUCKET: setup.bucket,
    ...(e.endpoint ? { AWS_ENDPOINT_URL: e.endpoint } : {}),
    ...(e.s3Endpoint ? { AWS_ENDPOINT_URL_S3: e.s3Endpoint } : {}),
    ...(e.region ? { AWS_REGION: e.region, AWS_DEFAULT_REGION: e.region } : {}),
    ...(e.profile ? { AWS_PROFILE: e.profile } : {}),
    ...(e.credentials
      ? { AWS_ACCESS_KEY_ID: e.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: e.credentials.secretAccessKey }
      : {}),
  };
}

/** A handler definition for `binding`: its jobs run through `runAsCommand`. */
export function commandHandler(binding: CommandBinding, setup: CommandSetup): HandlerDefinition {
  const spec: CommandSpec = {
    command: '/bin/sh',
    args: ['-c', binding.commandLine],
    env: commandEnvironment(setup),
    ...(setup.cwd ? { cwd: setup.cwd } : {}),
    bucket: setup.bucket,
    ...(setup.endpoint.endpoint ? { endpoint: setup.endpoint.endpoint } : {}),
    ...(setup.maxOutputBytes !== undefined ? { maxOutputBytes: setup.maxOutputBytes } : {}),
    ...(setup.killGraceMs !== undefined ? { killGraceMs: setup.killGraceMs } : {}),
    ...(setup.inlinePayloadMaxBytes !== undefined
      ? { inlinePayloadMaxBytes: setup.inlinePayloadMaxBytes }
      : {}),
  };
  return {
    type: binding.type,
    command: spec,
    // The program is a process of its own already: a lost worker's job needs no further child.
    isolation: 'never',
    ...(binding.timeoutSeconds !== undefined ? { timeoutMs: binding.timeoutSeconds * 1000 } : {}),
    // The job runner runs these through runAsCommand; called directly, the handler does the same.
    handler: (job, ctx) => runJobCommand(spec, job, ctx, ctx.signal),
  };
}

/**
 * The executor (../executor.ts) of command-bound types. A cut-short job (its timeout, the drain
 * deadline) has its process group stopped, and the run settles only once the group is gone: a
 * retry never overlaps the attempt before it, and a draining worker leaves nothing behind.
 */
export const runAsCommand: JobExecutor = (def, job, ctx, entry) => {
  if (entry.abortReason) return Promise.reject(entry.abortReason);
  const stop = new AbortController();
  entry.interrupt = (reason) => stop.abort(reason);
  return runJobCommand(def.command!, job, ctx, stop.signal);
};

async function runJobCommand(
  spec: CommandSpec,
  job: Job,
  ctx: HandlerContext,
  signal: AbortSignal,
): Promise<unknown> {
  const input: Record<string, unknown> = {
    v: 1,
    id: job.id,
    batch: job.batch,
    type: job.type,
    attempt: job.attempt,
    submittedAt: job.submittedAt,
    bucket: spec.bucket,
    endpoint: spec.endpoint ?? null,
  };
  const payload = JSON.stringify(job.payload ?? null);
  let dir: string | undefined;
  if (Buffer.byteLength(payload) > (spec.inlinePayloadMaxBytes ?? DEFAULT_INLINE_PAYLOAD_MAX_BYTES)) {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-payload-'));
    input.payloadFile = join(dir, 'payload.json');
    await writeFile(input.payloadFile as string, payload);
  } else input.payload = job.payload ?? null;
  try {
    const out = await runCommand(spec, input, {
      signal,
      ...(spec.maxOutputBytes !== undefined ? { maxOutputBytes: spec.maxOutputBytes } : {}),
      ...(spec.killGraceMs !== undefined ? { killGraceMs: spec.killGraceMs } : {}),
      onLogLine: (line) => logLine(ctx, line),
    });
    const code = out.exit.code ?? 1;
    if (code === 0) return out.answer;
    const lines = out.lastLines.filter((l) => !l.startsWith(PROGRESS_PREFIX));
    if (code === DO_NOT_RETRY_EXIT_CODE)
      throw new UnrecoverableError(
        `the command exited with code ${code} (do not retry): ${lines.at(-1) ?? '(it printed nothing on stderr)'}`,
      );
    const last = lines.length > 0 ? `; last lines: ${lines.slice(-5).join(' | ')}` : '';
    throw new CommandFailedError(`the command exited with code ${code}${last}`, code, lines);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

/** A stderr line: a progress report, or a log line of the job. */
function logLine(ctx: HandlerContext, line: string): void {
  if (!line.startsWith(PROGRESS_PREFIX)) {
    ctx.log.info('command output', { line });
    return;
  }
  const rest = line.slice(PROGRESS_PREFIX.length).trim();
  const space = rest.indexOf(' ');
  const fraction = rest === '' ? Number.NaN : Number(space < 0 ? rest : rest.slice(0, space));
  const note = space < 0 ? undefined : rest.slice(space + 1).trim() || undefined;
  try {
    ctx.progress(fraction, note);
  } catch (err) {
    ctx.log.warn('command reported bad progress', { line, error: (err as Error).message });
  }
}

/** Register a command handler per binding; a type that already has a handler is refused. */
export function registerCommands(
  registry: HandlerRegistry,
  bindings: readonly CommandBinding[],
  setup: CommandSetup,
): void {
  for (const b of bindings) registry.register(commandHandler(b, setup));
}
