/**
 * Flotilla's own requests for the calls made per job or per object (a worker's receive, delete
 * and result calls; an export's GETs and listings): built without the SDK's per-request
 * middleware, but on its parts. The SDK's endpoint rules pick the address and the signing region,
 * its credential chain supplies (and refreshes) the credentials, `@smithy/signature-v4` signs, and
 * the request goes out on the client's own undici dispatcher (sdk-handler.ts).
 */
import { getEndpointFromInstructions } from '@smithy/core/endpoints';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider, ChecksumConstructor, HashConstructor } from '@smithy/types';
import { queryString, UndiciHttpHandler } from './sdk-handler.js';
import { Agent, type Dispatcher } from './undici.js';

/** HTTP statuses and socket errors worth another attempt: throttling, server errors, drops. */
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);
const MAX_ATTEMPTS = 3;

/** A failed call, shaped like the SDK's errors so classifyError and describeError read it. */
export class HttpServiceError extends Error {
  readonly $metadata: { httpStatusCode: number };
  constructor(
    code: string,
    message: string,
    status: number,
    /** Whether the service's own error reply named it (false: only the status did). */
    readonly fromReply = true,
  ) {
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
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const transient =
        (code !== undefined && RETRYABLE_CODES.has(code)) ||
        RETRYABLE_STATUS.has(
          (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0,
        ) ||
        alsoRetry(err);
      if (!transient || attempt >= MAX_ATTEMPTS) throw err;
    }
    await sleep(Math.random() * Math.min(5_000, 100 * 2 ** attempt));
  }
}

export interface SignedRequest {
  readonly method: Dispatcher.HttpMethod;
  /** Sent as given: S3 keys are encoded once, by the caller (encodeKeyPath). */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  readonly signal?: AbortSignal;
}

/** What a signed client needs from an SDK client: its resolved configuration. */
export interface SdkClientLike {
  readonly config: {
    readonly credentials: AwsCredentialIdentityProvider;
    readonly sha256: ChecksumConstructor | HashConstructor;
    readonly requestHandler: unknown;
  };
}

/** SigV4-signed requests to one endpoint, on the dispatcher of the SDK client they came from. */
export class SignedClient {
  private readonly signer: SignatureV4;
  private readonly origin: string;
  private readonly hostname: string;
  private readonly port: number | undefined;

  constructor(
    /** Scheme, host, port and base path requests go to. */
    readonly endpoint: URL,
    /** The region and service requests are signed for. */
    readonly region: string,
    readonly service: 's3' | 'sqs',
    client: SdkClientLike,
    private readonly dispatcher: Dispatcher = dispatcherOf(client),
  ) {
    this.signer = new SignatureV4({
      credentials: client.config.credentials,
      sha256: client.config.sha256,
      region,
      service,
      // S3 signs the path as sent; every other service encodes it once more.
      uriEscapePath: service !== 's3',
      applyChecksum: true,
    });
    this.origin = endpoint.origin;
    this.hostname = endpoint.hostname;
    this.port = endpoint.port ? Number(endpoint.port) : undefined;
  }

  /** The endpoint's path with a trailing slash: what an S3 key is appended to. */
  get basePath(): string {
    const p = this.endpoint.pathname;
    return p.endsWith('/') ? p : `${p}/`;
  }

  /** Sends one signed request; resolves with the response, whatever its status. */
  async request(req: SignedRequest): Promise<Dispatcher.ResponseData> {
    const signed = await this.signer.sign({
      method: req.method,
      protocol: this.endpoint.protocol,
      hostname: this.hostname,
      ...(this.port ? { port: this.port } : {}),
      path: req.path,
      query: { ...req.query },
      headers: { ...req.headers, host: this.endpoint.host },
      ...(req.body !== undefined ? { body: req.body } : {}),
    });
    const query = queryString(req.query);
    return this.dispatcher.request({
      origin: this.origin,
      path: query ? `${req.path}?${query}` : req.path,
      method: req.method,
      headers: signed.headers,
      body: req.body,
      signal: req.signal,
    });
  }
}

/** The dispatcher behind an SDK client Flotilla built (core/aws.ts), else a new one. */
export function dispatcherOf(client: SdkClientLike): Dispatcher {
  const handler = client.config.requestHandler;
  return handler instanceof UndiciHttpHandler ? handler.dispatcher : new Agent();
}

type EndpointArgs = Parameters<typeof getEndpointFromInstructions>;

/** Raised where an endpoint needs more than SigV4 (S3 Express, multi-region access points). */
export class UnsupportedEndpointError extends Error {
  constructor(what: string, scheme: string) {
    super(`${what} needs the '${scheme}' auth scheme, which Flotilla does not speak; use a plain bucket`);
    this.name = 'UnsupportedEndpointError';
  }
}

/**
 * A signed client at the address the SDK client would send `command` with `input` to (its own
 * endpoint rules: addressing style, FIPS, dual-stack...) and for the region it would sign with.
 */
export async function signedClientFor(
  client: SdkClientLike,
  service: 's3' | 'sqs',
  input: EndpointArgs[0],
  command: EndpointArgs[1],
  what: string,
): Promise<SignedClient> {
  const config = client.config as unknown as EndpointArgs[2] & { region: () => Promise<string | undefined> };
  const resolved = await getEndpointFromInstructions(input, command, config);
  const scheme = ((resolved.properties?.authSchemes ?? []) as { name?: string; signingRegion?: string }[])[0];
  if (scheme?.name && scheme.name !== 'sigv4') throw new UnsupportedEndpointError(what, scheme.name);
  const region = scheme?.signingRegion ?? (await config.region());
  if (!region) throw new HttpServiceError('ConfigError', `no region for ${what}; set AWS_REGION`, 0);
  return new SignedClient(new URL(resolved.url.href), region, service, client);
}
