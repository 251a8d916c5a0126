/**
 * The one progress reporter of long-running commands (export, mirror, restore, verify, submit,
 * dlq redrive, the demo), drawn by cli-progress on stderr, never on stdout where results go.
 * On a terminal the line is redrawn in place five times a second and cleared at the end (a summary
 * follows); elsewhere (CI logs, a pipe) a run shorter than a few seconds prints nothing, a longer
 * one a plain line every few seconds. Counting costs an addition: the line is built only when
 * drawn, and cli-progress is loaded only when a line is first due (a run that draws nothing, such
 * as an unchanged export, never loads it).
 */
import type { Options, SingleBar } from 'cli-progress';
import { formatBytes } from '../core/errors.js';

type CliProgress = typeof import('cli-progress');

export interface ProgressOptions {
  readonly stream: NodeJS.WritableStream;
  /** What is being done: the start of the line. */
  readonly label: string;
  /** Items expected. @default - unknown: a count, no bar and no ETA */
  readonly total?: number;
  /** Bytes expected: adds bytes, throughput, and an ETA by bytes. @default - no bytes shown */
  readonly totalBytes?: number;
  /** What the items are. @default 'objects' */
  readonly unit?: string;
  /** Draw nothing. @default false */
  readonly quiet?: boolean;
  /** Away from a terminal, the first plain line after and between lines. @default 5000 */
  readonly plainEveryMs?: number;
}

export class Progress {
  private items = 0;
  private bytes = 0;
  private detail = '';
  private readonly started = Date.now();
  private bar: SingleBar | undefined;
  private lib: CliProgress | undefined;
  private readonly pending: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly opts: ProgressOptions) {
    if (opts.quiet) return;
    const interactive = (opts.stream as { isTTY?: boolean }).isTTY === true;
    const every = opts.plainEveryMs ?? 5000;
    if (interactive) this.start(interactive, every);
    else {
      this.pending = setTimeout(() => this.start(interactive, every), every);
      this.pending.unref();
    }
  }

  /** Bytes moved (of `totalBytes`). */
  addBytes(n: number): void {
    this.bytes += n;
  }

  /** Items finished. */
  itemDone(n = 1): void {
    this.items += n;
  }

  /** Set the count outright, with optional text after it ("3 retrying, 0 in DLQ"). */
  set(items: number, detail = ''): void {
    this.items = items;
    this.detail = detail;
  }

  /** Draw the last state (away from a terminal, if a line was ever drawn) and clear the line. */
  stop(): void {
    clearTimeout(this.pending);
    this.bar?.stop();
    this.bar = undefined;
    this.running = false;
  }

  /** The line as drawn now. */
  line(options?: Options): string {
    const { label, total, totalBytes, unit = 'objects' } = this.opts;
    const secs = Math.max(0.001, (Date.now() - this.started) / 1000);
    const parts: string[] = [];
    if (total === undefined) parts.push(`${label}: ${this.items} ${unit}`);
    else {
      const bar =
        options && this.lib
          ? ` ${this.lib.Format.BarFormat(total > 0 ? this.items / total : 1, options)}`
          : '';
      parts.push(`${label}${bar} ${this.items}/${total} ${unit}`);
    }
    if (totalBytes !== undefined)
      parts.push(
        `${formatBytes(this.bytes)}/${formatBytes(totalBytes)}, ${formatBytes(this.bytes / secs)}/s`,
      );
    if (this.detail) parts.push(this.detail);
    const eta = this.etaSeconds(secs);
    if (eta !== undefined) parts.push(`ETA ${Math.ceil(eta)} s`);
    return parts.join(', ');
  }

  private etaSeconds(secs: number): number | undefined {
    const { total, totalBytes } = this.opts;
    if (totalBytes !== undefined && this.bytes > 0 && totalBytes > this.bytes)
      return (totalBytes - this.bytes) / (this.bytes / secs);
    if (total !== undefined && this.items > 0 && total > this.items)
      return (total - this.items) / (this.items / secs);
    return undefined;
  }

  private start(interactive: boolean, every: number): void {
    this.running = true;
    void import('cli-progress').then((mod) => {
      // A CommonJS package: Node's loader lists its names, the CLI bundle only its `default`.
      const lib = (mod as unknown as { default?: CliProgress }).default ?? mod;
      if (!this.running) return; // stopped while loading: nothing to draw
      this.lib = lib;
      this.bar = new lib.SingleBar({
        stream: this.opts.stream as NodeJS.WriteStream,
        format: (options) => this.line(options),
        fps: 5,
        barsize: 20,
        noTTYOutput: !interactive,
        notTTYSchedule: every,
        clearOnComplete: true,
        linewrap: true,
      });
      this.bar.start(this.opts.total ?? 0, 0);
    });
  }
}
