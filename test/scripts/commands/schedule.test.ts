/** `flotilla submit --delay/--at`, `schedule` and `scheduler` as a user runs them, on fauxqs. */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SqsQueue } from '../../../core/adapters/sqs-queue.js';
import { parseEnvelope } from '../../../core/envelope.js';
import { type DelayedJob, delayedKey } from '../../../core/schedule.js';
import { BIN, flotilla } from '../../support/cli.js';
import { eventually, freshDeployment } from '../../support/deployment.js';
import { type Emulator, startEmbedded } from '../../support/emulators.js';

let emu: Emulator;
const children: ChildProcess[] = [];
beforeAll(async () => {
  emu = await startEmbedded();
});
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});
afterAll(async () => emu?.stop());

async function setup() {
  const d = await freshDeployment(emu);
  const args = ['--endpoint', emu.endpoint, '--queue-url', d.queueUrl, '--bucket', d.bucket];
  return { d, args };
}

function startScheduler(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'scheduler', '--interval', '1', ...args], {
    env: {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
    },
    stdio: 'ignore',
  });
  children.push(child);
  return child;
}

async function receiveAll(q: SqsQueue, forMs: number): Promise<string[]> {
  const ids: string[] = [];
  const until = Date.now() + forMs;
  while (Date.now() < until) {
    const msgs = await q.receive({ maxMessages: 10, waitTimeSeconds: 1, visibilityTimeoutSeconds: 60 });
    for (const m of msgs) ids.push(parseEnvelope(m.body).id);
  }
  return ids;
}

