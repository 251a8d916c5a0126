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
import { Readable } from 'node:stream';
import type { ObjectHead, ObjectHeaders, ObjectInfo } from '../ports.js';
import { type GetResponse, HttpGetClient, type Sink } from './http-get.js';
import { objectHeadOf, s3ErrorOf } from './s3-wire.js';
import { type HttpServiceError, withRetries } from './signed-http.js';
import { type Credentials, encodeKeyPath, signRequest, uriEncode } from './sigv4.js';

export type { Credentials } from './sigv4.js';

export interface ReadOptions {
  readonly range?: { start: number; end: number };
  readonly ifMatch?: string;
}

/** An object's bytes, read once: as they arrive, or whole. */
export interface Body {
  /** Every byte to `sink`, in order; a chunk is valid only during its call (copy it to keep it). */
  consume(sink: Sink): Promise<void>;
  /** The whole body in a buffer of its own. */
  bytes(): Promise<Buffer>;
}

/** What export and mirror need from a bucket: its listing, and one object's bytes and headers. */
export interface ObjectReader {
  /** Every object under a prefix, in key order, page by page. */
  list(prefix?: string): AsyncIterable<ObjectInfo>;
  read(key: string, opts?: ReadOptions): Promise<{ body: Body; head: ObjectHead & ObjectHeaders }>;
  close(): void;
}

/** A Body as a Node stream (for an upload that takes one), paced by its reader; counts to `onBytes`. */
export function bodyStream(body: Body, onBytes?: (n: number) => void): Readable {
  let wake: (() => void) | undefined;
  const stream = new Readable({
    read() {
      const w = wake;
      wake = undefined;
      w?.();
    },
  });
  body
    .consume((chunk) => {
      onBytes?.(chunk.length);
      if (stream.push(Buffer.from(chunk))) return undefined;
      return new Promise<void>((resolve) => {
        wake = resolve;
      });
    })
    .then(
      () => stream.push(null),
      (err: Error) => stream.destroy(err),
    );
  return stream;
}

/** A Node stream (the SDK's response body) as a Body. */
export function streamBody(stream: Readable): Body {
  return {
    async consume(sink) {
      for await (const c of stream) await sink(c as Buffer);
    },
    async bytes() {
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    },
  };
}

/** A canonical query string: names sorted, names and values URI-encoded. */
export const canonicalQuery = (params: Readonly<Record<string, string>>): string =>
  Object.keys(params)
    .sort()
    .map((k) => `${uriEncode(k)}=${uriEncode(params[k] ?? '')}`)
    .join('&');

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

/** The text of the first `<tag>` in `xml` (entities decoded), or undefined. */
export function xmlField(xml: string, tag: string): string | undefined {
  const m = xml.match(tagPattern(tag));
  return m ? xmlText(m[1] ?? '') : undefined;
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

async function errorFrom(res: GetResponse): Promise<HttpServiceError> {
  return s3ErrorOf(res.status, (await res.text()).slice(0, 8192));
}

/** Signed GETs against one bucket, at the endpoint the SDK would use for it. */
export class HttpObjectReader implements ObjectReader {
  private readonly http: HttpGetClient;

  constructor(
    /** The bucket's address: `https://bucket.s3.region.amazonaws.com/` or `http://host:port/bucket`. */
    readonly base: URL,
    /** The region requests are signed for. */
    readonly region: string,
    private readonly credentials: () => Promise<Credentials>,
    maxSockets = 64,
  ) {
    this.http = new HttpGetClient(base, maxSockets);
  }

  async *list(prefix = ''): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const params: Record<string, string> = { 'list-type': '2', 'encoding-type': 'url', 'max-keys': '1000' };
      if (prefix) params.prefix = prefix;
      if (token) params['continuation-token'] = token;
      const res = await this.send(this.base.pathname || '/', canonicalQuery(params), {});
      const page = parseListPage(await res.text());
      yield* page.objects;
      token = page.next;
    } while (token);
  }

  async read(key: string, opts: ReadOptions = {}): Promise<{ body: Body; head: ObjectHead & ObjectHeaders }> {
    const basePath = this.base.pathname.endsWith('/') ? this.base.pathname : `${this.base.pathname}/`;
    const extra: Record<string, string> = {};
    if (opts.range) extra.range = `bytes=${opts.range.start}-${opts.range.end}`;
    if (opts.ifMatch) extra['if-match'] = opts.ifMatch;
    const res = await this.send(`${basePath}${encodeKeyPath(key)}`, '', extra);
    return { body: res, head: objectHeadOf(key, res.headers) };
  }

  /** A bucket sub-resource's XML (`versioning`, `tagging`...); an S3 error reply throws, by its code. */
  async subresource(name: string): Promise<string> {
    const res = await this.send(this.base.pathname || '/', canonicalQuery({ [name]: '' }), {});
    return res.text();
  }

  /** One signed GET, retried on throttling, server errors and dropped connections; 2xx only. */
  private send(path: string, query: string, headers: Record<string, string>): Promise<GetResponse> {
    return withRetries(async () => {
      const signed = signRequest({
        service: 's3',
        method: 'GET',
        host: this.base.host,
        path,
        query,
        headers,
        region: this.region,
        credentials: await this.credentials(),
        now: new Date(),
      });
      const res = await this.http.get(query ? `${path}?${query}` : path, signed);
      if (res.status >= 200 && res.status < 300) return res;
      throw await errorFrom(res);
    });
  }

  close(): void {
    this.http.close();
  }
}
