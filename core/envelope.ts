/**
 * The job envelope: what travels on the queue. One versioned schema, validated when a job is
 * submitted and again when a worker receives it.
 */
import * as z from 'zod';
import { InvalidEnvelopeError } from './errors.js';

export const ENVELOPE_VERSION = 1;

/*
 * Patterns end in (?![\s\S]), "nothing follows", rather than $: they are published as JSON
 * Schema, and in Python's re (which validators there use) $ also matches before a final newline.
 */

/** Job ids and batch ids become S3 key segments: keep them to a safe alphabet. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}(?![\s\S])/;
export const TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}(?![\s\S])/;

/** An ISO 8601 UTC time; the second pattern keeps zod's own (which ends in $) exact in Python too. */
const isoTime = () => z.iso.datetime().regex(/^\S*(?![\s\S])/, 'must not contain white space');

/** Ids must not contain '..' (ID_PATTERN already rules out '.' and '..' alone). */
const NO_DOUBLE_DOT = /^(?!.*\.\.)/;

/**
 * Every rule below is a check JSON Schema can express (patterns, `.meta()` for the envelope's
 * one-of), so the published schemas (docs/schema/, `npm run schema`) say what the worker accepts.
 */
const id = (what: string) =>
  z
    .string()
    .regex(
      ID_PATTERN,
      `${what} must be 1-128 characters of letters, digits, '_', '.', '-', starting with a letter or digit`,
    )
    .regex(NO_DOUBLE_DOT, `${what} must not contain '..'`);

const jobType = z
  .string()
  .regex(TYPE_PATTERN, 'job type must be a letter followed by up to 63 letters, digits or _.:-');

export const PayloadRefSchema = z
  .object({
    key: z.string().min(1).max(1024).describe('key of the payload object in the data bucket'),
    size: z.number().int().nonnegative().describe('size of the payload object in bytes'),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}(?![\s\S])/)
      .describe('SHA-256 of the payload object, lowercase hex'),
  })
  .describe('a claim check: the payload is the JSON object at `key` in the data bucket');

export const EnvelopeSchema = z
  .object({
    v: z.literal(ENVELOPE_VERSION),
    id: id('job id').describe('the job id, unique in its batch: the idempotency key'),
    type: jobType.describe('the job type, which names the handler'),
    batch: id('batch id'),
    submittedAt: isoTime(),
    payload: z.unknown().optional().describe('any JSON value; null when there is none'),
    payloadRef: PayloadRefSchema.optional(),
  })
  .strict()
  .refine((e) => (e.payload === undefined) !== (e.payloadRef === undefined), {
    message: 'an envelope carries exactly one of payload and payloadRef',
  })
  .meta({
    title: `Flotilla job envelope v${ENVELOPE_VERSION}`,
    description: 'The body of a job message on the job queue.',
    // The refine above, for JSON Schema (which has no refinements).
    oneOf: [{ required: ['payload'] }, { required: ['payloadRef'] }],
  });

export type Envelope = z.infer<typeof EnvelopeSchema>;
export type PayloadRef = z.infer<typeof PayloadRefSchema>;

/** Parse and validate a message body; throws InvalidEnvelopeError saying what is wrong. */
export function parseEnvelope(body: string | undefined, messageId?: string): Envelope {
  let raw: unknown;
  try {
    raw = JSON.parse(body ?? '');
  } catch (err) {
    throw new InvalidEnvelopeError(`message body is not JSON: ${(err as Error).message}`, messageId, {
      cause: err,
    });
  }
  const parsed = EnvelopeSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => `${i.path.join('.') || 'envelope'}: ${i.message}`)
      .join('; ');
    throw new InvalidEnvelopeError(
      `message is not a valid job envelope (v${ENVELOPE_VERSION}): ${issues}`,
      messageId,
    );
  }
  return parsed.data;
}

