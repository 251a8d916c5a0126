/**
 * Reading a child's output a line at a time without trusting it: a line longer than the limit
 * is cut (or, for a channel that carries answers, refused), and only the last few lines are kept.
 * A child can print gigabytes; the parent holds a bounded amount of it.
 */
import type { Readable } from 'node:stream';

/** The last `max` lines seen, each cut to `maxChars`. */
export class LineTail {
  private readonly lines: string[] = [];

  constructor(
    private readonly max: number,
    private readonly maxChars = 500,
  ) {}

  push(line: string): void {
    if (this.max === 0) return;
    this.lines.push(line.length > this.maxChars ? `${line.slice(0, this.maxChars)}…` : line);
    if (this.lines.length > this.max) this.lines.shift();
  }

  get(): string[] {
    return [...this.lines];
  }
}

/**
 * Split a stream into lines. A line over `maxLineBytes` is reported once to `onOverflow` (with
 * its size so far) and the rest of it dropped; the next newline starts over. The last line is
 * delivered at the end of the stream even without a newline.
 */
export function readLines(
  stream: Readable,
  onLine: (line: string) => void,
  opts: { maxLineBytes: number; onOverflow?: (bytesSoFar: number) => void },
): void {
  let parts: Buffer[] = [];
  let size = 0;
  let overflowing = false;
  const take = (chunk: Buffer) => {
    if (overflowing) return;
    if (size + chunk.length > opts.maxLineBytes) {
      overflowing = true;
      opts.onOverflow?.(size + chunk.length);
      parts = [];
      size = 0;
      return;
    }
    parts.push(chunk);
    size += chunk.length;
  };
  const flush = () => {
    if (!overflowing && (size > 0 || parts.length > 0)) onLine(Buffer.concat(parts, size).toString('utf8'));
    parts = [];
    size = 0;
    overflowing = false;
  };
  stream.on('data', (data: Buffer) => {
    let start = 0;
    for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, start)) {
      take(data.subarray(start, i));
      flush();
      start = i + 1;
    }
    if (start < data.length) take(data.subarray(start));
  });
  stream.on('end', () => {
    if (size > 0 || overflowing) flush();
  });
}

/**
 * Collect a whole stream up to `maxBytes`. Past the limit the rest is drained and dropped, and
 * `overflowed` says so with the total seen.
 */
export function collectBounded(
  stream: Readable,
  maxBytes: number,
): { readonly done: Promise<{ text: string; overflowed: boolean; totalBytes: number }> } {
  const parts: Buffer[] = [];
  let size = 0;
  let total = 0;
  const done = new Promise<{ text: string; overflowed: boolean; totalBytes: number }>((resolve) => {
    stream.on('data', (d: Buffer) => {
      total += d.length;
      if (size + d.length <= maxBytes) {
        parts.push(d);
        size += d.length;
      }
    });
    const end = () =>
      resolve({
        text: Buffer.concat(parts, size).toString('utf8'),
        overflowed: total > maxBytes,
        totalBytes: total,
      });
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  });
  return { done };
}
