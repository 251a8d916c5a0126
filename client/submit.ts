/**
 * The submitting side, as a library: submit one job, submit many (SendMessageBatch, 10 a call,
 * several calls at once), and wait for a batch's results (fan-in).
 *
 *   const flotilla = new Submitter({ queue, store, queues: { urgent, bulk } });
 *   const batch = await flotilla.submitMany('wordcount', keys.map((key) => ({ payload: { key } })));
 *   await flotilla.submit('resize', { key }, { queue: 'urgent' });   // overtakes the default queue
 *   const outcome = await batch.waitForAll();
 *   await flotilla.cancel(batch.batch);           // or some of its jobs: cancel(batch, ['j000003'])
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pMap from 'p-map';
import {
  assertId,
  type BatchManifest,
  type CancelledRecord,
  type CancelRequest,
  cancelKey,
  ENVELOPE_VERSION,
  type Envelope,
  EnvelopeSchema,
  type ErrorRecord,
  errorKey,
  type FinalRecord,
  JOB_ID_ATTRIBUTE,
  jobIdOfKey,
  MANIFEST_PREVIEW_CHARS,
  manifestKey,
  type ProgressRecord,
  payloadKey,
  RESENT_ATTRIBUTE,
  type ResultRecord,
  resultKey,
} from '../core/envelope.js';
import { FlotillaError, isMissingObject, PayloadTooLargeError } from '../core/errors.js';
import type { ObjectStore } from '../core/ports/object-store.js';
import type { QueuePort, SendEntry } from '../core/ports/queue.js';
import { PackReader, readFinal, resultJobIds } from '../core/result-packs.js';
import {
  DEFAULT_TARGET_QUEUE,
  type DelayedJob,
  delayedKey,
  SQS_MAX_DELAY_SECONDS,
} from '../core/schedule.js';

export interface SubmitterOptions {
  /** The job queue jobs go to when no `queue` is named (the deployment's 'default'). */
  readonly queue: QueuePort;
  /** The deployment's other job queues by name, for `{ queue: 'urgent' }`. @default - none: only `queue` */
  readonly queues?: Readonly<Record<string, QueuePort>>;
  /** The data bucket: claim-checked payloads go here, results are read from here. */
  readonly store: ObjectStore;
  /** Payloads whose message would be larger than this go to S3 (claim check). @default 204800 (200 KiB) */
  readonly claimCheckThresholdBytes?: number;
  /** Payloads larger than this are refused at submit. @default 67108864 (64 MiB) */
  readonly maxPayloadBytes?: number;
  /** SendMessageBatch calls in flight at once. @default 8 */
  readonly parallelSends?: number;
  /** The name of `queue` in the deployment, recorded on jobs delayed beyond SQS's limit. @default 'default' */
  readonly queueName?: string;
}

export interface JobSpec<P = unknown> {
  readonly payload: P;
  /** The idempotency key: a job id whose result exists is not run again. @default - its index in the batch */
  readonly id?: string;
}

export interface SubmitManyOptions {
  /** Reuse a batch id to resume an interrupted submit without duplicating results. @default - a new id */
  readonly batch?: string;
  /** Skip jobs of the batch that already have a result. @default true */
  readonly skipDone?: boolean;
  readonly onProgress?: (sent: number, total: number) => void;
  /**
   * Hold the jobs back this long. Up to 900 s SQS delays the messages itself; longer, each job
   * waits as a record under `scheduled/` in the bucket until a timer (`flotilla scheduler`)
   * enqueues it. See docs/scheduling.md. @default 0
   */
  readonly delaySeconds?: number;
  /** Run the jobs at this time instead of after a delay (not both). @default - now */
  readonly runAt?: Date;
  /** The job queue, by name ('urgent', 'bulk'...), delayed jobs included. @default - the Submitter's `queue` */
  readonly queue?: string;
}

/** SQS caps one SendMessageBatch request at 256 KiB in total. */
const BATCH_BYTES = 256 * 1024;

export function newBatchId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `b${t}-${randomBytes(3).toString('hex')}`;
}

/** Job ids for jobs without one: their position in the batch, so a re-run names them the same. */
export const indexId = (i: number) => `j${String(i).padStart(6, '0')}`;

export class Submitter {
  private readonly threshold: number;
  private readonly maxPayload: number;
  private readonly parallel: number;