/** Best-effort read of job id and batch from a body that failed validation, to file its error. */
export function peekIds(body: string | undefined): { id?: string; batch?: string; type?: string } {
  try {
    const raw = JSON.parse(body ?? '') as Record<string, unknown>;
    const pick = (k: string, re: RegExp) =>
      typeof raw[k] === 'string' && re.test(raw[k]) ? raw[k] : undefined;
    const out: { id?: string; batch?: string; type?: string } = {};
    const jid = pick('id', ID_PATTERN);
    const batch = pick('batch', ID_PATTERN);
    const type = pick('type', TYPE_PATTERN);
    if (jid && !jid.includes('..')) out.id = jid;
    if (batch && !batch.includes('..')) out.batch = batch;
    if (type) out.type = type;
    return out;
  } catch {
    return {};
  }
}

export function assertId(value: string, what: string): string {
  const r = id(what).safeParse(value);
  if (!r.success) throw new InvalidEnvelopeError(r.error.issues[0]?.message ?? `invalid ${what}`);
  return value;
}

/** The message attribute every Flotilla client adds to a job's message: the job id. */
export const JOB_ID_ATTRIBUTE = 'flotilla-job-id';
/**
 * The message attribute a sender adds when the job may have been sent before under the same id
 * (a batch id re-used, a DLQ redrive, a restore, the timer): the worker then checks for the
 * job's result before running it. Other first deliveries skip that request (docs/workers.md).
 */
export const RESENT_ATTRIBUTE = 'flotilla-resent';

/** Where a job's result and error records live in the data bucket. */
export const resultKey = (batch: string, jobId: string) => `results/${batch}/${jobId}.json`;
export const errorKey = (batch: string, jobId: string) => `errors/${batch}/${jobId}.json`;
export const payloadKey = (batch: string, jobId: string) => `payloads/${batch}/${jobId}.json`;

/** What a worker writes to resultKey when a job succeeds. */
export const ResultRecordSchema = z
  .object({
    v: z.literal(1),
    jobId: id('job id'),
    batch: id('batch id'),
    type: jobType,
    status: z.literal('done'),
    result: z.unknown().describe("the handler's return value (null when it returned nothing)"),
    attempt: z.number().int().positive().describe('which delivery of the message ran it, from 1'),
    startedAt: isoTime(),
    finishedAt: isoTime(),
    durationMs: z.number().nonnegative(),
    worker: z.string().describe('the id of the worker that ran it'),
  })
  .meta({
    title: 'Flotilla result record v1',
    description: 'results/<batch>/<job>.json in the data bucket: written once, when the job succeeds.',
    // `result` may hold null, but the key is always there.
    required: [
      'v',
      'jobId',
      'batch',
      'type',
      'status',
      'result',
      'attempt',
      'startedAt',
      'finishedAt',
      'durationMs',
      'worker',
    ],
  });

/** What a worker writes to errorKey when a job fails; `final` means it went to the DLQ. */
export const ErrorRecordSchema = z
  .object({
    v: z.literal(1),
    jobId: id('job id'),
    batch: id('batch id'),
    type: jobType.optional().describe('absent when the message was not a valid envelope'),
    status: z.literal('failed'),
    final: z.boolean().describe('true once the job went to the dead-letter queue: it will not run again'),
    error: z.object({ name: z.string(), message: z.string() }),
    attempt: z.number().int().nonnegative(),
    receiveCount: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('the SQS receive this was written on (attempts leave out deliveries lost with their worker)'),
    lostDeliveries: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('deliveries of this job lost with their worker (crash, OOM or kill) so far'),
    at: isoTime(),
    worker: z.string(),
    messageId: z.string().optional(),
  })
  .meta({
    title: 'Flotilla error record v1',
    description: 'errors/<batch>/<job>.json in the data bucket: the last failure of a job.',
  });

export type ResultRecord<T = unknown> = Omit<z.infer<typeof ResultRecordSchema>, 'result'> & { result: T };
export type ErrorRecord = z.infer<typeof ErrorRecordSchema>;

// ---------------------------------------------------------------- seeing and steering running work

/**
 * A job's last reported progress (`ctx.progress`), written at most once per throttle interval
 * while it runs. Not a final status: the record at resultKey or errorKey is.
 */
