/**
 * The worker: long-polls the job queue, runs registered handlers with bounded concurrency,
 * keeps running jobs invisible (heartbeat), writes each job's result once, deletes in batches,
 * retries with exponential backoff, sends poison messages to the DLQ with their reason, and
 * drains on stop.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Envelope,
  type ErrorRecord,
  errorKey,
  parseEnvelope,
  peekIds,
  type ResultRecord,
  resultKey,
} from '../../core/envelope.js';
import {
  classifyError,
  describeError,
  errorText,
  JobTimeoutError,
  UnknownJobTypeError,
  UnrecoverableError,
} from '../../core/errors.js';
import {
  NO_SCALE_IN_GUARD,
  type ObjectStore,
  type QueueMessage,
  type QueuePort,
  type ScaleInGuard,
} from '../../core/ports.js';
import {
  DEFAULT_JOB_TIMEOUT_MS,
  type HandlerContext,
  type HandlerDefinition,
  type HandlerRegistry,
  type Job,
} from '../handlers/registry.js';
import { DeleteBatcher } from './delete-batcher.js';
import { type Logger, silentLogger } from './logger.js';
import { Slots } from './slots.js';

/** SQS will not keep a message invisible longer than 12 hours from its receipt. */
export const MAX_VISIBILITY_SECONDS = 43_200;

export interface WorkerOptions {
  readonly queue: QueuePort;
  /** Where poison messages go with their reason. @default - none: they stay for the queue's redrive policy */
  readonly dlq?: QueuePort;
  readonly store: ObjectStore;
  readonly handlers: HandlerRegistry;
  /** Jobs run at once in this process. @default 16 */
  readonly concurrency?: number;
  /** Long-poll wait per receive. @default 20 */
  readonly waitTimeSeconds?: number;
  /** The queue's visibility timeout: each heartbeat extends a running job by this much. @default 60 */
  readonly visibilityTimeoutSeconds?: number;
  /** How often running jobs are checked for a lease extension. @default - a third of the visibility timeout */
  readonly heartbeatIntervalMs?: number;
  /** Receives after which a failing job goes to the DLQ (the queue's maxReceiveCount). @default 5 */
  readonly maxReceiveCount?: number;
  /** First retry delay; doubles each attempt, with jitter. @default 5000 */
  readonly retryBaseDelayMs?: number;
  /** @default 900000 (15 minutes) */
  readonly retryMaxDelayMs?: number;
  /** How long stop() lets running jobs finish before releasing them. @default 90000 */
  readonly drainTimeoutMs?: number;
  /** Concurrent receive calls. @default - one per 10 jobs of concurrency */
  readonly pollers?: number;
  /** Back-off bounds while the queue cannot be reached. @default { baseMs: 500, maxMs: 20000 } */
  readonly outageBackoff?: { readonly baseMs: number; readonly maxMs: number };
  readonly scaleInGuard?: ScaleInGuard;
  readonly log?: Logger;
  /** @default - hostname and pid */
  readonly workerId?: string;
  /** Called as each job ends, done (`ok`) or failed, for metrics (metrics.ts). @default - nothing */
  readonly onJobEnd?: (type: string, durationMs: number, ok: boolean) => void;
}

export interface WorkerCounters {
  received: number;
  done: number;
  failed: number;
  retried: number;
  deadLettered: number;
  duplicates: number;
  released: number;
  heartbeats: number;
}

interface Running {
  readonly msg: QueueMessage;
  readonly receivedAtMs: number;
  visibleAtMs: number;
  /** Why the job was cut short (its timeout, or the drain deadline); unset while it may run. */
  abortReason?: Error;
  /** Made the first time the handler reads `ctx.signal` (see JobContext). */
  controller?: AbortController;
  /** Ends the handler's run early: set while the handler runs. */
  interrupt?: (reason: Error) => void;
  job?: Envelope;
  /** Settles when the job is over and its slot given back. */
  done?: Promise<void>;
}

/** Cut a running job short: its signal (if the handler asked for one) and its run, once. */
function abortJob(entry: Running, reason: Error): void {
  if (entry.abortReason) return;
  entry.abortReason = reason;
  entry.controller?.abort(reason);
  entry.interrupt?.(reason);
}

