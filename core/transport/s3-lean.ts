/**
 * The worker's two hot S3 calls, a HEAD of a job's result key and the conditional PUT of its
 * result, without the SDK's per-request middleware. In the full-path benchmark they took 95% of a
 * job's time through the SDK (the queue calls went lean in sqs-http.ts first). As there, the SDK
 * still decides what needs its rules (the bucket's endpoint and addressing style, the signing
 * region, the credentials and their refresh); each call is one SigV4-signed request on a
 * keep-alive socket, retried on throttling, server errors and dropped connections.
 *
 * Only small string bodies go this way (results and error records are JSON); everything else
 * (binary bodies, streams, listings, deletes) stays on the SDK.
 */
import type http from 'node:http';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { sigv4Endpoint } from '../aws.js';
import { type ObjectHead, type PutOptions, S3Store } from '../ports.js';
import { objectHeadOf, s3ErrorOf } from './s3-wire.js';
import { type HttpServiceError, SignedHttp, withRetries } from './signed-http.js';
import { encodeKeyPath } from './sigv4.js';

/** Bodies up to this size are PUT lean; bigger ones through the SDK. */
const LEAN_PUT_BYTES = 1024 * 1024;

async function textOf(res: http.IncomingMessage): Promise<string> {
  let text = '';
  for await (const c of res) if (text.length < 8192) text += (c as Buffer).toString();
  return text;
}

async function s3Error(res: http.IncomingMessage): Promise<HttpServiceError> {
  return s3ErrorOf(res.statusCode ?? 0, await textOf(res));
}

/** S3Store with head() and small put()s sent as signed requests. */
export class HttpS3Store extends S3Store {
  private readonly http: SignedHttp;
  private readonly basePath: string;

  constructor(
    client: S3Client,
    bucket: string,
    /** The bucket's address: `https://bucket.s3.region.amazonaws.com/` or `http://host:port/bucket`. */
    readonly base: URL,
    /** The region requests are signed for. */
    readonly region: string,
    maxSockets = 64,
  ) {
    super(client, bucket);
    this.http = new SignedHttp(base, region, 's3', () => client.config.credentials(), maxSockets);
    this.basePath = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  }

  override async head(key: string): Promise<ObjectHead | undefined> {
    return withRetries(async () => {
      const res = await this.http.request('HEAD', this.basePath + encodeKeyPath(key));
      res.resume(); // a HEAD reply has no body, an error's included
      const status = res.statusCode ?? 0;
      if (status === 404) return undefined;
      if (status < 200 || status >= 300) throw s3ErrorOf(status, '');
      return objectHeadOf(key, res.headers);
    });
  }

  override async put(key: string, body: Buffer | string, opts: PutOptions = {}): Promise<boolean> {
    if (typeof body !== 'string' || body.length > LEAN_PUT_BYTES) return super.put(key, body, opts);
    const headers: Record<string, string> = {};
    if (opts.contentType) headers['content-type'] = opts.contentType;
    if (opts.cacheControl) headers['cache-control'] = opts.cacheControl;
    if (opts.contentDisposition) headers['content-disposition'] = opts.contentDisposition;
    if (opts.contentEncoding) headers['content-encoding'] = opts.contentEncoding;
    if (opts.contentLanguage) headers['content-language'] = opts.contentLanguage;
    for (const [k, v] of Object.entries(opts.metadata ?? {})) headers[`x-amz-meta-${k.toLowerCase()}`] = v;
    if (opts.ifAbsent) headers['if-none-match'] = '*';
    // Header values travel as Latin-1: anything else (metadata in other scripts) goes via the SDK.
    for (const v of Object.values(headers)) if (/[^\t\x20-\x7e]/.test(v)) return super.put(key, body, opts);
    return withRetries(async () => {
      const res = await this.http.request('PUT', this.basePath + encodeKeyPath(key), { headers, body });
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        res.resume();
        return true;
      }
      // 412: the object exists. 409: a concurrent conditional write is in progress, and will win.
      if (opts.ifAbsent && (status === 412 || status === 409)) {
        res.resume();
        return false;
      }
      throw await s3Error(res);
    });
  }

  close(): void {
    this.http.close();
  }
}

/**
 * The results store for a worker: HttpS3Store at the endpoint the SDK would use for this bucket,
 * or the plain S3Store when that endpoint needs more than SigV4.
 */
export async function workerStore(client: S3Client, bucket: string, maxSockets = 64): Promise<S3Store> {
  let resolved: { url: URL; region: string } | undefined;
  try {
    resolved = await sigv4Endpoint(client, { Bucket: bucket, Key: 'k' }, HeadObjectCommand);
  } catch {
    // No region, an invalid bucket name...: the SDK's own first call reports it the usual way.
    return new S3Store(client, bucket);
  }
  return resolved
    ? new HttpS3Store(client, bucket, resolved.url, resolved.region, maxSockets)
    : new S3Store(client, bucket);
}