export const progressKey = (batch: string, jobId: string) => `progress/${batch}/${jobId}.json`;
/** A cancel request for one job, or (with CANCEL_ALL) for a whole batch. Written by the submitter. */
export const cancelKey = (batch: string, jobId: string = CANCEL_ALL) => `cancel/${batch}/${jobId}.json`;
/** Not a job id (those start with a letter or digit): the name of a whole-batch cancel request. */
export const CANCEL_ALL = '_batch';
/** Marks a job whose final record (at resultKey) says `cancelled`, so a listing can count them. */
export const cancelledKey = (batch: string, jobId: string) => `cancelled/${batch}/${jobId}.json`;
/** Each worker's last status report (see WorkerStatusRecord). */
export const workerStatusKey = (workerId: string) => `workers/${encodeURIComponent(workerId)}.json`;
/** What a submitter sent as one batch (see BatchManifest). */
export const manifestKey = (batch: string) => `batches/${batch}.json`;

/** What a worker writes to progressKey while a job runs. */
export interface ProgressRecord {
  v: 1;
  jobId: string;
  batch: string;
  /** 0..1 */
  fraction: number;
  note?: string;
  attempt: number;
  at: string;
  worker: string;
}

/** What the submitter writes to cancelKey. */
export interface CancelRequest {
  v: 1;
  batch: string;
  /** Unset: every job of the batch. */
  jobId?: string;
  at: string;
}

/**
 * What a worker writes to resultKey when a job is cancelled (before it ran, or while it ran).
 * Written only if no record is there yet (If-None-Match), like a result: a cancel that races a
 * finishing job leaves exactly one of the two.
 */
export interface CancelledRecord {
  v: 1;
  jobId: string;
  batch: string;
  type: string;
  status: 'cancelled';
  /** True when the handler had started (its signal was aborted). */
  wasRunning: boolean;
  attempt: number;
  requestedAt: string;
  at: string;
  worker: string;
}

/** A job's final record at resultKey: done or cancelled. */
export type FinalRecord<T = unknown> = ResultRecord<T> | CancelledRecord;

/** What each worker writes to workerStatusKey every status interval. */
export interface WorkerStatusRecord {
  v: 1;
  worker: string;
  queue: string;
  at: string;
  startedAt: string;
  concurrency: number;
  types: string[];
  /** The jobs it was running when it wrote this. */
  running: { batch: string; jobId: string; type: string; attempt: number; startedAt: string }[];
  counters: Record<string, number>;
  /** Set on the last report, as the worker stops. */
  stopped?: boolean;
}

/**
 * What the submitter writes to manifestKey: the batch's jobs, so a viewer knows what is still
 * queued and what each job was given (a message on the queue cannot be read without taking it).
 */
export interface BatchManifest {
  v: 1;
  batch: string;
  type: string;
  queue: string;
  submittedAt: string;
  total: number;
  jobIds: string[];
  /** Each job's payload as JSON, cut to MANIFEST_PREVIEW_CHARS characters (same order as jobIds). */
  payloadPreviews?: string[];
}

/** How much of each payload a batch manifest keeps, so a viewer can show it without the queue. */
export const MANIFEST_PREVIEW_CHARS = 1000;

const ProgressInputSchema = z.object({
  fraction: z.number().min(0).max(1),
  note: z.string().max(200).optional(),
});

/** Check a handler's progress report; throws a clear error for a fraction outside 0..1. */
export function parseProgress(fraction: unknown, note?: unknown): { fraction: number; note?: string } {
  const r = ProgressInputSchema.safeParse({ fraction, ...(note === undefined ? {} : { note }) });
  if (!r.success)
    throw new RangeError(
      `ctx.progress(fraction, note?) takes a fraction from 0 to 1 and a note of at most 200 characters; got ${JSON.stringify(fraction)}`,
    );
  return r.data.note === undefined ? { fraction: r.data.fraction } : r.data;
}

/** The batch and job a cancel request names (jobId unset for a whole batch); undefined for other keys. */
export function parseCancelKey(key: string): { batch: string; jobId?: string } | undefined {
  const m = /^cancel\/([^/]+)\/([^/]+)\.json$/.exec(key);
  if (!m) return undefined;
  const [, batch, job] = m as unknown as [string, string, string];
  return job === CANCEL_ALL ? { batch } : { batch, jobId: job };
}

/** The job id of a key under `<prefix><batch>/`, e.g. results/b1/j000001.json → j000001. */
export const jobIdOfKey = (key: string): string => key.slice(key.lastIndexOf('/') + 1, -'.json'.length);
