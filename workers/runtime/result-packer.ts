/**
 * Gathers the results of jobs of one batch that finish close together into one object, a pack
 * (core/result-packs.ts), when the worker is given `resultPacking`. A result PUT is most of the
 * worker's cost per small job (docs/performance.md); a pack of 50 makes it one request in 50.
 *
 * `add` resolves once the pack holding the result is written, and rejects if that PUT fails:
 * only then may the job's message be deleted (job-runner.ts), so a worker that dies with a pack
 * still open leaves its jobs on the queue to be delivered again. A pack is written when it holds
 * `maxJobs` results, when the next result would take it past `maxBytes`, `maxDelayMs` after its
 * first result, or earlier when a job's message would otherwise become visible again while it
 * waits; `flush` writes every open pack now (the drain).
 */
import { randomBytes } from 'node:crypto';
import { errorText } from '../../core/errors.js';
import type { ObjectStore } from '../../core/ports/object-store.js';
import type { ResolvedResultPacking } from '../../core/result-packs.js';
import { packBody, packKey } from '../../core/result-packs.js';
import type { Logger } from './logger.js';

/** A pack is written at least this long before any of its jobs' messages would be visible again. */
export const VISIBILITY_MARGIN_MS = 2000;

interface Waiting {
  readonly body: string;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

interface OpenPack {
  readonly batch: string;
  readonly items: Waiting[];
  bytes: number;
  dueMs: number;
  timer?: NodeJS.Timeout;
}

/** The JSON around a pack's records, counted towards maxBytes. */
const PACK_OVERHEAD_BYTES = 256;

export class ResultPacker {
  private readonly open = new Map<string, OpenPack>();
  private readonly writing = new Set<Promise<void>>();
  /** This process's part of its pack ids: a worker id alone may come back (same host, same pid). */
  private readonly idPrefix: string;
  private seq = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly workerId: string,
    private readonly opts: ResolvedResultPacking,
    private readonly log: Logger,
  ) {
    const safe = workerId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
    this.idPrefix = `${safe}-${randomBytes(4).toString('hex')}`;
  }

  /** Whether a result record of this size goes into a pack (else it is written alone). */
  takes(bytes: number): boolean {
    return bytes + PACK_OVERHEAD_BYTES <= this.opts.maxBytes;
  }

  /**
   * Add a serialized result record of `batch`; resolves when its pack is written. `visibleAtMs`:
   * when the job's message would be visible again on the queue.
   */
  add(batch: string, body: string, bytes: number, visibleAtMs: number): Promise<void> {
    let pack = this.open.get(batch);
    if (pack && pack.bytes + bytes + 1 > this.opts.maxBytes) {
      this.write(pack);
      pack = undefined;
    }
    if (!pack) {
      pack = { batch, items: [], bytes: PACK_OVERHEAD_BYTES, dueMs: Number.POSITIVE_INFINITY };
      this.open.set(batch, pack);
    }
    const open = pack;
    const written = new Promise<void>((resolve, reject) => open.items.push({ body, resolve, reject }));
    open.bytes += bytes + 1;
    const now = Date.now();
    const due = Math.min(now + this.opts.maxDelayMs, visibleAtMs - VISIBILITY_MARGIN_MS);
    if (open.items.length >= this.opts.maxJobs || due <= now) this.write(open);
    else if (due < open.dueMs) {
      clearTimeout(open.timer);
      open.dueMs = due;
      open.timer = setTimeout(() => this.write(open), due - now);
    }
    return written;
  }

  /** Write every open pack now; resolves when every pack begun so far is written or has failed. */
  async flush(): Promise<void> {
    for (const pack of [...this.open.values()]) this.write(pack);
    await Promise.allSettled([...this.writing]);
  }

  private write(pack: OpenPack): void {
    clearTimeout(pack.timer);
    if (this.open.get(pack.batch) === pack) this.open.delete(pack.batch);
    const key = packKey(pack.batch, `${this.idPrefix}-${++this.seq}`);
    const body = packBody(
      pack.batch,
      this.workerId,
      pack.items.map((i) => i.body),
    );
    const p = this.store
      .put(key, body, { contentType: 'application/json', ifAbsent: true })
      .then((created) => {
        if (!created) throw new Error(`a pack already exists at ${key}`);
        for (const i of pack.items) i.resolve();
      })
      .catch((err: unknown) => {
        this.log.warn('could not write a result pack', {
          key,
          jobs: pack.items.length,
          error: errorText(err),
        });
        const e = err instanceof Error ? err : new Error(String(err));
        for (const i of pack.items) i.reject(e);
      })
      .finally(() => this.writing.delete(p));
    this.writing.add(p);
  }
}
