/**
 * A thread for the files. An export's main thread is busy with the network (requests, responses,
 * HTTP parsing); creating a file costs the kernel more than writing it (on ext4 about 0.15 ms an
 * open after many deletes), and hashing costs more than both. This thread takes the bytes the
 * main thread receives and does the rest: create, write, SHA-256, time stamp, close. The network
 * keeps one core and the files get another.
 *
 * A small object goes over whole, in one job; a large one chunk by chunk, each at its offset. The
 * bytes are copied into 1 MiB slabs that travel to the thread and back, so the same memory (already
 * faulted in) carries every file, and the caller's buffers are free again at once. Ranged GETs
 * arrive out of order: the thread hashes each chunk once the bytes before it are in, holding early
 * ones up to a budget, past which it reads the finished file back instead. Bytes sent but not yet
 * written are capped too: past that, the sender waits (backpressure).
 *
 * It also makes the folders the files go in, as it first needs them.
 *
 * The thread runs a few lines of plain JavaScript (below, as source): it starts in milliseconds,
 * needs no bundle and no loader, and runs the same from the bundle and from TypeScript.
 */
import { Worker } from 'node:worker_threads';

type Job =
  | { op: 'whole'; id: number; path: string; slab: number; off: number; len: number; mtimeMs: number }
  | { op: 'open'; file: number; path: string }
  | { op: 'chunk'; file: number; pos: number; slab: number; off: number; len: number }
  | { op: 'finish'; id: number; file: number; size: number; mtimeMs: number }
  | { op: 'abort'; id: number; file: number };

interface ThreadError {
  readonly message: string;
  readonly code?: string;
}

/** The thread's answer to one batch: finished jobs, chunk bytes written, and the slabs back. */
interface Replies {
  readonly done: { id: number; sha256?: string; error?: ThreadError }[];
  readonly written: number;
  readonly slabs: ArrayBuffer[];
}

