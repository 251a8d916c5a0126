/**
 * What the dashboard knows about a batch, from the bucket alone (never from the queue: receiving
 * a job to look at it would hide it from the workers and count towards its DLQ move). One LIST
 * per 1,000 keys of each of results/, cancelled/, errors/, progress/ and cancel/ under the batch;
 * the manifest (batches/) for the jobs still queued; records read through the RecordCache, result
 * packs (core/result-packs.ts) once each.
 */
import {
  type BatchManifest,
  type CancelledRecord,
  type ErrorRecord,
  jobIdOfKey,
  MANIFEST_PREVIEW_CHARS,
  manifestKey,
  type ProgressRecord,
  parseCancelKey,
  payloadKey,
  type ResultRecord,
  resultKey,
  type WorkerStatusRecord,
} from '../../core/envelope.js';
import type { ObjectInfo, ObjectStore } from '../../core/ports/object-store.js';
import { resultJobIds } from '../../core/result-packs.js';
import { listAll, type RecordCache } from './records.js';

export type JobStatus = 'queued' | 'running' | 'cancelling' | 'retrying' | 'done' | 'failed' | 'cancelled';
export const JOB_STATUSES: readonly JobStatus[] = [
  'queued',
  'running',
  'cancelling',
  'retrying',
  'done',
  'failed',
  'cancelled',
];

export interface BatchSummary {
  readonly batch: string;
  readonly type: string | null;
  readonly submittedAt: string | null;
  /** Jobs in the manifest (or seen in the bucket, for a batch without one). */
  readonly total: number;
  readonly counts: Record<JobStatus, number>;
  /** Results recorded in the last minute, per second. */
  readonly throughputPerSecond: number;
  readonly lastResultAt: string | null;
  /** 'batch' when the whole batch was asked to cancel; else how many of its jobs were. */
  readonly cancelRequested: 'batch' | number;
}

export interface JobRow {
  readonly jobId: string;
  readonly status: JobStatus;
  readonly attempt: number | null;
  readonly durationMs: number | null;
  readonly startedAt: string | null;
  readonly progress: number | null;
  readonly note: string | null;
  readonly worker: string | null;
  readonly error: string | null;
}

export interface JobDetail extends JobRow {
  readonly batch: string;
  /** The payload as the manifest keeps it (cut to its first 1,000 characters), or the claim-checked object's. */
  readonly payload: string | null;
  readonly result: unknown;
  readonly errorRecord: ErrorRecord | null;
  readonly cancelled: CancelledRecord | null;
}

type Running = WorkerStatusRecord['running'][number] & { worker: string };

/** A batch as the bucket shows it at one moment. */
export class BatchState {
  readonly done = new Set<string>();
  /** Jobs whose result is in a pack only (none of their own), with that pack's key. */
  readonly packed = new Map<string, string>();
  readonly cancelled = new Set<string>();
  readonly errors = new Map<string, ErrorRecord>();
  readonly progress = new Map<string, ObjectInfo>();
  readonly running = new Map<string, Running>();
  readonly cancelJobs = new Set<string>();
  cancelAll = false;
  readonly recentResults: number;
  readonly lastResultMs: number;

  private constructor(
    readonly batch: string,
    readonly manifest: BatchManifest | undefined,
    /** When each result was recorded (a packed one: when its pack was written). */
    recordedMs: readonly number[],
    readonly at: number,
  ) {
    let recent = 0;
    let last = 0;
    for (const t of recordedMs) {
      if (t > at - 60_000) recent++;
      last = Math.max(last, t);
    }
    this.recentResults = recent;
    this.lastResultMs = last;
  }

  static async load(
    store: ObjectStore,
    cache: RecordCache,
    batch: string,
    workers: readonly WorkerStatusRecord[],
    manifestInfo?: ObjectInfo,
  ): Promise<BatchState> {
    const under = (prefix: string) => listAll(store, `${prefix}${batch}/`);
    const [manifest, results, cancelled, errors, progress, cancels] = await Promise.all([
      manifestInfo
        ? cache.read<BatchManifest>(manifestInfo)
        : cache.readAny<BatchManifest>(manifestKey(batch)),
      under('results/'),
      under('cancelled/'),
      under('errors/'),
      under('progress/'),
      under('cancel/'),
    ]);
    const resolved = await cache.packs.resolve(results);
    const { singles, packs, packed } = resolved;
    const packedAt = new Map(packs.map((o) => [o.key, o.lastModifiedMs]));
    const recorded = [
      ...singles.map((o) => o.lastModifiedMs),
      ...[...packed.values()].map((pack) => packedAt.get(pack) ?? 0),
    ];
    const s = new BatchState(batch, manifest, recorded, Date.now());
    for (const o of cancelled) s.cancelled.add(jobIdOfKey(o.key));
    for (const [id, pack] of packed) s.packed.set(id, pack);
    for (const id of resultJobIds(resolved)) if (!s.cancelled.has(id)) s.done.add(id);
    for (const o of cancels) {
      const req = parseCancelKey(o.key);
      if (req?.jobId) s.cancelJobs.add(req.jobId);
      else if (req) s.cancelAll = true;
    }
    const open = (list: ObjectInfo[]) => list.filter((o) => !s.isFinal(jobIdOfKey(o.key)));
    await Promise.all(
      open(errors).map(async (o) => {
        const rec = await cache.read<ErrorRecord>(o);
        if (rec) s.errors.set(rec.jobId, rec);
      }),
    );
    for (const o of open(progress)) {
      // A report older than the job's last failure belongs to an attempt that is over.
      const id = jobIdOfKey(o.key);
      const err = s.errors.get(id);
      if (!err || o.lastModifiedMs > Date.parse(err.at)) s.progress.set(id, o);
    }
    for (const w of workers) {
      if (w.stopped) continue;
      for (const r of w.running) if (r.batch === batch) s.running.set(r.jobId, { ...r, worker: w.worker });
    }
    return s;
  }

