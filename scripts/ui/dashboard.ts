/**
 * The dashboard's data and actions over one deployment (job queues, DLQs, bucket), for the HTTP
 * API in server.ts. It counts with GetQueueAttributes and lists the bucket's records; it never
 * receives from the job queue. See docs/dashboard.md for what a refresh costs in requests.
 */
import { redrive } from '../../client/dlq.js';
import { requestCancel, Submitter } from '../../client/submit.js';
import { assertId, type ErrorRecord, type WorkerStatusRecord } from '../../core/envelope.js';
import type { ObjectInfo, ObjectStore } from '../../core/ports/object-store.js';
import { DEFAULT_QUEUE_NAME } from '../../infra/definitions.js';
import { BatchState, type BatchSummary, type JobDetail, type JobRow, type JobStatus } from './batches.js';
import { type CountedQueue, type QueueCounts, QueueHistory, type QueueSample } from './queue-history.js';
import { listAll, RecordCache } from './records.js';

/** One of the deployment's job queues, by name, with its DLQ. */
export type DashboardQueue = CountedQueue;

export interface DashboardOptions {
  /**
   * Every job queue of the deployment (urgent, default, bulk...), highest priority first. A job
   * submitted from the page without a queue goes to the one named 'default', else the first.
   */
  readonly queues: readonly DashboardQueue[];
  readonly store: ObjectStore;
  /** Queue counts are asked for at most once per this long, however many pages refresh. @default 2000 */
  readonly sampleEveryMs?: number;
  /** Batches shown on the overview, newest first. @default 10 */
  readonly batchesShown?: number;
  /** A worker that has not reported for this long is not listed. @default 120000 */
  readonly workerRecentMs?: number;
  /** How long a batch's state is reused between requests (the overview and its job page share one). @default 1500 */
  readonly stateTtlMs?: number;
  /** The same for a batch whose every job has ended (done, failed or cancelled). @default 60000 */
  readonly settledTtlMs?: number;
}

/** A job queue's counts and its DLQ's. */
export interface QueueRow extends QueueCounts {
  readonly name: string;
  readonly url: string;
  readonly dlq: ({ readonly url: string } & QueueCounts) | null;
}

export interface Overview {
  readonly queues: readonly QueueRow[];
  readonly history: QueueSample[];
  readonly workers: WorkerStatusRecord[];
  readonly batches: BatchSummary[];
  readonly at: string;
}

export interface DlqEntry {
  readonly batch: string;
  readonly jobId: string;
  readonly type: string | null;
  readonly attempt: number;
  readonly at: string;
  readonly reason: string;
}

export class Dashboard {
  readonly history: QueueHistory;
  private readonly cache: RecordCache;
  private readonly submitter: Submitter;
  private readonly states = new Map<string, { at: number; ttlMs: number; state: Promise<BatchState> }>();
  private readonly listings = new Map<string, { at: number; value: Promise<unknown> }>();

  constructor(private readonly opts: DashboardOptions) {
    if (opts.queues.length === 0) throw new Error('the dashboard needs at least one job queue');
    this.history = new QueueHistory(opts.queues, {
      minIntervalMs: opts.sampleEveryMs ?? 2000,
      keep: 900,
    });
    this.cache = new RecordCache(opts.store);
    const main = opts.queues.find((q) => q.name === DEFAULT_QUEUE_NAME) ?? opts.queues[0]!;
    this.submitter = new Submitter({
      queue: main.queue,
      queueName: main.name,
      queues: Object.fromEntries(opts.queues.map((q) => [q.name, q.queue])),
      store: opts.store,
    });
  }

  async overview(sinceMs = 0): Promise<Overview> {
    const [sample, workers, batches] = await Promise.all([
      this.history.sample(),
      this.recentWorkers(),
      this.batchList(),
    ]);
    const states = await Promise.all(
      batches.slice(0, this.opts.batchesShown ?? 10).map((b) => this.state(b)),
    );
    return {
      queues: this.opts.queues.map((q, i) => {
        const counts = sample.queues[i]!;
        return {
          name: q.name,
          url: q.queue.url,
          ...counts.jobs,
          dlq: q.dlq && counts.dlq ? { url: q.dlq.url, ...counts.dlq } : null,
        };
      }),
      history: this.history.since(sinceMs),
      workers,
      batches: states.map((s) => s.summary()),
      at: new Date().toISOString(),
    };
  }

  /** One page of a batch's jobs. */
  async jobs(
    batch: string,
    opts: { status?: JobStatus; offset?: number; limit?: number } = {},
  ): Promise<{ summary: BatchSummary; total: number; rows: JobRow[] }> {
    const state = await this.state(assertId(batch, 'batch id'));
    const page = await state.page(this.opts.store, this.cache, {
      ...(opts.status ? { status: opts.status } : {}),
      offset: opts.offset ?? 0,
      limit: Math.min(opts.limit ?? 100, 500),
    });
    return { summary: state.summary(), ...page };
  }

