/**
 * The connection pool every S3 and SQS request goes through, the SDK's and Flotilla's own
 * signed requests alike: an undici dispatcher with keep-alive sockets, the extra certificate
 * authorities the caller trusts, and the caller's HTTP proxies. undici takes care of the wire
 * (HTTP/1.1 framing through llhttp, IPv6 literals, TLS, CONNECT tunnels).
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent, type AgentOptions, type Dispatcher, EnvHttpProxyAgent } from './undici.js';

export interface ProxyConfig {
  /** Proxy for http:// endpoints, as HTTP_PROXY. @default - none */
  readonly http?: string;
  /** Proxy for https:// endpoints, as HTTPS_PROXY. @default - `http` */
  readonly https?: string;
  /** Hosts reached directly, as NO_PROXY (comma-separated, `*` for all). @default - none */
  readonly noProxy?: string;
}

export interface TransportOptions {
  /** Connections per origin. @default 64 */
  readonly maxSockets?: number;
  /**
   * PEM files of certificate authorities to trust besides Node's own store (AWS_CA_BUNDLE, and
   * NODE_EXTRA_CA_CERTS, which Node would otherwise add by itself). @default - Node's store
   */
  readonly caFiles?: readonly string[];
  /** HTTP proxies. @default - none */
  readonly proxy?: ProxyConfig;
  /** @default 5000 */
  readonly connectTimeoutMs?: number;
  /** Longest wait for a response's headers, and between two body chunks; longer than a 20 s long poll. @default 60000 */
  readonly requestTimeoutMs?: number;
}

/** A keep-alive dispatcher for `opts`: through the proxies when there are any, else direct. */
export function createDispatcher(opts: TransportOptions = {}): Dispatcher {
  const ca = opts.caFiles?.length
    ? [...rootCertificates, ...opts.caFiles.map((f) => readFileSync(f, 'utf8'))]
    : undefined;
  const tls = ca ? { ca } : {};
  const agentOptions: AgentOptions = {
    connections: opts.maxSockets ?? 64,
    keepAliveTimeout: 4_000,
    headersTimeout: opts.requestTimeoutMs ?? 60_000,
    bodyTimeout: opts.requestTimeoutMs ?? 60_000,
    connect: { timeout: opts.connectTimeoutMs ?? 5_000, ...tls },
  };
  const proxy = opts.proxy;
  if (!proxy || (!proxy.http && !proxy.https)) return new Agent(agentOptions);
  // Every value given, empty when absent: undici would read the environment for a missing one.
  return new EnvHttpProxyAgent({
    ...agentOptions,
    httpProxy: proxy.http ?? '',
    httpsProxy: proxy.https ?? proxy.http ?? '',
    noProxy: proxy.noProxy ?? '',
    requestTls: tls,
  });
}
