/**
 * A live standby: `flotilla mirror --follow` against the loop users write today, the one-shot
 * `flotilla mirror` every 3 s from a shell. Source and target are two embedded emulators, each in
 * its own process. The source bucket holds 1,000 objects of 1 KiB; a writer makes 100 changes a
 * second for 30 s (60% same-size overwrites, 20% new objects, 20% deletes) and a probe lists the
 * target every 200 ms. A change's lag runs from the write to the first probe that sees the
 * target hold it (or a later version of that key; for a delete, the key gone), so it includes up
 * to 200 ms of probe interval. Requests per change are the requests the mirror itself sent to
 * both emulators (they count the ones signed with the access key `bench-worker`), over the
 * changes made. Then `flotilla failover` of 200 pending jobs to the target, timed whole.
 *
 *   npx tsx bench/follow.ts [--seconds 30] [--rate 100] [--objects 1000]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { pool, Submitter } from '../client/submit.js';
import { S3Store } from '../core/adapters/s3-store.js';
import { SqsQueue } from '../core/adapters/sqs-queue.js';
import {
  type BenchEmulator,
  COUNTED_ENV,
  childEnv,
  fmt,
  freshDeployment,
  isMain,
  machineLine,
  ROOT,
  say,
  startEmulatorProcess,
  stopChild,
} from './support.js';

export interface FollowContender {
  readonly name: string;
  readonly changes: number;
  readonly p50Seconds: number;
  readonly p99Seconds: number;
  readonly maxSeconds: number;
  /** Changes not on the target 15 s after the writer stopped. */
  readonly notApplied: number;
  readonly requestsPerChange: number;
}

export interface FollowBenchResult {
  readonly seconds: number;
  readonly rate: number;
  readonly objects: number;
  readonly contenders: readonly FollowContender[];
  /** `flotilla failover` of 200 pending jobs (170 waiting, 20 delayed 4 s, 10 in the DLQ), whole command. */
  readonly failover: { readonly jobs: number; readonly seconds: number };
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const quantile = (sorted: number[], q: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/** What the target should show per key, and since when each unseen change waits. */
class Expectations {
  private readonly want = new Map<string, { etag: string | null; since: number[] }>();
  readonly lags: number[] = [];
  changes = 0;

  record(key: string, etag: string | null): void {
    this.changes++;
    const w = this.want.get(key) ?? { etag, since: [] };
    w.etag = etag;
    w.since.push(Date.now());
    this.want.set(key, w);
  }

  /** Compare with a listing of the target; every change it now shows is done. */
  observe(target: ReadonlyMap<string, string>): void {
    const now = Date.now();
    for (const [key, w] of this.want) {
      const has = target.get(key);
      if (w.etag === null ? has === undefined : has === w.etag) {
        for (const t of w.since) this.lags.push(now - t);
        this.want.delete(key);
      }
    }
  }

  get pending(): number {
    let n = 0;
    for (const w of this.want.values()) n += w.since.length;
    return n;
  }
}

async function listing(store: S3Store): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const o of store.list()) out.set(o.key, o.etag.replace(/"/g, ''));
  return out;
}

async function run(
  name: string,
  src: BenchEmulator,
  dst: BenchEmulator,
  bucket: string,
  start: (targetBucket: string) => ChildProcess,
  ready: () => Promise<boolean>,
  opts: { seconds: number; rate: number },
): Promise<FollowContender> {
  const targetBucket = `${bucket}-${name.replace(/\W+/g, '-')}`.slice(0, 63);
  const source = new S3Store(src.s3, bucket);
  const target = new S3Store(dst.s3, targetBucket);
  const child = start(targetBucket);
  try {
    const deadline = Date.now() + 60_000;
    while (!(await ready())) {
      if (Date.now() > deadline) throw new Error(`${name}: no first pass within 60 s`);
      await sleep(200);
    }
    const live = [...(await listing(source)).keys()];
    await src.requestCounts();
    await dst.requestCounts();
    const exp = new Expectations();
    let probing = true;
    const probe = (async () => {
      while (probing) {
        const t = Date.now();
        exp.observe(await listing(target).catch(() => new Map<string, string>()));
        await sleep(Math.max(0, 200 - (Date.now() - t)));
      }
    })();
    // The writer: `rate` changes a second, in ticks of 100 ms.
    const perTick = Math.max(1, Math.round(opts.rate / 10));
    const ended = Date.now() + opts.seconds * 1000;
    let n = 0;
    while (Date.now() < ended) {
      const tick = Date.now();
      const ops = Array.from({ length: perTick }, () => n++);
      await pool(ops, perTick, async (i) => {
        const r = i % 5;
        if (r === 0 && live.length > 0) {
          const key = live.splice(i % live.length, 1)[0]!;
          await source.delete(key);
          exp.record(key, null);
        } else {
          const key = r === 1 ? `new/${name}/${i}` : live[i % live.length]!;
          if (r === 1) live.push(key);
          const body = randomBytes(1024);
          await source.put(key, body);
          exp.record(key, md5(body));
        }
      });
      await sleep(Math.max(0, 100 - (Date.now() - tick)));
    }
    const settle = Date.now() + 15_000;
    while (exp.pending > 0 && Date.now() < settle) await sleep(200);
    probing = false;
    await probe;
    const counts = [await src.requestCounts(), await dst.requestCounts()];
    const requests = counts.reduce((s, c) => s + Object.values(c).reduce((a, b) => a + b, 0), 0);
    const sorted = [...exp.lags].sort((a, b) => a - b);
    return {
      name,
      changes: exp.changes,
      p50Seconds: quantile(sorted, 0.5) / 1000,
      p99Seconds: quantile(sorted, 0.99) / 1000,
      maxSeconds: (sorted.at(-1) ?? 0) / 1000,
      notApplied: exp.pending,
      requestsPerChange: requests / Math.max(1, exp.changes),
    };
  } finally {
    await stopChild(child, 3000);
  }
}

export async function followBench(
  src: BenchEmulator,
  opts: { seconds: number; rate: number; objects: number },
): Promise<FollowBenchResult> {
  const dst = await startEmulatorProcess();
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-follow-'));
  const bucket = `bench-follow-${process.pid.toString(36)}`;
  try {
    await src.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const store = new S3Store(src.s3, bucket);
    await pool(
      Array.from({ length: opts.objects }, (_, i) => i),
      32,
      async (i) => {
        await store.put(`data/${String(i).padStart(5, '0')}`, randomBytes(1024));
      },
    );
    const env = childEnv(src.endpoint, { ...COUNTED_ENV, FLOTILLA_BUCKET: bucket });
    const bin = join(ROOT, 'bin', 'flotilla.mjs');
    const mirrorArgs = (targetBucket: string) =>
      `${process.execPath} ${bin} mirror --to ${dst.endpoint} --to-bucket ${targetBucket} --endpoint ${src.endpoint} --bucket ${bucket} --delete --quiet`;
    const contenders: FollowContender[] = [];
    // The loop users write today: the one-shot mirror, then 3 s of sleep, again and again.
    const loopDone = join(dir, 'loop-first-pass');
    say('  one-shot mirror every 3 s…');
    contenders.push(
      await run(
        'mirror every 3 s',
        src,
        dst,
        bucket,
        (t) =>
          spawn('sh', ['-c', `while :; do ${mirrorArgs(t)} && touch ${loopDone}; sleep 3; done`], {
            env,
            stdio: 'ignore',
          }),
        async () => {
          try {
            readFileSync(loopDone);
            return true;
          } catch {
            return false;
          }
        },
        opts,
      ),
    );
    const status = join(dir, 'status.json');
    say('  mirror --follow…');
    contenders.push(
      await run(
        'mirror --follow',
        src,
        dst,
        bucket,
        (t) =>
          spawn('sh', ['-c', `exec ${mirrorArgs(t)} --follow --status ${status}`], { env, stdio: 'ignore' }),
        async () => {
          try {
            return (JSON.parse(readFileSync(status, 'utf8')) as { passes: number }).passes >= 1;
          } catch {
            return false;
          }
        },
        opts,
      ),
    );
    say('  failover of 200 pending jobs…');
    const failover = await failoverBench(src, dst);
    return { ...opts, contenders, failover };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await dst.stop();
  }
}

/** Time `flotilla failover` (a process, as a user runs it) of 200 jobs to `dst`. */
async function failoverBench(
  src: BenchEmulator,
  dst: BenchEmulator,
): Promise<{ jobs: number; seconds: number }> {
  const p = await freshDeployment(src, 'failover');
  const store = new S3Store(src.s3, p.bucket);
  const jobs = (n: number) => Array.from({ length: n }, (_, i) => ({ payload: { i } }));
  const submitter = new Submitter({ queue: new SqsQueue(src.sqs, p.queueUrl), store });
  await submitter.submitMany('echo', jobs(170));
  await submitter.submitMany('echo', jobs(20), { delaySeconds: 4 });
  await new Submitter({ queue: new SqsQueue(src.sqs, p.dlqUrl), store }).submitMany('echo', jobs(10));
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'flotilla.mjs'),
      ...['failover', '--to', dst.endpoint, '--endpoint', src.endpoint, '--quiet'],
      ...['--queue-url', p.queueUrl, '--bucket', p.bucket, '--wait-seconds', '60'],
    ],
    { env: childEnv(src.endpoint), stdio: 'ignore' },
  );
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`failover exited with ${code}`);
  return { jobs: 200, seconds: (Date.now() - started) / 1000 };
}