/**
 * What a handler gets. Its signal and its child logger are made on first use: an AbortSignal
 * (~4 µs) and a child logger (~4 µs) together cost about as much CPU as everything else the
 * runtime does for a job, so a handler that uses neither should not pay for them.
 */
class JobContext implements HandlerContext {
  private childLog?: Logger;

  constructor(
    readonly store: ObjectStore,
    private readonly entry: Running,
    private readonly parentLog: Logger,
    private readonly fields: Record<string, unknown>,
  ) {}

  get signal(): AbortSignal {
    const entry = this.entry;
    if (!entry.controller) {
      entry.controller = new AbortController();
      if (entry.abortReason) entry.controller.abort(entry.abortReason);
    }
    return entry.controller.signal;
  }

  get log(): Logger {
    this.childLog ??= this.parentLog.child(this.fields);
    return this.childLog;
  }

  progress(detail: number | Record<string, unknown>): void {
    this.log.info('job progress', { progress: detail });
  }
}

type Resolved = Required<
  Omit<
    WorkerOptions,
    'dlq' | 'scaleInGuard' | 'log' | 'workerId' | 'heartbeatIntervalMs' | 'pollers' | 'onJobEnd'
  >
> & {
  heartbeatIntervalMs: number;
  pollers: number;
};

function resolveOptions(o: WorkerOptions): Resolved {
  const r = {
    concurrency: 16,
    waitTimeSeconds: 20,
    visibilityTimeoutSeconds: 60,
    maxReceiveCount: 5,
    retryBaseDelayMs: 5000,
    retryMaxDelayMs: 15 * 60 * 1000,
    drainTimeoutMs: 90_000,
    outageBackoff: { baseMs: 500, maxMs: 20_000 },
    ...o,
  } as Resolved;
  r.heartbeatIntervalMs = o.heartbeatIntervalMs ?? Math.max(1000, (r.visibilityTimeoutSeconds * 1000) / 3);
  r.pollers = o.pollers ?? Math.max(1, Math.ceil(r.concurrency / 10));
  const problems: string[] = [];
  if (!Number.isInteger(r.concurrency) || r.concurrency < 1)
    problems.push('concurrency must be a whole number >= 1');
  if (!(r.waitTimeSeconds >= 0 && r.waitTimeSeconds <= 20)) problems.push('waitTimeSeconds must be 0..20');
  if (!(r.visibilityTimeoutSeconds >= 1)) problems.push('visibilityTimeoutSeconds must be >= 1');
  if (!(r.maxReceiveCount >= 1)) problems.push('maxReceiveCount must be >= 1');
  if (!(r.drainTimeoutMs >= 0)) problems.push('drainTimeoutMs must be >= 0');
  if (problems.length > 0) throw new Error(`invalid worker options: ${problems.join('; ')}`);
  return r;
}

/** Wait for `p`, but no longer than `ms`; the timer never outlives the wait (nor keeps the process up). */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

export class Worker {
  readonly counters: WorkerCounters = {
    received: 0,
    done: 0,
    failed: 0,
    retried: 0,
    deadLettered: 0,
    duplicates: 0,
    released: 0,
    heartbeats: 0,
  };
  readonly id: string;
  private readonly opts: Resolved;
  private readonly queue: QueuePort;
  private readonly dlq: QueuePort | undefined;
  private readonly store: ObjectStore;
  private readonly handlers: HandlerRegistry;
  private readonly guard: ScaleInGuard;
  private readonly onJobEnd: NonNullable<WorkerOptions['onJobEnd']>;
  private readonly log: Logger;
  private readonly slots: Slots;
  private readonly deleter: DeleteBatcher;
  private readonly running = new Map<string, Running>();
  /** Job keys (batch/id) running in this process, to drop a duplicate delivery of one of them. */
  private readonly runningJobs = new Set<string>();
  private readonly pollAbort = new AbortController();
  private readonly stopAbort = new AbortController();
  private stopping = false;
  private onStop?: () => void;
  private started?: Promise<void>;
  private heartbeatTimer?: NodeJS.Timeout;
  private outageSince?: number;
  private guardChain: Promise<void> = Promise.resolve();
  private protected = false;
  private idleTimer?: NodeJS.Timeout;

