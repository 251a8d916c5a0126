/**
 * The one place SQS and S3 clients are built. Everything that talks to a queue or a bucket
 * gets its client from here, from one endpoint configuration: AWS itself, LocalStack, moto,
 * the embedded fauxqs, MinIO with ElasticMQ — only `endpoint` changes.
 */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';
import { getEndpointFromInstructions } from '@smithy/core/endpoints';
import { endpointAnswers } from './endpoint-answer.js';

export interface EndpointConfig {
  /** A non-AWS endpoint for both services, e.g. http://127.0.0.1:4566. @default - AWS itself */
  readonly endpoint?: string;
  /** A separate S3 endpoint (as AWS_ENDPOINT_URL_S3). @default - `endpoint` */
  readonly s3Endpoint?: string;
  /** @default - the SDK's chain: AWS_REGION, the profile, then us-east-1 for a custom endpoint */
  readonly region?: string;
  /** A named profile from ~/.aws/config. @default - the SDK's chain (AWS_PROFILE, default) */
  readonly profile?: string;
  /** Static credentials, for emulators. @default - the SDK's credential chain */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Socket limit per client. @default 64 */
  readonly maxSockets?: number;
}

/** The credentials emulators accept; used only when talking to an endpoint we started ourselves. */
export const EMULATOR_CREDENTIALS = Object.freeze({ accessKeyId: 'test', secretAccessKey: 'test' });

type CommonConfig = SQSClientConfig & S3ClientConfig;

/** Client configuration shared by every AWS SDK client Flotilla builds (SQS, S3, CloudFormation, ...). */
export function clientConfig(cfg: EndpointConfig, endpoint: string | undefined = cfg.endpoint): CommonConfig {
  const out: CommonConfig = {
    maxAttempts: 3,
    // Resolve each command's middleware once per client, not per request: about a third less
    // CPU per small GET. (Nothing in Flotilla adds middleware to a single command.)
    cacheMiddleware: true,
    requestHandler: {
      connectionTimeout: 5_000,
      requestTimeout: 60_000,
      httpAgent: { keepAlive: true, maxSockets: cfg.maxSockets ?? 64 },
      httpsAgent: { keepAlive: true, maxSockets: cfg.maxSockets ?? 64 },
    },
  };
  if (cfg.region) out.region = cfg.region;
  else if (endpoint && !process.env.AWS_REGION && !process.env.AWS_DEFAULT_REGION && !cfg.profile) {
    out.region = 'us-east-1';
  }
  if (cfg.profile) out.profile = cfg.profile;
  if (cfg.credentials) out.credentials = { ...cfg.credentials }; // the SDK annotates it: never share
  if (endpoint) {
    out.endpoint = endpoint;
    // Non-AWS endpoints: no flexible checksums (emulators reject or ignore them).
    out.requestChecksumCalculation = 'WHEN_REQUIRED';
    out.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  return out;
}

export function sqsClient(cfg: EndpointConfig): SQSClient {
  const client = new SQSClient(clientConfig(cfg, cfg.endpoint));
  client.middlewareStack.use(endpointAnswers());
  return client;
}

export function s3Client(cfg: EndpointConfig): S3Client {
  const endpoint = cfg.s3Endpoint ?? cfg.endpoint;
  const client = new S3Client({ ...clientConfig(cfg, endpoint), forcePathStyle: endpoint !== undefined });
  client.middlewareStack.use(endpointAnswers());
  return client;
}

/**
 * Endpoint configuration from the standard AWS environment variables; explicit values win.
 * Only entry points call this (they alone read process.env).
 */
export function endpointFromEnv(
  env: NodeJS.ProcessEnv,
  explicit: Partial<EndpointConfig> = {},
): EndpointConfig {
  const endpoint = explicit.endpoint ?? env.AWS_ENDPOINT_URL ?? undefined;
  const s3Endpoint = explicit.s3Endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? undefined;
  const region = explicit.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? undefined;
  const profile = explicit.profile ?? env.AWS_PROFILE ?? undefined;
  const out: { -readonly [K in keyof EndpointConfig]: EndpointConfig[K] } = { ...explicit };
  if (endpoint) out.endpoint = endpoint;
  if (s3Endpoint) out.s3Endpoint = s3Endpoint;
  if (region) out.region = region;
  if (profile) out.profile = profile;
  if (endpoint) validateEndpoint(endpoint);
  return out;
}

export function validateEndpoint(endpoint: string): void {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`endpoint '${endpoint}' is not a URL; give one like http://127.0.0.1:4566`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`endpoint '${endpoint}' must start with http:// or https://`);
  }
}

type EndpointArgs = Parameters<typeof getEndpointFromInstructions>;

/**
 * Where the SDK client would send `command` with `input` (its own endpoint rules: addressing
 * style, FIPS, dual-stack...) and the region it would sign for; undefined when that endpoint
 * asks for more than plain SigV4 (S3 Express, multi-region access points...).
 */
export async function sigv4Endpoint(
  client: { config: unknown },
  input: EndpointArgs[0],
  command: EndpointArgs[1],
): Promise<{ url: URL; region: string } | undefined> {
  const config = client.config as EndpointArgs[2] & { region: () => Promise<string | undefined> };
  const resolved = await getEndpointFromInstructions(input, command, config);
  const scheme = ((resolved.properties?.authSchemes ?? []) as { name?: string; signingRegion?: string }[])[0];
  if (scheme && scheme.name !== 'sigv4') return undefined;
  const region = scheme?.signingRegion ?? (await config.region());
  return region ? { url: new URL(resolved.url.href), region } : undefined;
}