  /** Every job has ended (done, failed for good, or cancelled) and no cancel waits on a worker. */
  get settled(): boolean {
    return this.jobIds().every((id) => {
      const s = this.statusOf(id);
      return s === 'done' || s === 'failed' || s === 'cancelled';
    });
  }

  isFinal(id: string): boolean {
    return this.done.has(id) || this.cancelled.has(id);
  }

  /** Every job id: the manifest's, in its order, then any others the bucket shows, sorted. */
  jobIds(): string[] {
    const ids = this.manifest ? [...this.manifest.jobIds] : [];
    const known = new Set(ids);
    const extra = new Set<string>();
    for (const set of [
      this.done,
      this.cancelled,
      this.errors.keys(),
      this.progress.keys(),
      this.running.keys(),
    ])
      for (const id of set) if (!known.has(id)) extra.add(id);
    return [...ids, ...[...extra].sort()];
  }

  statusOf(id: string): JobStatus {
    if (this.cancelled.has(id)) return 'cancelled';
    if (this.done.has(id)) return 'done';
    const err = this.errors.get(id);
    if (err?.final) return 'failed';
    const requested = this.cancelAll || this.cancelJobs.has(id);
    const running = this.running.has(id) || this.progress.has(id);
    if (requested) return 'cancelling';
    if (running) return 'running';
    if (err) return 'retrying';
    return 'queued';
  }

  summary(): BatchSummary {
    const counts = Object.fromEntries(JOB_STATUSES.map((k) => [k, 0])) as Record<JobStatus, number>;
    const ids = this.jobIds();
    for (const id of ids) counts[this.statusOf(id)]++;
    return {
      batch: this.batch,
      type: this.manifest?.type ?? null,
      submittedAt: this.manifest?.submittedAt ?? null,
      total: ids.length,
      counts,
      throughputPerSecond: Number((this.recentResults / 60).toFixed(2)),
      lastResultAt: this.lastResultMs ? new Date(this.lastResultMs).toISOString() : null,
      cancelRequested: this.cancelAll ? 'batch' : this.cancelJobs.size,
    };
  }

  /** One page of jobs, optionally of one status; the records behind the rows are read for this page only. */
  async page(
    store: ObjectStore,
    cache: RecordCache,
    opts: { status?: JobStatus; offset: number; limit: number },
  ): Promise<{ total: number; rows: JobRow[] }> {
    let ids = this.jobIds();
    if (opts.status) ids = ids.filter((id) => this.statusOf(id) === opts.status);
    const slice = ids.slice(opts.offset, opts.offset + opts.limit);
    const rows = await Promise.all(slice.map((id) => this.row(store, cache, id)));
    return { total: ids.length, rows };
  }

  async row(_store: ObjectStore, cache: RecordCache, id: string): Promise<JobRow> {
    const status = this.statusOf(id);
    const base = {
      jobId: id,
      status,
      attempt: null,
      durationMs: null,
      startedAt: null,
      progress: null,
      note: null,
      worker: null,
      error: null,
    };
    if (status === 'done' || status === 'cancelled') {
      const rec = await this.final(cache, id);
      if (!rec) return base;
      if (rec.status === 'cancelled')
        return { ...base, attempt: rec.attempt, worker: rec.worker, note: `cancelled at ${rec.at}` };
      return {
        ...base,
        attempt: rec.attempt,
        durationMs: rec.durationMs,
        startedAt: rec.startedAt,
        worker: rec.worker,
        progress: 1,
      };
    }
    const err = this.errors.get(id);
    const run = this.running.get(id);
    const info = this.progress.get(id);
    const prog = info ? await cache.read<ProgressRecord>(info) : undefined;
    return {
      ...base,
      attempt: run?.attempt ?? prog?.attempt ?? err?.attempt ?? null,
      startedAt: run?.startedAt ?? null,
      durationMs: run ? Math.max(0, this.at - Date.parse(run.startedAt)) : null,
      progress: prog?.fraction ?? null,
      note: prog?.note ?? null,
      worker: run?.worker ?? prog?.worker ?? err?.worker ?? null,
      error: err ? `${err.error.name}: ${err.error.message}` : null,
    };
  }

  /** A finished job's record: its own, or the one in a pack. */
  private async final(cache: RecordCache, id: string): Promise<ResultRecord | CancelledRecord | undefined> {
    const pack = this.packed.get(id);
    if (pack !== undefined) return cache.packs.record(pack, id);
    return cache.readAny<ResultRecord | CancelledRecord>(resultKey(this.batch, id));
  }

  async detail(store: ObjectStore, cache: RecordCache, id: string): Promise<JobDetail> {
    const row = await this.row(store, cache, id);
    const at = this.manifest?.jobIds.indexOf(id) ?? -1;
    let payload = at >= 0 ? (this.manifest?.payloadPreviews?.[at] ?? null) : null;
    if (payload && payload.length >= MANIFEST_PREVIEW_CHARS) {
      // Cut short in the manifest: a payload that large was claim-checked to the bucket, if big enough.
      const body = await store.get(payloadKey(this.batch, id)).catch(() => undefined);
      if (body) payload = body.subarray(0, 64 * 1024).toString('utf8');
    }
    const final = this.isFinal(id) ? await this.final(cache, id) : undefined;
    return {
      ...row,
      batch: this.batch,
      payload,
      result: final?.status === 'done' ? final.result : null,
      errorRecord: this.errors.get(id) ?? null,
      cancelled: final?.status === 'cancelled' ? final : null,
    };
  }
}
