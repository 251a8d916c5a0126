/**
 * The job envelope: what travels on the queue. One versioned schema, validated when a job is
 * submitted and again when a worker receives it.
 */
import { z } from 'zod';
import { InvalidEnvelopeError } from './errors.js';

export const ENVELOPE_VERSION = 1;

/** Job ids and batch ids become S3 key segments: keep them to a safe alphabet. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;

const id = (what: string) =>
  z
    .string()
    .regex(
      ID_PATTERN,
      `${what} must be 1-128 characters of letters, digits, '_', '.', '-', starting with a letter or digit`,
    )
    .refine((s) => s !== '.' && s !== '..' && !s.includes('..'), `${what} must not contain '..'`);

export const PayloadRefSchema = z.object({
  /** Key of the payload object in the data bucket. */
  key: z.string().min(1).max(1024),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

export const EnvelopeSchema = z
  .object({
    v: z.literal(ENVELOPE_VERSION),
    id: id('job id'),
    type: z
      .string()
      .regex(TYPE_PATTERN, 'job type must be a letter followed by up to 63 letters, digits or _.:-'),
    batch: id('batch id'),
    submittedAt: z.iso.datetime(),
    payload: z.unknown().optional(),
    payloadRef: PayloadRefSchema.optional(),
  })
  .strict()
  .refine((e) => (e.payload === undefined) !== (e.payloadRef === undefined), {
    message: 'an envelope carries exactly one of payload and payloadRef',
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

/** Where a job's result and error records live in the data bucket. */
export const resultKey = (batch: string, jobId: string) => `results/${batch}/${jobId}.json`;
export const errorKey = (batch: string, jobId: string) => `errors/${batch}/${jobId}.json`;
export const payloadKey = (batch: string, jobId: string) => `payloads/${batch}/${jobId}.json`;

/** What a worker writes to resultKey when a job succeeds. */
export interface ResultRecord<T = unknown> {
  v: 1;
  jobId: string;
  batch: string;
  type: string;
  status: 'done';
  result: T;
  attempt: number;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  worker: string;
}

/** What a worker writes to errorKey when a job fails; `final` means it went to the DLQ. */
export interface ErrorRecord {
  v: 1;
  jobId: string;
  batch: string;
  type?: string;
  status: 'failed';
  final: boolean;
  error: { name: string; message: string };
  attempt: number;
  at: string;
  worker: string;
  messageId?: string;
}
