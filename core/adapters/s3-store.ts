/**
 * The object-store port on S3. The calls made per job or per object (GET, HEAD, PUT of a body in
 * memory, DELETE, ListObjectsV2 pages) are single requests signed by signed-client.ts at the
 * address the SDK client would use for the bucket, with the client's credentials; multipart
 * uploads and batch deletes go through the SDK (lib-storage, DeleteObjects), on the same
 * connection pool.
 */
import type { Readable } from 'node:stream';
import { DeleteObjectsCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { EndpointAnswerError } from '../errors.js';
import type {
  Body,
  ObjectHead,
  ObjectHeaders,
  ObjectInfo,
  ObjectReader,
  ObjectStore,
  PutOptions,
  ReadOptions,
} from '../ports/object-store.js';
import { streamBody } from '../transport/body.js';
import { objectHeadOf, parseListPage, s3ErrorOf } from '../transport/s3-xml.js';
import { uriEncode } from '../transport/sdk-handler.js';
import {
  type SignedClient,
  type SignedRequest,
  signedClientFor,
  withRetries,
} from '../transport/signed-client.js';

/** S3's encoding of a key in a path: every segment URI-encoded, slashes kept. */
export const encodeKeyPath = (key: string): string => key.split('/').map(uriEncode).join('/');

type Response = Awaited<ReturnType<SignedClient['request']>>;

/** The S3 operation a signed request stands for, as the SDK would name it. */
function operationOf(req: SignedRequest): string {
  const verb = { GET: 'Get', PUT: 'Put', DELETE: 'Delete', HEAD: 'Head' }[req.method as string] ?? req.method;
  if (req.path) return `${verb}Object`;
  if (req.query?.['list-type']) return 'ListObjectsV2';
  const sub = Object.keys(req.query ?? {})[0];
  return sub ? `${verb}Bucket${sub[0]!.toUpperCase()}${sub.slice(1)}` : `${verb}Bucket`;
}

/**
 * The reply's error, read from its (bounded) XML body. An answer that is no S3 error reply (an
 * HTML page from a proxy or an emulator's router, an empty 5xx, a redirect) becomes an
 * EndpointAnswerError naming the status, the operation and the key, as the SDK's calls report it.
 */
async function errorOf(res: Response, req: SignedRequest, bucket: string) {
  let xml = '';
  for await (const c of res.body) if (xml.length < 8192) xml += (c as Buffer).toString();
  const err = s3ErrorOf(res.statusCode, xml);
  const header = (name: string) => {
    const v = res.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const redirect = res.statusCode >= 300 && res.statusCode < 400;
  if (!redirect && (err.fromReply || /xml/i.test(header('content-type') ?? ''))) return err;
  return EndpointAnswerError.of(
    res.statusCode,
    res.headers,
    {
      operation: operationOf(req),
      method: req.method,
      target: `/${bucket}/${encodeKeyPath(req.path)}`,
      hasKey: req.path !== '',
    },
    err,
  );
}

const ok = (res: Response) => res.statusCode >= 200 && res.statusCode < 300;

export class S3Store implements ObjectStore, ObjectReader {
  private signed: Promise<SignedClient> | undefined;

  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
  ) {}

  forBucket(bucket: string): S3Store {
    return new S3Store(this.client, bucket);
  }

  async get(key: string, signal?: AbortSignal): Promise<Buffer> {
    const { body } = await this.read(key, signal ? { signal } : {});
    return body.bytes();
  }

  async read(key: string, opts: ReadOptions = {}): Promise<{ body: Body; head: ObjectHead & ObjectHeaders }> {
    const headers: Record<string, string> = {};
    if (opts.range) headers.range = `bytes=${opts.range.start}-${opts.range.end}`;
    if (opts.ifMatch) headers['if-match'] = opts.ifMatch;
    const res = await this.send({
      method: 'GET',
      path: key,
      headers,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (!ok(res)) throw await errorOf(res, { method: 'GET', path: key }, this.bucket);
    const head = objectHeadOf(key, res.headers);
    const length = Number(res.headers['content-length']);
    return { body: streamBody(res.body, Number.isFinite(length) ? length : undefined), head };
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    const res = await this.send({ method: 'HEAD', path: key });
    await res.body.dump(); // a HEAD reply has no body, an error's included
    if (res.statusCode === 404) return undefined;
    if (!ok(res)) throw s3ErrorOf(res.statusCode, '');
    const { key: k, size, etag, lastModifiedMs, contentType, metadata } = objectHeadOf(key, res.headers);
    return { key: k, size, etag, lastModifiedMs, contentType, metadata };
  }

  async put(key: string, body: Buffer | string, opts: PutOptions = {}): Promise<boolean> {
    const headers: Record<string, string> = {};
    if (opts.contentType) headers['content-type'] = opts.contentType;
    if (opts.cacheControl) headers['cache-control'] = opts.cacheControl;
    if (opts.contentDisposition) headers['content-disposition'] = opts.contentDisposition;
    if (opts.contentEncoding) headers['content-encoding'] = opts.contentEncoding;
    if (opts.contentLanguage) headers['content-language'] = opts.contentLanguage;
    for (const [k, v] of Object.entries(opts.metadata ?? {})) headers[`x-amz-meta-${k.toLowerCase()}`] = v;
    if (opts.ifAbsent) headers['if-none-match'] = '*';
    if (opts.ifMatch) headers['if-match'] = opts.ifMatch;
    const res = await this.send({ method: 'PUT', path: key, headers, body });
    if (ok(res)) {
      await res.body.dump();
      return true;
    }
    // 412: the object exists (or, with ifMatch, changed or is gone). 409: a concurrent
    // conditional write is in progress, and will win.
    if ((opts.ifAbsent || opts.ifMatch) && (res.statusCode === 412 || res.statusCode === 409)) {
      await res.body.dump();
      return false;
    }
    throw await errorOf(res, { method: 'PUT', path: key }, this.bucket);
  }

  async upload(
    key: string,
    body: Readable | Buffer,
    opts: PutOptions & { partSizeBytes?: number } = {},
  ): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentType: opts.contentType,
        Metadata: opts.metadata as Record<string, string> | undefined,
        CacheControl: opts.cacheControl,
        ContentDisposition: opts.contentDisposition,
        ContentEncoding: opts.contentEncoding,
        ContentLanguage: opts.contentLanguage,
      },
      partSize: opts.partSizeBytes ?? 8 * 1024 * 1024,
      queueSize: 4,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async delete(key: string): Promise<void> {
    const res = await this.send({ method: 'DELETE', path: key });
    if (!ok(res)) throw await errorOf(res, { method: 'DELETE', path: key }, this.bucket);
    await res.body.dump();
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      const out = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      if (out.Errors && out.Errors.length > 0) {
        const e = out.Errors[0];
        throw new Error(
          `could not delete ${out.Errors.length} object(s), first ${e?.Key}: ${e?.Code} ${e?.Message}`,
        );
      }
    }
  }

  async *list(prefix = ''): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const query: Record<string, string> = { 'list-type': '2', 'encoding-type': 'url', 'max-keys': '1000' };
      if (prefix) query.prefix = prefix;
      if (token) query['continuation-token'] = token;
      const page = parseListPage(await this.subresourceText(query));
      yield* page.objects;
      token = page.next;
    } while (token);
  }

  /** A bucket sub-resource's XML (`versioning`, `tagging`...); an S3 error reply throws, by its code. */
  subresource(name: string): Promise<string> {
    return this.subresourceText({ [name]: '' });
  }

  /** Nothing to release: the connections belong to the S3 client. */
  close(): void {}

  private async subresourceText(query: Record<string, string>): Promise<string> {
    const req = { method: 'GET', path: '', query } as const;
    const res = await this.send(req);
    if (!ok(res)) throw await errorOf(res, req, this.bucket);
    return res.body.text();
  }

  /**
   * One signed request for `req.path` (a key, or '' for the bucket), retried on throttling,
   * server errors and dropped connections, as the SDK's standard retry would.
   */
  private send(req: SignedRequest): Promise<Response> {
    return withRetries(async () => {
      const signed = await this.endpoint();
      const res = await signed.request({
        ...req,
        path: req.path ? signed.basePath + encodeKeyPath(req.path) : signed.endpoint.pathname || '/',
      });
      if (res.statusCode >= 500 || res.statusCode === 429) throw await errorOf(res, req, this.bucket);
      return res;
    });
  }

  private endpoint(): Promise<SignedClient> {
    this.signed ??= signedClientFor(
      this.client,
      's3',
      { Bucket: this.bucket, Key: 'k' },
      GetObjectCommand,
      `bucket ${this.bucket}`,
    ).catch((err: unknown) => {
      this.signed = undefined; // resolved again on the next call
      throw err;
    });
    return this.signed;
  }
}
