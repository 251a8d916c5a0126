/**
 * A status line on stderr: redrawn in place on a terminal (at most five times a second), or one
 * line every few seconds otherwise, so CI logs stay readable.
 */
export class StatusLine {
  private last = 0;
  private drawn = false;
  private readonly interactive: boolean;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    opts: { interactive?: boolean; everyMs?: number; quiet?: boolean } = {},
  ) {
    this.interactive = opts.interactive ?? Boolean((stream as { isTTY?: boolean }).isTTY);
    this.everyMs = opts.everyMs ?? (this.interactive ? 200 : 5000);
    this.quiet = opts.quiet ?? false;
  }

  private readonly everyMs: number;
  private readonly quiet: boolean;

  /** Show `text` if enough time has passed since the last draw (or `force`). */
  update(text: string, force = false): void {
    if (this.quiet) return;
    const now = Date.now();
    if (!force && now - this.last < this.everyMs) return;
    this.last = now;
    this.drawn = true;
    this.stream.write(this.interactive ? `\r${text}\x1b[K` : `${text}\n`);
  }

  /** End the line so a summary can follow. */
  done(): void {
    if (this.interactive && this.drawn && !this.quiet) this.stream.write('\n');
  }
}

/** A text bar: [#####.....] */
export function bar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}
