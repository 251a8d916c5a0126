/**
 * One job from its message to its outcome: parse the envelope, drop a delivery of a job that
 * is already running here or already done (job ids are idempotency keys; result-check.ts says
 * when that costs a request), fetch a claim-checked payload and check it against its envelope,
 * run the handler through an executor under its timeout, write the result record once, and
 * delete the message. Failures go to the failure handler. A redelivered job's history decides
 * where it runs: a suspect (its last delivery was lost with its worker) runs alone in a child
 * process, as does every job of a type with isolation 'always' (in the pool's children); the
 * rest run here.
 */
import { createHash } from 'node:crypto';
import {
  type Envelope,
  errorKey,
  parseEnvelope,
  peekIds,
  type ResultRecord,
  resultKey,
} from '../../core/envelope.js';
import { errorText, JobTimeoutError, UnknownJobTypeError, UnrecoverableError } from '../../core/errors.js';
import type { ObjectStore } from '../../core/ports/object-store.js';
import type { ResolvedResultPacking } from '../../core/result-packs.js';
import { PackReader } from '../../core/result-packs.js';
import {
  DEFAULT_JOB_TIMEOUT_MS,
  type HandlerDefinition,
  type HandlerRegistry,
  isolationOf,
  type Job,
} from '../handlers/registry.js';
import type { WorkerCounters } from './counters.js';
import { type JobExecutor, runInProcess } from './executor.js';
import type { FailureHandler } from './failure-handler.js';
import { inChild } from './isolation/child-executor.js';
import { runAsCommand } from './isolation/command-handler.js';
import type { HandlerPool } from './isolation/handler-pool.js';
import { jobHistory, lostRecord } from './isolation/suspects.js';
import { JobContext } from './job-context.js';
import type { Logger } from './logger.js';
import { REMEMBERED_JOBS, ResultCheck } from './result-check.js';
import { ResultPacker } from './result-packer.js';
import { abortJob, type RunningJob } from './running-job.js';
import type { JobSteering } from './steering.js';
import { TypeLimits } from './type-limits.js';
import type { JobEndListener } from './worker-options.js';

export class JobRunner {
  /** Job keys (batch/id) running in this process, to drop a duplicate delivery of one of them. */
  private readonly runningJobs = new Set<string>();
  /** Types with a maxConcurrency: how many run, and who waits for a place. */
  readonly limits = new TypeLimits();
  private readonly results: ResultCheck;

  constructor(
    private readonly store: ObjectStore,
    private readonly handlers: HandlerRegistry,
    private readonly failures: FailureHandler,
    private readonly counters: WorkerCounters,
    private readonly log: Logger,
    private readonly workerId: string,
    private readonly onJobEnd: JobEndListener,
    private readonly execute: JobExecutor = runInProcess,
    /** Child processes for isolated jobs. @default - none: every job runs in this process */
    pool?: HandlerPool,
    /** Progress, cancel and status through the bucket. @default - none (progress is only logged) */
    private readonly steering?: JobSteering,
    /** Results of small jobs written together (worker-options.ts). @default - off: one PUT per result */
    packing?: ResolvedResultPacking,
  ) {
    this.isolated = pool ? inChild(pool) : undefined;
    this.packer = packing && new ResultPacker(store, workerId, packing, log);
    // A worker that packs looks for a redelivered job's result in its batch's packs too.
    this.results = new ResultCheck(
      store,
      REMEMBERED_JOBS,
      packing ? new PackReader(store, { maxIndexedPacks: 2000, maxPacks: 8 }) : undefined,
    );
  }

  private readonly packer: ResultPacker | undefined;
  /**
   * Packed jobs (batch/id) not yet settled: their pack not yet written, or their message not yet
   * handed to delete. Each resolves true once the job's result is stored.
   */
  private readonly packed = new Map<string, Promise<boolean>>();

  private readonly isolated: JobExecutor | undefined;

