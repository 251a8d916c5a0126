/**
 * Flotilla's own timer: it enqueues delayed jobs when they fall due and makes one job per slot of
 * each recurring schedule, reading both from the data bucket (core/schedule.ts). It runs wherever
 * EventBridge Scheduler does not: the local mirror, moto, MinIO + ElasticMQ, another cloud.
 *
 * Every job it sends is claimed first with a conditional PUT of fired/<batch>/<job>.json
 * (If-None-Match: *), so two timers at once send it once. A claim whose job was never marked sent
 * (its timer died between claim and send) is taken over after `claimLeaseMs`; the job's id is its
 * idempotency key at the worker, which runs a job with a result at most once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pool } from '../../client/submit.js';
import { type Envelope, JOB_ID_ATTRIBUTE, RESENT_ATTRIBUTE } from '../../core/envelope.js';
import { isMissingObject } from '../../core/errors.js';
import type { ObjectStore } from '../../core/ports/object-store.js';
import type { QueuePort } from '../../core/ports/queue.js';
import {
  DelayedJobSchema,
  dueMinuteOfKey,
  firedKey,
  minuteStamp,
  SCHEDULE_PREFIXES,
  type Schedule,
  ScheduleSchema,
  slotIds,
  slotsBetween,
} from '../../core/schedule.js';

export interface TimerOptions {
  readonly store: ObjectStore;
  /** The queue a record names (`default`, `bulk`...); throws for a name this timer cannot reach. */
  readonly queueFor: (name: string) => QueuePort;
  /** The clock, in epoch ms. @default Date.now */
  readonly now?: () => number;
  /** Written into claims, for whoever reads them. @default 'timer' */
  readonly owner?: string;
  /** A claim this old whose job was never marked sent is taken over. @default 300000 (5 min) */
  readonly claimLeaseMs?: number;
  /** On its first tick a timer also fires schedule slots missed this far back. @default 86400000 (24 h) */
  readonly catchUpMs?: number;
  /** Records read at once. @default 8 */
  readonly parallelism?: number;
  readonly log?: (line: string) => void;
  /** True while this side is not the active one (flotilla failover): send nothing. @default - never */
  readonly paused?: () => Promise<boolean>;
}

export interface TickReport {
  /** Delayed jobs this tick sent. */
  readonly delayed: number;
  /** Schedule slots this tick sent. */
  readonly slots: number;
}

type Outcome = 'sent' | 'done' | 'held' | 'failed';

interface Claim {
  readonly state: 'claimed' | 'sent';
  readonly owner: string;
  readonly atMs: number;
}

export class Timer {
  private readonly now: () => number;
  private readonly owner: string;
  private readonly leaseMs: number;
  private readonly catchUpMs: number;
  private readonly parallelism: number;
  private readonly log: (line: string) => void;
  private lastTickMs: number | undefined;

  constructor(private readonly opts: TimerOptions) {
    this.now = opts.now ?? Date.now;
    this.owner = opts.owner ?? 'timer';
    this.leaseMs = opts.claimLeaseMs ?? 300_000;
    this.catchUpMs = opts.catchUpMs ?? 86_400_000;
    this.parallelism = opts.parallelism ?? 8;
    this.log = opts.log ?? (() => {});
  }

  /** One pass: send every delayed job due by now and every schedule slot since the last pass. */
  async tick(): Promise<TickReport> {
    const now = this.now();
    if (await this.opts.paused?.()) {
      // The active side's timer sends what falls due meanwhile.
      this.lastTickMs = now;
      return { delayed: 0, slots: 0 };
    }
    const from = this.lastTickMs ?? now - this.catchUpMs;
    const delayed = await this.fireDelayed(now);
    const slots = await this.fireSchedules(from, now);
    this.lastTickMs = now;
    return { delayed, slots };
  }

  /** Tick every `intervalMs` until `signal` aborts; a failed tick is logged and the next one tries again. */
  async run(intervalMs: number, signal: AbortSignal, onTick?: (r: TickReport) => void): Promise<void> {
    while (!signal.aborted) {
      try {
        onTick?.(await this.tick());
      } catch (e) {
        this.log(`tick failed, retrying in ${intervalMs} ms: ${(e as Error).message}`);
      }
      await sleep(intervalMs, undefined, { signal }).catch(() => {});
    }
  }

