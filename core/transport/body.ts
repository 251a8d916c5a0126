/**
 * An object's bytes as export and mirror read them: once, as they arrive (to a file-writer
 * thread), or whole. The response stream underneath is undici's (or the SDK's) Readable.
 */
import { Readable } from 'node:stream';
import { TransferBrokenError } from '../errors.js';

/** Receives a body's bytes; a returned promise pauses the stream until it settles. */
export type Sink = (chunk: Buffer) => void | Promise<void>;

/** An object's bytes, read once: as they arrive (a sink, or `for await`), or whole. */
export interface Body extends AsyncIterable<Buffer> {
  /** Every byte to `sink`, in order. */
  consume(sink: Sink): Promise<void>;
  /** The whole body in one buffer. */
  bytes(): Promise<Buffer>;
}

/**
 * A Node stream (a response body) as a Body. A stream that fails midway fails with a
 * TransferBrokenError naming how far it got, of `expectedBytes` (the reply's length) if known.
 */
export function streamBody(stream: Readable, expectedBytes?: number): Body {
  let received = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const c of stream) {
        received += (c as Buffer).length;
        yield c as Buffer;
      }
    } catch (err) {
      throw new TransferBrokenError(received, expectedBytes, err);
    }
  }
  return {
    [Symbol.asyncIterator]: chunks,
    async consume(sink) {
      for await (const c of chunks()) await sink(c);
    },
    async bytes() {
      const parts: Buffer[] = [];
      for await (const c of chunks()) parts.push(c);
      return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
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