  async run(entry: RunningJob): Promise<void> {
    const { msg } = entry;
    const attempt = msg.receiveCount;
    let envelope: Envelope;
    try {
      envelope = parseEnvelope(msg.body, msg.messageId);
    } catch (err) {
      await this.failures.deadLetter(entry, err as Error, peekIds(msg.body), attempt);
      return;
    }
    entry.job = envelope;
    const fields = { jobId: envelope.id, type: envelope.type, batch: envelope.batch, attempt };
    const def = this.handlers.get(envelope.type);
    if (!def) {
      const err = new UnknownJobTypeError(envelope.type, this.handlers.types());
      await this.failures.deadLetter(entry, err, envelope, attempt);
      return;
    }
    const writeResult = def.writeResult !== false;
    const key = writeResult ? resultKey(envelope.batch, envelope.id) : '';
    const jobKey = `${envelope.batch}/${envelope.id}`;
    if (this.runningJobs.has(jobKey)) {
      // SQS delivered the same job twice and this process is already running it: the first
      // delivery's message stays until that run succeeds, so this copy can go. A job whose result
      // waits in a pack: this copy goes once the pack is stored, and stays (to come back) if not.
      this.counters.duplicates++;
      this.log.info('job already running here; dropping the duplicate delivery', fields);
      const packed = this.packed.get(jobKey);
      if (!packed) entry.source.deletes.add(msg.receiptHandle);
      else void packed.then((stored) => stored && entry.source.deletes.add(msg.receiptHandle));
      return;
    }
    this.runningJobs.add(jobKey);
    let handedOff = false;
    let startedAtMs = Date.now();
    let releaseLimit = () => {};
    try {
      if (await this.steering?.dropIfCancelled(entry, envelope)) return;
      // Job ids are idempotency keys: a job whose result exists is not run again. The check asks
      // the bucket only where the job may be done (result-check.ts); the conditional PUT below
      // keeps the first result wherever the store honours If-None-Match.
      const done = writeResult && (await this.results.alreadyDone(msg, envelope.batch, jobKey, key));
      if (done) {
        this.counters.duplicates++;
        this.log.info('job already done; dropping the duplicate delivery', { ...fields, known: done });
        entry.source.deletes.add(msg.receiptHandle);
        return;
      }
      if (def.maxConcurrency !== undefined) {
        releaseLimit = await this.limits.acquire(envelope.type, def.maxConcurrency, (cancel) => {
          entry.interrupt = cancel;
        });
        entry.interrupt = undefined;
        startedAtMs = Date.now();
      }
      const execute = await this.place(entry, envelope, def, fields);
      this.log.info('job started', fields);
      const payload = envelope.payloadRef ? await this.loadPayload(envelope) : envelope.payload;
      const job: Job = {
        id: envelope.id,
        type: envelope.type,
        batch: envelope.batch,
        payload,
        submittedAt: envelope.submittedAt,
        attempt: fields.attempt,
      };
      const result = await this.invoke(def, entry, job, fields, execute);
      const durationMs = Date.now() - startedAtMs;
      if (writeResult) {
        const record: ResultRecord = {
          v: 1,
          jobId: envelope.id,
          batch: envelope.batch,
          type: envelope.type,
          status: 'done',
          result: result ?? null,
          attempt: fields.attempt,
          startedAt: new Date(startedAtMs).toISOString(),
          finishedAt: new Date().toISOString(),
          durationMs,
          worker: this.workerId,
        };
        const body = JSON.stringify(record);
        const bytes = this.packer ? Buffer.byteLength(body) : 0;
        if (this.packer?.takes(bytes)) {
          // The slot is free now; the message stays (and the job counts as running here, for
          // duplicates) until the pack holding its result is written.
          handedOff = true;
          const written = this.packer.add(envelope.batch, body, bytes, entry.visibleAtMs);
          const settled = this.afterPack(written, entry, envelope, key, body, fields, durationMs)
            .catch((e) => {
              this.log.error('unexpected error handling a message', { error: errorText(e) });
              return false;
            })
            .finally(() => {
              this.runningJobs.delete(jobKey);
              this.packed.delete(jobKey);
            });
          this.packed.set(jobKey, settled);
          return;
        }
        await this.writeAlone(key, body, fields);
        this.results.finished(jobKey);
      }
      this.succeeded(entry, envelope, fields, durationMs);
    } catch (err) {
      if (await this.steering?.finishIfCancelled(entry, envelope, err)) return;
      await this.failures.jobFailed(entry, envelope, err as Error, fields, Date.now() - startedAtMs);
    } finally {
      releaseLimit();
      if (!handedOff) this.runningJobs.delete(jobKey);
      await this.steering?.jobEnded(entry);
    }
  }

  /**
   * Write every open result pack now, and wait until each packed job is settled (its message
   * deleted, or its failure handled). For the drain.
   */
  async flushResults(): Promise<void> {
    await this.packer?.flush();
    await Promise.allSettled([...this.packed.values()]);
  }

