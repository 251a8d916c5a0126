/**
 * The one place SQS and S3 clients are built. Everything that talks to a queue or a bucket
 * gets its client from here, from one endpoint configuration: AWS itself, LocalStack, moto,
 * the embedded fauxqs, MinIO with ElasticMQ — only `endpoint` changes. Every client sends its
 * requests through the transport in core/transport (one undici pool per client, with the
 * configuration's certificate authorities and proxies), and so do the ports built on it.
 */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';
import { endpointAnswers } from './endpoint-answer.js';
import { createDispatcher, type ProxyConfig } from './transport/dispatcher.js';
import { UndiciHttpHandler } from './transport/sdk-handler.js';

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
  /** PEM files of certificate authorities trusted besides Node's own (AWS_CA_BUNDLE). @default - none */
  readonly caFiles?: readonly string[];
  /** HTTP proxies (HTTP_PROXY, HTTPS_PROXY, NO_PROXY). @default - none */
  readonly proxy?: ProxyConfig;
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
    requestHandler: new UndiciHttpHandler(
      createDispatcher({
        ...(cfg.maxSockets ? { maxSockets: cfg.maxSockets } : {}),
        ...(cfg.caFiles ? { caFiles: cfg.caFiles } : {}),
        ...(cfg.proxy ? { proxy: cfg.proxy } : {}),
      }),
    ),
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
  // AWS_CA_BUNDLE replaces nothing: Node's store stays, with NODE_EXTRA_CA_CERTS, which Node
  // itself adds only while no CA list is given.
  const caFiles = env.AWS_CA_BUNDLE
    ? [env.AWS_CA_BUNDLE, ...(env.NODE_EXTRA_CA_CERTS ? [env.NODE_EXTRA_CA_CERTS] : [])]
    : undefined;
  const proxy: ProxyConfig = {
    ...((env.HTTP_PROXY ?? env.http_proxy) ? { http: env.HTTP_PROXY ?? env.http_proxy } : {}),
    ...((env.HTTPS_PROXY ?? env.https_proxy) ? { https: env.HTTPS_PROXY ?? env.https_proxy } : {}),
    ...((env.NO_PROXY ?? env.no_proxy) ? { noProxy: env.NO_PROXY ?? env.no_proxy } : {}),
  };
  const out: { -readonly [K in keyof EndpointConfig]: EndpointConfig[K] } = { ...explicit };
  if (endpoint) out.endpoint = endpoint;
  if (s3Endpoint) out.s3Endpoint = s3Endpoint;
  if (region) out.region = region;
  if (profile) out.profile = profile;
  if (caFiles && !explicit.caFiles) out.caFiles = caFiles;
  if ((proxy.http || proxy.https) && !explicit.proxy) out.proxy = proxy;
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