  constructor(private readonly opts: SubmitterOptions) {
    this.threshold = opts.claimCheckThresholdBytes ?? 200 * 1024;
    this.maxPayload = opts.maxPayloadBytes ?? 64 * 1024 * 1024;
    this.parallel = opts.parallelSends ?? 8;
  }

  get store(): ObjectStore {
    return this.opts.store;
  }

  /** Submit one job. Returns a handle whose waitForAll() resolves with its result. */
  async submit<P>(
    type: string,
    payload: P,
    opts: { id?: string; batch?: string } & Pick<SubmitManyOptions, 'delaySeconds' | 'runAt' | 'queue'> = {},
  ): Promise<BatchHandle> {
    const { id = randomUUID(), batch, ...rest } = opts;
    return this.submitMany(type, [{ payload, id }], { ...(batch ? { batch } : {}), ...rest });
  }

  /** Submit many jobs of one type as one batch. Jobs without an id are named by their index. */
  async submitMany<P>(
    type: string,
    jobs: Iterable<JobSpec<P>> | AsyncIterable<JobSpec<P>>,
    opts: SubmitManyOptions = {},
  ): Promise<BatchHandle> {
    const batch = opts.batch ? assertId(opts.batch, 'batch id') : newBatchId();
    const delay = delayOf(opts);
    const target = this.queueNamed(opts.queue);
    const specs: JobSpec<P>[] = [];
    let i = 0;
    for await (const j of jobs) {
      specs.push({ payload: j.payload, id: j.id ?? indexId(i) });
      i++;
    }
    const ids = specs.map((s) => s.id!);
    const dup = ids.find((id, k) => ids.indexOf(id) !== k);
    if (dup)
      throw new FlotillaError(`job id '${dup}' appears twice in batch ${batch}; job ids must be unique`);
    const done = opts.skipDone === false ? new Set<string>() : await this.doneIds(batch);
    const submittedAt = new Date().toISOString();
    // A batch id given again may add jobs to the batch (a fan-out submitted in chunks): its
    // manifest keeps the jobs of every call, so `results`, `--wait` and the dashboard see them all.
    const previous = opts.batch !== undefined ? await this.readManifest(batch) : undefined;
    const manifest = mergeManifest(previous, {
      v: 1,
      batch,
      type,
      queue: target.queue.url,
      submittedAt,
      total: ids.length,
      jobIds: ids,
      payloadPreviews: specs.map((sp) =>
        (JSON.stringify(sp.payload) ?? 'null').slice(0, MANIFEST_PREVIEW_CHARS),
      ),
    });
    // Validate and size everything before sending anything: a bad job fails the whole submit.
    const envelopes: Envelope[] = [];
    for (const s of specs) {
      if (done.has(s.id!)) continue;
      envelopes.push(this.envelope(type, batch, s, submittedAt));
    }
    const entries: SendEntry[] = [];
    for (const env of envelopes) entries.push(await this.toEntry(env));
    // A batch id given again (a resumed submit) may re-send jobs sent before, perhaps finished
    // since the listing above: their messages say so, and a worker checks for their results
    // before running them. Other jobs go unmarked: a worker runs their first delivery unchecked.
    const resent =
      opts.batch !== undefined &&
      (previous !== undefined || (await this.sentBefore(batch, done, opts.skipDone !== false)));
    // Before the jobs: whoever looks at the batch (a dashboard, `results`) knows what is queued.
    await this.opts.store.put(manifestKey(batch), JSON.stringify(manifest), {
      contentType: 'application/json',
    });
    const progress = (n: number) => opts.onProgress?.(n + done.size, specs.length);
    const submitted = { skipped: done.size, sent: entries.length, type };
    if (delay > SQS_MAX_DELAY_SECONDS) {
      const dueAtMs = Date.now() + delay * 1000;
      await this.park(entries, target.name, dueAtMs, progress);
      return new BatchHandle(this.opts.store, batch, ids, {
        ...submitted,
        dueAt: new Date(dueAtMs).toISOString(),
      });
    }
    await this.sendAll(
      target.queue,
      delay > 0 ? entries.map((e) => ({ ...e, delaySeconds: delay })) : entries,
      progress,
      resent,
    );
    return new BatchHandle(this.opts.store, batch, ids, submitted);
  }