  async job(batch: string, jobId: string): Promise<JobDetail> {
    const state = await this.state(assertId(batch, 'batch id'));
    return state.detail(this.opts.store, this.cache, assertId(jobId, 'job id'));
  }

  /** The jobs of the shown batches that failed for good (their final error records), newest first. */
  async deadLettered(limit = 200): Promise<DlqEntry[]> {
    const batches = (await this.batchList()).slice(0, this.opts.batchesShown ?? 10);
    const states = await Promise.all(batches.map((b) => this.state(b)));
    const out: ErrorRecord[] = [];
    for (const s of states) for (const e of s.errors.values()) if (e.final) out.push(e);
    out.sort((a, b) => b.at.localeCompare(a.at));
    return out.slice(0, limit).map((e) => ({
      batch: e.batch,
      jobId: e.jobId,
      type: e.type ?? null,
      attempt: e.attempt,
      at: e.at,
      reason: `${e.error.name}: ${e.error.message}`,
    }));
  }

  async cancel(batch: string, jobIds?: readonly string[]): Promise<number> {
    const n = await requestCancel(this.opts.store, assertId(batch, 'batch id'), jobIds);
    this.states.delete(batch);
    return n;
  }

  /** Every job queue's DLQ back into that queue; the messages moved in all. */
  async redrive(): Promise<number> {
    const withDlq = this.opts.queues.filter((q) => q.dlq);
    if (withDlq.length === 0) throw new Error('this deployment has no DLQ to redrive');
    // All at once: each ends with its empty long polls, so one after another would add them up.
    const counts = await Promise.all(
      withDlq.map((q) =>
        redrive({ dlq: q.dlq!, queue: q.queue, store: this.opts.store, max: Number.POSITIVE_INFINITY }),
      ),
    );
    const moved = counts.reduce((a, b) => a + b, 0);
    this.forget();
    return moved;
  }

  /** One job, to the job queue called `queue` (@default - the 'default' queue). */
  async submit(type: string, payload: unknown, batch?: string, queue?: string): Promise<{ batch: string }> {
    const handle = await this.submitter.submit(type, payload, {
      ...(batch ? { batch } : {}),
      ...(queue ? { queue } : {}),
    });
    this.forget();
    return { batch: handle.batch };
  }

  /** Read the listings again on the next call (records already read stay known by their ETag). */
  forget(): void {
    this.states.clear();
    this.listings.clear();
  }

  /** Batch manifests, newest first (one LIST per 1,000 batches). */
  private batchList(): Promise<ObjectInfo[]> {
    return this.shared('batches', async () => {
      const all = await listAll(this.opts.store, 'batches/');
      return all.sort((a, b) => b.lastModifiedMs - a.lastModifiedMs || b.key.localeCompare(a.key));
    });
  }

  private state(info: ObjectInfo | string): Promise<BatchState> {
    const batch = typeof info === 'string' ? info : info.key.slice('batches/'.length, -'.json'.length);
    const hit = this.states.get(batch);
    if (hit && Date.now() - hit.at < hit.ttlMs) return hit.state;
    const state = this.recentWorkers().then((workers) =>
      BatchState.load(
        this.opts.store,
        this.cache,
        batch,
        workers,
        typeof info === 'string' ? undefined : info,
      ),
    );
    const entry = { at: Date.now(), ttlMs: this.opts.stateTtlMs ?? 1500, state };
    this.states.set(batch, entry);
    state.then(
      // Fresh from when it was read. A batch with every job ended changes only through a redrive
      // or a resubmit: read it once a minute.
      (s) => {
        entry.at = Date.now();
        if (s.settled) entry.ttlMs = Math.max(entry.ttlMs, this.opts.settledTtlMs ?? 60_000);
      },
      () => this.states.delete(batch),
    );
    return state;
  }

  /** Workers whose last status report is recent: one LIST, and a GET per report that changed. */
  private recentWorkers(): Promise<WorkerStatusRecord[]> {
    return this.shared('workers', async () => {
      const infos = await listAll(this.opts.store, 'workers/');
      const recentMs = this.opts.workerRecentMs ?? 120_000;
      const fresh = infos.filter((o) => o.lastModifiedMs > Date.now() - recentMs);
      const recs = await Promise.all(fresh.map((o) => this.cache.read<WorkerStatusRecord>(o)));
      return recs
        .filter((r): r is WorkerStatusRecord => r !== undefined && !r.stopped)
        .sort((a, b) => a.worker.localeCompare(b.worker));
    });
  }

  /** One answer per `stateTtlMs` for every caller: the calls of one page refresh share a listing. */
  private shared<T>(name: string, load: () => Promise<T>): Promise<T> {
    const hit = this.listings.get(name);
    if (hit && Date.now() - hit.at < (this.opts.stateTtlMs ?? 1500)) return hit.value as Promise<T>;
    const value = load();
    const entry = { at: Date.now(), value };
    value.then(
      () => {
        entry.at = Date.now();
      },
      () => this.listings.delete(name),
    );
    this.listings.set(name, entry);
    return value;
  }
}
