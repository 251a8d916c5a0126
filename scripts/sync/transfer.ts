/**
 * Moving one object's bytes: bucket → file (export) with a SHA-256 computed on the way, ranged
 * parallel GETs for large objects, each file stamped with its object's time.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  futimesSync,
  open as openCallback,
  renameSync,
  rmSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
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
/** fs.open as a promise of a plain descriptor (not a FileHandle: the calls after it are synchronous). */
const openFd = promisify(openCallback);

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
  // A small object usually arrives in one chunk: no copy then.
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

/**
 * Fetch `src` into the file `tmp`, stamped with the object's time. The recorded ETag and size come
 * from the GET itself, so an object that changed after listing is recorded as fetched.
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
  const lastModifiedMs = head.etag === src.etag ? src.lastModifiedMs : head.lastModifiedMs;
  const h = createHash('sha256');
  let size = 0;
  if (src.size <= MiB) {
    const buf = await readAll(body, opts.onBytes);
    h.update(buf);
    size = buf.length;
    await writeStamped(tmp, buf, lastModifiedMs);
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
      await fh.utimes(new Date(lastModifiedMs), new Date(lastModifiedMs));
    } finally {
      await fh.close();
    }
  }
  if (head.size !== size) throw new Error(`short read of ${src.key}: ${size} of ${head.size} bytes`);
  return {
    size,
    sha256: h.digest('hex'),
    etag: head.etag,
    lastModifiedMs,
    ...(head.contentType ? { contentType: head.contentType } : {}),
    metadata: { ...head.metadata },
    ...headersOf(head),
  };
}

/**
 * A small file in four system calls: the open through the thread pool, because creating a file
 * can cost the kernel a millisecond or more (ext4 searching for a free inode after many deletes)
 * and must not stall every transfer on this thread; the write, the time stamp and the close here,
 * where they cost less than a round trip through the pool.
 */
async function writeStamped(path: string, data: Buffer, mtimeMs: number): Promise<void> {
  const fd = await openFd(path, 'w');
  try {
    writeSync(fd, data);
    const t = new Date(mtimeMs);
    futimesSync(fd, t, t);
  } finally {
    closeSync(fd);
  }
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
    await fh.utimes(new Date(src.lastModifiedMs), new Date(src.lastModifiedMs));
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
 * One object into the export folder at `path` (relative, from the key layout). A new file is
 * written in place: until the run completes the folder says it is in progress, and an unfinished
 * file is not in the journal, so a resumed run fetches it again. A file that `replaces` an older
 * copy is written beside it and renamed over it, so the old copy stays whole until then. `made`
 * remembers the folders already created. The same steps run on the main thread and in transfer
 * threads.
 */
export async function fetchIntoFolder(
  reader: ObjectReader,
  dir: string,
  path: string,
  src: Listed,
  made: Set<string>,
  opts: DownloadOptions & { replaces?: boolean } = {},
): Promise<Fetched> {
  const dest = resolveInside(dir, path);
  const parent = dirname(dest);
  if (!made.has(parent)) {
    await mkdir(parent, { recursive: true });
    made.add(parent);
  }
  const target = opts.replaces ? partialPath(dest) : dest;
  try {
    const got = await downloadToFile(reader, src, target, opts);
    if (target !== dest) renameSync(target, dest);
    return got;
  } catch (err) {
    rmSync(target, { force: true });
    throw err;
  }
}