export function printFollow(r: FollowBenchResult, out: (l: string) => void): void {
  out(
    `Live standby: ${fmt(r.objects)} objects of 1 KiB, ${r.rate} changes/s for ${r.seconds} s (overwrites, new, deletes)`,
  );
  out('  contender            changes   lag p50   lag p99   lag max   not applied   requests/change');
  for (const c of r.contenders) {
    out(
      `  ${c.name.padEnd(18)} ${fmt(c.changes).padStart(9)} ${`${fmt(c.p50Seconds, 2)} s`.padStart(9)} ${`${fmt(c.p99Seconds, 2)} s`.padStart(9)} ${`${fmt(c.maxSeconds, 2)} s`.padStart(9)} ${fmt(c.notApplied).padStart(13)} ${fmt(c.requestsPerChange, 2).padStart(17)}`,
    );
  }
  out(
    `  failover of ${r.failover.jobs} pending jobs (170 waiting, 20 delayed 4 s, 10 in the DLQ): ${fmt(r.failover.seconds, 1)} s`,
  );
  const f = r.contenders.find((c) => c.name === 'mirror --follow');
  if (f)
    out(
      `  follow lag p99 ${fmt(f.p99Seconds, 2)} s  target ≤ 5 s  ${f.p99Seconds <= 5 && f.notApplied === 0 ? 'met' : 'MISSED'}`,
    );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '30' },
      rate: { type: 'string', default: '100' },
      objects: { type: 'string', default: '1000' },
    },
  });
  const out = (l: string) => process.stdout.write(`${l}\n`);
  out(`Machine: ${machineLine()}`);
  const emu = await startEmulatorProcess();
  try {
    printFollow(
      await followBench(emu, {
        seconds: Number(values.seconds),
        rate: Number(values.rate),
        objects: Number(values.objects),
      }),
      out,
    );
  } finally {
    await emu.stop();
  }
}

if (isMain(import.meta.url)) await main();
