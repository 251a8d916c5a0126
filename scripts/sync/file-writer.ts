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
 * The thread runs file-writer-thread.ts: in the CLI bundle, its own entry point beside this
 * module's chunk (bin/flotilla.mjs); from source (tsx, vitest), that file compiled once per
 * process with esbuild, which tsx ships with.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Batch, Job, Replies, ThreadError, ThreadOptions } from './file-writer-thread.js';

let fromSource: URL | undefined;

/** Where the thread's code is: the bundled entry, or the TypeScript source compiled here. */
function threadEntry(): URL {
  const here = new URL(import.meta.url);
  if (!here.pathname.endsWith('.ts')) return new URL('./file-writer-thread.mjs', here);
  if (!fromSource) {
    const esbuild = createRequire(here)('esbuild') as typeof import('esbuild');
    const source = readFileSync(new URL('./file-writer-thread.ts', here), 'utf8');
    const { code } = esbuild.transformSync(source, { loader: 'ts', format: 'esm', target: 'node20' });
    fromSource = new URL(`data:text/javascript,${encodeURIComponent(code)}`);
  }
  return fromSource;
}

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
    const workerData: ThreadOptions = {
      role: 'flotilla-file-writer',
      holdBytes: opts.holdBytes ?? 32 * 1024 * 1024,
    };
    this.worker = new Worker(threadEntry(), { workerData });
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
    const batch: Batch = { jobs: this.queue, slabs: this.slabs };
    this.worker.postMessage(batch, batch.slabs);
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