  /**
   * A packed job's end: deleted once its pack is written; written alone if the pack failed.
   * True when its result is stored.
   */
  private async afterPack(
    written: Promise<void>,
    entry: RunningJob,
    envelope: Envelope,
    key: string,
    body: string,
    fields: { jobId: string; type: string; batch: string; attempt: number },
    durationMs: number,
  ): Promise<boolean> {
    try {
      try {
        await written;
      } catch {
        await this.writeAlone(key, body, fields);
      }
    } catch (err) {
      await this.failures.jobFailed(entry, envelope, err as Error, fields, durationMs);
      return false;
    }
    this.results.finished(`${envelope.batch}/${envelope.id}`);
    this.succeeded(entry, envelope, fields, durationMs);
    return true;
  }

  /** One result, its own object, written only if none is there (If-None-Match). */
  private async writeAlone(key: string, body: string, fields: Record<string, unknown>): Promise<void> {
    const created = await this.store.put(key, body, { contentType: 'application/json', ifAbsent: true });
    if (!created) {
      this.counters.duplicates++;
      this.log.info('result already written by another delivery; kept the first', fields);
    }
  }

  /** The job's result is stored: its message goes, and it counts as done. */
  private succeeded(
    entry: RunningJob,
    envelope: Envelope,
    fields: { attempt: number },
    durationMs: number,
  ): void {
    entry.source.deletes.add(entry.msg.receiptHandle);
    this.counters.done++;
    this.onJobEnd(envelope.type, durationMs, true);
    // A literal, not a spread of `fields`: this runs for every job, logged or not.
    this.log.info('job done', {
      jobId: envelope.id,
      type: envelope.type,
      batch: envelope.batch,
      attempt: fields.attempt,
      durationMs,
    });
  }

  /** The handler's outcome, or its timeout's error as soon as the timeout passes. */
  private async invoke(
    def: HandlerDefinition,
    entry: RunningJob,
    job: Job,
    fields: Record<string, unknown>,
    execute: JobExecutor,
  ): Promise<unknown> {
    const timeoutMs = def.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
    const timer = setTimeout(() => abortJob(entry, new JobTimeoutError(def.type, timeoutMs)), timeoutMs);
    const steering = this.steering;
    const sink = steering && ((f: number, note?: string) => steering.report(entry, f, note));
    const ctx = new JobContext(this.store, entry, this.log, fields, sink);
    try {
      return await execute(def, job, ctx, entry);
    } finally {
      clearTimeout(timer);
      entry.interrupt = undefined;
    }
  }

  /**
   * Where this delivery runs, from the job's history (read on redeliveries only). A suspect's run
   * starts with a record saying its worker was lost, so the fleet and a waiting client see it.
   */
  private async place(
    entry: RunningJob,
    envelope: Envelope,
    def: HandlerDefinition,
    fields: { attempt: number },
  ): Promise<JobExecutor> {
    const { msg } = entry;
    // The common case, a first delivery of a type that runs here: nothing to read or decide.
    if (msg.receiveCount <= 1 && def.isolation === undefined && def.memoryLimitMb === undefined)
      return this.inProcess(def);
    const history = await jobHistory(this.store, envelope.batch, envelope.id, msg.receiveCount);
    entry.attempt = history.attempt;
    entry.lostDeliveries = history.lostDeliveries;
    fields.attempt = history.attempt;
    const { isolation } = isolationOf(def);
    if (history.suspect) {
      this.counters.lostWorker++;
      const newlyLost = history.lostDeliveries > (history.last?.lostDeliveries ?? 0);
      if (newlyLost) {
        const record = lostRecord(
          { batch: envelope.batch, id: envelope.id, type: envelope.type },
          history,
          msg.receiveCount,
          this.workerId,
          msg.messageId,
        );
        await this.store
          .put(errorKey(envelope.batch, envelope.id), JSON.stringify(record), {
            contentType: 'application/json',
          })
          .catch((e) =>
            this.log.warn('could not write the error record', { ...fields, error: errorText(e) }),
          );
      }
      const alone = isolation !== 'never' ? this.isolated : undefined;
      this.log.warn(
        alone || def.command
          ? 'job follows a lost worker; running it alone in a child process'
          : 'job follows a lost worker but runs in this process (no isolation for it)',
        { ...fields, receiveCount: msg.receiveCount, lostDeliveries: history.lostDeliveries },
      );
      if (alone) {
        this.counters.isolated++;
        return alone;
      }
      return this.inProcess(def);
    }
    if (isolation === 'always' && this.isolated) {
      this.counters.isolated++;
      return this.isolated;
    }
    return this.inProcess(def);
  }

  /** How a job that needs no child of the pool runs: here, or as its own program (a command). */
  private inProcess(def: HandlerDefinition): JobExecutor {
    return def.command ? runAsCommand : this.execute;
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
}
