/**
 * One SigV4-signed HTTP request on a keep-alive socket, and the retry rule around it: what the
 * worker's lean SQS and S3 calls (sqs-http.ts, s3-lean.ts) share. The export's reads
 * (core/transport/s3-http.ts, over its own GET client) share the retry rule and the error type.
 */
import http from 'node:http';
import https from 'node:https';
import { type Credentials, signRequest } from './sigv4.js';

/** HTTP statuses and socket errors worth another attempt: throttling, server errors, drops. */
export const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);
const MAX_ATTEMPTS = 3;

/** A failed call, shaped like the SDK's errors so classifyError and describeError read it. */
export class HttpServiceError extends Error {
  readonly $metadata: { httpStatusCode: number };
  constructor(code: string, message: string, status: number) {
    super(message || code);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `fn`, again after a jittered back-off (as the SDK's standard retry) while it fails with a
 * dropped connection, a retryable status or an error `alsoRetry` accepts; three attempts in all.
 */
export async function withRetries<T>(
  fn: () => Promise<T>,
  alsoRetry: (err: unknown) => boolean = () => false,
) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const transient =
        (code !== undefined && RETRYABLE_CODES.has(code)) ||
        (err instanceof HttpServiceError && RETRYABLE_STATUS.has(err.$metadata.httpStatusCode)) ||
        alsoRetry(err);
      if (!transient || attempt >= MAX_ATTEMPTS) throw err;
    }
    await sleep(Math.random() * Math.min(5_000, 100 * 2 ** attempt));
  }
}

export class SignedHttp {
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;

  constructor(
    /** Scheme, host and port requests go to (its path is the caller's business). */
    readonly base: URL,
    /** The region and service requests are signed for. */
    readonly region: string,
    readonly service: string,
    private readonly credentials: () => Promise<Credentials>,
    maxSockets = 64,
  ) {
    this.transport = base.protocol === 'https:' ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets });
  }

  /** Sends one signed request; resolves with the response, whatever its status. */
  async request(
    method: string,
    path: string,
    opts: { query?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<http.IncomingMessage> {
    const headers = signRequest({
      service: this.service,
      method,
      host: this.base.host,
      path,
      query: opts.query ?? '',
      headers: opts.headers ?? {},
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      region: this.region,
      credentials: await this.credentials(),
      now: new Date(),
    });
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
    return new Promise((resolve, reject) => {
      const req = this.transport.request(
        {
          protocol: this.base.protocol,
          hostname: this.base.hostname,
          port: this.base.port,
          path: opts.query ? `${path}?${opts.query}` : path,
          method,
          headers,
          agent: this.agent,
          // Longer than the longest SQS long poll (20 s).
          timeout: 60_000,
        },
        resolve,
      );
      req.on('timeout', () =>
        req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })),
      );
      req.on('error', reject);
      req.end(opts.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