  /** The queue called `name`, or the Submitter's own; throws naming the known ones. */
  private queueNamed(name: string | undefined): { name: string; queue: QueuePort } {
    const own = this.opts.queueName ?? DEFAULT_TARGET_QUEUE;
    if (name === undefined || name === own) return { name: own, queue: this.opts.queue };
    const queue = this.opts.queues?.[name];
    if (!queue)
      throw new FlotillaError(
        `no job queue named '${name}'; this submitter knows: ${[own, ...Object.keys(this.opts.queues ?? {})].join(', ')}`,
      );
    return { name, queue };
  }

  /** Jobs due beyond SQS's delay limit: one record each under scheduled/, naming their queue, for a timer to send. */
  private async park(
    entries: SendEntry[],
    queue: string,
    dueAtMs: number,
    onProgress: (n: number) => void,
  ): Promise<void> {
    const dueAt = new Date(dueAtMs).toISOString();
    let n = 0;
    await pool(entries, this.parallel, async (e) => {
      const envelope = JSON.parse(e.body) as Envelope;
      const record: DelayedJob = { v: 1, queue, dueAt, envelope };
      await this.opts.store.put(delayedKey(dueAtMs, envelope.batch, envelope.id), JSON.stringify(record), {
        contentType: 'application/json',
      });
      onProgress(++n);
    });
  }

  /**
   * Ask the workers to cancel a batch (every job) or some of its jobs: one small object per
   * request under cancel/. A job not yet started is dropped when a worker next receives it; a
   * running one has its signal aborted within a heartbeat interval. Each ends with a final
   * `cancelled` record, unless it finished first (then its result stands).
   */
  async cancel(batch: string, jobIds?: readonly string[]): Promise<number> {
    return requestCancel(this.opts.store, assertId(batch, 'batch id'), jobIds);
  }

  /** A handle on a batch submitted earlier (by id), to wait for or inspect. */
  batch(batch: string, jobIds?: readonly string[]): BatchHandle {
    return new BatchHandle(this.opts.store, assertId(batch, 'batch id'), jobIds);
  }

  private envelope<P>(type: string, batch: string, s: JobSpec<P>, submittedAt: string): Envelope {
    const env = { v: ENVELOPE_VERSION, id: s.id!, type, batch, submittedAt, payload: s.payload ?? null };
    const parsed = EnvelopeSchema.safeParse(env);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new FlotillaError(`job ${s.id}: ${issue?.path.join('.') || 'envelope'}: ${issue?.message}`);
    }
    return env as Envelope;
  }

  private async toEntry(env: Envelope): Promise<SendEntry> {
    const body = JSON.stringify(env);
    const size = Buffer.byteLength(body);
    if (size <= this.threshold) return { id: env.id, body };
    const payload = Buffer.from(JSON.stringify(env.payload));
    if (payload.length > this.maxPayload)
      throw new PayloadTooLargeError(payload.length, this.maxPayload, env.id);
    const key = payloadKey(env.batch, env.id);
    if (payload.length > 8 * 1024 * 1024) {
      await this.opts.store.upload(key, payload, { contentType: 'application/json' });
    } else {
      await this.opts.store.put(key, payload, { contentType: 'application/json' });
    }
    const ref = { key, size: payload.length, sha256: createHash('sha256').update(payload).digest('hex') };
    const { payload: _omit, ...rest } = env;
    return { id: env.id, body: JSON.stringify({ ...rest, payloadRef: ref }) };
  }

  private async sendAll(
    queue: QueuePort,
    entries: SendEntry[],
    onProgress: (sent: number) => void,
    resent: boolean,
  ): Promise<void> {
    const mark: Record<string, string> = resent ? { [RESENT_ATTRIBUTE]: '1' } : {};
    const groups: SendEntry[][] = [];
    let cur: SendEntry[] = [];
    let bytes = 0;
    for (const e of entries) {
      const b = Buffer.byteLength(e.body);
      if (cur.length === 10 || (cur.length > 0 && bytes + b > BATCH_BYTES)) {
        groups.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push({ ...e, id: String(cur.length), attributes: { [JOB_ID_ATTRIBUTE]: e.id, ...mark } });
      bytes += b;
    }
    if (cur.length > 0) groups.push(cur);
    let sent = 0;
    await pool(groups, this.parallel, async (g) => {
      await this.sendGroup(queue, g);
      sent += g.length;
      onProgress(sent);
    });
  }

  private async sendGroup(queue: QueuePort, group: SendEntry[]): Promise<void> {
    let todo = group;
    for (let attempt = 1; ; attempt++) {
      const failed = await queue.sendBatch(todo);
      if (failed.length === 0) return;
      const fatal = failed.find((f) => f.senderFault);
      const byId = new Map(todo.map((e) => [e.id, e]));
      if (fatal || attempt >= 5) {
        const f = fatal ?? failed[0]!;
        const jobId = byId.get(f.id)?.attributes?.[JOB_ID_ATTRIBUTE];
        throw new FlotillaError(`the queue refused job ${jobId}: ${f.code} ${f.message}`.trim());
      }
      todo = failed.map((f) => byId.get(f.id)!).filter(Boolean);
      await sleep(100 * 2 ** attempt);
    }
  }

  /** The batch's manifest, if a submit wrote one before. */
  private async readManifest(batch: string): Promise<BatchManifest | undefined> {
    try {
      return await readJson<BatchManifest>(this.opts.store, manifestKey(batch));
    } catch (err) {
      if (isMissingObject(err)) return undefined;
      throw err;
    }
  }

  /** Whether jobs of this batch may have been sent before (there is no manifest): a result says so. */
  private async sentBefore(batch: string, done: Set<string>, listed: boolean): Promise<boolean> {
    if (done.size > 0) return true;
    if (listed) return false;
    for await (const _ of this.opts.store.list(`results/${batch}/`)) return true;
    return false;
  }

  private async doneIds(batch: string): Promise<Set<string>> {
    const listing: { key: string }[] = [];
    for await (const o of this.opts.store.list(`results/${batch}/`)) listing.push(o);
    return new Set(resultJobIds(await new PackReader(this.opts.store).resolve(listing)));
  }
}

