/**
 * The object-store port: what the runtime, the submitter and the sync engine need from a bucket.
 * core/adapters/s3-store.ts implements it on S3; unit tests may substitute a fake.
 */
import type { Readable } from 'node:stream';
import type { Body } from '../transport/body.js';

export type { Body, Sink } from '../transport/body.js';

export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModifiedMs: number;
}

export interface ObjectHead extends ObjectInfo {
  readonly contentType?: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Standard headers an object carries besides its type; kept by backup and mirror. */
export interface ObjectHeaders {
  readonly cacheControl?: string;
  readonly contentDisposition?: string;
  readonly contentEncoding?: string;
  readonly contentLanguage?: string;
}

export interface PutOptions extends ObjectHeaders {
  readonly contentType?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  /** Write only if no object exists at the key (If-None-Match: *). */
  readonly ifAbsent?: boolean;
  /** Write only if the object at the key still has this ETag (If-Match): a compare-and-swap. */
  readonly ifMatch?: string;
}

export interface ReadOptions {
  readonly range?: { start: number; end: number };
  /** Read only this version of the object (If-Match), so ranged reads of one object agree. */
  readonly ifMatch?: string;
  readonly signal?: AbortSignal;
}

/** What export and mirror need from a bucket: its listing, and one object's bytes and headers. */
export interface ObjectReader {
  /** Every object under a prefix, in key order, page by page. */
  list(prefix?: string): AsyncIterable<ObjectInfo>;
  /** One GET: the body and the object's headers together (no separate HEAD). */
  read(key: string, opts?: ReadOptions): Promise<{ body: Body; head: ObjectHead & ObjectHeaders }>;
  close(): void;
}

export interface ObjectStore {
  readonly bucket: string;
  /** Every object under a prefix, in key order, page by page. */
  list(prefix?: string): AsyncIterable<ObjectInfo>;
  get(key: string, signal?: AbortSignal): Promise<Buffer>;
  /** Undefined when there is no object at the key. */
  head(key: string): Promise<ObjectHead | undefined>;
  /** Returns false when `ifAbsent` was asked and the key already existed, or `ifMatch` and it changed. */
  put(key: string, body: Buffer | string, opts?: PutOptions): Promise<boolean>;
  /** Streams of any size: multipart above `partSizeBytes`. */
  upload(key: string, body: Readable | Buffer, opts?: PutOptions & { partSizeBytes?: number }): Promise<void>;
  delete(key: string): Promise<void>;
  deleteMany(keys: readonly string[]): Promise<void>;
  /** Another bucket through the same endpoint and credentials. */
  forBucket?(bucket: string): ObjectStore;
}