describe('flotilla submit --delay and --at', () => {
  it('does not hand out a job submitted with --delay 3s before 3 s have passed', async () => {
    const { d, args } = await setup();
    const r = await flotilla(['submit', 'pi', '--payload', '{}', '--id', 'soon', '--delay', '3s', ...args]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('delayed 3 s by the queue');
    // Poll as a worker would; the first receive that returns the job is when it could start.
    const msg = (await eventually(
      async () => (await d.queue.receive({ maxMessages: 1, waitTimeSeconds: 0 }))[0],
      10_000,
    ))!;
    const handedOutAt = Date.now();
    expect(parseEnvelope(msg.body).id).toBe('soon');
    expect(handedOutAt - msg.sentAtMs).toBeGreaterThanOrEqual(3000);
  }, 30_000);

  it('parks a job delayed beyond 15 minutes in the bucket and lists it', async () => {
    const { d, args } = await setup();
    const r = await flotilla(['submit', 'pi', '--payload', '{}', '--delay', '3h', ...args]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/waiting in the bucket until \d{4}-\d\d-\d\dT/);
    expect(await receiveAll(d.queue, 1500)).toEqual([]);
    const list = await flotilla(['schedule', 'list', ...args]);
    expect(list.stderr).toMatch(/0 schedule\(s\); 1 delayed job\(s\) waiting, next due/);
  });

  it('refuses a malformed delay, a time without a zone, and both at once, in one line each', async () => {
    const { args } = await setup();
    for (const [flags, message] of [
      [['--delay', '5x'], "delay '5x' is not a number followed by s, m, h or d"],
      [['--at', '2026-12-24 02:00'], "time '2026-12-24 02:00' is not an ISO 8601 time with a zone"],
      [['--delay', '3s', '--at', '2026-12-24T02:00:00Z'], 'give --delay or --at, not both'],
    ] as const) {
      const r = await flotilla(['submit', 'pi', '--payload', '{}', ...flags, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
  });
});

describe('flotilla scheduler', () => {
  it('sends a due job once after being killed and restarted', async () => {
    const { d, args } = await setup();
    const dueAtMs = Date.now() + 2500;
    const record: DelayedJob = {
      v: 1,
      queue: 'default',
      dueAt: new Date(dueAtMs).toISOString(),
      envelope: {
        v: 1,
        id: 'due',
        type: 'pi',
        batch: 'later',
        submittedAt: new Date().toISOString(),
        payload: {},
      },
    };
    await d.store.put(delayedKey(dueAtMs, 'later', 'due'), JSON.stringify(record));
    const first = startScheduler(args);
    await new Promise((r) => setTimeout(r, 1000));
    first.kill('SIGKILL');
    expect(await receiveAll(d.queue, 2500)).toEqual([]); // due while no timer runs
    startScheduler(args);
    expect(await receiveAll(d.queue, 6000)).toEqual(['due']);
    expect(await d.store.head(delayedKey(dueAtMs, 'later', 'due'))).toBeUndefined();
  }, 30_000);
});

describe('delayed jobs on several queues', () => {
  it('parks a job delayed with --queue bulk under that queue, and the timer sends it there', async () => {
    const { d, args } = await setup();
    const sub = await flotilla([
      'submit',
      'pi',
      '--queue',
      'bulk',
      '--delay',
      '20m',
      '--payload',
      '{}',
      '--id',
      'late',
      '--batch',
      'b',
      ...args,
    ]);
    expect(sub.code, sub.stderr).toBe(0);
    const keys: string[] = [];
    for await (const o of d.store.list('scheduled/')) keys.push(o.key);
    expect(keys).toHaveLength(1);
    const parked = JSON.parse((await d.store.get(keys[0]!)).toString()) as DelayedJob;
    expect(parked.queue).toBe('bulk');
    // Due now: the same record, moved to this minute, as a timer would find it 20 minutes on.
    const dueAtMs = Date.now() - 1000;
    await d.store.put(
      delayedKey(dueAtMs, 'b', 'late'),
      JSON.stringify({ ...parked, dueAt: new Date(dueAtMs).toISOString() }),
    );
    await d.store.delete(keys[0]!);
    const once = await flotilla(['scheduler', '--once', ...args]);
    expect(once.code, once.stderr).toBe(0);
    expect(await receiveAll(d.jobQueues.bulk!.queue, 1500)).toEqual(['late']);
    expect(await receiveAll(d.queue, 1000)).toEqual([]);
  }, 30_000);
});

describe('flotilla schedule', () => {
  it('adds, lists and removes a nightly schedule', async () => {
    const { args } = await setup();
    const add = await flotilla([
      'schedule',
      'add',
      'nightly',
      '--cron',
      '0 2 * * *',
      '--type',
      'pi',
      '--payload',
      '{"samples":5}',
      '--timezone',
      'Europe/Paris',
      ...args,
    ]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stderr).toMatch(/schedule nightly saved; next run \d{4}-\d\d-\d\dT0[01]:00:00.000Z/);
    const list = await flotilla(['schedule', 'list', '--json', ...args]);
    const rec = JSON.parse(list.stdout.trim());
    expect(rec).toMatchObject({
      name: 'nightly',
      cron: '0 2 * * *',
      timezone: 'Europe/Paris',
      queue: 'default',
    });
    expect((await flotilla(['schedule', 'remove', 'nightly', ...args])).code).toBe(0);
    const gone = await flotilla(['schedule', 'remove', 'nightly', ...args]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain("there is no schedule named 'nightly'");
    expect((await flotilla(['schedule', 'list', ...args])).stdout).toBe('');
  });

  it('refuses a bad cron pattern and an unknown time zone in one line each', async () => {
    const { args } = await setup();
    const base = ['schedule', 'add', 'x', '--type', 'pi', ...args];
    const badCron = await flotilla([...base, '--cron', '61 * * * *']);
    expect(badCron.code).toBe(2);
    expect(badCron.stderr).toContain("cron pattern '61 * * * *' is not valid");
    const badZone = await flotilla([...base, '--cron', '0 2 * * *', '--timezone', 'Mars/Olympus']);
    expect(badZone.code).toBe(2);
    expect(badZone.stderr).toContain("unknown time zone 'Mars/Olympus'");
  });
});
