/**
 * The receive loops of one queue: each takes free job slots, long-polls for up to that many
 * messages and hands each to the worker. While the queue cannot be reached they back off
 * (exponentially, with jitter) and say so once, not per attempt. A stopping worker's loops end;
 * messages that arrive while it stops are given straight back.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RESENT_ATTRIBUTE } from '../../core/envelope.js';
import { classifyError, describeError } from '../../core/errors.js';
import type { QueueMessage } from '../../core/ports/queue.js';
import { backoffMs } from './backoff.js';
import type { WorkerCounters } from './counters.js';
import type { Logger } from './logger.js';
import type { JobSource } from './running-job.js';
import type { Slots } from './slots.js';
import type { VisibilityKeeper } from './visibility-keeper.js';

export interface PollerOptions {
  readonly waitTimeSeconds: number;
  readonly outageBackoff: { readonly baseMs: number; readonly maxMs: number };
}

export class Poller {
  private stopping = false;
  private readonly isStopping = () => this.stopping;
  /** Cuts short a long poll still waiting once the drain is over. */
  private readonly pollAbort = new AbortController();
  /** Cuts short an outage back-off when the worker stops. */
  private readonly stopAbort = new AbortController();
  private outageSince?: number;

  constructor(
    private readonly source: JobSource,
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
  }

  /** Cut short the receives still waiting. */
  abort(): void {
    this.pollAbort.abort();
  }

  private async loop(index: number): Promise<void> {
    const { queue } = this.source;
    let failures = 0;
    // The abort signal only matters for a long poll that waits on an empty queue (the drain's
    // deadline cuts it short). While messages flow, receives return at once, so they go without
    // it: a call with per-request options makes the SDK rebuild its middleware for every call
    // and drop the client's cached handlers (cacheMiddleware), which costs about a third of the
    // client's CPU per message.
    let lastWasEmpty = true;
    while (!this.stopping) {
      const want = await this.slots.take(10, this.isStopping);
      if (want === 0) break;
      let msgs: QueueMessage[];
      try {
        msgs = await queue.receive({
          maxMessages: want,
          waitTimeSeconds: this.opts.waitTimeSeconds,
          // The job travels in the body; of its message attributes only the sender's mark that
          // it may have been sent before matters (result-check.ts): the rest (the submitter's
          // flotilla-job-id) would only add to the parsing of every response.
          messageAttributes: [RESENT_ATTRIBUTE],
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
        this.onOutage(err, index);
        const { baseMs, maxMs } = this.opts.outageBackoff;
        // Cut short by stop(): a worker backing off from an outage still stops promptly.
        await sleep(backoffMs(failures, baseMs, maxMs), undefined, { signal: this.stopAbort.signal }).catch(
          () => {},
        );
        continue;
      }
      this.slots.release(want - msgs.length);
      if (msgs.length === 0) continue;
      this.counters.received += msgs.length;
      if (this.stopping) {
        // Received while draining: hand them straight back.
        await this.visibility.release(queue, msgs);
        this.counters.released += msgs.length;
        this.slots.release(msgs.length);
        break;
      }
      for (const msg of msgs) this.dispatch(msg, this.source);
    }
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
