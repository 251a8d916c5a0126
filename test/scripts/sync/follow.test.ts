/**
 * `flotilla mirror --follow` between two independent fauxqs instances: a writer puts, overwrites
 * (same size, other bytes) and deletes objects at a steady rate while the follower runs; the
 * follower is SIGKILLed mid-way and started again; at the end both buckets hold the same keys
 * with the same SHA-256, and the follower's status file reports the recovery point and lag.
 * And from a changes queue: moto sends the source bucket's events, the follower applies them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, PutBucketNotificationConfigurationCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { queueArn } from '../../../scripts/provision.js';
import type { FollowStatus } from '../../../scripts/sync/follow.js';
import { changesBetween, followDeployment } from '../../../scripts/sync/follow.js';
import { BIN, CLI_ENV } from '../../support/cli.js';
import { eventually, freshDeployment } from '../../support/deployment.js';
import { type Emulator, startEmbedded, startMoto, uniqueName } from '../../support/emulators.js';

async function contents(store: S3Store): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const o of store.list()) {
    out.set(
      o.key,
      createHash('sha256')
        .update(await store.get(o.key))
        .digest('hex'),
    );
  }
  return out;
}

describe('changesBetween', () => {
  const o = (key: string, etag: string, size = 4, lastModifiedMs = 1000) => ({
    key,
    etag,
    size,
    lastModifiedMs,
  });
  it('sees a same-size overwrite by its ETag, and vanished keys', () => {
    const before = new Map([o('a', 'x'), o('b', 'y'), o('c', 'z')].map((x) => [x.key, x]));
    const { puts, gone } = changesBetween(before, [o('a', 'x'), o('b', 'y2'), o('d', 'w')]);
    expect(puts.map((p) => p.key)).toEqual(['b', 'd']);
    expect(gone.map((g) => g.key)).toEqual(['c']);
  });
});

describe('mirror --follow fauxqs → fauxqs', () => {
  let primary: Emulator;
  let standby: Emulator;
  let dir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    [primary, standby] = await Promise.all([startEmbedded(), startEmbedded()]);
    dir = mkdtempSync(join(tmpdir(), 'flotilla-follow-'));
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([primary?.stop(), standby?.stop()]);
  });

  it('keeps the standby level through overwrites, deletes and a SIGKILL', async () => {
    const dep = await freshDeployment(primary);
    const status = join(dir, 'status.json');
    const follower = () => {
      const child = spawn(
        process.execPath,
        [
          BIN,
          ...['mirror', '--to', standby.endpoint, '--follow', '--delete', '--status', status],
          ...['--endpoint', primary.endpoint, '--bucket', dep.bucket, '--queue-url', dep.queueUrl],
        ],
        {
          env: CLI_ENV,
          stdio: 'ignore',
        },
      );
      children.push(child);
      return child;
    };
    const readStatus = (): FollowStatus | undefined => {
      try {
        return JSON.parse(readFileSync(status, 'utf8')) as FollowStatus;
      } catch {
        return undefined;
      }
    };
    // 60 objects of 512 bytes before the follower starts.
    const keys = Array.from({ length: 60 }, (_, i) => `inputs/k${String(i).padStart(3, '0')}`);
    for (const k of keys) await dep.store.put(k, randomBytes(512));

    let first = follower();
    await eventually(() => readStatus()?.passes === 1, 20_000);

    // The writer: 40 changes a second for 6 s; the follower is killed at 2.5 s and restarted at 3.5 s.
    const live = new Set(keys);
    let n = 0;
    const writerStarted = Date.now();
    while (Date.now() - writerStarted < 6000) {
      const tick = Date.now();
      for (let i = 0; i < 4; i++, n++) {
        const k = keys[(n * 7) % keys.length]!;
        if (n % 5 === 4 && live.has(k)) {
          await dep.store.delete(k);
          live.delete(k);
        } else {
          // A fresh key, or the same size with other bytes over an existing one.
          await dep.store.put(n % 3 === 0 ? `outputs/n${n}` : k, randomBytes(512));
          live.add(k);
        }
      }
      if (first && Date.now() - writerStarted > 2500) {
        first.kill('SIGKILL');
        first = undefined as unknown as ChildProcess;
        setTimeout(() => follower(), 1000);
      }
      await sleep(Math.max(0, 100 - (Date.now() - tick)));
    }
    const levelSince = (t: number) =>
      eventually(() => {
        const s = readStatus();
        return s !== undefined && Date.parse(s.levelAt) > t;
      }, 20_000);
    await levelSince(Date.now());
    // The writer's deletes repeat every 3 s, so a follower that restarted late may find nothing
    // left to delete. Three more, once the restarted follower is level, it must carry.
    for (const k of [...live].slice(0, 3)) {
      await dep.store.delete(k);
      live.delete(k);
    }
    await levelSince(Date.now());

    const [src, dst] = await Promise.all([
      contents(dep.store),
      contents(new S3Store(standby.s3, dep.bucket)),
    ]);
    expect(dst.size).toBe(src.size);
    expect([...dst.entries()].sort()).toEqual([...src.entries()].sort());
    const s = readStatus()!;
    expect(s.copied).toBeGreaterThan(0);
    expect(s.deleted).toBeGreaterThanOrEqual(3);
    process.stderr.write(
      `follow: ${n} changes; after the restart lag p50 ${s.lag.p50Seconds} s, p99 ${s.lag.p99Seconds} s, max ${s.lag.maxSeconds} s\n`,
    );
  }, 45_000);
});

describe('mirror --follow from a changes queue (moto sends the bucket events) → fauxqs', () => {
  let moto: Emulator;
  let standby: Emulator;

  beforeAll(async () => {
    [moto, standby] = await Promise.all([startMoto(), startEmbedded()]);
  });
  afterAll(async () => {
    await Promise.all([moto?.stop(), standby?.stop()]);
  });

  it('applies puts, same-size overwrites and deletes from the events, without listing', async () => {
    const bucket = uniqueName('follow');
    await moto.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const q = await moto.sqs.send(new CreateQueueCommand({ QueueName: `${bucket}-changes` }));
    const arn = await queueArn(moto.sqs, q.QueueUrl!);
    await moto.s3.send(
      new PutBucketNotificationConfigurationCommand({
        Bucket: bucket,
        NotificationConfiguration: {
          QueueConfigurations: [{ QueueArn: arn, Events: ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'] }],
        },
      }),
    );
    const source = new S3Store(moto.s3, bucket);
    for (let i = 0; i < 10; i++) await source.put(`inputs/k${i}`, randomBytes(256));

    const stop = new AbortController();
    const statuses: FollowStatus[] = [];
    const following = followDeployment({
      source: { endpoint: moto.config, sqs: moto.sqs, s3: moto.s3 },
      target: { endpoint: standby.config, sqs: standby.sqs, s3: standby.s3 },
      bucket,
      changesQueueUrl: q.QueueUrl!,
      delete: true,
      // No second full pass in this test: whatever arrives, arrives through the events.
      reconcileMs: 600_000,
      signal: stop.signal,
      onRound: (s) => statuses.push(s),
      progress: { write: () => true } as unknown as NodeJS.WritableStream,
      out: { write: () => true } as unknown as NodeJS.WritableStream,
      quiet: true,
    });
    await eventually(() => statuses.length > 0, 20_000);
    for (let i = 0; i < 10; i++) await source.put(`inputs/k${i}`, randomBytes(256)); // same size
    for (let i = 0; i < 5; i++) await source.put(`outputs/n${i}`, randomBytes(100));
    for (let i = 0; i < 3; i++) await source.delete(`inputs/k${i}`);
    const written = Date.now();
    try {
      await eventually(() => Date.parse(statuses.at(-1)!.levelAt) > written, 20_000, 100);
    } finally {
      stop.abort();
    }
    const last = await following;
    const [src, dst] = await Promise.all([contents(source), contents(new S3Store(standby.s3, bucket))]);
    expect([...dst.entries()].sort()).toEqual([...src.entries()].sort());
    expect(last.passes).toBe(1);
    expect(last.deleted).toBe(3);
  }, 40_000);
});
