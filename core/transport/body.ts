/**
 * An object's bytes as export and mirror read them: once, as they arrive (to a file-writer
 * thread), or whole. Underneath are undici's own callbacks (ResponseBody: a request dispatched
 * with a handler, without a Node stream per response).
 */
import { Readable } from 'node:stream';
import type { Dispatcher } from './undici.js';

/** Receives a body's bytes; a returned promise pauses the stream until it settles. */
export type Sink = (chunk: Buffer) => void | Promise<void>;

/** An object's bytes, read once: as they arrive (a sink, or `for await`), or whole. */
export interface Body extends AsyncIterable<Buffer> {
  /** Every byte to `sink`, in order. */
  consume(sink: Sink): Promise<void>;
  /** The whole body in one buffer. */
  bytes(): Promise<Buffer>;
}

/** A Body as a Node stream (for an upload that takes one), paced by its reader; counts to `onBytes`. */
export function bodyStream(body: Body, onBytes?: (n: number) => void): Readable {
  let wake: (() => void) | undefined;
  const stream = new Readable({
    read() {
      const w = wake;
      wake = undefined;
      w?.();
    },
  });
  body
    .consume((chunk) => {
      onBytes?.(chunk.length);
      if (stream.push(chunk)) return undefined;
      return new Promise<void>((resolve) => {
        wake = resolve;
      });
    })
    .then(
      () => stream.push(null),
      (err: Error) => stream.destroy(err),
    );
  return stream;
}

type Waiter = { resolve: (r: IteratorResult<Buffer>) => void; reject: (e: Error) => void };

/**
 * A response body fed by undici's dispatch callbacks (push, end, fail), read once. Chunks that
 * arrive before they are asked for are queued, and the connection is paused until the reader
 * takes them: at most one socket read is held per response.
 */
export class ResponseBody implements Body {
  controller: Dispatcher.DispatchController | undefined;
  private readonly queue: Buffer[] = [];
  private waiter: Waiter | undefined;
  private ended = false;
  private error: Error | undefined;
  private taken = false;

  push(chunk: Buffer): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.resolve({ value: chunk, done: false });
      return;
    }
    this.queue.push(chunk);
    this.controller?.pause();
  }

  end(): void {
    this.ended = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve({ value: undefined, done: true });
  }

  fail(err: Error): void {
    this.error ??= err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  private next(): Promise<IteratorResult<Buffer>> {
    const chunk = this.queue.shift();
    if (chunk) return Promise.resolve({ value: chunk, done: false });
    if (this.error) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    const next = new Promise<IteratorResult<Buffer>>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
    // Resuming may deliver the next chunk, or the end, at once: the waiter is in place first.
    this.controller?.resume();
    return next;
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.taken) throw new Error('a response body is read once');
    this.taken = true;
    return {
      next: () => this.next(),
      // The reader stopped early (an error reply read in part, a failed sink): drop the rest.
      return: async () => {
        if (!this.ended && !this.error) this.controller?.abort(new Error('response body not read'));
        return { value: undefined, done: true };
      },
    };
  }

  async consume(sink: Sink): Promise<void> {
    for await (const c of this) await sink(c);
  }

  async bytes(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of this) chunks.push(c);
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  }

  /** Read and drop the rest (a reply whose body says nothing). */
  async dump(): Promise<void> {
    for await (const _ of this);
  }

  /** The whole body as UTF-8 text. */
  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }
}

/** A response read through ResponseBody: status and headers, then the body as it arrives. */
export interface DispatchedResponse {
  readonly statusCode: number;
  readonly headers: Dispatcher.ResponseData['headers'];
  readonly body: ResponseBody;
}

/**
 * One request on `dispatcher` with a handler of its own rather than `request()`: no Readable,
 * no async iterator of Node's and no abort plumbing per response, only the callbacks. Resolves
 * once the headers are in; a failure after that fails the body.
 */
export function dispatchRequest(
  dispatcher: Dispatcher,
  opts: Dispatcher.DispatchOptions,
  signal?: AbortSignal,
): Promise<DispatchedResponse> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const body = new ResponseBody();
    let started = false;
    const onAbort = () => body.controller?.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => signal?.removeEventListener('abort', onAbort);
    dispatcher.dispatch(opts, {
      onRequestStart(controller) {
        body.controller = controller;
      },
      onResponseStart(_controller, statusCode, headers) {
        started = true;
        resolve({ statusCode, headers, body });
      },
      onResponseData(_controller, chunk) {
        body.push(chunk);
      },
      onResponseEnd() {
        done();
        body.end();
      },
      onResponseError(_controller, err) {
        done();
        if (started) body.fail(err);
        else reject(err);
      },
    });
  });
}
