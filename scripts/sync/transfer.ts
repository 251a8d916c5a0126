/**
 * Moving one object's bytes: bucket → file (export). The network side runs here; the file side
 * (create, write, SHA-256, time stamp) runs on the file-writer thread. Large objects come as
 * parallel ranged GETs.
 */
import { renameSync, rmSync, utimesSync } from 'node:fs';
import type { Body, ObjectHeaders, ObjectReader } from '../../core/ports/object-store.js';
import type { FileInProgress, FileWriter } from './file-writer.js';
import { partialPath, resolveInside } from './folder.js';
import type { Listed } from './plan.js';
import { runPool } from './pool.js';

export interface Fetched extends ObjectHeaders {
  readonly size: number;
  readonly sha256: string;
  readonly etag: string;
  readonly lastModifiedMs: number;
  readonly contentType?: string;
  readonly metadata: Record<string, string>;
}

export interface DownloadOptions {
  /** Objects at least this big are fetched as parallel ranged GETs. @default 16 MiB */
  readonly largeObjectBytes?: number;
  /** Range size for those. @default 8 MiB */
  readonly partBytes?: number;
  /** Ranged GETs in flight per large object. @default 4 */
  readonly partConcurrency?: number;
  readonly onBytes?: (n: number) => void;
}

const MiB = 1024 * 1024;

type Head = Awaited<ReturnType<ObjectReader['read']>>['head'];

/** The standard headers an object carries, without the absent ones. */
export const headersOf = (h: ObjectHeaders): ObjectHeaders => ({
  ...(h.cacheControl ? { cacheControl: h.cacheControl } : {}),
  ...(h.contentDisposition ? { contentDisposition: h.contentDisposition } : {}),
  ...(h.contentEncoding ? { contentEncoding: h.contentEncoding } : {}),
  ...(h.contentLanguage ? { contentLanguage: h.contentLanguage } : {}),
});

function fetched(head: Head, size: number, sha256: string, etag: string, lastModifiedMs: number): Fetched {
  return {
    size,
    sha256,
    etag,
    lastModifiedMs,
    ...(head.contentType ? { contentType: head.contentType } : {}),
    metadata: { ...head.metadata },
    ...headersOf(head),
  };
}

/** Every chunk of `body` to the file at `offset` onwards; returns the bytes written. */
async function streamInto(file: FileInProgress, body: Body, offset: number, onBytes?: (n: number) => void) {
  let pos = offset;
  await body.consume((chunk) => {
    const wait = file.chunk(pos, chunk);
    pos += chunk.length;
    onBytes?.(chunk.length);
    return wait;
  });
  return pos - offset;
}

/**
 * Fetch `src` into the file `path` through `writer`, stamped with the object's time. The recorded
 * ETag and size come from the GET itself, so an object that changed after listing is recorded as
 * fetched.
 */
export async function downloadToFile(
  store: ObjectReader,
  writer: FileWriter,
  src: Listed,
  path: string,
  opts: DownloadOptions = {},
): Promise<Fetched> {
  if (src.size >= (opts.largeObjectBytes ?? 16 * MiB)) return downloadRanged(store, writer, src, path, opts);
  const { body, head } = await store.read(src.key);
  const lastModifiedMs = head.etag === src.etag ? src.lastModifiedMs : head.lastModifiedMs;
  const short = (n: number) => new Error(`short read of ${src.key}: ${n} of ${head.size} bytes`);
  if (head.size <= MiB) {
    // A small body whole, in one message to the thread.
    const buf = await body.bytes();
    opts.onBytes?.(buf.length);
    if (buf.length !== head.size) throw short(buf.length);
    return fetched(head, head.size, await writer.write(path, buf, lastModifiedMs), head.etag, lastModifiedMs);
  }
  const file = writer.open(path);
  try {
    const n = await streamInto(file, body, 0, opts.onBytes);
    if (n !== head.size) throw short(n);
  } catch (err) {
    await file.abort();
    throw err;
  }
  return fetched(head, head.size, await file.finish(head.size, lastModifiedMs), head.etag, lastModifiedMs);
}

/** A large object as ranged GETs in parallel, each pinned to the listed version by If-Match. */
async function downloadRanged(
  store: ObjectReader,
  writer: FileWriter,
  src: Listed,
  path: string,
  opts: DownloadOptions,
): Promise<Fetched> {
  const partBytes = opts.partBytes ?? 8 * MiB;
  const parts = Math.ceil(src.size / partBytes);
  const file = writer.open(path);
  let first: Head | undefined;
  const failures = await runPool(
    Array.from({ length: parts }, (_, i) => i),
    opts.partConcurrency ?? 4,
    async (i) => {
      const start = i * partBytes;
      const end = Math.min(src.size, start + partBytes) - 1;
      const { body, head } = await store.read(src.key, { range: { start, end }, ifMatch: src.etag });
      if (i === 0) first = head;
      const n = await streamInto(file, body, start, opts.onBytes);
      if (n !== end - start + 1) throw new Error(`short read of ${src.key} bytes ${start}-${end}`);
    },
  );
  if (failures[0] || !first) {
    await file.abort();
    throw failures[0]?.error ?? new Error(`no response for ${src.key}`);
  }
  const sha256 = await file.finish(src.size, src.lastModifiedMs);
  return fetched(first, src.size, sha256, src.etag, src.lastModifiedMs);
}

/**
 * Move a finished temp file into place and stamp it with the object's time. Synchronous on
 * purpose: two cheap syscalls cost less than two trips through the thread pool, per object.
 */
export function placeFile(tmp: string, dest: string, mtimeMs: number): void {
  try {
    renameSync(tmp, dest);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  const t = new Date(mtimeMs);
  utimesSync(dest, t, t);
}

/**
 * One object into the export folder at `path` (relative, from the key layout). A new file is
 * written in place: until the run completes the folder says it is in progress, and an unfinished
 * file is not in the journal, so a resumed run fetches it again. A file that `replaces` an older
 * copy is written beside it and renamed over it, so the old copy stays whole until then. The
 * writer makes the file's folder if need be.
 */
export async function fetchIntoFolder(
  reader: ObjectReader,
  writer: FileWriter,
  dir: string,
  path: string,
  src: Listed,
  opts: DownloadOptions & { replaces?: boolean } = {},
): Promise<Fetched> {
  const dest = resolveInside(dir, path);
  const target = opts.replaces ? partialPath(dest) : dest;
  try {
    const got = await downloadToFile(reader, writer, src, target, opts);
    if (target !== dest) renameSync(target, dest);
    return got;
  } catch (err) {
    rmSync(target, { force: true });
    throw err;
  }
}
