/**
 * The reader export and mirror use for a bucket: the lean signed-GET reader of s3-http.ts where the
 * bucket's endpoint is plain SigV4 (AWS S3 and every S3-compatible store), else the SDK.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { sigv4Endpoint } from '../../core/aws.js';
import { S3Store } from '../../core/ports.js';
import { HttpObjectReader, type ObjectReader, streamBody } from '../../core/transport/s3-http.js';

export type { ObjectReader, ReadOptions } from '../../core/transport/s3-http.js';

/**
 * The lean reader for `bucket`, at the endpoint the SDK would use for it (its own endpoint rules,
 * addressing style and signing region), with the client's credentials (and their refresh); or
 * undefined when that endpoint needs more than SigV4.
 */
export async function leanReader(
  s3: S3Client,
  bucket: string,
  maxSockets = 64,
): Promise<HttpObjectReader | undefined> {
  const endpoint = await sigv4Endpoint(s3, { Bucket: bucket, Key: 'k' }, GetObjectCommand);
  if (!endpoint) return undefined;
  return new HttpObjectReader(endpoint.url, endpoint.region, () => s3.config.credentials(), maxSockets);
}

/** The fast reader where it applies, else the SDK's GetObject through S3Store. */
export async function objectReader(s3: S3Client, bucket: string): Promise<ObjectReader> {
  const fast = await leanReader(s3, bucket);
  if (fast) return fast;
  const store = new S3Store(s3, bucket);
  return {
    list: (prefix) => store.list(prefix),
    read: async (key, opts) => {
      const { body, head } = await store.read(key, opts);
      return { body: streamBody(body), head };
    },
    close: () => {},
  };
}
