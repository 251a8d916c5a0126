/**
 * An object's bytes as export and mirror read them: once, as they arrive (to a file-writer
 * thread), or whole. The response stream underneath is undici's (or the SDK's) Readable.
 */
import { Readable } from 'node:stream';

/** Receives a body's bytes; a returned promise pauses the stream until it settles. */
export type Sink = (chunk: Buffer) => void | Promise<void>;

/** An object's bytes, read once: as they arrive (a sink, or `for await`), or whole. */
export interface Body extends AsyncIterable<Buffer> {
  /** Every byte to `sink`, in order. */
  consume(sink: Sink): Promise<void>;
  /** The whole body in one buffer. */
  bytes(): Promise<Buffer>;
}

/** A Node stream (a response body) as a Body. */
export function streamBody(stream: Readable): Body {
  return {
    [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator](),
    async consume(sink) {
      for await (const c of stream) await sink(c as Buffer);
    },
    async bytes() {
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    },
  };
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
