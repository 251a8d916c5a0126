/**
 * Moving one object's bytes: bucket → file (export) with a SHA-256 computed on the way, ranged
 * parallel GETs for large objects, and temp file + rename so a finished path is always whole.
 */
import { createHash } from 'node:crypto';
import { renameSync, rmSync, utimesSync } from 'node:fs';
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import type { ObjectHeaders } from '../../workers/core/ports.js';
import { hashFile, partialPath, resolveInside } from './folder.js';
import type { Listed } from './plan.js';
import { runPool } from './pool.js';
import type { ObjectReader } from './s3-http.js';

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

/** The standard headers an object carries, without the absent ones. */
export const headersOf = (h: ObjectHeaders): ObjectHeaders => ({
  ...(h.cacheControl ? { cacheControl: h.cacheControl } : {}),
  ...(h.contentDisposition ? { contentDisposition: h.contentDisposition } : {}),
  ...(h.contentEncoding ? { contentEncoding: h.contentEncoding } : {}),
  ...(h.contentLanguage ? { contentLanguage: h.contentLanguage } : {}),
});

/** Read a whole body into memory (small objects: one write beats a stream). */
export async function readAll(body: Readable, onBytes?: (n: number) => void): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) {
    chunks.push(c as Buffer);
    onBytes?.((c as Buffer).length);
  }
  return Buffer.concat(chunks);
}

/**
 * Fetch `src` into the file `tmp` (which the caller renames into place). The recorded ETag and
 * size come from the GET itself, so an object that changed after listing is recorded as fetched.
 */
export async function downloadToFile(
  store: ObjectReader,
  src: Listed,
  tmp: string,
  opts: DownloadOptions = {},
): Promise<Fetched> {
  const large = opts.largeObjectBytes ?? 16 * MiB;
  if (src.size >= large) return downloadRanged(store, src, tmp, opts);
  const { body, head } = await store.read(src.key);
  const h = createHash('sha256');
  let size = 0;
  if (src.size <= MiB) {
    const buf = await readAll(body, opts.onBytes);
    h.update(buf);
    size = buf.length;
    await writeFile(tmp, buf);
  } else {
    const fh = await open(tmp, 'w');
    try {
      for await (const c of body) {
        const chunk = c as Buffer;
        h.update(chunk);
        await fh.write(chunk);
        size += chunk.length;
        opts.onBytes?.(chunk.length);
      }
    } finally {
      await fh.close();
    }
  }
  if (head.size !== size) throw new Error(`short read of ${src.key}: ${size} of ${head.size} bytes`);
  const sameVersion = head.etag === src.etag;
  return {
    size,
    sha256: h.digest('hex'),
    etag: head.etag,
    lastModifiedMs: sameVersion ? src.lastModifiedMs : head.lastModifiedMs,
    ...(head.contentType ? { contentType: head.contentType } : {}),
    metadata: { ...head.metadata },
    ...headersOf(head),
  };
}

async function downloadRanged(
  store: ObjectReader,
  src: Listed,
  tmp: string,
  opts: DownloadOptions,
): Promise<Fetched> {
  const partBytes = opts.partBytes ?? 8 * MiB;
  const parts = Math.ceil(src.size / partBytes);
  const fh = await open(tmp, 'w');
  let first: Awaited<ReturnType<ObjectReader['read']>>['head'] | undefined;
  try {
    const failures = await runPool(
      Array.from({ length: parts }, (_, i) => i),
      opts.partConcurrency ?? 4,
      async (i) => {
        const start = i * partBytes;
        const end = Math.min(src.size, start + partBytes) - 1;
        // If-Match pins every range to the listed version; a change mid-way fails cleanly.
        const { body, head } = await store.read(src.key, { range: { start, end }, ifMatch: src.etag });
        if (i === 0) first = head;
        let pos = start;
        for await (const c of body) {
          const chunk = c as Buffer;
          await fh.write(chunk, 0, chunk.length, pos);
          pos += chunk.length;
          opts.onBytes?.(chunk.length);
        }
        if (pos !== end + 1) throw new Error(`short read of ${src.key} bytes ${start}-${end}`);
      },
    );
    if (failures[0]) throw failures[0].error;
  } finally {
    await fh.close();
  }
  const head = first;
  if (!head) throw new Error(`no response for ${src.key}`);
  return {
    size: src.size,
    sha256: await hashFile(tmp),
    etag: src.etag,
    lastModifiedMs: src.lastModifiedMs,
    ...(head.contentType ? { contentType: head.contentType } : {}),
    metadata: { ...head.metadata },
    ...headersOf(head),
  };
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
 * One object into the export folder at `path` (relative, from the key layout): fetched into a
 * partial file beside it, then renamed into place with the object's time. `made` remembers the folders already
 * created. The same steps run on the main thread and in transfer threads.
 */
export async function fetchIntoFolder(
  reader: ObjectReader,
  dir: string,
  path: string,
  src: Listed,
  made: Set<string>,
  opts: DownloadOptions = {},
): Promise<Fetched> {
  const dest = resolveInside(dir, path);
  const parent = dirname(dest);
  if (!made.has(parent)) {
    await mkdir(parent, { recursive: true });
    made.add(parent);
  }
  const tmp = partialPath(dest);
  try {
    const got = await downloadToFile(reader, src, tmp, opts);
    placeFile(tmp, dest, got.lastModifiedMs);
    return got;
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
