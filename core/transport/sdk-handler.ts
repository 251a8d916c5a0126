/**
 * The AWS SDK's HTTP handler over the shared undici dispatcher, so that the SDK's calls (sends,
 * listings of queues, multipart uploads, CloudFormation...) and Flotilla's own signed requests
 * share one pool, one TLS trust and one proxy setting.
 */
import type { HttpHandler } from '@smithy/core/protocols';
import type { HttpRequest, HttpResponse } from '@smithy/types';
import type { Dispatcher } from 'undici';

/** Headers undici sets itself, or refuses to take from a caller. */
const OWN_HEADERS = new Set(['expect', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade']);

/** `scheme://host:port` of a request, with an IPv6 literal in brackets. */
export function originOf(protocol: string, hostname: string, port?: number): string {
  const host = hostname.includes(':') && !hostname.startsWith('[') ? `[${hostname}]` : hostname;
  return `${protocol.endsWith(':') ? protocol : `${protocol}:`}//${host}${port ? `:${port}` : ''}`;
}

/** RFC 3986 encoding of a query name or value, as SigV4 signs it. */
export const uriEncode = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** A query string from the SDK's (or a signer's) query object: names sorted, both encoded. */
export function queryString(query: HttpRequest['query'] | undefined): string {
  const parts: string[] = [];
  for (const name of Object.keys(query ?? {}).sort()) {
    const value = query?.[name];
    if (value === null || value === undefined) parts.push(uriEncode(name));
    else
      for (const v of Array.isArray(value) ? value : [value])
        parts.push(`${uriEncode(name)}=${uriEncode(v)}`);
  }
  return parts.join('&');
}

/** Response headers as the SDK reads them: one string per name, repeated values joined. */
export function flatHeaders(headers: Dispatcher.ResponseData['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export class UndiciHttpHandler implements HttpHandler<Record<string, never>> {
  readonly metadata = { handlerProtocol: 'http/1.1' };

  constructor(readonly dispatcher: Dispatcher) {}

  async handle(
    request: HttpRequest,
    options: { abortSignal?: AbortSignal | { aborted: boolean } } = {},
  ): Promise<{ response: HttpResponse }> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(request.headers)) {
      if (!OWN_HEADERS.has(k.toLowerCase())) headers[k] = v;
    }
    const query = queryString(request.query);
    const res = await this.dispatcher.request({
      origin: originOf(request.protocol, request.hostname, request.port),
      path: query ? `${request.path}?${query}` : request.path,
      method: request.method as Dispatcher.HttpMethod,
      headers,
      body: request.body as Dispatcher.DispatchOptions['body'],
      signal: options.abortSignal as AbortSignal | undefined,
    });
    return { response: { statusCode: res.statusCode, headers: flatHeaders(res.headers), body: res.body } };
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {
    void this.dispatcher.destroy().catch(() => {});
  }
}
