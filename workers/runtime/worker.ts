/**
 * The worker: long-polls the job queue, runs registered handlers with bounded concurrency,
 * keeps running jobs invisible, writes each job's result once, deletes in batches, retries
 * with backoff, sends poison messages to the DLQ with their reason, and drains on stop.
 *
 * This file puts the parts together and owns the lifecycle (start, stop, drain) and the set of
 * running jobs; each part has a file of its own:
 *   poller.ts            receive loops, job slots, outage back-off
 *   job-runner.ts        envelope, duplicates, claim check, handler (executor.ts), result record
 *   failure-policy.ts    retry or DLQ, decided; failure-handler.ts acts on it
 *   visibility-keeper.ts heartbeats, and releasing messages on drain
 *   protection.ts        scale-in protection while busy
 *   job-context.ts       what a handler gets
 *   steering.ts          progress, cancel requests and the worker's status, through the bucket
 *   worker-options.ts    options, defaults and their checks
 *   isolation/           child processes for suspects and isolated types
 *   dead-letter-watch.ts final records for jobs the queue's redrive policy moved
 */

import { errorText } from '../../core/errors.js';
import type { QueueMessage } from '../../core/ports/queue.js';
import { newCounters, type WorkerCounters } from './counters.js';
import { DeadLetterWatch } from './dead-letter-watch.js';
import { DeleteBatcher } from './delete-batcher.js';
import { runInProcess } from './executor.js';
import { FailureHandler } from './failure-handler.js';
import { HandlerPool } from './isolation/handler-pool.js';
import { JobRunner } from './job-runner.js';
import type { Logger } from './logger.js';
import { Poller } from './poller.js';
import { ScaleInProtection } from './protection.js';
import { abortJob, type JobSource, type RunningJob } from './running-job.js';
import { Slots } from './slots.js';
import { JobSteering } from './steering.js';
import { VisibilityKeeper } from './visibility-keeper.js';
import { within } from './within.js';
import { type ResolvedWorkerOptions, resolveWorkerOptions, type WorkerOptions } from './worker-options.js';

export class Worker {
  readonly counters: WorkerCounters = newCounters();
  readonly id: string;
  private readonly opts: ResolvedWorkerOptions;
  private readonly log: Logger;
  private readonly source: JobSource;
  private readonly slots: Slots;
  private readonly poller: Poller;
  private readonly runner: JobRunner;
  private readonly visibility: VisibilityKeeper;
  private readonly protection: ScaleInProtection;
  private readonly pool: HandlerPool | undefined;
  private readonly deadLetters: DeadLetterWatch | undefined;
  private deadLetterTimer?: NodeJS.Timeout;
  private readonly steering: JobSteering;
  private readonly running = new Map<string, RunningJob>();
  private stopping = false;
  private onStop?: () => void;
  private started?: Promise<void>;