// Plain CommonJS for `new Worker(…, { eval: true })`. A file's first error is kept and reported by
// its `finish`; later chunks of that file are dropped.
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const HOLD = workerData.holdBytes;
const files = new Map();
const plain = (e) => ({ message: String((e && e.message) || e), ...(e && e.code ? { code: e.code } : {}) });
function writeAll(fd, data, pos) {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off, pos === undefined ? null : pos + off);
}
function stampAndClose(fd, mtimeMs) {
  const t = new Date(mtimeMs);
  fs.futimesSync(fd, t, t);
  fs.closeSync(fd);
}
function hashBack(fd, size) {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(Math.min(size, 1 << 20) || 1);
  for (let pos = 0; pos < size; ) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
    if (n === 0) throw new Error('file shorter than written');
    h.update(n === buf.length ? buf : buf.subarray(0, n));
    pos += n;
  }
  return h.digest('hex');
}
function drop(f) {
  try { fs.closeSync(f.fd); } catch {}
  try { fs.rmSync(f.path, { force: true }); } catch {}
}
// A file's folder is made the first time a file in it cannot be created for want of it.
function create(path, flags) {
  try {
    return fs.openSync(path, flags);
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
    fs.mkdirSync(require('node:path').dirname(path), { recursive: true });
    return fs.openSync(path, flags);
  }
}
function run(j, done, slabs) {
  if (j.op === 'whole') {
    const data = new Uint8Array(slabs[j.slab], j.off, j.len);
    let fd;
    try {
      const sha256 = createHash('sha256').update(data).digest('hex');
      fd = create(j.path, 'w');
      writeAll(fd, data);
      const t = new Date(j.mtimeMs);
      fs.futimesSync(fd, t, t);
      fs.closeSync(fd);
      done.push({ id: j.id, sha256 });
    } catch (e) {
      if (fd !== undefined) try { fs.closeSync(fd); } catch {}
      try { fs.rmSync(j.path, { force: true }); } catch {}
      done.push({ id: j.id, error: plain(e) });
    }
    return 0;
  }
  if (j.op === 'open') {
    const f = { path: j.path, fd: -1, hash: createHash('sha256'), next: 0, held: new Map(), heldBytes: 0, error: undefined };
    files.set(j.file, f);
    // Read and write: a file whose chunks came too far out of order is hashed by reading it back.
    try { f.fd = create(j.path, 'w+'); } catch (e) { f.error = plain(e); }
    return 0;
  }
  const f = files.get(j.file);
  if (j.op === 'chunk') {
    const data = new Uint8Array(slabs[j.slab], j.off, j.len);
    if (!f || f.error) return j.len;
    try {
      writeAll(f.fd, data, j.pos);
    } catch (e) {
      f.error = plain(e);
      return j.len;
    }
    if (!f.hash) return j.len;
    if (j.pos === f.next) {
      f.hash.update(data);
      f.next += j.len;
      for (let c = f.held.get(f.next); c; c = f.held.get(f.next)) {
        f.held.delete(f.next);
        f.heldBytes -= c.length;
        f.hash.update(c);
        f.next += c.length;
      }
    } else if (f.heldBytes + j.len <= HOLD) {
      f.held.set(j.pos, Buffer.from(data)); // a copy: the slab goes back
      f.heldBytes += j.len;
    } else {
      f.hash = undefined; // too far out of order: hash the file once it is complete
      f.held.clear();
    }
    return j.len;
  }
  files.delete(j.file);
  if (j.op === 'abort') {
    if (f) drop(f);
    done.push({ id: j.id });
    return 0;
  }
  // finish
  try {
    if (!f) throw new Error('finish of a file never opened');
    if (f.error) throw f.error;
    const sha256 = f.hash && f.next === j.size ? f.hash.digest('hex') : hashBack(f.fd, j.size);
    stampAndClose(f.fd, j.mtimeMs);
    done.push({ id: j.id, sha256 });
  } catch (e) {
    if (f) drop(f);
    done.push({ id: j.id, error: plain(e) });
  }
  return 0;
}
parentPort.on('message', ({ jobs, slabs }) => {
  const done = [];
  let written = 0;
  for (const j of jobs) written += run(j, done, slabs);
  parentPort.postMessage({ done, written, slabs }, slabs);
});
`;

function threadError(e: ThreadError): Error {
  const err = new Error(e.message) as Error & { code?: string };
  if (e.code) err.code = e.code;
  return err;
}

export interface FileWriterOptions {
  /** Out-of-order bytes held per file for hashing in order. @default 32 MiB */
  readonly holdBytes?: number;
  /** Chunk bytes sent but not yet written before `chunk` makes the sender wait. @default 16 MiB */
  readonly maxUnwrittenBytes?: number;
}

/** A large file being written chunk by chunk (see FileWriter.open). */
export interface FileInProgress {
  /**
   * Queue `data` for offset `pos` (copied now: the caller's buffer may be reused as soon as this
   * returns); returns a promise only when the sender should wait for it.
   */
  chunk(pos: number, data: Uint8Array): Promise<void> | undefined;
  /** Stamp and close the file once all `size` bytes are written; resolves to their SHA-256. */
  finish(size: number, mtimeMs: number): Promise<string>;
  /** Close the file and remove it. */
  abort(): Promise<void>;
}

const SLAB = 1024 * 1024;

export class FileWriter {
  private readonly worker: Worker;
  /** This batch's slabs, the one being filled (-1: none) and how far. */
  private slabs: ArrayBuffer[] = [];
  private filling = -1;
  private slabUsed = 0;
  /** Slabs back from the thread, for reuse: memory the kernel has already faulted in. */
  private readonly spare: ArrayBuffer[] = [];
  private readonly maxSpare: number;
  private readonly waiting = new Map<
    number,
    { resolve: (sha: string) => void; reject: (e: Error) => void }
  >();
  private queue: Job[] = [];
  private nextId = 1;
  private flushing = false;
  private failed: Error | undefined;
  private unwritten = 0;
  private readonly maxUnwritten: number;
  private drained: (() => void)[] = [];

  constructor(opts: FileWriterOptions = {}) {
    this.maxUnwritten = opts.maxUnwrittenBytes ?? 16 * 1024 * 1024;
    this.maxSpare = Math.ceil(this.maxUnwritten / SLAB) + 2;
    this.worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: { holdBytes: opts.holdBytes ?? 32 * 1024 * 1024 },
    });
    this.worker.unref();
    this.worker.on('message', (r: Replies) => this.receive(r));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`file-writer thread exited (code ${code})`)));
  }

  /**
   * Write a whole small file stamped with `mtimeMs` (`data` is copied now); resolves to its
   * SHA-256 once the file is closed.
   */
  write(path: string, data: Uint8Array, mtimeMs: number): Promise<string> {
    const id = this.nextId++;
    const done = this.expect(id);
    const { slab, off } = this.place(data);
    this.send({ op: 'whole', id, path, slab, off, len: data.length, mtimeMs });
    return done;
  }

  /** Create `path` for a large object's chunks. */
  open(path: string): FileInProgress {
    const file = this.nextId++;
    this.send({ op: 'open', file, path });
    return {
      chunk: (pos, data) => {
        if (this.failed) return Promise.reject(this.failed);
        const { slab, off } = this.place(data);
        this.send({ op: 'chunk', file, pos, slab, off, len: data.length });
        this.unwritten += data.length;
        if (this.unwritten <= this.maxUnwritten) return undefined;
        return new Promise<void>((resolve) => this.drained.push(resolve));
      },
      finish: (size, mtimeMs) => {
        const id = this.nextId++;
        const done = this.expect(id);
        this.send({ op: 'finish', id, file, size, mtimeMs });
        return done;
      },
      abort: async () => {
        const id = this.nextId++;
        const done = this.expect(id);
        this.send({ op: 'abort', id, file });
        await done.catch(() => {});
      },
    };
  }

  /**
   * Copy `data` into this batch's slab (a fresh one if it does not fit, a buffer of its own if it
   * is bigger than a slab): the caller's buffer may be reused as soon as this returns.
   */
  private place(data: Uint8Array): { slab: number; off: number } {
    if (data.length > SLAB) {
      this.slabs.push(new Uint8Array(data).buffer);
      return { slab: this.slabs.length - 1, off: 0 };
    }
    if (this.filling === -1 || this.slabUsed + data.length > SLAB) {
      this.slabs.push(this.spare.pop() ?? new ArrayBuffer(SLAB));
      this.filling = this.slabs.length - 1;
      this.slabUsed = 0;
    }
    const off = this.slabUsed;
    new Uint8Array(this.slabs[this.filling] as ArrayBuffer, off, data.length).set(data);
    this.slabUsed += data.length;
    return { slab: this.filling, off };
  }

  private expect(id: number): Promise<string> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<string>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  private send(job: Job): void {
    if (this.failed) return;
    this.queue.push(job);
    // What is queued in one turn of the event loop goes over in one message.
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushing = false;
    if (this.failed || this.queue.length === 0) return;
    this.worker.ref();
    const slabs = this.slabs;
    this.worker.postMessage({ jobs: this.queue, slabs }, slabs);
    this.queue = [];
    this.slabs = [];
    this.filling = -1;
  }

  private receive(r: Replies): void {
    for (const d of r.done) {
      const w = this.waiting.get(d.id);
      if (!w) continue;
      this.waiting.delete(d.id);
      if (d.error) w.reject(threadError(d.error));
      else w.resolve(d.sha256 ?? '');
    }
    for (const slab of r.slabs) {
      if (slab.byteLength === SLAB && this.spare.length < this.maxSpare) this.spare.push(slab);
    }
    this.unwritten -= r.written;
    if (this.unwritten <= this.maxUnwritten / 2) this.release();
    // Idle, the thread does not keep the process alive; closing, it must until it has exited.
    if (!this.failed && this.waiting.size === 0 && this.unwritten === 0 && this.queue.length === 0) {
      this.worker.unref();
    }
  }

  private release(): void {
    const waiters = this.drained;
    this.drained = [];
    for (const resolve of waiters) resolve();
  }

  private fail(err: Error): void {
    this.failed ??= err;
    for (const w of this.waiting.values()) w.reject(this.failed);
    this.waiting.clear();
    this.release();
  }

  async close(): Promise<void> {
    this.fail(new Error('file writer closed'));
    // Referenced until it has exited: an unreferenced thread's exit may come after the process's.
    this.worker.ref();
    await this.worker.terminate();
  }
}
