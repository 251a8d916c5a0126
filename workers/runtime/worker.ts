/**
 * The worker: polls its job queues (by priority or weight), runs registered handlers with bounded concurrency,
 * keeps running jobs invisible, writes each job's result once, deletes in batches, retries
 * with backoff, sends poison messages to the DLQ with their reason, and drains on stop.
 *
 * This file puts the parts together and owns the lifecycle (start, stop, drain) and the set of
 * running jobs; each part has a file of its own:
 *   poller.ts            receive loops, job slots, outage back-off
 *   queue-picker.ts      which queue a free slot takes from: priority or weighted share
 *   type-limits.ts       per-type maxConcurrency
 *   job-runner.ts        envelope, duplicates, claim check, handler (executor.ts), result record
 *   result-packer.ts     results of small jobs written together (resultPacking, opt-in)
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
import { QueuePicker } from './queue-picker.js';
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
  /** The queues served, highest priority first, each with its DLQ and delete batcher. */
  private readonly sources: readonly JobSource[];
  private readonly slots: Slots;
  private readonly poller: Poller;
  private readonly runner: JobRunner;
  private readonly visibility: VisibilityKeeper;
  private readonly protection: ScaleInProtection;
  private readonly pool: HandlerPool | undefined;
  private readonly deadLetters: DeadLetterWatch[];
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
    this.sources = opts.queues.map((q) => ({
      name: q.name,
      queue: q.queue,
      dlq: q.dlq,
      deletes: new DeleteBatcher(q.queue, log),
    }));
    const weights = new Map(opts.queues.map((q) => [q.queue, q.weight ?? 1]));
    this.slots = new Slots(opts.concurrency);
    this.visibility = new VisibilityKeeper(
      this.running,
      opts.visibilityTimeoutSeconds,
      opts.heartbeatIntervalMs,
      this.counters,
      log,
    );
    this.poller = new Poller(
      new QueuePicker(this.sources, opts.queueMode, (s) => weights.get(s.queue) ?? 1),
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
      queueUrl: (this.sources.find((s) => s.name === 'default') ?? this.sources[0]!).queue.url,
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
      opts.resultPacking,
    );
    this.deadLetters = this.sources.flatMap(({ dlq }) =>
      dlq
        ? [
            new DeadLetterWatch({
              dlq,
              store: opts.store,
              maxReceiveCount: opts.maxReceiveCount,
              workerId: this.id,
              log,
            }),
          ]
        : [],
    );
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
      queues: this.sources.map((s) => ({ name: s.name, url: s.queue.url, dlq: s.dlq?.url ?? null })),
      ...(this.sources.length > 1 ? { queueMode: this.opts.queueMode } : {}),
      concurrency: this.opts.concurrency,
      pollers: this.opts.pollers,
      types: this.opts.handlers.types(),
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
    // Results waiting in open packs are written now, and their messages deleted below.
    await within(this.runner.flushResults(), Math.max(timeLeft(), 5000));
    this.poller.abort();
    await within(pollsDone, 1000);
    this.visibility.stop();
    clearTimeout(this.deadLetterTimer);
    await this.pool?.close();
    await this.steering.stop();
    await Promise.all(this.sources.map((s) => s.deletes.flush()));
    await this.protection.stop();
    this.log.info('worker stopped', { ...this.counters });
  }

  /** Check the DLQ now and then (the first time at a random point of the first interval, so a fleet spreads out). */
  private watchDeadLetters(): void {
    const watches = this.deadLetters;
    if (watches.length === 0) return;
    const every = this.opts.deadLetterCheckMs;
    const next = (ms: number) => {
      this.deadLetterTimer = setTimeout(async () => {
        for (const watch of watches) this.counters.accounted += await watch.check();
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
