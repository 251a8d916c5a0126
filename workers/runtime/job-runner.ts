/**
 * One job from its message to its outcome: parse the envelope, drop a delivery of a job that
 * is already running here or already done (job ids are idempotency keys), fetch a claim-checked
 * payload and check it against its envelope, run the handler through an executor under its
 * timeout, write the result record once, and delete the message. Failures go to the failure
 * handler.
 */
import { createHash } from 'node:crypto';
import { type Envelope, parseEnvelope, peekIds, type ResultRecord, resultKey } from '../../core/envelope.js';
import { JobTimeoutError, UnknownJobTypeError, UnrecoverableError } from '../../core/errors.js';
import type { ObjectStore } from '../../core/ports/object-store.js';
import {
  DEFAULT_JOB_TIMEOUT_MS,
  type HandlerDefinition,
  type HandlerRegistry,
  type Job,
} from '../handlers/registry.js';
import type { WorkerCounters } from './counters.js';
import { type JobExecutor, runInProcess } from './executor.js';
import type { FailureHandler } from './failure-handler.js';
import { JobContext } from './job-context.js';
import type { Logger } from './logger.js';
import { abortJob, type RunningJob } from './running-job.js';
import type { JobSteering } from './steering.js';
import type { JobEndListener } from './worker-options.js';

export class JobRunner {
  /** Job keys (batch/id) running in this process, to drop a duplicate delivery of one of them. */
  private readonly runningJobs = new Set<string>();

  constructor(
    private readonly store: ObjectStore,
    private readonly handlers: HandlerRegistry,
    private readonly failures: FailureHandler,
    private readonly counters: WorkerCounters,
    private readonly log: Logger,
    private readonly workerId: string,
    private readonly onJobEnd: JobEndListener,
    private readonly execute: JobExecutor = runInProcess,
    /** Progress, cancel and status through the bucket. @default - none (progress is only logged) */
    private readonly steering?: JobSteering,
  ) {}

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
      // delivery's message stays until that run succeeds, so this copy can go.
      this.counters.duplicates++;
      this.log.info('job already running here; dropping the duplicate delivery', fields);
      entry.source.deletes.add(msg.receiptHandle);
      return;
    }
    this.runningJobs.add(jobKey);
    const startedAtMs = Date.now();
    try {
      if (await this.steering?.dropIfCancelled(entry, envelope)) return;
      // Job ids are idempotency keys. A redelivery (SQS handed the message out before) may be of
      // a job that finished and lost its delete: one HEAD tells, and a finished job is not run
      // again. A first delivery skips that request: the conditional PUT below keeps the first
      // result whatever happens, so only a resubmission of a finished job under the same id
      // would run its handler again.
      if (writeResult && attempt > 1 && (await this.store.head(key))) {
        this.counters.duplicates++;
        this.log.info('job already done; dropping the duplicate delivery', fields);
        entry.source.deletes.add(msg.receiptHandle);
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
          worker: this.workerId,
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
      entry.source.deletes.add(msg.receiptHandle);
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
      if (await this.steering?.finishIfCancelled(entry, envelope, err)) return;
      await this.failures.jobFailed(entry, envelope, err as Error, fields, Date.now() - startedAtMs);
    } finally {
      this.runningJobs.delete(jobKey);
      await this.steering?.jobEnded(entry);
    }
  }

  /** The handler's outcome, or its timeout's error as soon as the timeout passes. */
  private async invoke(
    def: HandlerDefinition,
    entry: RunningJob,
    job: Job,
    fields: Record<string, unknown>,
  ): Promise<unknown> {
    const timeoutMs = def.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
    const timer = setTimeout(() => abortJob(entry, new JobTimeoutError(def.type, timeoutMs)), timeoutMs);
    const steering = this.steering;
    const sink = steering && ((f: number, note?: string) => steering.report(entry, f, note));
    const ctx = new JobContext(this.store, entry, this.log, fields, sink);
    try {
      return await this.execute(def, job, ctx, entry);
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
}
