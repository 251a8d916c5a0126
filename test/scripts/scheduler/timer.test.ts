/**
 * The timer over the wire: delayed jobs beyond SQS's limit and cron slots, under a clock the test
 * controls (no test waits for the delay). Races between two timers run on fauxqs behind the
 * conditional-PUT shim, which decides If-None-Match: * one request at a time per key, as S3 does.
 * fauxqs alone accepts such PUTs unconditionally, and moto 5.2 checks and then stores without a
 * lock, so two claims at the same moment could both succeed there (seen once in a CI run: a slot
 * fired twice); on S3 a conditional write is atomic.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addSchedule, listDelayed, removeSchedule } from '../../../client/schedule.js';
import { Submitter } from '../../../client/submit.js';
import { type ActiveSideRecord, sideIsActive, writeActiveSide } from '../../../core/active-side.js';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { SqsQueue } from '../../../core/adapters/sqs-queue.js';
import { EMULATOR_CREDENTIALS, s3Client } from '../../../core/aws.js';
import { parseEnvelope } from '../../../core/envelope.js';
import { Timer, type TimerOptions } from '../../../scripts/scheduler/timer.js';
import { type ConditionalPutShim, startConditionalPutShim } from '../../support/conditional-put.js';
import { freshDeployment } from '../../support/deployment.js';
import { type Emulator, startEmbedded, startMoto } from '../../support/emulators.js';

let fauxqs: Emulator;
let moto: Emulator;
let shim: ConditionalPutShim;
beforeAll(async () => {
  [fauxqs, moto] = await Promise.all([startEmbedded(), startMoto()]);
  shim = await startConditionalPutShim(fauxqs.endpoint, fauxqs.s3);
}, 60_000);
afterAll(async () => {
  await shim?.close();
  await Promise.all([fauxqs?.stop(), moto?.stop()]);
});

/** A deployment on fauxqs whose bucket is reached through the shim, for timers that race. */
async function racingDeployment() {
  const d = await freshDeployment(fauxqs);
  const s3 = s3Client({ endpoint: shim.endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS });
  return { ...d, store: new S3Store(s3, d.bucket) };
}

/** Every message on the queue now, deleted as read. */
async function drain(q: SqsQueue): Promise<{ batch: string; id: string; submittedAt: string }[]> {
  const out: { batch: string; id: string; submittedAt: string }[] = [];
  for (;;) {
    const msgs = await q.receive({ maxMessages: 10, waitTimeSeconds: 0, visibilityTimeoutSeconds: 30 });
    if (msgs.length === 0) return out;
    for (const m of msgs) out.push(parseEnvelope(m.body));
    await q.deleteBatch(msgs.map((m, i) => ({ id: String(i), receiptHandle: m.receiptHandle })));
  }
}

function timerOn(
  d: Awaited<ReturnType<typeof freshDeployment>>,
  clock: { ms: number },
  extra: Partial<TimerOptions> = {},
) {
  return new Timer({
    store: d.store,
    queueFor: (name) => {
      if (name !== 'default') throw new Error(`no queue ${name}`);
      return d.queue;
    },
    now: () => clock.ms,
    ...extra,
  });
}

const HOUR = 3_600_000;

/** A queue whose sends fail, as if the timer using it were killed between its claim and the send. */
class KilledBeforeSend extends SqsQueue {
  override send(): Promise<string> {
    return Promise.reject(new Error('killed'));
  }
}

