/**
 * The file-writer thread's entry (started by FileWriter in file-writer.ts, which says why it
 * exists). It receives batches of jobs with the slabs that carry their bytes, and for each file:
 * creates it (and its folder, the first time that is missing), writes it, hashes it, stamps its
 * time and closes it; then hands the slabs back with what finished.
 *
 * A file's first error is kept and reported by its `finish`; later chunks of that file are dropped.
 * Bundled as its own entry point of the CLI (bin/flotilla.mjs); only Node built-ins here.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, futimesSync, mkdirSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';

export type Job =
  | { op: 'whole'; id: number; path: string; slab: number; off: number; len: number; mtimeMs: number }
  | { op: 'open'; file: number; path: string }
  | { op: 'chunk'; file: number; pos: number; slab: number; off: number; len: number }
  | { op: 'finish'; id: number; file: number; size: number; mtimeMs: number }
  | { op: 'abort'; id: number; file: number };

export interface ThreadError {
  readonly message: string;
  readonly code?: string;
}

export interface Done {
  readonly id: number;
  readonly sha256?: string;
  readonly error?: ThreadError;
}

/** One batch: its jobs, and the slabs their bytes are in (transferred, not copied). */
export interface Batch {
  readonly jobs: readonly Job[];
  readonly slabs: ArrayBuffer[];
}

/** The thread's answer to one batch: finished jobs, chunk bytes written, and the slabs back. */
export interface Replies {
  readonly done: Done[];
  readonly written: number;
  readonly slabs: ArrayBuffer[];
}

export interface ThreadOptions {
  /** Marks the thread's workerData, so that importing this module elsewhere starts nothing. */
  readonly role: typeof ROLE;
  /** Out-of-order bytes held per file for hashing in order. */
  readonly holdBytes: number;
}

export const ROLE = 'flotilla-file-writer';

/** A large file being written chunk by chunk. */
interface OpenFile {
  readonly path: string;
  fd: number;
  /** Undefined once chunks came too far out of order: the file is hashed by reading it back. */
  hash: Hash | undefined;
  /** The offset up to which the bytes are hashed. */
  next: number;
  readonly held: Map<number, Buffer>;
  heldBytes: number;
  error: ThreadError | undefined;
}

const plain = (e: unknown): ThreadError => {
  const err = e as { message?: unknown; code?: unknown } | undefined;
  return {
    message: String(err?.message ?? e),
    ...(typeof err?.code === 'string' ? { code: err.code } : {}),
  };
};

function writeAll(fd: number, data: Uint8Array, pos?: number): void {
  let off = 0;
  while (off < data.length)
    off += writeSync(fd, data, off, data.length - off, pos === undefined ? null : pos + off);
}

function stampAndClose(fd: number, mtimeMs: number): void {
  const t = new Date(mtimeMs);
  futimesSync(fd, t, t);
  closeSync(fd);
}

function hashBack(fd: number, size: number): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(Math.min(size, 1 << 20) || 1);
  for (let pos = 0; pos < size; ) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
    if (n === 0) throw new Error('file shorter than written');
    h.update(n === buf.length ? buf : buf.subarray(0, n));
    pos += n;
  }
  return h.digest('hex');
}

function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // Cleaning up after a failure that is already being reported.
  }
}

function drop(f: OpenFile): void {
  quietly(() => closeSync(f.fd));
  quietly(() => rmSync(f.path, { force: true }));
}

/** A file's folder is made the first time a file in it cannot be created for want of it. */
function create(path: string, flags: string): number {
  try {
    return openSync(path, flags);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(dirname(path), { recursive: true });
    return openSync(path, flags);
  }
}

export class FileJobs {
  private readonly files = new Map<number, OpenFile>();

  constructor(private readonly opts: ThreadOptions) {}

  /** Run one batch's jobs in order. */
  batch({ jobs, slabs }: Batch): Replies {
    const done: Done[] = [];
    let written = 0;
    for (const j of jobs) written += this.run(j, done, slabs);
    return { done, written, slabs };
  }

  /** Returns the chunk bytes this job accounts for. */
  private run(j: Job, done: Done[], slabs: readonly ArrayBuffer[]): number {
    switch (j.op) {
      case 'whole':
        done.push(
          this.whole(new Uint8Array(slabs[j.slab] as ArrayBuffer, j.off, j.len), j.id, j.path, j.mtimeMs),
        );
        return 0;
      case 'open':
        this.open(j.file, j.path);
        return 0;
      case 'chunk':
        this.chunk(j.file, j.pos, new Uint8Array(slabs[j.slab] as ArrayBuffer, j.off, j.len));
        return j.len;
      case 'abort': {
        const f = this.files.get(j.file);
        this.files.delete(j.file);
        if (f) drop(f);
        done.push({ id: j.id });
        return 0;
      }
      case 'finish':
        done.push(this.finish(j.id, j.file, j.size, j.mtimeMs));
        return 0;
    }
  }

  private whole(data: Uint8Array, id: number, path: string, mtimeMs: number): Done {
    let fd: number | undefined;
    try {
      const sha256 = createHash('sha256').update(data).digest('hex');
      fd = create(path, 'w');
      writeAll(fd, data);
      stampAndClose(fd, mtimeMs);
      return { id, sha256 };
    } catch (e) {
      const open = fd;
      if (open !== undefined) quietly(() => closeSync(open));
      quietly(() => rmSync(path, { force: true }));
      return { id, error: plain(e) };
    }
  }

  private open(file: number, path: string): void {
    const f: OpenFile = {
      path,
      fd: -1,
      hash: createHash('sha256'),
      next: 0,
      held: new Map(),
      heldBytes: 0,
      error: undefined,
    };
    this.files.set(file, f);
    // Read and write: a file whose chunks came too far out of order is hashed by reading it back.
    try {
      f.fd = create(path, 'w+');
    } catch (e) {
      f.error = plain(e);
    }
  }

  private chunk(file: number, pos: number, data: Uint8Array): void {
    const f = this.files.get(file);
    if (!f || f.error) return;
    try {
      writeAll(f.fd, data, pos);
    } catch (e) {
      f.error = plain(e);
      return;
    }
    if (!f.hash) return;
    if (pos === f.next) {
      f.hash.update(data);
      f.next += data.length;
      for (let c = f.held.get(f.next); c; c = f.held.get(f.next)) {
        f.held.delete(f.next);
        f.heldBytes -= c.length;
        f.hash.update(c);
        f.next += c.length;
      }
    } else if (f.heldBytes + data.length <= this.opts.holdBytes) {
      f.held.set(pos, Buffer.from(data)); // a copy: the slab goes back
      f.heldBytes += data.length;
    } else {
      f.hash = undefined; // too far out of order: hash the file once it is complete
      f.held.clear();
    }
  }

  private finish(id: number, file: number, size: number, mtimeMs: number): Done {
    const f = this.files.get(file);
    this.files.delete(file);
    try {
      if (!f) throw new Error('finish of a file never opened');
      if (f.error) throw f.error;
      const sha256 = f.hash && f.next === size ? f.hash.digest('hex') : hashBack(f.fd, size);
      stampAndClose(f.fd, mtimeMs);
      return { id, sha256 };
    } catch (e) {
      if (f) drop(f);
      return { id, error: plain(e) };
    }
  }
}

const options = workerData as ThreadOptions | undefined;
if (parentPort && options?.role === ROLE) {
  const port = parentPort;
  const jobs = new FileJobs(options);
  port.on('message', (b: Batch) => {
    const replies = jobs.batch(b);
    port.postMessage(replies, replies.slabs);
  });
}
