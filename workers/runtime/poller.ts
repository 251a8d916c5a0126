/**
 * The receive loops of a worker: each takes free job slots, receives up to that many messages
 * and hands each to the worker with the queue it came from. While a queue cannot be reached
 * they back off (exponentially, with jitter) and say so once, not per attempt. A stopping
 * worker's loops end; messages that arrive while it stops are given straight back.
 *
 * One queue: every receive long-polls it for `waitTimeSeconds`. Several: each receive is a
 * sweep over the queues in the picker's order (queue-picker.ts) that takes from the first one
 * with jobs. While jobs flow the sweep does not wait (WaitTimeSeconds 0); after a sweep found
 * every queue empty, the next waits `queueWaitSeconds` on each queue in turn, so a job arriving
 * on a higher queue waits at most the waits on the queues below it (docs/queues.md gives the
 * cost of those receives). While every queue is empty only the first loop sweeps; the others
 * wait until it finds work. While the side is not the active one (core/active-side.ts) they
 * receive nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RESENT_ATTRIBUTE } from '../../core/envelope.js';
import { classifyError, describeError } from '../../core/errors.js';
import type { QueueMessage } from '../../core/ports/queue.js';
import { backoffMs } from './backoff.js';
import type { WorkerCounters } from './counters.js';
import type { Logger } from './logger.js';
import type { QueuePicker } from './queue-picker.js';
import type { JobSource } from './running-job.js';
import type { Slots } from './slots.js';
import type { VisibilityKeeper } from './visibility-keeper.js';

export interface PollerOptions {
  readonly waitTimeSeconds: number;
  /** With several queues: the wait on each queue of a sweep once a sweep found them all empty. */
  readonly queueWaitSeconds: number;
  readonly outageBackoff: { readonly baseMs: number; readonly maxMs: number };
  /** True while this side is not the active one (a failover moved work away): receive nothing. */
  readonly paused?: () => boolean;
}

export class Poller {
  private stopping = false;
  private readonly isStopping = () => this.stopping;
  /** Cuts short a long poll still waiting once the drain is over. */
  private readonly pollAbort = new AbortController();
  /** Cuts short an outage back-off when the worker stops. */
  private readonly stopAbort = new AbortController();
  private outageSince?: number;
  /** Loops waiting for loop 0 to find work (several queues, all empty). */
  private parked: (() => void)[] = [];

  constructor(
    private readonly picker: QueuePicker<JobSource>,
    private readonly slots: Slots,
    private readonly opts: PollerOptions,
    private readonly visibility: VisibilityKeeper,
    private readonly counters: WorkerCounters,
    private readonly log: Logger,
    private readonly dispatch: (msg: QueueMessage, source: JobSource) => void,
  ) {}

  /** Run `count` receive loops; settles when all have ended. */
  run(count: number): Promise<void> {
    return Promise.all(Array.from({ length: count }, (_, i) => this.loop(i))).then(() => {});
  }

  /** No new receives; receives already sent may still return (their messages are released). */
  stop(): void {
    this.stopping = true;
    this.stopAbort.abort();
    this.wakeParked();
  }

  /** Cut short the receives still waiting. */
  abort(): void {
    this.pollAbort.abort();
  }

  private async loop(index: number): Promise<void> {
    let failures = 0;
    // The abort signal only matters for a long poll that waits on an empty queue (the drain's
    // deadline cuts it short). While messages flow, receives return at once, so they go without
    // it: a call with per-request options makes the SDK rebuild its middleware for every call
    // and drop the client's cached handlers (cacheMiddleware), which costs about a third of the
    // client's CPU per message.
    // Several queues: the first sweep does not wait (jobs may be queued already); one queue: the
    // first receive long-polls with the abort signal, as after an empty one.
    let lastWasEmpty = this.picker.order().length === 1;
    let source: JobSource | undefined;
    while (!this.stopping) {
      if (this.opts.paused?.()) {
        await sleep(1000, undefined, { signal: this.stopAbort.signal }).catch(() => {});
        continue;
      }
      const want = await this.slots.take(10, this.isStopping);
      if (want === 0) break;
      let msgs: QueueMessage[];
      try {
        ({ msgs, source } = await this.sweep(want, lastWasEmpty));
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
        this.onOutage(err, index);
        const { baseMs, maxMs } = this.opts.outageBackoff;
        // Cut short by stop(): a worker backing off from an outage still stops promptly.
        await sleep(backoffMs(failures, baseMs, maxMs), undefined, { signal: this.stopAbort.signal }).catch(
          () => {},
        );
        continue;
      }
      this.slots.release(want - msgs.length);
      if (msgs.length === 0 || !source) {
        // Several queues, nothing anywhere: one loop keeps sweeping, the others wait for it to
        // find work, so an idle worker's empty receives do not grow with its pollers.
        if (index > 0 && this.picker.order().length > 1) {
          await this.park();
          lastWasEmpty = false; // woken because there is work: sweep without waiting
        }
        continue;
      }
      this.wakeParked();
      this.counters.received += msgs.length;
      if (this.stopping) {
        // Received while draining: hand them straight back.
        await this.visibility.release(source.queue, msgs);
        this.counters.released += msgs.length;
        this.slots.release(msgs.length);
        break;
      }
      for (const msg of msgs) this.dispatch(msg, source);
    }
  }

  /** Until another loop receives something, or the worker stops. */
  private park(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => this.parked.push(resolve));
  }

  private wakeParked(): void {
    const parked = this.parked;
    this.parked = [];
    for (const wake of parked) wake();
  }

  /**
   * Up to `want` messages from the first queue, in the picker's order, that has any. `idle`:
   * the last sweep found nothing, so this one may wait (and take the abort signal: see loop()).
   */
  private async sweep(
    want: number,
    idle: boolean,
  ): Promise<{ msgs: QueueMessage[]; source: JobSource | undefined }> {
    const order = this.picker.order();
    const wait =
      order.length === 1
        ? this.opts.waitTimeSeconds
        : idle
          ? Math.min(this.opts.waitTimeSeconds, this.opts.queueWaitSeconds)
          : 0;
    for (const source of order) {
      if (this.stopping) break;
      const msgs = await source.queue.receive({
        maxMessages: want,
        waitTimeSeconds: wait,
        // The job travels in the body; of its message attributes only the sender's mark that it
        // may have been sent before matters (result-check.ts): the rest (the submitter's
        // flotilla-job-id) would only add to the parsing of every response.
        messageAttributes: [RESENT_ATTRIBUTE],
        ...(idle && wait > 0 ? { abortSignal: this.pollAbort.signal } : {}),
      });
      this.counters.receives++;
      if (msgs.length > 0) {
        this.picker.took(source, msgs.length);
        return { msgs, source };
      }
      this.counters.emptyReceives++;
      this.picker.empty(source);
    }
    return { msgs: [], source: undefined };
  }

  /** Say once that the queue cannot be reached, not on every failed receive. */
  private onOutage(err: unknown, poller: number): void {
    if (this.outageSince !== undefined) return;
    this.outageSince = Date.now();
    const kind = classifyError(err);
    this.log.error(kind === 'other' ? 'receive failed; backing off' : 'queue unreachable; backing off', {
      kind,
      error: describeError(err),
      poller,
    });
  }
}
