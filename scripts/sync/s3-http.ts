/**
 * ListObjectsV2 and GetObject for bulk transfers, without the SDK's per-request middleware. The SDK still decides
 * everything that needs its rules (the endpoint for the bucket, its addressing style, the signing
 * region, the credentials and their refresh); each GET is then one SigV4-signed request on a
 * keep-alive socket. A small GET through GetObjectCommand costs about 0.8 ms of CPU here, most of
 * it in middleware (endpoint rules, schema serde, signing, checksum hooks); this costs about 0.2 ms,
 * which is what lets an export use the network instead of waiting on its own CPU. Listing pages are
 * read with a scanner for the four fields a sync needs instead of a general XML parser (a third of
 * a second per 2,000 keys through the SDK here).
 *
 * No AWS SDK import here, so a transfer thread loads it in milliseconds; object-reader.ts builds
 * one from an S3Client, and falls back to the SDK for any auth scheme but plain SigV4 (S3 Express
 * directory buckets, multi-region access points).
 */
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { ObjectHead, ObjectHeaders, ObjectInfo } from '../../workers/core/ports.js';

export interface ReadOptions {
  readonly range?: { start: number; end: number };
  readonly ifMatch?: string;
}

/** What export and mirror need from a bucket: its listing, and one object's bytes and headers. */
export interface ObjectReader {
  /** Every object under a prefix, in key order, page by page. */
  list(prefix?: string): AsyncIterable<ObjectInfo>;
  read(key: string, opts?: ReadOptions): Promise<{ body: Readable; head: ObjectHead & ObjectHeaders }>;
  close(): void;
}

/** The error a failed GET throws: shaped like the SDK's, so classifyError and describeError read it. */
export class S3HttpError extends Error {
  readonly $metadata: { httpStatusCode: number };
  constructor(code: string, message: string, status: number) {
    super(message || code);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
  }
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);
const MAX_ATTEMPTS = 3;

/** URI-encode every byte but RFC 3986's unreserved characters (what SigV4 signs). */
export const uriEncode = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** S3's encoding of a key in a path: every segment URI-encoded, slashes kept. */
export const encodeKeyPath = (key: string): string => key.split('/').map(uriEncode).join('/');

/** A canonical query string: names sorted, names and values URI-encoded. */
export const canonicalQuery = (params: Readonly<Record<string, string>>): string =>
  Object.keys(params)
    .sort()
    .map((k) => `${uriEncode(k)}=${uriEncode(params[k] ?? '')}`)
    .join('&');

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface SigningInput {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  /** Canonical already (see canonicalQuery); sent as given. */
  readonly query?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly region: string;
  readonly credentials: Credentials;
  readonly now: Date;
}

const keyCache = new Map<string, Buffer>();

/** YYYYMMDD'T'HHMMSS'Z', computed once per second (every request of that second shares it). */
let dateCache = { second: -1, text: '' };
function amzDateOf(now: Date): string {
  const second = Math.floor(now.getTime() / 1000);
  if (second !== dateCache.second) {
    dateCache = {
      second,
      text: now
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, ''),
    };
  }
  return dateCache.text;
}

/** SigV4 (AWS4-HMAC-SHA256) headers for a body-less S3 request; `path` is sent as given. */
export function signRequest(input: SigningInput): Record<string, string> {
  const amzDate = amzDateOf(input.now);
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) headers[k.toLowerCase()] = v;
  headers.host = input.host;
  headers['x-amz-content-sha256'] = EMPTY_SHA256;
  headers['x-amz-date'] = amzDate;
  if (input.credentials.sessionToken) headers['x-amz-security-token'] = input.credentials.sessionToken;
  const names = Object.keys(headers).sort();
  let canonicalHeaders = '';
  for (const n of names) canonicalHeaders += `${n}:${String(headers[n]).trim().replace(/\s+/g, ' ')}\n`;
  const signedHeaders = names.join(';');
  const canonical = [
    input.method,
    input.path,
    input.query ?? '',
    canonicalHeaders,
    signedHeaders,
    EMPTY_SHA256,
  ].join('\n');
  const scope = `${day}/${input.region}/s3/aws4_request`;
  const toSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonical).digest('hex'),
  ].join('\n');
  const cacheKey = `${input.credentials.secretAccessKey}\n${scope}`;
  let signingKey = keyCache.get(cacheKey);
  if (!signingKey) {
    const hmac = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();
    signingKey = hmac(
      hmac(hmac(hmac(`AWS4${input.credentials.secretAccessKey}`, day), input.region), 's3'),
      'aws4_request',
    );
    if (keyCache.size > 16) keyCache.clear();
    keyCache.set(cacheKey, signingKey);
  }
  const signature = createHmac('sha256', signingKey).update(toSign).digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}

