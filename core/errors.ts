/** Named errors shared by the worker runtime and the command line. */

export class FlotillaError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FlotillaError';
  }
}

/**
 * An object's bytes stopped coming after its reply had begun (the connection closed, or the
 * server sent fewer bytes than it announced). Retried as a dropped connection is; said as what it
 * is, since the endpoint was reached.
 */
export class TransferBrokenError extends FlotillaError {
  constructor(
    readonly receivedBytes: number,
    readonly expectedBytes: number | undefined,
    cause: unknown,
  ) {
    super(
      `the transfer broke after ${receivedBytes} of ${expectedBytes ?? 'an unknown number of'} bytes (${errorText(cause)})`,
      { cause },
    );
    this.name = 'TransferBrokenError';
  }
}

/** Thrown by a handler to say "retrying will not help": the job goes to the DLQ at once. */
export class UnrecoverableError extends FlotillaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnrecoverableError';
  }
}

/** A message whose body is not a valid job envelope. */
export class InvalidEnvelopeError extends UnrecoverableError {
  constructor(
    message: string,
    readonly messageId?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InvalidEnvelopeError';
  }
}

export class UnknownJobTypeError extends UnrecoverableError {
  constructor(
    readonly jobType: string,
    known: readonly string[],
  ) {
    super(`unknown job type '${jobType}'; this worker handles: ${known.join(', ') || '(none)'}`);
    this.name = 'UnknownJobTypeError';
  }
}

export class PayloadTooLargeError extends FlotillaError {
  constructor(
    readonly sizeBytes: number,
    readonly limitBytes: number,
    readonly jobId?: string,
  ) {
    super(
      `payload of ${formatBytes(sizeBytes)}${jobId ? ` (job ${jobId})` : ''} is over the ${formatBytes(limitBytes)} limit; store the data in S3 and pass its key instead`,
    );
    this.name = 'PayloadTooLargeError';
  }
}

export class JobTimeoutError extends FlotillaError {
  constructor(
    readonly jobType: string,
    readonly timeoutMs: number,
  ) {
    super(`job of type '${jobType}' ran past its ${timeoutMs} ms timeout and was aborted`);
    this.name = 'JobTimeoutError';
  }
}

/** A job's signal is aborted with this when its batch or the job itself was cancelled. */
export class JobCancelledError extends FlotillaError {
  constructor(
    readonly batch: string,
    readonly jobId: string,
    /** When the cancel was asked for. */
    readonly requestedAt: string,
  ) {
    super(`job ${jobId} of batch ${batch} was cancelled (asked at ${requestedAt})`);
    this.name = 'JobCancelledError';
  }
}

/** A configuration or usage problem the user can fix; the CLI prints its message alone. */
export class UsageError extends FlotillaError {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * The endpoint answered something that is not an S3 or SQS reply: an HTML page from a proxy or
 * an emulator's router, an empty 5xx, a redirect. Says what was asked and what came back, with
 * a hint, instead of the SDK's parse error; the original error is the `cause` (see --debug).
 */
export class EndpointAnswerError extends FlotillaError {
  /** As on the SDK's errors, so code that checks the status reads it the same way. */
  readonly $metadata: { readonly httpStatusCode: number };

  constructor(
    readonly answer: {
      /** The HTTP status the endpoint answered. */
      readonly status: number;
      /** Its Content-Type, '' when it sent none (an empty body). */
      readonly contentType: string;
      readonly location?: string;
      /** The SDK operation, e.g. PutObject, GetQueueAttributes. */
      readonly operation: string;
      readonly method: string;
      /** The request's path (bucket and key, URL-encoded) or the queue. */
      readonly target: string;
      /** Whether the request named an object key (a 404 then points at the key, not the endpoint). */
      readonly hasKey: boolean;
    },
    options?: { cause?: unknown },
  ) {
    const a = answer;
    const what = a.contentType ? `${a.status} ${a.contentType}` : `${a.status} with no body`;
    super(
      `the endpoint answered ${what} for ${a.operation} (${a.method} ${a.target}): ${answerHint(a)}`,
      options,
    );
    this.name = 'EndpointAnswerError';
    this.$metadata = { httpStatusCode: answer.status };
  }