  constructor(options: WorkerOptions) {
    this.opts = resolveOptions(options);
    this.queue = options.queue;
    this.dlq = options.dlq;
    this.store = options.store;
    this.handlers = options.handlers;
    this.guard = options.scaleInGuard ?? NO_SCALE_IN_GUARD;
    this.onJobEnd = options.onJobEnd ?? (() => {});
    this.id = options.workerId ?? `${hostname()}:${process.pid}`;
    this.log = (options.log ?? silentLogger).child({ worker: this.id });
    this.slots = new Slots(this.opts.concurrency);
    this.deleter = new DeleteBatcher(this.queue, this.log);
  }

  /** Start polling. Resolves when the worker has stopped and drained. */
  start(): Promise<void> {
    if (!this.started) this.started = this.runLoop();
    return this.started;
  }

  /** Stop receiving; let running jobs finish within the drain deadline; release the rest. */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.log.info('draining', { running: this.running.size, drainTimeoutMs: this.opts.drainTimeoutMs });
      this.slots.wakeAll();
      this.stopAbort.abort();
      this.onStop?.();
    }
    await this.started;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  get inFlight(): number {
    return this.running.size;
  }

  private async runLoop(): Promise<void> {
    this.log.info('worker started', {
      queue: this.queue.url,
      concurrency: this.opts.concurrency,
      pollers: this.opts.pollers,
      types: this.handlers.types(),
      dlq: this.dlq?.url ?? null,
    });
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.opts.heartbeatIntervalMs);
    const pollers = Array.from({ length: this.opts.pollers }, (_, i) => this.poll(i));
    await new Promise<void>((resolve) => {
      this.onStop = resolve;
      if (this.stopping) resolve();
    });
    await this.drain(pollers);
  }

  private async drain(pollers: Promise<void>[]): Promise<void> {
    const deadline = Date.now() + this.opts.drainTimeoutMs;
    const timeLeft = () => Math.max(0, deadline - Date.now());
    // Receives already sent are allowed to return (their messages are released), so that no
    // message is left invisible by an aborted long poll; the deadline still wins.
    const pollsDone = Promise.all(pollers);
    await within(pollsDone, timeLeft());
    if (this.running.size > 0) {
      await within(this.jobsDone(), timeLeft());
    }
    if (this.running.size > 0) {
      const left = [...this.running.values()];
      this.log.warn('drain deadline reached; releasing unfinished jobs', { count: left.length });
      for (const r of left) abortJob(r, new Error('worker is shutting down'));
      await this.release(left.map((r) => r.msg));
      this.counters.released += left.length;
      await within(this.jobsDone(), 2000);
    }
    this.pollAbort.abort();
    await within(pollsDone, 1000);
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.idleTimer);
    await this.deleter.flush();
    await this.setProtection(false);
    this.log.info('worker stopped', { ...this.counters });
  }

  /** Settles when every job running now is over. */
  private jobsDone(): Promise<unknown> {
    return Promise.allSettled([...this.running.values()].map((r) => r.done));
  }

  private async poll(index: number): Promise<void> {
    let failures = 0;
    // The abort signal only matters for a long poll that waits on an empty queue (the drain's
    // deadline cuts it short). While messages flow, receives return at once, so they go without
    // it: a call with per-request options makes the SDK rebuild its middleware for every call
    // and drop the client's cached handlers (cacheMiddleware), which costs about a third of the
    // client's CPU per message.
    let lastWasEmpty = true;
    while (!this.stopping) {
      const want = await this.slots.take(10, () => this.stopping);
      if (want === 0) break;
      let msgs: QueueMessage[];
      try {
        msgs = await this.queue.receive({
          maxMessages: want,
          waitTimeSeconds: this.opts.waitTimeSeconds,
          // The job travels in the body; its message attributes (the submitter's flotilla-job-id)
          // would only add to the parsing of every response.
          messageAttributes: false,
          ...(lastWasEmpty ? { abortSignal: this.pollAbort.signal } : {}),
        });
        lastWasEmpty = msgs.length === 0;
        if (this.outageSince !== undefined) {
          this.log.info('queue reachable again', { downForMs: Date.now() - this.outageSince });
          this.outageSince = undefined;
        }
        failures = 0;
      } catch (err) {
        this.slots.release(want);
        if (this.pollAbort.signal.aborted) break;
        failures++;
        const kind = classifyError(err);
        if (this.outageSince === undefined) {
          this.outageSince = Date.now();
          this.log.error(
            kind === 'other' ? 'receive failed; backing off' : 'queue unreachable; backing off',
            {
              kind,
              error: describeError(err),
              poller: index,
            },
          );
        }
        const { baseMs, maxMs } = this.opts.outageBackoff;
        const cap = Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 16));
        // Cut short by stop(): a worker backing off from an outage still stops promptly.
        await sleep(cap / 2 + Math.random() * (cap / 2), undefined, { signal: this.stopAbort.signal }).catch(
          () => {},
        );
        continue;
      }
      this.slots.release(want - msgs.length);
      if (msgs.length === 0) continue;
      this.counters.received += msgs.length;
      if (this.stopping) {
        // Received while draining: hand them straight back.
        await this.release(msgs);
        this.counters.released += msgs.length;
        this.slots.release(msgs.length);
        break;
      }
      for (const msg of msgs) this.startJob(msg);
    }
  }

  private startJob(msg: QueueMessage): void {
    const now = Date.now();
    const entry: Running = {
      msg,
      receivedAtMs: now,
      visibleAtMs: now + this.opts.visibilityTimeoutSeconds * 1000,
    };
    this.running.set(msg.messageId, entry);
    this.onBusyChange();
    entry.done = this.track(entry);
  }

  /** One job from receipt to its slot given back; never rejects. */
  private async track(entry: Running): Promise<void> {
    try {
      await this.runJob(entry);
    } catch (err) {
      this.log.error('unexpected error handling a message', { error: errorText(err) });
    } finally {
      this.running.delete(entry.msg.messageId);
      this.slots.release(1);
      this.onBusyChange();
    }
  }

  private async runJob(entry: Running): Promise<void> {
    const { msg } = entry;
    const attempt = msg.receiveCount;
    let envelope: Envelope;
    try {
      envelope = parseEnvelope(msg.body, msg.messageId);
    } catch (err) {
      await this.deadLetter(msg, err as Error, peekIds(msg.body), attempt);
      return;
    }
    entry.job = envelope;
    const fields = { jobId: envelope.id, type: envelope.type, batch: envelope.batch, attempt };
    const def = this.handlers.get(envelope.type);
    if (!def) {
      await this.deadLetter(
        msg,
        new UnknownJobTypeError(envelope.type, this.handlers.types()),
        envelope,
        attempt,
      );
      return;
    }
    const writeResult = def.writeResult !== false;
    const key = writeResult ? resultKey(envelope.batch, envelope.id) : '';
    const jobKey = `${envelope.batch}/${envelope.id}`;
    if (this.runningJobs.has(jobKey)) {
      // SQS delivered the same job twice and this process is already running it: the first
      // delivery's message stays until that run succeeds, so this copy can go.
      this.counters.duplicates++;
      this.log.info('job already running here; dropping the duplicate delivery', fields);
      this.deleter.add(msg.receiptHandle);
      return;
    }
    this.runningJobs.add(jobKey);
    const startedAtMs = Date.now();
    try {
      // Job ids are idempotency keys: a job whose result exists is not run again.
      if (writeResult && (await this.store.head(key))) {
        this.counters.duplicates++;
        this.log.info('job already done; dropping the duplicate delivery', fields);
        this.deleter.add(msg.receiptHandle);
        return;
      }
      this.log.info('job started', fields);
      const payload = envelope.payloadRef ? await this.loadPayload(envelope) : envelope.payload;
      const job: Job = {
        id: envelope.id,
        type: envelope.type,
        batch: envelope.batch,
        payload,
        submittedAt: envelope.submittedAt,
        attempt,
      };
      const result = await this.invoke(def, entry, job, fields);
      const durationMs = Date.now() - startedAtMs;
      if (writeResult) {
        const record: ResultRecord = {
          v: 1,
          jobId: envelope.id,
          batch: envelope.batch,
          type: envelope.type,
          status: 'done',
          result: result ?? null,
          attempt,
          startedAt: new Date(startedAtMs).toISOString(),
          finishedAt: new Date().toISOString(),
          durationMs,
          worker: this.id,
        };
        const created = await this.store.put(key, JSON.stringify(record), {
          contentType: 'application/json',
          ifAbsent: true,
        });
        if (!created) {
          this.counters.duplicates++;
          this.log.info('result already written by another delivery; kept the first', fields);
        }
      }
      this.deleter.add(msg.receiptHandle);
      this.counters.done++;
      this.onJobEnd(envelope.type, durationMs, true);
      // A literal, not a spread of `fields`: this runs for every job, logged or not.
      this.log.info('job done', {
        jobId: envelope.id,
        type: envelope.type,
        batch: envelope.batch,
        attempt,
        durationMs,
      });
    } catch (err) {
      await this.onFailure(entry, envelope, err as Error, fields, Date.now() - startedAtMs);
    } finally {
      this.runningJobs.delete(jobKey);
    }
  }

  private async invoke(
    def: HandlerDefinition,
    entry: Running,
    job: Job,
    fields: Record<string, unknown>,
  ): Promise<unknown> {
    const timeoutMs = def.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
    const timer = setTimeout(() => abortJob(entry, new JobTimeoutError(def.type, timeoutMs)), timeoutMs);
    const ctx = new JobContext(this.store, entry, this.log, fields);
    try {
      // The handler's outcome, or the abort's reason as soon as the job is cut short, even when
      // the handler ignores its signal.
      return await new Promise<unknown>((resolve, reject) => {
        if (entry.abortReason) return reject(entry.abortReason);
        entry.interrupt = reject;
        Promise.resolve(def.handler(job, ctx)).then(resolve, reject);
      });
    } finally {
      clearTimeout(timer);
      entry.interrupt = undefined;
    }
  }

  private async loadPayload(envelope: Envelope): Promise<unknown> {
    const ref = envelope.payloadRef!;
    const bytes = await this.store.get(ref.key);
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (bytes.length !== ref.size || sha !== ref.sha256) {
      throw new UnrecoverableError(
        `payload object ${ref.key} does not match its envelope (size ${bytes.length} vs ${ref.size}, sha256 ${sha.slice(0, 12)} vs ${ref.sha256.slice(0, 12)})`,
      );
    }
    return JSON.parse(bytes.toString('utf8'));
  }

  private async onFailure(
    entry: Running,
    envelope: Envelope,
    err: Error,
    fields: Record<string, unknown>,
    durationMs: number,
  ): Promise<void> {
    const { msg } = entry;
    if (this.stopping && entry.abortReason && !(err instanceof JobTimeoutError)) {
      return; // released by the drain; not a failure of the job
    }
    this.onJobEnd(envelope.type, durationMs, false);
    const attempt = msg.receiveCount;
    const final = err instanceof UnrecoverableError || attempt >= this.opts.maxReceiveCount;
    if (final) {
      this.counters.failed++;
      await this.deadLetter(msg, err, envelope, attempt);
      return;
    }
    const cap = Math.min(this.opts.retryMaxDelayMs, this.opts.retryBaseDelayMs * 2 ** (attempt - 1));
    const delayMs = cap / 2 + Math.random() * (cap / 2);
    const elapsed = Math.ceil((Date.now() - entry.receivedAtMs) / 1000);
    const delaySeconds = Math.min(Math.ceil(delayMs / 1000), MAX_VISIBILITY_SECONDS - elapsed - 1);
    this.counters.failed++;
    this.counters.retried++;
    this.log.warn('job failed; will retry', {
      ...fields,
      durationMs,
      error: errorText(err),
      errorName: err.name,
      retryInSeconds: delaySeconds,
    });
    await this.writeError(envelope, err, attempt, false, msg.messageId);
    try {
      await this.queue.changeVisibility(msg.receiptHandle, Math.max(0, delaySeconds));
    } catch (e) {
      this.log.warn('could not set the retry delay; the job reappears after the visibility timeout', {
        ...fields,
        error: errorText(e),
      });
    }
  }

  /** Move a message to the DLQ with its reason, and record the failure next to the results. */
  private async deadLetter(
    msg: QueueMessage,
    err: Error,
    ids: { id?: string; batch?: string; type?: string },
    attempt: number,
  ): Promise<void> {
    const fields = { jobId: ids.id, type: ids.type, batch: ids.batch, attempt, messageId: msg.messageId };
    await this.writeError(ids, err, attempt, true, msg.messageId);
    if (!this.dlq) {
      this.log.error('job failed for good, but the queue has no DLQ; leaving it to the redrive policy', {
        ...fields,
        error: errorText(err),
      });
      return;
    }
    try {
      await this.dlq.send({
        body: msg.body,
        attributes: {
          'flotilla-error': errorText(err).slice(0, 1000),
          'flotilla-error-name': err.name,
          'flotilla-attempts': String(attempt),
          'flotilla-source-queue': this.queue.url,
          'flotilla-failed-at': new Date().toISOString(),
        },
      });
    } catch (e) {
      this.log.error('could not send to the DLQ; the message stays on the queue', {
        ...fields,
        error: errorText(e),
      });
      return;
    }
    this.deleter.add(msg.receiptHandle);
    this.counters.deadLettered++;
    this.log.error('job sent to the DLQ', { ...fields, error: errorText(err), errorName: err.name });
  }

  private async writeError(
    ids: { id?: string; batch?: string; type?: string },
    err: Error,
    attempt: number,
    final: boolean,
    messageId: string,
  ): Promise<void> {
    if (!ids.id || !ids.batch) return;
    const record: ErrorRecord = {
      v: 1,
      jobId: ids.id,
      batch: ids.batch,
      ...(ids.type ? { type: ids.type } : {}),
      status: 'failed',
      final,
      error: { name: err.name, message: errorText(err) },
      attempt,
      at: new Date().toISOString(),
      worker: this.id,
      messageId,
    };
    try {
      await this.store.put(errorKey(ids.batch, ids.id), JSON.stringify(record), {
        contentType: 'application/json',
      });
    } catch (e) {
      this.log.warn('could not write the error record', { jobId: ids.id, error: errorText(e) });
    }
  }

  /** Extend the lease of every running job that is close to becoming visible again. */
  private async heartbeat(): Promise<void> {
    const now = Date.now();
    const due = [...this.running.values()].filter(
      (r) => r.visibleAtMs - now < 2 * this.opts.heartbeatIntervalMs && !r.abortReason,
    );
    for (let i = 0; i < due.length; i += 10) {
      const chunk = due.slice(i, i + 10).map((r) => {
        const heldSeconds = Math.ceil((now - r.receivedAtMs) / 1000);
        const seconds = Math.max(
          0,
          Math.min(this.opts.visibilityTimeoutSeconds, MAX_VISIBILITY_SECONDS - heldSeconds - 1),
        );
        return { r, seconds };
      });
      try {
        const failed = await this.queue.changeVisibilityBatch(
          chunk.map(({ r, seconds }, j) => ({ id: String(j), receiptHandle: r.msg.receiptHandle, seconds })),
        );
        const failedIds = new Set(failed.map((f) => f.id));
        chunk.forEach(({ r, seconds }, j) => {
          if (failedIds.has(String(j))) {
            this.log.warn('heartbeat refused for a running job', {
              jobId: r.job?.id,
              messageId: r.msg.messageId,
            });
          } else {
            r.visibleAtMs = Date.now() + seconds * 1000;
            this.counters.heartbeats++;
            this.log.debug('heartbeat', { jobId: r.job?.id, extendedBySeconds: seconds });
          }
        });
      } catch (err) {
        this.log.warn('heartbeat failed', { error: describeError(err), jobs: chunk.length });
      }
    }
  }

  private async release(msgs: readonly QueueMessage[]): Promise<void> {
    for (let i = 0; i < msgs.length; i += 10) {
      const chunk = msgs.slice(i, i + 10);
      try {
        await this.queue.changeVisibilityBatch(
          chunk.map((m, j) => ({ id: String(j), receiptHandle: m.receiptHandle, seconds: 0 })),
        );
      } catch (err) {
        this.log.warn('could not release messages; they reappear after the visibility timeout', {
          error: describeError(err),
          count: chunk.length,
        });
      }
    }
  }

  /** Scale-in protection on while any job runs; off after a short idle spell. */
  private onBusyChange(): void {
    if (this.running.size > 0) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      if (!this.protected) void this.setProtection(true);
    } else if (this.protected && !this.idleTimer) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        if (this.running.size === 0) void this.setProtection(false);
      }, 2000);
      this.idleTimer.unref();
    }
  }

  private setProtection(enabled: boolean): Promise<void> {
    if (this.protected === enabled) return this.guardChain;
    this.protected = enabled;
    this.guardChain = this.guardChain.then(async () => {
      try {
        await this.guard.protect(enabled);
      } catch (err) {
        this.log.warn('scale-in protection call failed', {
          guard: this.guard.name,
          enabled,
          error: errorText(err),
        });
      }
    });
    return this.guardChain;
  }
}