function headOf(key: string, h: http.IncomingHttpHeaders): ObjectHead & ObjectHeaders {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(h)) {
    if (name.startsWith('x-amz-meta-') && typeof value === 'string') metadata[name.slice(11)] = value;
  }
  const str = (v: string | string[] | undefined) => (typeof v === 'string' ? v : undefined);
  const modified = str(h['last-modified']);
  return {
    key,
    size: Number(h['content-length'] ?? 0),
    etag: str(h.etag) ?? '',
    lastModifiedMs: modified ? Date.parse(modified) : 0,
    contentType: str(h['content-type']),
    metadata,
    cacheControl: str(h['cache-control']),
    contentDisposition: str(h['content-disposition']),
    contentEncoding: str(h['content-encoding']),
    contentLanguage: str(h['content-language']),
  };
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML character data to text: the five named entities and numeric references. */
export function xmlText(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, e: string) =>
    e[0] === '#'
      ? String.fromCodePoint(e[1] === 'x' ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1)))
      : (ENTITIES[e] ?? ''),
  );
}

const tagPattern = (tag: string) => new RegExp(`<${tag}>([^<]*)</${tag}>`);
const TAG = {
  key: tagPattern('Key'),
  size: tagPattern('Size'),
  etag: tagPattern('ETag'),
  modified: tagPattern('LastModified'),
  truncated: tagPattern('IsTruncated'),
  token: tagPattern('NextContinuationToken'),
  encoding: tagPattern('EncodingType'),
};

/** One ListObjectsV2 page: the objects and the token for the next page, if any. */
export function parseListPage(xml: string): { objects: ObjectInfo[]; next?: string } {
  const first = xml.indexOf('<Contents>');
  const last = xml.lastIndexOf('</Contents>');
  // The page's own fields sit before the first object or after the last one.
  const head = first === -1 ? xml : xml.slice(0, first);
  const tail = last === -1 ? '' : xml.slice(last);
  // Keys come back URL-encoded only where the server honoured encoding-type=url (and says so).
  const urlEncoded = (head.match(TAG.encoding) ?? tail.match(TAG.encoding))?.[1] === 'url';
  const objects: ObjectInfo[] = [];
  for (let at = first; at !== -1; ) {
    const end = xml.indexOf('</Contents>', at);
    if (end === -1) throw new Error('truncated ListObjectsV2 response');
    const block = xml.slice(at, end);
    const rawKey = xmlText(block.match(TAG.key)?.[1] ?? '');
    const modified = block.match(TAG.modified)?.[1];
    objects.push({
      key: urlEncoded ? decodeURIComponent(rawKey.replace(/\+/g, ' ')) : rawKey,
      size: Number(block.match(TAG.size)?.[1] ?? 0),
      etag: xmlText(block.match(TAG.etag)?.[1] ?? ''),
      lastModifiedMs: modified ? Date.parse(modified) : 0,
    });
    at = xml.indexOf('<Contents>', end);
  }
  const truncated = (tail.match(TAG.truncated) ?? head.match(TAG.truncated))?.[1] === 'true';
  const token = tail.match(TAG.token)?.[1] ?? head.match(TAG.token)?.[1];
  return { objects, ...(truncated && token ? { next: xmlText(token) } : {}) };
}