export interface BatchStatus {
  readonly batch: string;
  /** Job ids with a result. */
  readonly done: Set<string>;
  /** Job ids that ended cancelled (their final record says so). */
  readonly cancelled: Set<string>;
  /** Job ids that failed for good (sent to the DLQ), with the last error. */
  readonly deadLettered: Map<string, ErrorRecord>;
  /** Job ids that failed at least once and are waiting for a retry. */
  readonly retrying: Map<string, ErrorRecord>;
  /** The last progress reported by jobs that have no final record yet. */
  readonly progress: Map<string, ProgressRecord>;
}

export interface BatchOutcome<R = unknown> {
  readonly batch: string;
  /** True when every job is done, cancelled or dead-lettered. */
  readonly complete: boolean;
  readonly results: Map<string, ResultRecord<R>>;
  readonly deadLettered: ErrorRecord[];
  /** How many jobs have a result (whether or not `results` was fetched). */
  readonly done: number;
  /** Job ids that ended cancelled. */
  readonly cancelled: string[];
  /** Job ids neither done, cancelled nor dead-lettered when waiting stopped. */
  readonly pending: string[];
  readonly elapsedMs: number;
}

export interface WaitOptions {
  /** @default 500 */
  readonly pollMs?: number;
  /** Stop waiting after this long and return what is there. @default - no limit */
  readonly timeoutMs?: number;
  /** Fetch every result object. @default true */
  readonly fetchResults?: boolean;
  readonly onProgress?: (status: BatchStatus, total: number) => void;
  readonly signal?: AbortSignal;
}

/**
 * The manifest after another submit call to the same batch: its jobs, then this call's new ones
 * (a job sent again keeps its place and takes the new payload preview). The first call's type,
 * queue and time stay; a batch that mixes types or queues is named by its first.
 */
export function mergeManifest(previous: BatchManifest | undefined, next: BatchManifest): BatchManifest {
  if (!previous) return next;
  const ids = [...previous.jobIds];
  const previews = previous.jobIds.map((_, i) => previous.payloadPreviews?.[i] ?? '');
  const at = new Map(ids.map((id, i) => [id, i]));
  next.jobIds.forEach((id, i) => {
    const preview = next.payloadPreviews?.[i] ?? '';
    const k = at.get(id);
    if (k !== undefined) previews[k] = preview;
    else {
      at.set(id, ids.length);
      ids.push(id);
      previews.push(preview);
    }
  });
  return { ...previous, total: ids.length, jobIds: ids, payloadPreviews: previews };
}