  private async fireDelayed(now: number): Promise<number> {
    const nowMinute = minuteStamp(now);
    const keys: string[] = [];
    // Keys sort by due minute: stop listing at the first minute still to come.
    for await (const o of this.opts.store.list(SCHEDULE_PREFIXES.delayed)) {
      if (dueMinuteOfKey(o.key) > nowMinute) break;
      keys.push(o.key);
    }
    let sent = 0;
    await pool(keys, this.parallelism, async (key) => {
      const text = await this.getText(key);
      if (text === undefined) return; // another timer sent it and removed the record
      const parsed = DelayedJobSchema.safeParse(JSON.parse(text));
      if (!parsed.success) {
        this.log(`skipping ${key}: not a delayed-job record (${parsed.error.issues[0]?.message})`);
        return;
      }
      const job = parsed.data;
      if (Date.parse(job.dueAt) > now) return;
      const outcome = await this.fireLogged(key, job.queue, job.envelope as Envelope, now);
      if (outcome === 'sent') sent++;
      // Sent, by this timer or another: the record has done its work. A live claim of another
      // timer keeps it, so that the job survives that timer dying before it sends.
      if (outcome === 'sent' || outcome === 'done') await this.opts.store.delete(key);
    });
    return sent;
  }

  private async fireSchedules(from: number, now: number): Promise<number> {
    const schedules: Schedule[] = [];
    for await (const o of this.opts.store.list(SCHEDULE_PREFIXES.schedules)) {
      const text = await this.getText(o.key);
      if (text === undefined) continue;
      const parsed = ScheduleSchema.safeParse(JSON.parse(text));
      if (parsed.success) schedules.push(parsed.data);
      else this.log(`skipping ${o.key}: not a schedule record (${parsed.error.issues[0]?.message})`);
    }
    let sent = 0;
    for (const s of schedules) {
      const slots = slotsBetween(s, Math.max(from, Date.parse(s.createdAt)), now);
      await pool(slots, this.parallelism, async (slotMs) => {
        const { batch, id } = slotIds(s.name, slotMs);
        const envelope: Envelope = {
          v: 1,
          id,
          type: s.type,
          batch,
          submittedAt: new Date(slotMs).toISOString(),
          payload: s.payload ?? null,
        };
        if ((await this.fireLogged(`schedule ${s.name}`, s.queue, envelope, now)) === 'sent') sent++;
      });
    }
    return sent;
  }

  /** `fire`, with a failure logged (the job stays pending, and the next tick tries it again). */
  private async fireLogged(what: string, queueName: string, env: Envelope, now: number): Promise<Outcome> {
    try {
      return await this.fire(queueName, env, now);
    } catch (e) {
      this.log(`${what}: job ${env.batch}/${env.id} not sent, will retry: ${(e as Error).message}`);
      return 'failed';
    }
  }

  /**
   * Claim, send, mark sent. 'held' when another timer holds a live claim, 'done' when the job was
   * sent already; throws, leaving the claim to expire, when the queue cannot be reached.
   */
  private async fire(queueName: string, env: Envelope, now: number): Promise<Outcome> {
    const queue = this.opts.queueFor(queueName);
    const key = firedKey(env.batch, env.id);
    const claim = (state: Claim['state']): string =>
      JSON.stringify({ state, owner: this.owner, atMs: now } satisfies Claim);
    const put = (state: Claim['state'], cond: { ifAbsent?: boolean; ifMatch?: string } = {}) =>
      this.opts.store.put(key, claim(state), { contentType: 'application/json', ...cond });
    if (!(await put('claimed', { ifAbsent: true }))) {
      const found = await this.readClaim(key);
      if (!found) return 'held';
      const held = found.claim;
      if (held.state === 'sent') return 'done';
      if (now - held.atMs < this.leaseMs) return 'held';
      // Only if the claim is still the one read: of two timers taking over at once, one does.
      if (!(await put('claimed', { ifMatch: found.etag }))) return 'held';
      this.log(`took over ${key}: claimed by ${held.owner} ${now - held.atMs} ms ago and never sent`);
    }
    // Marked as sent before: a delayed job may belong to a batch re-sent meanwhile (a claim
    // makes the timer send it once, not the job id unique), and one check per delayed job is cheap.
    await queue.send({
      body: JSON.stringify(env),
      attributes: { [JOB_ID_ATTRIBUTE]: env.id, [RESENT_ATTRIBUTE]: '1' },
    });
    await put('sent');
    return 'sent';
  }

  /**
   * The claim at `key` and an ETag to take it over with; undefined when there is none. The ETag
   * is read first: if the claim changes between the two reads, the take-over's If-Match fails
   * (safe), where the other order could replace a newer claim judged by an older one.
   */
  private async readClaim(key: string): Promise<{ claim: Claim; etag: string } | undefined> {
    const head = await this.opts.store.head(key);
    const text = head && (await this.getText(key));
    if (!head || text === undefined) return undefined;
    return { claim: JSON.parse(text) as Claim, etag: head.etag };
  }

  private async getText(key: string): Promise<string | undefined> {
    try {
      return (await this.opts.store.get(key)).toString('utf8');
    } catch (e) {
      if (isMissingObject(e)) return undefined;
      throw e;
    }
  }
}
