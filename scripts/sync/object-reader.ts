/**
 * The reader export and mirror use for a bucket: the S3 store itself (core/adapters/s3-store.ts),
 * whose listings and GETs are single signed requests on the client's connection pool.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { S3Store } from '../../core/adapters/s3-store.js';
import type { ObjectReader } from '../../core/ports/object-store.js';

export type { ObjectReader, ReadOptions } from '../../core/ports/object-store.js';

/** The store for `bucket`, which also reads its sub-resources (versioning, tagging...). */
export async function leanReader(s3: S3Client, bucket: string): Promise<S3Store> {
  return new S3Store(s3, bucket);
}

/** The reader for `bucket`. */
export async function objectReader(s3: S3Client, bucket: string): Promise<ObjectReader> {
  return new S3Store(s3, bucket);
}
