/**
 * Progress on stderr: objects, bytes, throughput and ETA. Redrawn in place on a terminal (at most
 * five times a second); one line every few seconds otherwise, so logs stay readable.
 */
import { formatBytes } from '../../core/errors.js';

export interface ProgressOptions {
  readonly label: string;
  readonly totalObjects: number;
  readonly totalBytes: number;
  readonly stream: NodeJS.WritableStream;
  /** @default - true when the stream is a TTY */
  readonly interactive?: boolean;
  /** @default false */
  readonly quiet?: boolean;
}

export class Progress {
  private objects = 0;
  private bytes = 0;
  private readonly started = Date.now();
  private lastDraw = Date.now();
  private drawn = false;
  private readonly interactive: boolean;

  constructor(private readonly opts: ProgressOptions) {
    this.interactive = opts.interactive ?? Boolean((opts.stream as { isTTY?: boolean }).isTTY);
  }

  addBytes(n: number): void {
    this.bytes += n;
    this.maybeDraw();
  }

  objectDone(): void {
    this.objects++;
    this.maybeDraw();
  }

  line(): string {
    const secs = Math.max(0.001, (Date.now() - this.started) / 1000);
    const rate = this.bytes / secs;
    const left = this.opts.totalBytes - this.bytes;
    const objRate = this.objects / secs;
    const etaSecs =
      rate > 0 && left > 0
        ? left / rate
        : objRate > 0
          ? (this.opts.totalObjects - this.objects) / objRate
          : Number.NaN;
    const eta = Number.isFinite(etaSecs) ? `${Math.ceil(etaSecs)} s` : '-';
    return `${this.opts.label}: ${this.objects}/${this.opts.totalObjects} objects, ${formatBytes(this.bytes)}/${formatBytes(this.opts.totalBytes)}, ${formatBytes(rate)}/s, ETA ${eta}`;
  }

  private maybeDraw(): void {
    if (this.opts.quiet) return;
    const now = Date.now();
    const every = this.interactive ? 200 : 5_000;
    if (now - this.lastDraw < every) return;
    this.lastDraw = now;
    this.drawn = true;
    this.opts.stream.write(this.interactive ? `\r${this.line()}\x1b[K` : `${this.line()}\n`);
  }

  /** Clear the in-place line (a summary follows). */
  finish(): void {
    if (this.interactive && !this.opts.quiet && this.drawn) this.opts.stream.write('\r\x1b[K');
  }
}