  constructor(options: WorkerOptions) {
    const opts = resolveWorkerOptions(options);
    this.opts = opts;
    this.id = opts.workerId;
    const log = opts.log.child({ worker: this.id });
    this.log = log;
    this.source = { queue: opts.queue, dlq: opts.dlq, deletes: new DeleteBatcher(opts.queue, log) };
    this.slots = new Slots(opts.concurrency);
    this.visibility = new VisibilityKeeper(
      this.running,
      opts.visibilityTimeoutSeconds,
      opts.heartbeatIntervalMs,
      this.counters,
      log,
    );
    this.poller = new Poller(
      this.source,
      this.slots,
      { ...opts, paused: () => !this.steering.active },
      this.visibility,
      this.counters,
      log,
      (msg, source) => this.startJob(msg, source),
    );
    const failures = new FailureHandler(
      opts.store,
      opts,
      this.counters,
      log,
      this.id,
      () => this.stopping,
      opts.onJobEnd,
    );
    this.pool = opts.childEntry ? new HandlerPool({ entry: opts.childEntry }) : undefined;
    this.steering = new JobSteering({
      store: opts.store,
      workerId: this.id,
      queueUrl: opts.queue.url,
      concurrency: opts.concurrency,
      types: opts.handlers.types(),
      cancelCheckIntervalMs: opts.heartbeatIntervalMs,
      progressIntervalMs: opts.progressIntervalMs,
      statusIntervalMs: opts.statusIntervalMs,
      running: this.running,
      counters: this.counters,
      log,
    });
    this.runner = new JobRunner(
      opts.store,
      opts.handlers,
      failures,
      this.counters,
      log,
      this.id,
      opts.onJobEnd,
      runInProcess,
      this.pool,
      this.steering,
    );
    this.deadLetters = opts.dlq
      ? new DeadLetterWatch({
          dlq: opts.dlq,
          store: opts.store,
          maxReceiveCount: opts.maxReceiveCount,
          workerId: this.id,
          log,
        })
      : undefined;
    this.protection = new ScaleInProtection(opts.scaleInGuard, log);
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
      this.poller.stop();
      this.slots.wakeAll();
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
      queue: this.source.queue.url,
      concurrency: this.opts.concurrency,
      pollers: this.opts.pollers,
      types: this.opts.handlers.types(),
      dlq: this.source.dlq?.url ?? null,
    });
    this.visibility.start();
    if (!this.pool) {
      const always = this.opts.handlers
        .types()
        .filter((t) => this.opts.handlers.get(t)?.isolation === 'always');
      if (always.length > 0)
        this.log.warn("no child entry given: types with isolation 'always' run in this process", {
          types: always,
        });
    }
    this.watchDeadLetters();
    await this.steering.start();
    const polls = this.poller.run(this.opts.pollers);
    await new Promise<void>((resolve) => {
      this.onStop = resolve;
      if (this.stopping) resolve();
    });
    await this.drain(polls);
  }

  private async drain(pollsDone: Promise<void>): Promise<void> {
    const deadline = Date.now() + this.opts.drainTimeoutMs;
    const timeLeft = () => Math.max(0, deadline - Date.now());
    // Receives already sent are allowed to return (their messages are released), so that no
    // message is left invisible by an aborted long poll; the deadline still wins.
    await within(pollsDone, timeLeft());
    if (this.running.size > 0) {
      await within(this.jobsDone(), timeLeft());
    }
    if (this.running.size > 0) {
      const left = [...this.running.values()];
      this.log.warn('drain deadline reached; releasing unfinished jobs', { count: left.length });
      for (const r of left) abortJob(r, new Error('worker is shutting down'));
      await this.visibility.releaseJobs(left);
      this.counters.released += left.length;
      await within(this.jobsDone(), 2000);
    }
    this.poller.abort();
    await within(pollsDone, 1000);
    this.visibility.stop();
    clearTimeout(this.deadLetterTimer);
    await this.pool?.close();
    await this.steering.stop();
    await this.source.deletes.flush();
    await this.protection.stop();
    this.log.info('worker stopped', { ...this.counters });
  }

  /** Check the DLQ now and then (the first time at a random point of the first interval, so a fleet spreads out). */
  private watchDeadLetters(): void {
    const watch = this.deadLetters;
    if (!watch) return;
    const every = this.opts.deadLetterCheckMs;
    const next = (ms: number) => {
      this.deadLetterTimer = setTimeout(async () => {
        this.counters.accounted += await watch.check();
        if (!this.stopping) next(every);
      }, ms);
      this.deadLetterTimer.unref();
    };
    next(Math.random() * every);
  }

  /** Settles when every job running now is over. */
  private jobsDone(): Promise<unknown> {
    return Promise.allSettled([...this.running.values()].map((r) => r.done));
  }

  private startJob(msg: QueueMessage, source: JobSource): void {
    const now = Date.now();
    const entry: RunningJob = {
      msg,
      source,
      receivedAtMs: now,
      visibleAtMs: now + this.opts.visibilityTimeoutSeconds * 1000,
    };
    this.running.set(msg.messageId, entry);
    this.protection.onBusyChange(this.running.size);
    entry.done = this.track(entry);
  }

  /** One job from receipt to its slot given back; never rejects. */
  private async track(entry: RunningJob): Promise<void> {
    try {
      await this.runner.run(entry);
    } catch (err) {
      this.log.error('unexpected error handling a message', { error: errorText(err) });
    } finally {
      this.running.delete(entry.msg.messageId);
      this.slots.release(1);
      this.protection.onBusyChange(this.running.size);
    }
  }
}