async function errorFrom(res: http.IncomingMessage): Promise<S3HttpError> {
  let text = '';
  for await (const c of res) {
    if (text.length < 8192) text += (c as Buffer).toString();
  }
  const tag = (t: string) => text.match(new RegExp(`<${t}>([^<]*)</${t}>`))?.[1];
  const status = res.statusCode ?? 0;
  const code =
    tag('Code') ??
    (status === 404
      ? 'NotFound'
      : status === 403
        ? 'AccessDenied'
        : status === 412
          ? 'PreconditionFailed'
          : `Http${status}`);
  return new S3HttpError(code, tag('Message') ?? `${code} (HTTP ${status})`, status);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Signed GETs against one bucket, at the endpoint the SDK would use for it. */
export class HttpObjectReader implements ObjectReader {
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;

  constructor(
    /** The bucket's address: `https://bucket.s3.region.amazonaws.com/` or `http://host:port/bucket`. */
    readonly base: URL,
    /** The region requests are signed for. */
    readonly region: string,
    private readonly credentials: () => Promise<Credentials>,
    maxSockets = 64,
  ) {
    this.transport = base.protocol === 'https:' ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets });
  }

  async *list(prefix = ''): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const params: Record<string, string> = { 'list-type': '2', 'encoding-type': 'url', 'max-keys': '1000' };
      if (prefix) params.prefix = prefix;
      if (token) params['continuation-token'] = token;
      const res = await this.send(this.base.pathname || '/', canonicalQuery(params), {});
      let xml = '';
      res.setEncoding('utf8');
      for await (const c of res) xml += c as string;
      const page = parseListPage(xml);
      yield* page.objects;
      token = page.next;
    } while (token);
  }

  async read(
    key: string,
    opts: ReadOptions = {},
  ): Promise<{ body: Readable; head: ObjectHead & ObjectHeaders }> {
    const basePath = this.base.pathname.endsWith('/') ? this.base.pathname : `${this.base.pathname}/`;
    const extra: Record<string, string> = {};
    if (opts.range) extra.range = `bytes=${opts.range.start}-${opts.range.end}`;
    if (opts.ifMatch) extra['if-match'] = opts.ifMatch;
    const res = await this.send(`${basePath}${encodeKeyPath(key)}`, '', extra);
    return { body: res, head: headOf(key, res.headers) };
  }

  /** One signed GET, retried on throttling, server errors and dropped connections; 2xx only. */
  private async send(
    path: string,
    query: string,
    extra: Record<string, string>,
  ): Promise<http.IncomingMessage> {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.get(path, query, extra);
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return res;
        const err = await errorFrom(res);
        if (!RETRYABLE_STATUS.has(status) || attempt >= MAX_ATTEMPTS) throw err;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const transient =
          (code !== undefined && RETRYABLE_CODES.has(code)) ||
          (err instanceof S3HttpError && RETRYABLE_STATUS.has(err.$metadata.httpStatusCode));
        if (!transient || attempt >= MAX_ATTEMPTS) throw err;
      }
      await sleep(Math.random() * Math.min(5_000, 100 * 2 ** attempt));
    }
  }

  private async get(
    path: string,
    query: string,
    extra: Record<string, string>,
  ): Promise<http.IncomingMessage> {
    const credentials = await this.credentials();
    const headers = signRequest({
      method: 'GET',
      host: this.base.host,
      path,
      query,
      headers: extra,
      region: this.region,
      credentials,
      now: new Date(),
    });
    return new Promise((resolve, reject) => {
      const req = this.transport.request(
        {
          protocol: this.base.protocol,
          hostname: this.base.hostname,
          port: this.base.port,
          path: query ? `${path}?${query}` : path,
          method: 'GET',
          headers,
          agent: this.agent,
          timeout: 60_000,
        },
        resolve,
      );
      req.on('timeout', () =>
        req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })),
      );
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