describe('delayed jobs beyond SQS delay limit', () => {
  it('are not sent from a side that a failover made inactive, and are once it is active again', async () => {
    const d = await freshDeployment(fauxqs);
    const clock = { ms: Date.now() };
    const timer = timerOn(d, clock, { paused: async () => !(await sideIsActive(d.store, d.queue.url)) });
    await new Submitter({ queue: d.queue, store: d.store }).submit(
      'echo',
      {},
      { id: 'due', delaySeconds: 3600 },
    );
    const side = (url: string) => ({ bucket: d.bucket, queues: { q: url } });
    const record = (active: string): ActiveSideRecord => ({
      v: 1,
      active: side(active),
      state: 'active',
      at: '',
    });
    await writeActiveSide(d.store, record('http://standby.example/000000000000/q'));
    clock.ms += 2 * HOUR;
    expect(await timer.tick()).toEqual({ delayed: 0, slots: 0 });
    await writeActiveSide(d.store, record(d.queue.url));
    clock.ms += 1000;
    expect((await timer.tick()).delayed).toBe(1);
  });

  it('waits in the bucket and is enqueued once when due, not before', async () => {
    const d = await freshDeployment(fauxqs);
    const submitter = new Submitter({ queue: d.queue, store: d.store });
    const start = Date.now();
    const handle = await submitter.submit('echo', { n: 1 }, { id: 'later', delaySeconds: 3 * 3600 });
    expect(Date.parse(handle.submitted.dueAt!)).toBeGreaterThanOrEqual(start + 3 * HOUR);
    expect(await drain(d.queue)).toEqual([]);
    expect((await listDelayed(d.store)).map((j) => j.envelope.id)).toEqual(['later']);

    const clock = { ms: start + 3 * HOUR - 60_000 };
    const timer = timerOn(d, clock);
    expect(await timer.tick()).toEqual({ delayed: 0, slots: 0 });
    expect(await drain(d.queue)).toEqual([]);

    clock.ms = start + 3 * HOUR + 2_000;
    expect((await timer.tick()).delayed).toBe(1);
    expect((await drain(d.queue)).map((e) => `${e.batch}/${e.id}`)).toEqual([`${handle.batch}/later`]);
    expect(await listDelayed(d.store)).toEqual([]);
    clock.ms += 60_000;
    expect((await timer.tick()).delayed).toBe(0);
    expect(await drain(d.queue)).toEqual([]);
  });

  it('is sent once when two timers tick at the same moment', async () => {
    const d = await racingDeployment();
    const submitter = new Submitter({ queue: d.queue, store: d.store });
    const jobs = Array.from({ length: 20 }, (_, i) => ({ payload: { i } }));
    const handle = await submitter.submitMany('echo', jobs, { runAt: new Date(Date.now() + 2 * HOUR) });
    const clock = { ms: Date.now() + 2 * HOUR + 61_000 };
    const a = timerOn(d, clock, { owner: 'a' });
    const b = timerOn(d, clock, { owner: 'b' });
    const [ra, rb] = await Promise.all([a.tick(), b.tick()]);
    expect(ra.delayed + rb.delayed).toBe(20);
    clock.ms += 600_000;
    await Promise.all([a.tick(), b.tick()]);
    const got = await drain(d.queue);
    expect(got).toHaveLength(20);
    expect(new Set(got.map((e) => e.id)).size).toBe(20);
    expect(got.every((e) => e.batch === handle.batch)).toBe(true);
  }, 60_000);

  it('loses no job when a timer dies between its claim and the send', async () => {
    const d = await freshDeployment(moto);
    const submitter = new Submitter({ queue: d.queue, store: d.store });
    await submitter.submit('echo', {}, { id: 'survivor', delaySeconds: 3600 });
    const clock = { ms: Date.now() + HOUR + 61_000 };
    // The first timer claims the job and then cannot send it (as if killed at that moment).
    const dying = new KilledBeforeSend(moto.sqs, d.queue.url);
    const first = new Timer({ store: d.store, queueFor: () => dying, now: () => clock.ms, owner: 'first' });
    expect((await first.tick()).delayed).toBe(0);
    const restarted = timerOn(d, clock, { owner: 'second' });
    expect((await restarted.tick()).delayed).toBe(0); // the claim is still live
    expect(await drain(d.queue)).toEqual([]);
    clock.ms += 301_000; // past the claim lease
    expect((await restarted.tick()).delayed).toBe(1);
    expect((await drain(d.queue)).map((e) => e.id)).toEqual(['survivor']);
  }, 60_000);
  it('is sent once when two timers take over an expired claim at the same moment', async () => {
    const d = await racingDeployment();
    const submitter = new Submitter({ queue: d.queue, store: d.store });
    await submitter.submit('echo', {}, { id: 'orphan', delaySeconds: 3600 });
    const clock = { ms: Date.now() + HOUR + 61_000 };
    // A timer claims the job and dies before sending it.
    const dying = new KilledBeforeSend(fauxqs.sqs, d.queue.url);
    await new Timer({ store: d.store, queueFor: () => dying, now: () => clock.ms, owner: 'dead' }).tick();
    clock.ms += 301_000; // past the claim lease
    const a = timerOn(d, clock, { owner: 'a' });
    const b = timerOn(d, clock, { owner: 'b' });
    const [ra, rb] = await Promise.all([a.tick(), b.tick()]);
    expect(ra.delayed + rb.delayed).toBe(1);
    expect((await drain(d.queue)).map((e) => e.id)).toEqual(['orphan']);
  }, 60_000);
});

describe('recurring schedules', () => {
  it('fire once per slot over a simulated day with two timers racing, and not after removal', async () => {
    const d = await racingDeployment();
    const day0 = Date.parse('2026-12-24T00:00:00Z');
    await addSchedule(
      d.store,
      { name: 'hourly', cron: '0 * * * *', type: 'report', payload: { k: 1 } },
      day0,
    );
    const clock = { ms: day0 };
    const a = timerOn(d, clock, { owner: 'a' });
    const b = timerOn(d, clock, { owner: 'b' });
    for (; clock.ms <= day0 + 24 * HOUR; clock.ms += 20 * 60_000) await Promise.all([a.tick(), b.tick()]);
    const got = await drain(d.queue);
    expect(got).toHaveLength(24); // 01:00 to 24:00
    expect(new Set(got.map((e) => e.id)).size).toBe(24);
    expect(got.every((e) => e.batch === 'sched-hourly')).toBe(true);
    expect(got.map((e) => e.submittedAt).sort()[0]).toBe('2026-12-24T01:00:00.000Z');

    expect(await removeSchedule(d.store, 'hourly')).toBe(true);
    for (const end = clock.ms + 6 * HOUR; clock.ms <= end; clock.ms += 60 * 60_000)
      await Promise.all([a.tick(), b.tick()]);
    expect(await drain(d.queue)).toEqual([]);
  }, 120_000);

  it('catches up on a slot missed while no timer ran, once', async () => {
    const d = await freshDeployment(fauxqs);
    const created = Date.parse('2026-12-23T12:00:00Z');
    await addSchedule(
      d.store,
      { name: 'nightly', cron: '0 2 * * *', timezone: 'Europe/Paris', type: 'report', payload: null },
      created,
    );
    const clock = { ms: Date.parse('2026-12-24T05:00:00Z') };
    const timer = timerOn(d, clock);
    expect((await timer.tick()).slots).toBe(1);
    expect((await timer.tick()).slots).toBe(0);
    const got = await drain(d.queue);
    // 02:00 in Paris in winter is 01:00 UTC.
    expect(got.map((e) => [e.batch, e.id])).toEqual([['sched-nightly', '20261224T010000Z']]);
  });
});