  /**
   * From a reply's status and headers (any case, single or repeated) and what was asked: the
   * one place that reads Content-Type and Location for the SDK's clients and the signed paths.
   */
  static of(
    status: number,
    headers: Readonly<Record<string, string | readonly string[] | undefined>> | undefined,
    asked: Pick<EndpointAnswerError['answer'], 'operation' | 'method' | 'target' | 'hasKey'>,
    cause: unknown,
  ): EndpointAnswerError {
    const header = (name: string): string | undefined => {
      for (const [k, v] of Object.entries(headers ?? {}))
        if (k.toLowerCase() === name) return typeof v === 'string' ? v : v?.[0];
      return undefined;
    };
    const location = header('location');
    return new EndpointAnswerError(
      {
        status,
        contentType: (header('content-type') ?? '').split(';')[0]!.trim(),
        ...(location ? { location } : {}),
        ...asked,
      },
      { cause },
    );
  }
}

function answerHint(a: EndpointAnswerError['answer']): string {
  if (a.status >= 300 && a.status < 400) {
    return `it redirects${a.location ? ` to ${a.location}` : ''}; give --endpoint the final address (or the bucket's region)`;
  }
  if (a.status === 404 && a.hasKey) return 'it may not support this key';
  if (a.status === 404)
    return 'it may not be an S3/SQS endpoint or not support this operation; check --endpoint';
  if (a.status === 401 || a.status === 403) return 'a proxy or gateway in front of it refused the request';
  if (a.status >= 500) return 'the service or a proxy in front of it failed; try again, or read its logs';
  return 'it is not an S3/SQS reply; check --endpoint';
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  // undici's own: the socket failed, or the endpoint took too long to connect, answer or finish.
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);
const CONNECTION_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'NetworkingError']);
const CREDENTIAL_NAMES = new Set([
  'CredentialsProviderError',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'AccessDenied',
  'AccessDeniedException',
]);
const MISSING_NAMES = new Set([
  'QueueDoesNotExist',
  'AWS.SimpleQueueService.NonExistentQueue',
  'NonExistentQueue',
  'NoSuchBucket',
]);

export type ErrorKind = 'connection' | 'credentials' | 'missing' | 'other';

/** An object read that found no object at the key (NoSuchKey, or a bare 404 from a HEAD-like answer). */
export function isMissingObject(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

/** Sort an AWS SDK error into what the caller should do about it. */
export function classifyError(err: unknown): ErrorKind {
  const e = err as { name?: string; code?: string; cause?: unknown; message?: string } | undefined;
  if (!e || typeof e !== 'object') return 'other';
  if (e.name && CREDENTIAL_NAMES.has(e.name)) return 'credentials';
  if (e.name && MISSING_NAMES.has(e.name)) return 'missing';
  if ((e.code && CONNECTION_CODES.has(e.code)) || (e.name && CONNECTION_NAMES.has(e.name)))
    return 'connection';
  if (
    typeof e.message === 'string' &&
    /socket hang up|ECONNREFUSED|ECONNRESET|connect ETIMEDOUT/.test(e.message)
  ) {
    return 'connection';
  }
  if (e.cause) return classifyError(e.cause);
  return 'other';
}

/** One line a person can act on, for errors the CLI and the worker log. */
export function describeError(err: unknown, context: { endpoint?: string; resource?: string } = {}): string {
  const where = context.endpoint ?? 'AWS';
  if (err instanceof TransferBrokenError) return err.message;
  switch (classifyError(err)) {
    case 'connection':
      return `cannot reach ${where} (${errorText(err)}); check --endpoint and that the service is running`;
    case 'credentials':
      return `credentials were refused or not found for ${where} (${errorText(err)}); set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or pass --profile`;
    case 'missing':
      return `${context.resource ?? 'the queue or bucket'} does not exist at ${where} (${errorText(err)}); check --queue-url/--bucket or --stack`;
    default:
      return errorText(err);
  }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: string }).code;
    const msg = err.message || err.name;
    return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
  }
  return String(err);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