const readJson = async <T>(store: ObjectStore, key: string): Promise<T> =>
  JSON.parse((await store.get(key)).toString('utf8')) as T;

export class BatchHandle {
  /** Progress records already read, by key, with the ETag they had: read again only when it changes. */
  private readonly progressSeen = new Map<string, { etag: string; record: ProgressRecord }>();
  /** What the batch's result packs hold, each pack read once (a pack never changes). */
  private readonly packs: PackReader;
  /** As the last status() found them: jobs whose result is in a pack only (none of their own). */
  private packedOnly = new Map<string, string>();

  constructor(
    private readonly store: ObjectStore,
    readonly batch: string,
    /** The job ids to wait for; every job with a record under the batch when unknown. */
    readonly jobIds?: readonly string[],
    readonly submitted: { skipped: number; sent: number; type?: string; dueAt?: string } = {
      skipped: 0,
      sent: 0,
    },
  ) {
    this.packs = new PackReader(store);
  }

  /**
   * What the bucket says about the batch now: a listing each of results/, cancelled/, errors/ and
   * progress/ under the batch, plus a GET per error record and per progress record that changed,
   * and per result pack not read before (core/result-packs.ts).
   */
  async status(): Promise<BatchStatus> {
    const keys = async (prefix: string) => {
      const out: { key: string; etag: string }[] = [];
      for await (const o of this.store.list(`${prefix}${this.batch}/`)) out.push(o);
      return out;
    };
    const [results, cancelledKeys, errors, progress] = await Promise.all([
      keys('results/'),
      keys('cancelled/'),
      keys('errors/'),
      keys('progress/'),
    ]);
    const cancelled = new Set(cancelledKeys.map((o) => jobIdOfKey(o.key)));
    const resolved = await this.packs.resolve(results);
    this.packedOnly = resolved.packed;
    const done = new Set<string>();
    for (const id of resultJobIds(resolved)) if (!cancelled.has(id)) done.add(id);
    const final = (id: string) => done.has(id) || cancelled.has(id);
    const deadLettered = new Map<string, ErrorRecord>();
    const retrying = new Map<string, ErrorRecord>();
    const open = (list: { key: string; etag: string }[]) => list.filter((o) => !final(jobIdOfKey(o.key)));
    const running = new Map<string, ProgressRecord>();
    await Promise.all([
      pool(open(errors), 16, async ({ key }) => {
        try {
          const rec = await readJson<ErrorRecord>(this.store, key);
          (rec.final ? deadLettered : retrying).set(rec.jobId, rec);
        } catch {
          // deleted by a redrive between list and get
        }
      }),
      pool(open(progress), 16, async ({ key, etag }) => {
        const seen = this.progressSeen.get(key);
        if (seen && seen.etag === etag) {
          running.set(seen.record.jobId, seen.record);
          return;
        }
        try {
          const record = await readJson<ProgressRecord>(this.store, key);
          this.progressSeen.set(key, { etag, record });
          running.set(record.jobId, record);
        } catch {
          // gone between list and get
        }
      }),
    ]);
    // A report older than the job's last failure belongs to an attempt that is over.
    for (const [id, p] of running) {
      const err = deadLettered.get(id) ?? retrying.get(id);
      if (err && Date.parse(err.at) >= Date.parse(p.at)) running.delete(id);
    }
    return { batch: this.batch, done, cancelled, deadLettered, retrying, progress: running };
  }

  /** Resolve when every job has a final record or went to the DLQ (or on timeout), with the results. */
  async waitForAll<R = unknown>(opts: WaitOptions = {}): Promise<BatchOutcome<R>> {
    const started = Date.now();
    const pollMs = opts.pollMs ?? 500;
    let status: BatchStatus;
    const listed = this.jobIds ?? (await this.manifestIds());
    for (;;) {
      status = await this.status();
      const ids = listed ?? [
        ...new Set([
          ...status.done,
          ...status.cancelled,
          ...status.deadLettered.keys(),
          ...status.retrying.keys(),
          ...status.progress.keys(),
        ]),
      ];
      opts.onProgress?.(status, ids.length);
      const open = ids.filter(
        (id) => !status.done.has(id) && !status.cancelled.has(id) && !status.deadLettered.has(id),
      );
      const timedOut = opts.timeoutMs !== undefined && Date.now() - started >= opts.timeoutMs;
      if (open.length === 0 || timedOut || opts.signal?.aborted) {
        const results = new Map<string, ResultRecord<R>>();
        if (opts.fetchResults !== false) {
          const done = ids.filter((id) => status.done.has(id));
          const packed = new Map<string, string>();
          for (const id of done) {
            const pack = this.packedOnly.get(id);
            if (pack !== undefined) packed.set(id, pack);
          }
          // Packed results: a GET per pack (none for a pack read since); the others, one each.
          for (const [id, rec] of await this.packs.records<R>(packed)) results.set(id, rec);
          await pool(
            done.filter((id) => !packed.has(id)),
            16,
            async (id) => {
              results.set(id, await readJson<ResultRecord<R>>(this.store, resultKey(this.batch, id)));
            },
          );
        }
        return {
          batch: this.batch,
          complete: open.length === 0,
          results,
          deadLettered: [...status.deadLettered.values()],
          done: ids.filter((id) => status.done.has(id)).length,
          cancelled: ids.filter((id) => status.cancelled.has(id)),
          pending: open,
          elapsedMs: Date.now() - started,
        };
      }
      await sleep(pollMs);
    }
  }

  /** The job ids the batch's manifest lists; undefined for a batch submitted without one. */
  private async manifestIds(): Promise<string[] | undefined> {
    if (!(await this.store.head(manifestKey(this.batch)))) return undefined;
    return (await readJson<BatchManifest>(this.store, manifestKey(this.batch))).jobIds;
  }

  /** Ask the workers to cancel this batch's jobs (all of them when `jobIds` is not given). */
  cancel(jobIds?: readonly string[]): Promise<number> {
    return requestCancel(this.store, this.batch, jobIds);
  }

  /** The job's final record: its result (written alone or in a pack), or the record of its cancellation. */
  async final<R = unknown>(jobId: string): Promise<FinalRecord<R> | undefined> {
    const pack = this.packedOnly.get(jobId);
    if (pack !== undefined) return this.packs.record<R>(pack, jobId);
    return readFinal<R>(this.store, this.packs, this.batch, jobId);
  }

  /** The job's result; undefined while it has none, or when it was cancelled. */
  async result<R = unknown>(jobId: string): Promise<ResultRecord<R> | undefined> {
    const rec = await this.final<R>(jobId);
    return rec?.status === 'done' ? rec : undefined;
  }

  async cancelled(jobId: string): Promise<CancelledRecord | undefined> {
    const rec = await this.final(jobId);
    return rec?.status === 'cancelled' ? rec : undefined;
  }

  async error(jobId: string): Promise<ErrorRecord | undefined> {
    if (!(await this.store.head(errorKey(this.batch, jobId)))) return undefined;
    return readJson<ErrorRecord>(this.store, errorKey(this.batch, jobId));
  }
}

/** Write cancel requests: one for the batch, or one per job. Returns how many were written. */
export async function requestCancel(
  store: ObjectStore,
  batch: string,
  jobIds?: readonly string[],
): Promise<number> {
  const at = new Date().toISOString();
  const put = (jobId?: string) => {
    const req: CancelRequest = { v: 1, batch, ...(jobId ? { jobId } : {}), at };
    return store.put(cancelKey(batch, jobId), JSON.stringify(req), { contentType: 'application/json' });
  };
  if (!jobIds) {
    await put();
    return 1;
  }
  const ids = jobIds.map((id) => assertId(id, 'job id'));
  await pool(ids, 16, async (id) => {
    await put(id);
  });
  return ids.length;
}

/** Whole seconds to hold a submit back, from `delaySeconds` or `runAt`; 0 when due now or past. */
function delayOf(opts: SubmitManyOptions): number {
  if (opts.delaySeconds !== undefined && opts.runAt !== undefined)
    throw new FlotillaError('give delaySeconds or runAt, not both');
  const d = opts.runAt ? (opts.runAt.getTime() - Date.now()) / 1000 : (opts.delaySeconds ?? 0);
  if (Number.isNaN(d)) throw new FlotillaError('runAt is not a valid time');
  if (d < 0 && opts.delaySeconds !== undefined) throw new FlotillaError('delaySeconds must not be negative');
  return Math.max(0, Math.ceil(d));
}

/** Run `fn` over `items` with at most `limit` at once. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  await pMap(items, fn, { concurrency: Math.max(1, limit) });
}
